/* The variational-bound term of L_hybrid (internal): Nichol & Dhariwal
 * 2021, §3.1, for a network that learns its variance.
 *
 *   L_hybrid = L_simple + λ L_vlb,   L_vlb = Σ_t L_t estimated by T·L_t
 *
 * for the row's sampled t (improved-diffusion's `vb * num_timesteps/1000`
 * with λ = 0.001), each L_t in bits per dimension (mean over the row's d
 * elements / ln 2), core/likelihood.h's terms:
 *
 *   t > 0   L_t = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))
 *           q = N(μ̃_t(x_t, x_0), β̃_t),  p_θ = N(μ̃_t(x_t, x̂_0), σ_t²)
 *   t = 0   L_0 = −log p_θ(x_0 | x_1), the decoder (discretised on the
 *           256-level grid of [−1, 1], or continuous)
 *
 * with σ_t² = exp(f log β_t + (1 − f) log β̃_t^{clipped}), f = (v + 1)/2, the
 * learned range. The stop-gradient: μ̃_t(x_t, x̂_0) is held fixed, so L_vlb
 * trains only v (the mean learns from L_simple alone). */
#ifndef DIFFUSE_SRC_HYBRID_LOSS_H
#define DIFFUSE_SRC_HYBRID_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse/likelihood.h"
#include "diffuse/model.h"
#include "diffuse/schedule.h"

/* The rows' inputs and outputs (n·d floats each; t: n). */
typedef struct hybrid_rows {
    const diffuse_schedule *schedule;
    diffuse_prediction kind;
    diffuse_decoder decoder;
    size_t n, d;
    const int32_t *t;
    const float *x0, *x_t, *output; /* output: f, of the kind */
    float *variance;                /* in: v; out: scale · ∂(Σ_i T·L_{t_i})/∂v */
    float *x0_scratch;              /* n·d floats for x̂_0 */
} hybrid_rows;

/* Σ_i T·L_{t_i} (bits/dim) over the rows; rows->variance is overwritten by
 * its gradient times `scale` (λ/n for the batch mean). */
double hybrid_vlb_and_gradient(const hybrid_rows *rows, double scale);

#endif
