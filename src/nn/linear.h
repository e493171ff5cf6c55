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

/* d_weight += d_outᵀ·in; d_bias += column sums of d_out (skipped when
 * NULL); d_in = d_out·W (skipped when NULL; must not overlap d_out), in
 * that order, so d_in may be the array `in` itself. */
void nn_linear_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                        const float *in, const float *weight, size_t n, size_t in_dim,
                        size_t out_dim);

/* The two halves of nn_linear_backward, for callers that must finish the
 * parameter gradients before going on (model.h, gradient teams):
 * d_weight += d_outᵀ·in and d_bias += Σ_rows d_out (skipped when NULL) … */
void nn_linear_backward_params(float *d_weight, float *d_bias, const float *d_out,
                               const float *in, size_t n, size_t in_dim, size_t out_dim);

/* … and d_in = d_out·W (must not overlap d_out). */
void nn_linear_backward_input(float *d_in, const float *d_out, const float *weight, size_t n,
                              size_t in_dim, size_t out_dim);

/* Double-precision references with plain loops (the same contracts, but
 * forward never accumulates and bias may be NULL). */
void nn_linear_forward_reference(double *out, const double *in, const double *weight,
                                 const double *bias, size_t n, size_t in_dim, size_t out_dim);
void nn_linear_backward_reference(double *d_in, double *d_weight, double *d_bias,
                                  const double *d_out, const double *in, const double *weight,
                                  size_t n, size_t in_dim, size_t out_dim);

#endif
