/* 2-D convolution on NCHW float32 images (internal), weights stored
 * [C_out, C_in, k, k] like PyTorch's nn.Conv2d, zero padding p = ⌊k/2⌋:
 *
 *   y[c, oy, ox] = b[c] + Σ_{c', i, j} W[c, c', i, j] · x[c', s·oy + i − p, s·ox + j − p]
 *
 * (x = 0 outside the image), with Ho = ⌊(H + 2p − k)/s⌋ + 1 and likewise
 * Wo. Per image it is one GEMM over the im2col matrix
 * X̂[(c', i, j), (oy, ox)] = x[c', s·oy + i − p, s·ox + j − p]:
 *
 *   forward:   Y[C_out, P]       = W[C_out, K] · X̂[K, P] + b    (K = C_in·k², P = Ho·Wo)
 *   backward:  dW[C_out, K]     += dY · X̂ᵀ,   db[c] += Σ_p dY[c, p]
 *              dX̂[K, P]          = Wᵀ · dY,   dx = col2im(dX̂)  (the adjoint of im2col:
 *                                               every entry of dX̂ added to the pixel it came from)
 *
 * A 1×1 stride-1 convolution needs no im2col (X̂ = x). Backward ACCUMULATES
 * into dW and db and overwrites dx. */
#ifndef DIFFUSE_SRC_NN_CONV2D_H
#define DIFFUSE_SRC_NN_CONV2D_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nn_conv_shape {
    size_t in_channels, out_channels; /* C_in, C_out */
    size_t height, width;             /* H, W of the input */
    size_t kernel;                    /* k: 1 or 3 (any odd k works) */
    size_t stride;                    /* s: 1 or 2 */
} nn_conv_shape;

/* Ho, Wo and P = Ho·Wo of the output. */
size_t nn_conv_out_height(const nn_conv_shape *shape);
size_t nn_conv_out_width(const nn_conv_shape *shape);
size_t nn_conv_out_pixels(const nn_conv_shape *shape);

/* Floats of the im2col scratch one image needs (K·P; 0 when X̂ = x). */
size_t nn_conv_columns_floats(const nn_conv_shape *shape);

/* out[n, C_out, Ho, Wo] = conv(in[n, C_in, H, W]) + bias (bias may be
 * NULL), or with `accumulate` out += …. `columns` holds
 * nn_conv_columns_floats floats (may be NULL when that is 0). `out`
 * overlaps nothing. */
void nn_conv2d_forward(float *out, float *columns, const float *in, const float *weight,
                       const float *bias, size_t n, const nn_conv_shape *shape, bool accumulate);

/* d_weight += Σ_images dY·X̂ᵀ and d_bias += Σ dY (skipped when NULL). */
void nn_conv2d_backward_params(float *d_weight, float *d_bias, float *columns,
                               const float *d_out, const float *in, size_t n,
                               const nn_conv_shape *shape);

/* d_in[n, C_in, H, W] = col2im(Wᵀ·dY) (overwritten; overlaps nothing). */
void nn_conv2d_backward_input(float *d_in, float *columns, const float *d_out,
                              const float *weight, size_t n, const nn_conv_shape *shape);

#endif
