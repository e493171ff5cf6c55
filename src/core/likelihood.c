/* Gaussian KL and decoder terms of the variational bound (see
 * likelihood.h). */
#include "core/likelihood.h"

#include <math.h>

#include "core/schedule.h"

#define HALF_BIN (1.0 / 255.0)     /* half the width 2/255 of a bin */
#define EDGE 0.999                 /* beyond it the outer bin is open */
#define PROBABILITY_FLOOR 1e-12    /* improved-diffusion's clamp */
#define LOG_TWO_PI 1.8378770664093454836
#define SQRT_HALF 0.70710678118654752440

double likelihood_gaussian_kl(double mean1, double logvar1, double mean2, double logvar2)
{
    double diff = mean1 - mean2;
    return 0.5 * (-1.0 + logvar2 - logvar1 + exp(logvar1 - logvar2) + diff * diff * exp(-logvar2));
}

double likelihood_gaussian_kl_dlogvar(double mean1, double logvar1, double mean2,
                                      double logvar2)
{
    double diff = mean1 - mean2;
    return 0.5 * (1.0 - exp(logvar1 - logvar2) - diff * diff * exp(-logvar2));
}

double likelihood_continuous_nll(double x, double mean, double logvar)
{
    double diff = x - mean;
    return 0.5 * (LOG_TWO_PI + logvar + diff * diff * exp(-logvar));
}

double likelihood_continuous_nll_dlogvar(double x, double mean, double logvar)
{
    double diff = x - mean;
    return 0.5 * (1.0 - diff * diff * exp(-logvar));
}

/* Φ(u) and the upper tail 1 − Φ(u) = Φ(−u), each accurate in its own tail. */
static double normal_cdf(double u)
{
    return 0.5 * erfc(-u * SQRT_HALF);
}

/* φ(u) */
static double normal_pdf(double u)
{
    return exp(-0.5 * u * u - 0.5 * LOG_TWO_PI);
}

/* The bin's probability P and ∂P/∂l of the discretised decoder. */
typedef struct bin_mass {
    double p, dp_dlogvar;
} bin_mass;

static bin_mass discretized_bin(double x, double mean, double logvar)
{
    double inv_std = exp(-0.5 * logvar);
    double plus = (x - mean + HALF_BIN) * inv_std, minus = (x - mean - HALF_BIN) * inv_std;
    /* ∂Φ(u)/∂l = φ(u) ∂u/∂l = −½ u φ(u) */
    double d_plus = -0.5 * plus * normal_pdf(plus), d_minus = -0.5 * minus * normal_pdf(minus);
    if (x < -EDGE)
        return (bin_mass){normal_cdf(plus), d_plus};
    if (x > EDGE)
        return (bin_mass){normal_cdf(-minus), -d_minus};
    /* Φ(u₊) − Φ(u₋), as Φ(−u₋) − Φ(−u₊) above the mean (no cancellation of
     * two values near 1). */
    double p = minus > 0.0 ? normal_cdf(-minus) - normal_cdf(-plus)
                           : normal_cdf(plus) - normal_cdf(minus);
    return (bin_mass){p, d_plus - d_minus};
}

double likelihood_discretized_nll(double x, double mean, double logvar)
{
    return -log(fmax(discretized_bin(x, mean, logvar).p, PROBABILITY_FLOOR));
}

double likelihood_discretized_nll_dlogvar(double x, double mean, double logvar)
{
    bin_mass bin = discretized_bin(x, mean, logvar);
    return bin.p > PROBABILITY_FLOOR ? -bin.dp_dlogvar / bin.p : 0.0;
}

double likelihood_learned_range(double v, double max_log, double min_log)
{
    double f = 0.5 * (v + 1.0);
    return f * max_log + (1.0 - f) * min_log;
}

double likelihood_learned_logvar(const diffuse_schedule *s, size_t t, double v)
{
    return likelihood_learned_range(
        v, log(schedule_column(s, DIFFUSE_TABLE_BETA)[t]),
        schedule_column(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED)[t]);
}

double likelihood_learned_logvar_dv(const diffuse_schedule *s, size_t t)
{
    double max_log = log(schedule_column(s, DIFFUSE_TABLE_BETA)[t]);
    double min_log = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED)[t];
    return 0.5 * (max_log - min_log);
}
