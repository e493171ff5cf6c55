/* The estimates a step uses, and the helpers every method shares (see
 * method.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/likelihood.h"
#include "core/posterior.h"
#include "core/schedule.h"
#include "diffuse/sampler.h"
#include "sample/method.h"
#include "util/philox.h"

bool sample_processes_x0(const double *options)
{
    return options[DIFFUSE_SAMPLER_CLIP_X0] > 0.0 ||
           options[DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE] > 0.0;
}

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* quantile_p of |row| with linear interpolation between the order
 * statistics at ⌊p(d−1)⌋ and ⌈p(d−1)⌉ (torch.quantile's default). */
static double abs_quantile(const float *row, size_t d, double p, float *sorted)
{
    for (size_t j = 0; j < d; j++)
        sorted[j] = fabsf(row[j]);
    qsort(sorted, d, sizeof *sorted, compare_floats);
    double position = p * (double)(d - 1);
    size_t low = (size_t)floor(position), high = low + 1 < d ? low + 1 : low;
    return sorted[low] + (sorted[high] - (double)sorted[low]) * (position - (double)low);
}

/* Dynamic thresholding of each row of x0 into out (Saharia et al. 2022). */
static void threshold_rows(sample_estimate *e, const float *x0, float *out)
{
    size_t d = e->raw.d;
    double p = e->options[DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE];
    double s_max = e->options[DIFFUSE_SAMPLER_THRESHOLD_MAX];
    for (size_t i = 0; i < e->raw.n; i++) {
        const float *row = x0 + i * d;
        double s = fmax(1.0, fmin(abs_quantile(row, d, p, e->sort_buffer), s_max));
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = (float)(fmin(s, fmax(-s, (double)row[j])) / s);
    }
}

const float *sample_x0(sample_estimate *e)
{
    if (e->x0 != NULL)
        return e->x0;
    const float *x0 = prediction_x0(&e->raw);
    float clip = (float)e->options[DIFFUSE_SAMPLER_CLIP_X0];
    if (e->options[DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE] > 0.0) {
        threshold_rows(e, x0, e->x0_buffer);
        x0 = e->x0_buffer;
    } else if (clip > 0.0f) {
        for (size_t i = 0; i < e->raw.n * e->raw.d; i++)
            e->x0_buffer[i] = fminf(clip, fmaxf(-clip, x0[i]));
        x0 = e->x0_buffer;
    }
    return e->x0 = x0;
}

const float *sample_eps(sample_estimate *e)
{
    if (e->eps != NULL)
        return e->eps;
    if (!sample_processes_x0(e->options))
        return e->eps = prediction_eps(&e->raw);
    posterior_eps_from_x0(e->raw.schedule, e->raw.n, e->raw.d, e->raw.t, e->raw.x_t,
                          sample_x0(e), e->eps_buffer);
    return e->eps = e->eps_buffer;
}

bool sample_eps_is_output(const sample_estimate *e)
{
    return prediction_eps_is_output(&e->raw) && !sample_processes_x0(e->options);
}

double sample_alpha_bar(const sample_step *step, int64_t t)
{
    return t < 0 ? 1.0 : schedule_column(step->schedule, DIFFUSE_TABLE_ALPHA_BAR)[t];
}

double sample_alpha_bar_prev(const sample_step *step)
{
    if (step->t_prev < 0 && step->options[DIFFUSE_SAMPLER_FINAL_ALPHA_ONE] == 0.0)
        return sample_alpha_bar(step, 0);
    return sample_alpha_bar(step, step->t_prev);
}

void sample_combine(size_t count, double a, const float *x, double b, const float *y,
                    float *out)
{
    for (size_t i = 0; i < count; i++)
        out[i] = (float)(a * (double)x[i] + b * (double)y[i]);
}

/* z of this step into step->noise: Philox stream t + 1 at the chunk's offset. */
static const float *draw_noise(const sample_step *step)
{
    uint64_t seed = (uint64_t)step->options[DIFFUSE_SAMPLER_SEED];
    philox_normal(seed, step->t + 1, step->first_row * step->d, step->noise,
                  step->rows * step->d);
    return step->noise;
}

void sample_add_noise(const sample_step *step, float sigma, float *x)
{
    if (sigma == 0.0f)
        return;
    const float *z = draw_noise(step);
    for (size_t i = 0; i < step->rows * step->d; i++)
        x[i] += sigma * z[i];
}

void sample_add_learned_noise(const sample_step *step, double beta, double posterior_variance,
                              float *x)
{
    const float *z = draw_noise(step);
    double max_log = log(beta), min_log = log(posterior_variance);
    for (size_t i = 0; i < step->rows * step->d; i++) {
        double log_variance = likelihood_learned_range(step->variance[i], max_log, min_log);
        x[i] += (float)exp(0.5 * log_variance) * z[i];
    }
}
