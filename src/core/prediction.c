/* ε-, x_0- and v-prediction (see prediction.h). */
#include "core/prediction.h"

#include <math.h>

#include "core/posterior.h"
#include "core/schedule.h"

/* out = f(x_t, y) per row: posterior.c's internal conversions. */
typedef void (*row_conversion)(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                               const float *xt, const float *y, float *out);

/* The training target from (x_0, ε); `scratch` when it is computed. */
typedef const float *(*target_fn)(const diffuse_schedule *s, size_t n, size_t d,
                                  const int32_t *t, const float *x0, const float *eps,
                                  float *scratch);

/* ∂f/∂ε̂ at fixed x_t: how much the output moves per unit of ε̂. */
typedef double (*output_gain_fn)(double alpha_bar);

/* One kind: how its output f becomes x̂_0 and ε̂ (NULL: f itself), its
 * target, ∂f/∂ε̂, and whether it is defined where ᾱ_t = 0. */
typedef struct prediction_kind {
    const char *name; /* for messages */
    row_conversion x0_from_output, eps_from_output;
    target_fn target;
    output_gain_fn gain;
    bool zero_snr;
} prediction_kind;

/* f = ε̂ */
static double gain_eps(double alpha_bar)
{
    (void)alpha_bar;
    return 1.0;
}

/* f = x̂_0 = (x_t − √(1−ᾱ) ε̂)/√ᾱ */
static double gain_x0(double alpha_bar)
{
    return -sqrt(1.0 - alpha_bar) / sqrt(alpha_bar);
}

/* f = v̂ = (ε̂ − √(1−ᾱ) x_t)/√ᾱ (from ε̂ = √(1−ᾱ) x_t + √ᾱ v̂) */
static double gain_v(double alpha_bar)
{
    return 1.0 / sqrt(alpha_bar);
}

static const float *target_eps(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                               const float *x0, const float *eps, float *scratch)
{
    (void)s, (void)n, (void)d, (void)t, (void)x0, (void)scratch;
    return eps;
}

static const float *target_x0(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                              const float *x0, const float *eps, float *scratch)
{
    (void)s, (void)n, (void)d, (void)t, (void)eps, (void)scratch;
    return x0;
}

/* v = √ᾱ_t ε − √(1−ᾱ_t) x_0 */
static const float *target_v(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                             const float *x0, const float *eps, float *scratch)
{
    posterior_velocity(s, n, d, t, x0, eps, scratch);
    return scratch;
}

static const prediction_kind kinds[] = {
    /* f = ε̂:  x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t */
    [DIFFUSE_PREDICT_EPSILON] = {"epsilon", posterior_x0_from_eps, NULL, target_eps, gain_eps,
                                 false},
    /* f = x̂_0:  ε̂ = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t) */
    [DIFFUSE_PREDICT_X0] = {"x0", NULL, posterior_eps_from_x0, target_x0, gain_x0, true},
    /* f = v̂:  x̂_0 = √ᾱ_t x_t − √(1−ᾱ_t) v̂,  ε̂ = √(1−ᾱ_t) x_t + √ᾱ_t v̂ */
    [DIFFUSE_PREDICT_V] = {"v", posterior_x0_from_v, posterior_eps_from_v, target_v, gain_v,
                           true},
};

const float *prediction_target(const diffuse_schedule *s, diffuse_prediction kind, size_t n,
                               size_t d, const int32_t *t, const float *x0, const float *eps,
                               float *scratch)
{
    return kinds[kind].target(s, n, d, t, x0, eps, scratch);
}

void prediction_estimate_init(prediction_estimate *e, const diffuse_schedule *s,
                              diffuse_prediction kind, size_t n, size_t d, const int32_t *t,
                              const float *x_t, const float *output, float *x0_buffer,
                              float *eps_buffer)
{
    *e = (prediction_estimate){.schedule = s, .kind = kind, .n = n, .d = d, .t = t, .x_t = x_t,
                               .output = output, .x0_buffer = x0_buffer,
                               .eps_buffer = eps_buffer};
}

