/* Double-precision references of the network layers, for the tests only:
 * plain loops straight from the equations of the layer headers in src/nn/,
 * sharing no code with the fast float kernels they check. */
#ifndef DIFFUSE_TEST_NN_REFERENCE_H
#define DIFFUSE_TEST_NN_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/layers.h"
#include "nn/mlp.h"

/* φ(x) and φ'(x) (activation.h), GELU through ½(1 + tanh u) = σ(2u) and
 * 1 − σ(z) = σ(−z), which keep their relative precision in both tails
 * where 1 + tanh u and 1 − tanh²u cancel. */
double nn_activation_reference(diffuse_activation kind, double x);
double nn_activation_derivative_reference(diffuse_activation kind, double x);

/* out[n, out_dim] = in·Wᵀ + bias (linear.h; bias may be NULL; never
 * accumulates). */
void nn_linear_forward_reference(double *out, const double *in, const double *weight,
                                 const double *bias, size_t n, size_t in_dim, size_t out_dim);

/* d_weight += d_outᵀ·in, d_bias += Σ_rows d_out (skipped when NULL),
 * d_in = d_out·W (skipped when NULL). */
void nn_linear_backward_reference(double *d_in, double *d_weight, double *d_bias,
                                  const double *d_out, const double *in, const double *weight,
                                  size_t n, size_t in_dim, size_t out_dim);

/* out = W φ(in) + b [+ in] (block.h; `out` must not overlap `in`). */
void nn_block_forward_reference(double *out, const double *in, const double *weight,
                                const double *bias, size_t n, size_t in_dim, size_t out_dim,
                                diffuse_activation kind, bool residual);

/* emb(t) of size `dim` with period `max_period` (time_embedding.h). */
void nn_time_embedding_reference(double t, size_t dim, double max_period, double *out);

/* The whole MLP row by row: out[n, d] = f(params; x, t [, labels]), with
 * `params` in the tensor order documented in include/diffuse/model.h (the
 * reference finds the offsets itself, so it checks the library's layout
 * too). With classes, labels NULL means the null row K. Fails only for lack
 * of memory. */
diffuse_status nn_mlp_forward_reference(const nn_mlp_shape *shape, const double *params,
                                        const double *x, const int32_t *t,
                                        const int32_t *labels, size_t n, double *out);

/* The convolution of conv2d.h straight from its sum, one output at a time:
 * out[n, C_out, Ho, Wo] (bias may be NULL). */
void nn_conv2d_forward_reference(double *out, const double *in, const double *weight,
                                 const double *bias, size_t n, const nn_conv_shape *shape);

/* Its adjoint, tap by tap: d_weight += …, d_bias += … (skipped when NULL),
 * d_in = … (overwritten; skipped when NULL). */
void nn_conv2d_backward_reference(double *d_in, double *d_weight, double *d_bias,
                                  const double *d_out, const double *in, const double *weight,
                                  size_t n, const nn_conv_shape *shape);

/* GroupNorm of group_norm.h over out[n, C, P] (two-pass mean and
 * variance in double). */
void nn_group_norm_forward_reference(double *out, const double *in, const double *gain,
                                     const double *bias, size_t n, const nn_norm_shape *shape);

/* Nearest 2× up-sampling of resample.h: out[planes, 2H, 2W]. */
void nn_upsample2_forward_reference(double *out, const double *in, size_t planes,
                                    size_t height, size_t width);

/* The attention core of attention.h, one head and query at a time:
 * out[n, C, P] from qkv[n, 3C, P]. */
void nn_attention_forward_reference(double *out, const double *qkv, size_t n,
                                    const nn_attention_shape *shape);

/* A whole layer list in double precision, layer by layer through the
 * references above (the structure comes from the list, every kernel from
 * this file): out[n, d] from x[n, d], emb[n, E] (the sinusoidal
 * embeddings of the rows' timesteps) and labels (NULL without an
 * embedding layer). Dropout layers are the identity (prediction). */
void nn_layers_forward_reference(const nn_layer_list *list, const double *params,
                                 const double *x, const double *emb, const int32_t *labels,
                                 size_t n, double *out);

#endif
