/*
 * libdiffuse — the forward-process posterior q(x_{t−1} | x_t, x_0) and the
 * conversions between the quantities a network may predict (ε, x_0, v).
 *
 *   q(x_{t−1} | x_t, x_0) = N(μ̃_t(x_t, x_0), β̃_t I)
 *   μ̃_t = √ᾱ_{t−1} β_t/(1−ᾱ_t) · x_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) · x_t
 *   β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) · β_t                  (ᾱ_{−1} := 1, so β̃_0 = 0)
 *
 *   x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t           ε = (x_t − √ᾱ_t x_0)/√(1−ᾱ_t)
 *   v   = √ᾱ_t ε − √(1−ᾱ_t) x_0             (Salimans & Ho 2022)
 *   x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v              ε = √(1−ᾱ_t) x_t + √ᾱ_t v
 *   μ_θ = (x_t − β_t/√(1−ᾱ_t) ε_θ)/√α_t       (Ho et al. 2020, eq. 11)
 *
 * μ_θ with the true ε equals μ̃_t with the true x_0.
 *
 * Batches are n rows of d floats, row-major; row i uses timestep t[i]
 * (0-based, 0 ≤ t[i] < T). Arithmetic is in double per element; results are
 * rounded to float.
 *
 * In place: the output array may be the same array as either input (e.g.
 * diffuse_posterior_mean(s, n, d, t, x0, xt, xt) overwrites x_t with μ̃);
 * it must not partially overlap an input, nor overlap t (INVALID_ARGUMENT).
 *
 * Zero terminal SNR (see diffuse/schedule.h): where ᾱ_t = 0 (t = T−1 of a
 * rescaled schedule) diffuse_predict_x0_from_eps fails, and where α_t = 0
 * diffuse_posterior_model_mean fails, with DIFFUSE_ERROR_NUMERIC naming the
 * row; nothing is written then. Every other function works at every t.
 *
 * Common errors of the batched functions: INVALID_ARGUMENT (a pointer NULL,
 * n or d zero or too large, overlapping arrays), OUT_OF_RANGE (a t[i] outside [0, T)), NUMERIC
 * (an input not finite, or a result that overflows float — found only after
 * the output was written; every other failure leaves the output untouched).
 *
 * Ownership: every array is borrowed for the call only.
 * Threads: calls on one schedule are made by one thread at a time (a failing
 * call records its message in the schedule; see diffuse/schedule.h).
 */
#ifndef DIFFUSE_POSTERIOR_H
#define DIFFUSE_POSTERIOR_H

#include "diffuse/common.h"
#include "diffuse/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mean = μ̃_t(x_t, x_0) per row. */
DIFFUSE_API diffuse_status diffuse_posterior_mean(const diffuse_schedule *schedule, size_t n,
                                                  size_t d, const int32_t *t, const float *x0,
                                                  const float *xt, float *mean);

/* *variance = β̃_t, *log_variance_clipped = log β̃_t, with the t = 0 entry
 * replaced by log β̃_1 (log β_0 when T = 1; see diffuse/schedule.h).
 * Errors: INVALID_ARGUMENT (a pointer NULL), OUT_OF_RANGE (t ≥ T). */
DIFFUSE_API diffuse_status diffuse_posterior_variance(const diffuse_schedule *schedule,
                                                      size_t t, double *variance,
                                                      double *log_variance_clipped);

/* x0 = x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t per row. NUMERIC where ᾱ_t = 0. */
DIFFUSE_API diffuse_status diffuse_predict_x0_from_eps(const diffuse_schedule *schedule, size_t n,
                                                       size_t d, const int32_t *t,
                                                       const float *xt, const float *eps,
                                                       float *x0);

/* eps = (x_t − √ᾱ_t x_0)/√(1−ᾱ_t) per row (defined at every t). */
DIFFUSE_API diffuse_status diffuse_predict_eps_from_x0(const diffuse_schedule *schedule, size_t n,
                                                       size_t d, const int32_t *t,
                                                       const float *xt, const float *x0,
                                                       float *eps);

/* v = √ᾱ_t ε − √(1−ᾱ_t) x_0 per row (the v-prediction training target). */
DIFFUSE_API diffuse_status diffuse_velocity(const diffuse_schedule *schedule, size_t n, size_t d,
                                            const int32_t *t, const float *x0, const float *eps,
                                            float *v);

/* x0 = √ᾱ_t x_t − √(1−ᾱ_t) v per row. */
DIFFUSE_API diffuse_status diffuse_predict_x0_from_v(const diffuse_schedule *schedule, size_t n,
                                                     size_t d, const int32_t *t, const float *xt,
                                                     const float *v, float *x0);

/* eps = √(1−ᾱ_t) x_t + √ᾱ_t v per row. */
DIFFUSE_API diffuse_status diffuse_predict_eps_from_v(const diffuse_schedule *schedule, size_t n,
                                                      size_t d, const int32_t *t, const float *xt,
                                                      const float *v, float *eps);

/* mean = μ_θ = (x_t − β_t/√(1−ᾱ_t) ε)/√α_t per row. NUMERIC where α_t = 0. */
DIFFUSE_API diffuse_status diffuse_posterior_model_mean(const diffuse_schedule *schedule, size_t n,
                                                        size_t d, const int32_t *t,
                                                        const float *xt, const float *eps,
                                                        float *mean);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_POSTERIOR_H */
