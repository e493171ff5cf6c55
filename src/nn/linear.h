/* Fully connected layer y = W x + b on a batch of rows (internal).
 *
 * Row-major throughout, weights stored [out, in] like PyTorch's nn.Linear:
 *   forward:   Y[n, out] = X[n, in] · Wᵀ + b           (one sgemm)
 *   backward:  dW[out, in] += dYᵀ · X                  (one sgemm)
 *              db[out]     += Σ_rows dY                (column sums)
 *              dX[n, in]    = dY · W                   (one sgemm)
 * Backward ACCUMULATES into dW and db (the caller zeroes them once per
 * step) and overwrites dX. Sizes must be at most NN_MAX_ROWS (BLAS takes
 * int). */
#ifndef DIFFUSE_SRC_NN_LINEAR_H
#define DIFFUSE_SRC_NN_LINEAR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define NN_MAX_ROWS ((size_t)INT_MAX)

/* out = in·Wᵀ + bias, or with `accumulate` out += in·Wᵀ + bias.
 * `bias` may be NULL (no bias). `out` must not overlap `in` or `weight`. */
void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       size_t n, size_t in_dim, size_t out_dim, bool accumulate);

/* Backward in two halves, so that a caller can finish the parameter
 * gradients before going on (model.h, gradient teams): d_weight +=
 * d_outᵀ·in and d_bias += Σ_rows d_out (skipped when NULL) … */
void nn_linear_backward_params(float *d_weight, float *d_bias, const float *d_out,
                               const float *in, size_t n, size_t in_dim, size_t out_dim);

/* … and d_in = d_out·W (must not overlap d_out; may be the array `in` of
 * the first half once that has run). */
void nn_linear_backward_input(float *d_in, const float *d_out, const float *weight, size_t n,
                              size_t in_dim, size_t out_dim);

#endif
