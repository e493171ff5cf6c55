/* L_vlb of L_hybrid and its gradient in the learned variance (see
 * hybrid_loss.h). */
#include "train/hybrid_loss.h"

#include "core/likelihood.h"
#include "core/prediction.h"
#include "core/schedule.h"

/* One element's L_t (nats) and ∂L_t/∂l, l the learned log-variance. */
typedef struct vlb_term {
    double value, d_logvar;
} vlb_term;

static vlb_term element_term(const hybrid_rows *r, size_t t, double x0, double x_t,
                             double x0_hat, double logvar)
{
    const diffuse_schedule *s = r->schedule;
    double c0 = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0)[t];
    double c1 = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT)[t];
    double model_mean = c0 * x0_hat + c1 * x_t; /* μ̃_t(x_t, x̂_0), held fixed */
    if (t == 0) {
        if (r->decoder == DIFFUSE_DECODER_CONTINUOUS)
            return (vlb_term){likelihood_continuous_nll(x0, model_mean, logvar),
                              likelihood_continuous_nll_dlogvar(x0, model_mean, logvar)};
        return (vlb_term){likelihood_discretized_nll(x0, model_mean, logvar),
                          likelihood_discretized_nll_dlogvar(x0, model_mean, logvar)};
    }
    double true_mean = c0 * x0 + c1 * x_t; /* μ̃_t(x_t, x_0) */
    double true_logvar = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED)[t];
    return (vlb_term){
        likelihood_gaussian_kl(true_mean, true_logvar, model_mean, logvar),
        likelihood_gaussian_kl_dlogvar(true_mean, true_logvar, model_mean, logvar)};
}

double hybrid_vlb_and_gradient(const hybrid_rows *r, double scale)
{
    prediction_estimate e;
    prediction_estimate_init(&e, r->schedule, r->kind, r->n, r->d, r->t, r->x_t, r->output,
                             r->x0_scratch, NULL);
    const float *x0_hat = prediction_x0(&e);
    double steps = (double)schedule_steps(r->schedule);
    /* T·L_t in bits/dim: T/(d ln 2) Σ_j nats_j */
    double per_nat = steps / ((double)r->d * LIKELIHOOD_LN2);
    double sum = 0.0;
    for (size_t i = 0; i < r->n; i++) {
        size_t t = (size_t)r->t[i];
        double dl_dv = likelihood_learned_logvar_dv(r->schedule, t);
        for (size_t j = i * r->d; j < (i + 1) * r->d; j++) {
            double logvar = likelihood_learned_logvar(r->schedule, t, r->variance[j]);
            vlb_term term = element_term(r, t, r->x0[j], r->x_t[j], x0_hat[j], logvar);
            sum += per_nat * term.value;
            r->variance[j] = (float)(scale * per_nat * term.d_logvar * dl_dv);
        }
    }
    return sum;
}
