/* Nearest-neighbour 2× up-sampling and seeded dropout on NCHW images
 * (internal); neither has parameters.
 *
 * Up-sampling (followed by a 3×3 convolution in the U-Net; down-sampling
 * is a stride-2 convolution, conv2d.h):
 *   y[c, 2i + a, 2j + b] = x[c, i, j]   (a, b ∈ {0, 1})
 *   dx[c, i, j] = Σ_{a,b} dy[c, 2i + a, 2j + b]
 *
 * Dropout with rate q (training only; sampling skips it): a keep mask
 * k ~ Bernoulli(1 − q) per value and
 *   y = x·k/(1 − q),   dx = dy·k/(1 − q)
 * The mask of row i is the Philox stream (seed, key_i): value j is kept
 * when its uniform u_j ≥ q. Backward draws the same mask again instead of
 * keeping it. */
#ifndef DIFFUSE_SRC_NN_RESAMPLE_H
#define DIFFUSE_SRC_NN_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* out[n·C, 2H, 2W] from in[n·C, H, W] (`planes` = n·C). */
void nn_upsample2_forward(float *out, const float *in, size_t planes, size_t height,
                          size_t width);

/* d_in[n·C, H, W] = the sum of each 2×2 block of d_out[n·C, 2H, 2W]. */
void nn_upsample2_backward(float *d_in, const float *d_out, size_t planes, size_t height,
                           size_t width);

/* In place over n rows of `dim` values: x[i, j] ·= k_ij/(1 − rate), with
 * the mask of row i from stream (seed, keys[i]). Forward and backward are
 * the same operation (on x, then on dL/dy). rate in [0, 1); 0 is a no-op. */
void nn_dropout_apply(float *x, size_t n, size_t dim, double rate, uint64_t seed,
                      const uint64_t *keys);

#endif
