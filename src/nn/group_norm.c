/* Group normalisation (see group_norm.h). */
#include "nn/group_norm.h"

#include <math.h>

/* μ and r = 1/√(σ² + ε) of the m values of one group (two passes: the
 * second sums (x − μ)², which does not cancel as Σx² − mμ² would). */
static void group_stats(const float *x, size_t m, float eps, float *stats)
{
    double sum = 0.0;
    for (size_t i = 0; i < m; i++)
        sum += x[i];
    double mean = sum / (double)m, squares = 0.0;
    for (size_t i = 0; i < m; i++) {
        double centred = x[i] - mean;
        squares += centred * centred;
    }
    stats[0] = (float)mean;
    stats[1] = (float)(1.0 / sqrt(squares / (double)m + eps));
}

/* y = GN(x) over one group of one image given its (μ, r). */
static void apply_group(float *out, const float *s, const float *in, const float *gain,
                        const float *bias, size_t group, size_t per_group, size_t pixels)
{
    for (size_t k = 0; k < per_group; k++) {
        size_t c = group * per_group + k;
        /* y = γ r (x − μ) + β = a x + b with a = γ r, b = β − a μ */
        float a = gain[c] * s[1], b = bias[c] - a * s[0];
        const float *x = in + k * pixels;
        float *y = out + k * pixels;
        for (size_t p = 0; p < pixels; p++)
            y[p] = a * x[p] + b;
    }
}

void nn_group_norm_forward(float *out, float *stats, const float *in, const float *gain,
                           const float *bias, size_t n, const nn_norm_shape *shape)
{
    size_t per_group = shape->channels / shape->groups, pixels = shape->pixels;
    size_t m = per_group * pixels;
    for (size_t img = 0; img < n; img++) {
        for (size_t g = 0; g < shape->groups; g++) {
            size_t first = (img * shape->groups + g) * m;
            float *s = stats + 2 * (img * shape->groups + g);
            group_stats(in + first, m, shape->eps, s);
            apply_group(out + first, s, in + first, gain, bias, g, per_group, pixels);
        }
    }
}

void nn_group_norm_apply(float *out, const float *stats, const float *in, const float *gain,
                         const float *bias, size_t n, const nn_norm_shape *shape)
{
    size_t per_group = shape->channels / shape->groups, pixels = shape->pixels;
    size_t m = per_group * pixels;
    for (size_t img = 0; img < n; img++)
        for (size_t g = 0; g < shape->groups; g++) {
            size_t first = (img * shape->groups + g) * m;
            apply_group(out + first, stats + 2 * (img * shape->groups + g), in + first, gain,
                        bias, g, per_group, pixels);
        }
}

/* Backward over one group of one image: every array starts at the group's
 * first value, gain and the gradients of γ, β at channel 0. */
static void group_backward(float *d_in, float *d_gain, float *d_bias, const float *d_out,
                           const float *in, const float *gain, const float *stats,
                           size_t group, size_t per_group, size_t pixels)
{
    float mean = stats[0], rstd = stats[1];
    double sum_g = 0.0, sum_gx = 0.0; /* Σ ĝ and Σ ĝ x̂ over the group */
    for (size_t k = 0; k < per_group; k++) {
        size_t c = group * per_group + k;
        const float *g = d_out + k * pixels, *x = in + k * pixels;
        double channel_g = 0.0, channel_gx = 0.0;
        for (size_t p = 0; p < pixels; p++) {
            double x_hat = (x[p] - mean) * (double)rstd;
            channel_g += g[p];
            channel_gx += g[p] * x_hat;
        }
        d_gain[c] += (float)channel_gx;
        d_bias[c] += (float)channel_g;
        sum_g += gain[c] * channel_g;
        sum_gx += gain[c] * channel_gx;
    }
    double m = (double)(per_group * pixels);
    float mean_g = (float)(sum_g / m), mean_gx = (float)(sum_gx / m);
    for (size_t k = 0; k < per_group; k++) {
        float gamma = gain[group * per_group + k];
        const float *g = d_out + k * pixels, *x = in + k * pixels;
        float *dx = d_in + k * pixels;
        for (size_t p = 0; p < pixels; p++) {
            float x_hat = (x[p] - mean) * rstd;
            dx[p] = rstd * (gamma * g[p] - mean_g - x_hat * mean_gx);
        }
    }
}

void nn_group_norm_backward(float *d_in, float *d_gain, float *d_bias, const float *d_out,
                            const float *in, const float *gain, const float *stats, size_t n,
                            const nn_norm_shape *shape)
{
    size_t per_group = shape->channels / shape->groups, pixels = shape->pixels;
    size_t m = per_group * pixels;
    for (size_t img = 0; img < n; img++) {
        for (size_t g = 0; g < shape->groups; g++) {
            size_t first = (img * shape->groups + g) * m;
            group_backward(d_in + first, d_gain, d_bias, d_out + first, in + first, gain,
                           stats + 2 * (img * shape->groups + g), g, per_group, pixels);
        }
    }
}
