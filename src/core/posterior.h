/* Posterior mean and ε/x_0/v conversions without argument checks (internal;
 * the trainer's and sampler's hot paths). Same math, argument order and
 * aliasing rules as the public functions in diffuse/posterior.h. The caller
 * guarantees valid pointers, n·d elements each and 0 ≤ t[i] < T; the
 * functions that divide by √ᾱ_t or √α_t produce inf/NaN where those are 0
 * (zero terminal SNR), so check schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR /
 * DIFFUSE_TABLE_ALPHA) first where that can happen. */
#ifndef DIFFUSE_SRC_POSTERIOR_H
#define DIFFUSE_SRC_POSTERIOR_H

#include <stdint.h>

#include "diffuse/posterior.h"

/* mean = μ̃_t(x_t, x_0) = COEF_X0 · x0 + COEF_XT · xt */
void posterior_mean(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                    const float *x0, const float *xt, float *mean);

/* x0 = (xt − √(1−ᾱ_t) eps)/√ᾱ_t   (needs ᾱ_t > 0) */
void posterior_x0_from_eps(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           const float *xt, const float *eps, float *x0);

/* eps = (xt − √ᾱ_t x0)/√(1−ᾱ_t) */
void posterior_eps_from_x0(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           const float *xt, const float *x0, float *eps);

/* v = √ᾱ_t eps − √(1−ᾱ_t) x0 */
void posterior_velocity(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                        const float *x0, const float *eps, float *v);

/* x0 = √ᾱ_t xt − √(1−ᾱ_t) v */
void posterior_x0_from_v(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                         const float *xt, const float *v, float *x0);

/* eps = √(1−ᾱ_t) xt + √ᾱ_t v */
void posterior_eps_from_v(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                          const float *xt, const float *v, float *eps);

/* mean = μ_θ = (xt − β_t/√(1−ᾱ_t) eps)/√α_t   (needs α_t > 0) */
void posterior_model_mean_from_eps(const diffuse_schedule *s, size_t n, size_t d,
                                   const int32_t *t, const float *xt, const float *eps,
                                   float *mean);

#endif
