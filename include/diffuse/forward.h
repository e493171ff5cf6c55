/*
 * libdiffuse — the forward (noising) process q of Ho et al. 2020.
 *
 *   one step:  q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I)
 *   marginal:  q(x_t | x_0)     = N(√ᾱ_t x_0, (1 − ᾱ_t) I)
 *              x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,  ε ~ N(0, I)
 *
 * Batches are n rows of d floats, row-major; row i uses timestep t[i]
 * (0-based, 0 ≤ t[i] < T). Arithmetic is in double per element; results are
 * rounded to float. These formulas hold at every t, including t = T−1 of a
 * zero-terminal-SNR schedule (x_{T−1} = ε there).
 *
 * Ownership: every array is borrowed for the call only.
 * Threads: calls on one schedule are made by one thread at a time (a failing
 * call records its message in the schedule; see diffuse/schedule.h).
 * Errors: a failing call leaves its outputs untouched, except for
 * DIFFUSE_ERROR_NUMERIC from a result that overflows float, which is only
 * found after the output was written.
 */
#ifndef DIFFUSE_FORWARD_H
#define DIFFUSE_FORWARD_H

#include "diffuse/common.h"
#include "diffuse/rng.h"
#include "diffuse/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xt[i, :] = √ᾱ_{t[i]} x0[i, :] + √(1 − ᾱ_{t[i]}) eps[i, :]   (n × d each).
 * `xt` may be the same array as `x0` or `eps` (in-place); it must not
 * partially overlap them, nor overlap t.
 * Errors: INVALID_ARGUMENT (a pointer NULL, n or d zero or too large,
 * overlapping arrays),
 * OUT_OF_RANGE (a t[i] outside [0, T)), NUMERIC (x0 or eps not finite, or a
 * result overflows float). */
DIFFUSE_API diffuse_status diffuse_q_sample(const diffuse_schedule *schedule, size_t n, size_t d,
                                            const int32_t *t, const float *x0, const float *eps,
                                            float *xt);

/* Like diffuse_q_sample with ε drawn from `rng`: ONE call
 * diffuse_rng_normal(rng, ·, n·d), so row i uses values i·d .. i·d + d − 1 of
 * the draw (and the generator advances by n·d). When `eps_out` is not NULL it
 * receives ε (n × d). `xt` may be the same array as `x0` (else it must not
 * overlap it); `eps_out` must not overlap `x0` or `xt`; neither overlaps t.
 * When eps_out is NULL and xt == x0 a scratch buffer of n·d floats is
 * allocated for the call.
 * Errors: as diffuse_q_sample, plus INVALID_ARGUMENT (rng NULL, eps_out
 * overlapping x0 or xt), NO_MEMORY, and whatever diffuse_rng_normal returns
 * (the generator's message is copied into the schedule's). The generator
 * does not advance when validation fails. */
DIFFUSE_API diffuse_status diffuse_q_sample_rng(const diffuse_schedule *schedule, size_t n,
                                                size_t d, const int32_t *t, const float *x0,
                                                diffuse_rng *rng, float *eps_out, float *xt);

/* The marginal q(x_t | x_0): *mean_coef = √ᾱ_t, *variance = 1 − ᾱ_t.
 * Errors: INVALID_ARGUMENT (a pointer NULL), OUT_OF_RANGE (t ≥ T). */
DIFFUSE_API diffuse_status diffuse_q_marginal(const diffuse_schedule *schedule, size_t t,
                                              double *mean_coef, double *variance);

/* One step q(x_t | x_{t−1}): *mean_coef = √α_t, *variance = β_t.
 * Errors: INVALID_ARGUMENT (a pointer NULL), OUT_OF_RANGE (t ≥ T). */
DIFFUSE_API diffuse_status diffuse_q_step(const diffuse_schedule *schedule, size_t t,
                                          double *mean_coef, double *variance);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_FORWARD_H */
