/* Ancestral DDPM sampling: Algorithm 2 of Ho et al. 2020, one step
 *   x_{t'} = μ + σ z,   z ~ N(0, I)  (no noise after the last entry),
 * on any decreasing list (t' = the next entry), respaced as improved-
 * diffusion does: the kept steps form a chain of their own with
 *   ᾱ = ᾱ_t, ᾱ' = ᾱ_{t'} (1 after the last entry),
 *   β' = 1 − ᾱ/ᾱ',  α' = 1 − β',  β̃' = (1−ᾱ')/(1−ᾱ) β',
 * σ² = β', β̃' or learned between them (DIFFUSE_SAMPLER_VARIANCE,
 * ddpm_add_noise) and μ either the
 * paper's μ_θ(x_t, ε̂) or the posterior mean μ̃(x_t, x̂_0) (see ddpm_step).
 * Over every step (t' = t − 1) these are the schedule's own β_t, β̃_t. */
#include <math.h>

#include "core/schedule.h"
#include "diffuse/sampler.h"
#include "sample/method.h"

/* μ̃ = mean_x0 x̂_0 + mean_xt x_t;  μ_θ = eps_xt x_t + eps_eps ε̂. */
typedef struct ddpm_coefficients {
    double mean_x0, mean_xt;
    double eps_xt, eps_eps;
    double beta, posterior_variance; /* β', β̃' */
} ddpm_coefficients;

/* t' = t − 1: the schedule's own columns, so that sampling over every step
 * is bit-identical to 0.1 (the formulas below give the same values up to
 * rounding). */
static ddpm_coefficients consecutive_coefficients(const diffuse_schedule *s, size_t t)
{
    double recip_sqrt_alpha = 1.0 / sqrt(schedule_column(s, DIFFUSE_TABLE_ALPHA)[t]);
    return (ddpm_coefficients){
        .mean_x0 = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0)[t],
        .mean_xt = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT)[t],
        .eps_xt = recip_sqrt_alpha,
        .eps_eps = -schedule_column(s, DIFFUSE_TABLE_BETA)[t] /
                   schedule_column(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR)[t] *
                   recip_sqrt_alpha,
        .beta = schedule_column(s, DIFFUSE_TABLE_BETA)[t],
        .posterior_variance = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE)[t],
    };
}

/* The respaced chain's step t → t':
 *   μ̃ = √ᾱ' β'/(1−ᾱ) x̂_0 + √α' (1−ᾱ')/(1−ᾱ) x_t,
 *   μ_θ = (x_t − β'/√(1−ᾱ) ε̂)/√α'. */
static ddpm_coefficients respaced_coefficients(const sample_step *step)
{
    double a = sample_alpha_bar(step, (int64_t)step->t);
    double a_prev = sample_alpha_bar(step, step->t_prev);
    double alpha = a / a_prev, beta = 1.0 - alpha;
    double recip_sqrt_alpha = 1.0 / sqrt(alpha);
    return (ddpm_coefficients){
        .mean_x0 = sqrt(a_prev) * beta / (1.0 - a),
        .mean_xt = sqrt(alpha) * (1.0 - a_prev) / (1.0 - a),
        .eps_xt = recip_sqrt_alpha,
        .eps_eps = -beta / sqrt(1.0 - a) * recip_sqrt_alpha,
        .beta = beta,
        .posterior_variance = (1.0 - a_prev) / (1.0 - a) * beta,
    };
}

/* x += σ z: the one place that chooses the variance, σ² = β', β̃' or the
 * learned range between them. */
static void ddpm_add_noise(const sample_step *step, const ddpm_coefficients *c, float *x)
{
    switch ((int)step->options[DIFFUSE_SAMPLER_VARIANCE]) {
    case DIFFUSE_VARIANCE_LEARNED:
        sample_add_learned_noise(step, c->beta, c->posterior_variance, x);
        return;
    case DIFFUSE_VARIANCE_POSTERIOR:
        sample_add_noise(step, (float)sqrt(c->posterior_variance), x);
        return;
    default:
        sample_add_noise(step, (float)sqrt(c->beta), x);
    }
}

static void ddpm_step(const sample_step *step, float *state, sample_estimate *e, float *x_prev)
{
    (void)state;
    size_t count = step->rows * step->d;
    ddpm_coefficients c = step->t_prev == (int64_t)step->t - 1
                              ? consecutive_coefficients(step->schedule, step->t)
                              : respaced_coefficients(step);
    /* μ_θ, the paper's form, when the network predicts ε itself and x̂_0 is
     * not processed (it never forms x̂_0, whose 1/√ᾱ_t magnifies rounding at
     * large t); μ̃(x_t, x̂_0) otherwise. */
    if (sample_eps_is_output(e))
        sample_combine(count, c.eps_xt, e->raw.x_t, c.eps_eps, sample_eps(e), x_prev);
    else
        sample_combine(count, c.mean_x0, sample_x0(e), c.mean_xt, e->raw.x_t, x_prev);
    if (step->t_prev < 0)
        return; /* no noise at the last step */
    ddpm_add_noise(step, &c, x_prev);
}

const sample_method sample_method_ddpm = {
    .name = "ddpm",
    .step = ddpm_step,
};
