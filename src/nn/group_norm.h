/* Group normalisation on NCHW images (internal; Wu & He 2018, PyTorch's
 * nn.GroupNorm). The C channels of an image are split into G groups of
 * C/G consecutive channels; over the m = (C/G)·P values of a group
 * (P = H·W pixels):
 *
 *   μ = (1/m) Σ x,   σ² = (1/m) Σ (x − μ)²  (biased),   r = 1/√(σ² + ε)
 *   x̂ = (x − μ)·r,   y[c, p] = γ_c x̂[c, p] + β_c
 *
 * Backward, with g = dL/dy and ĝ = γ_c g (means over the group):
 *
 *   dγ_c += Σ_p g x̂,   dβ_c += Σ_p g,   dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ x̂))
 *
 * Forward keeps μ and r per (image, group) (2·n·G floats) and backward
 * recomputes x̂ from x. Sums run in double, in a fixed order. Backward
 * ACCUMULATES into dγ and dβ and overwrites dx. */
#ifndef DIFFUSE_SRC_NN_GROUP_NORM_H
#define DIFFUSE_SRC_NN_GROUP_NORM_H

#include <stddef.h>

typedef struct nn_norm_shape {
    size_t channels; /* C, a multiple of groups */
    size_t pixels;   /* P = H·W */
    size_t groups;   /* G */
    float eps;       /* ε */
} nn_norm_shape;

/* out[n, C, P] = GN(in); stats[n·G·2] = (μ, r) per (image, group). `out`
 * may be `in` (in place: backward then needs the input kept elsewhere). */
void nn_group_norm_forward(float *out, float *stats, const float *in, const float *gain,
                           const float *bias, size_t n, const nn_norm_shape *shape);

/* out = GN(in) with the (μ, r) of an earlier nn_group_norm_forward of the
 * same input (the same bits, without the two passes over the data that
 * compute them): for a backward pass that recomputes the output. */
void nn_group_norm_apply(float *out, const float *stats, const float *in, const float *gain,
                         const float *bias, size_t n, const nn_norm_shape *shape);

/* d_in = dL/dx given d_out, the forward's input and stats; d_gain and
 * d_bias accumulate. d_in may be d_out (in place). */
void nn_group_norm_backward(float *d_in, float *d_gain, float *d_bias, const float *d_out,
                            const float *in, const float *gain, const float *stats, size_t n,
                            const nn_norm_shape *shape);

#endif
