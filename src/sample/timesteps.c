/* Timestep lists (see timesteps.h). */
#include "sample/timesteps.h"

#include <math.h>

/* Entry i of `count` spaced entries over [0, T). */
static double spaced_entry(size_t i, size_t count, size_t steps, diffuse_spacing spacing)
{
    size_t from_end = count - 1 - i;
    switch (spacing) {
    case DIFFUSE_SPACING_TRAILING:
        return nearbyint((double)steps - (double)i * ((double)steps / (double)count)) - 1.0;
    case DIFFUSE_SPACING_LINSPACE:
        return count == 1 ? 0.0
                          : nearbyint((double)from_end * ((double)(steps - 1) / (double)(count - 1)));
    case DIFFUSE_SPACING_LEADING:
    default:
        return (double)(from_end * (steps / count));
    }
}

void timesteps_spaced(int32_t *list, size_t count, size_t steps, diffuse_spacing spacing)
{
    for (size_t i = 0; i < count; i++)
        list[i] = (int32_t)spaced_entry(i, count, steps, spacing);
}

enum { KARRAS_RHO = 7 };

/* log σ(t) = ½ log((1−ᾱ)/ᾱ), with ᾱ = 0 (zero terminal SNR) read as
 * `floor`, a quarter of the smallest positive ᾱ: log σ stays finite and
 * increasing in t. */
static double log_sigma(const double *alpha_bar, size_t t, double floor)
{
    double a = alpha_bar[t] > 0.0 ? alpha_bar[t] : floor;
    return 0.5 * log((1.0 - a) / a);
}

static double alpha_bar_floor(const double *alpha_bar, size_t steps)
{
    double smallest = 1.0;
    for (size_t t = 0; t < steps; t++)
        if (alpha_bar[t] > 0.0)
            smallest = fmin(smallest, alpha_bar[t]);
    return smallest / 4.0;
}

/* The fractional t with log σ(t) = target, log σ interpolated linearly
 * between integer t (it increases with t), clamped to [0, T−1]. */
static double t_of_log_sigma(const double *alpha_bar, size_t steps, double floor,
                             double target)
{
    size_t low = 0;
    while (low + 2 < steps && log_sigma(alpha_bar, low + 1, floor) <= target)
        low++;
    double a = log_sigma(alpha_bar, low, floor), b = log_sigma(alpha_bar, low + 1, floor);
    double w = fmin(1.0, fmax(0.0, (a - target) / (a - b)));
    return (double)low + w;
}

size_t timesteps_karras(int32_t *list, size_t count, const double *alpha_bar, size_t steps)
{
    if (steps < 2) { /* one step: t = 0, no σ to interpolate between */
        list[0] = 0;
        return 1;
    }
    double floor = alpha_bar_floor(alpha_bar, steps);
    double max_inv = exp(log_sigma(alpha_bar, steps - 1, floor) / KARRAS_RHO);
    double min_inv = exp(log_sigma(alpha_bar, 0, floor) / KARRAS_RHO);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        double ramp = count > 1 ? (double)i / (double)(count - 1) : 0.0;
        double sigma = pow(max_inv + ramp * (min_inv - max_inv), KARRAS_RHO);
        int32_t t = (int32_t)nearbyint(t_of_log_sigma(alpha_bar, steps, floor, log(sigma)));
        if (kept == 0 || t != list[kept - 1])
            list[kept++] = t;
    }
    return kept;
}

diffuse_status timesteps_check(diffuse_error *error, const int32_t *list, size_t count,
                               size_t steps)
{
    if (count == 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "the timestep list is empty");
    for (size_t i = 0; i < count; i++) {
        if (list[i] < 0 || (size_t)list[i] >= steps)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d, outside [0, %zu)", i, (int)list[i], steps);
        if (i > 0 && list[i] == list[i - 1])
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu repeats %d: the list must not have duplicates",
                                i, (int)list[i]);
        if (i > 0 && list[i] > list[i - 1])
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d after %d: the list must strictly decrease",
                                i, (int)list[i], (int)list[i - 1]);
    }
    return DIFFUSE_OK;
}