/* The output itself when `convert` is NULL, else convert(x_t, output). */
static const float *derive(const prediction_estimate *e, row_conversion convert, float *buffer)
{
    if (convert == NULL)
        return e->output;
    convert(e->schedule, e->n, e->d, e->t, e->x_t, e->output, buffer);
    return buffer;
}

const float *prediction_x0(prediction_estimate *e)
{
    if (e->x0 == NULL)
        e->x0 = derive(e, kinds[e->kind].x0_from_output, e->x0_buffer);
    return e->x0;
}

const float *prediction_eps(prediction_estimate *e)
{
    if (e->eps == NULL)
        e->eps = derive(e, kinds[e->kind].eps_from_output, e->eps_buffer);
    return e->eps;
}

bool prediction_eps_is_output(const prediction_estimate *e)
{
    return kinds[e->kind].eps_from_output == NULL;
}

diffuse_status prediction_check_schedule(diffuse_error *error, diffuse_prediction kind,
                                         const diffuse_schedule *s)
{
    /* ᾱ_{T−1} = 0 exactly when some α_t = 0, which zero-terminal-SNR
     * rescaling puts at the last step. */
    double last_alpha = schedule_column(s, DIFFUSE_TABLE_ALPHA)[schedule_steps(s) - 1];
    if (kinds[kind].zero_snr || last_alpha > 0.0)
        return DIFFUSE_OK;
    return diffuse_fail(error, DIFFUSE_ERROR_UNSUPPORTED,
                        "an %s-prediction model cannot be sampled from a schedule with zero "
                        "terminal SNR (alpha_T = 0); use v-prediction or x0-prediction",
                        kinds[kind].name);
}

/* The standard deviation of one row, in double (the population one; the
 * unbiased one of torch.std gives the same ratio σ(f_c)/σ(out): its factor
 * √(d/(d−1)) cancels). */
static double row_std(const float *row, size_t d)
{
    double mean = 0.0, squares = 0.0;
    for (size_t j = 0; j < d; j++)
        mean += row[j];
    mean /= (double)d;
    for (size_t j = 0; j < d; j++)
        squares += ((double)row[j] - mean) * ((double)row[j] - mean);
    return sqrt(squares / (double)d);
}

void prediction_guide(size_t n, size_t d, double scale, double rescale, const float *both,
                      float *out)
{
    const float *conditional = both, *unconditional = both + n * d;
    for (size_t i = 0; i < n; i++) {
        const float *c = conditional + i * d, *u = unconditional + i * d;
        float *g = out + i * d;
        /* f = f_∅ + w (f_c − f_∅) */
        for (size_t j = 0; j < d; j++)
            g[j] = (float)((double)u[j] + scale * ((double)c[j] - (double)u[j]));
        if (rescale == 0.0)
            continue;
        /* f ← φ f σ(f_c)/σ(f) + (1 − φ) f; a constant row (σ = 0) stays */
        double spread = row_std(g, d);
        if (spread == 0.0)
            continue;
        double factor = rescale * row_std(c, d) / spread + (1.0 - rescale);
        for (size_t j = 0; j < d; j++)
            g[j] = (float)(factor * (double)g[j]);
    }
}

void prediction_shift_eps(const diffuse_schedule *s, diffuse_prediction kind, size_t n, size_t d,
                          const int32_t *t, double scale, const float *gradient, float *output)
{
    const double *alpha_bar = schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR);
    for (size_t i = 0; i < n; i++) {
        double a = alpha_bar[t[i]];
        if (a <= 0.0)
            continue; /* ᾱ = 0: x_T carries no signal; see prediction.h */
        /* Δf = ∂f/∂ε̂ · Δε̂,  Δε̂ = −√(1−ᾱ) s ∇ */
        double shift = kinds[kind].gain(a) * -sqrt(1.0 - a) * scale;
        for (size_t j = 0; j < d; j++)
            output[i * d + j] =
                (float)((double)output[i * d + j] + shift * (double)gradient[i * d + j]);
    }
}
