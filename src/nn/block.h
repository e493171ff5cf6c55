/* Pre-activation dense block (internal):
 *
 *     y = W φ(x) + b [+ x]          (the skip term only when `residual`)
 *
 * the building block of the MLP: its hidden layers (residual, H → H), its
 * output layer (H → d) and the second layer of the time MLP (H → H) are all
 * of this form. Backward needs a = φ(x) (for dW) and φ'(x) (for dx), which
 * the caller keeps from forward or recomputes from x; with g = dL/dy:
 *
 *     dW += gᵀ a,   db += Σ_rows g,   dx = (g W) ⊙ φ'(x) [+ g]
 *
 * Backward ACCUMULATES into dW and db and overwrites dx. */
#ifndef DIFFUSE_SRC_NN_BLOCK_H
#define DIFFUSE_SRC_NN_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "diffuse/model.h"

/* out[n, out_dim] = W φ(in) + b [+ in]; act[n, in_dim] = φ(in) and, unless
 * NULL, derivative[n, in_dim] = φ'(in). `out` may be the same array as `in`
 * (in place; then in_dim == out_dim); `act` and `derivative` overlap
 * nothing. `residual` requires in_dim == out_dim. */
void nn_block_forward(float *out, float *act, float *derivative, const float *in,
                      const float *weight, const float *bias, size_t n, size_t in_dim,
                      size_t out_dim, diffuse_activation kind, bool residual);

/* Backward given d_out = dL/dy, after the parameter gradients (which are
 * nn_linear_backward_params(d_weight, d_bias, d_out, act, …), act = φ(x)):
 * d_in = (d_out·W) ⊙ derivative [+ d_out], derivative = φ'(x). d_in must
 * not overlap d_out or derivative but may be the array act (read for dW
 * before), so callers need no extra array for d_in. */
void nn_block_backward_input(float *d_in, const float *d_out, const float *derivative,
                             const float *weight, size_t n, size_t in_dim, size_t out_dim,
                             bool residual);

#endif
