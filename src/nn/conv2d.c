/* 2-D convolution through im2col and OpenBLAS (see conv2d.h). */
#include "nn/conv2d.h"

#include <cblas.h>
#include <string.h>

size_t nn_conv_out_height(const nn_conv_shape *shape)
{
    size_t pad = shape->kernel / 2;
    return (shape->height + 2 * pad - shape->kernel) / shape->stride + 1;
}

size_t nn_conv_out_width(const nn_conv_shape *shape)
{
    size_t pad = shape->kernel / 2;
    return (shape->width + 2 * pad - shape->kernel) / shape->stride + 1;
}

size_t nn_conv_out_pixels(const nn_conv_shape *shape)
{
    return nn_conv_out_height(shape) * nn_conv_out_width(shape);
}

/* X̂ = x: a 1×1 kernel at stride 1 reads every pixel once, in place. */
static bool reads_input_directly(const nn_conv_shape *shape)
{
    return shape->kernel == 1 && shape->stride == 1;
}

size_t nn_conv_columns_floats(const nn_conv_shape *shape)
{
    if (reads_input_directly(shape))
        return 0;
    return shape->in_channels * shape->kernel * shape->kernel * nn_conv_out_pixels(shape);
}

/* The input coordinate s·o + i − p of output coordinate o and kernel tap
 * i, or −1 when it falls in the zero padding (≥ size or < 0). */
static ptrdiff_t source_index(size_t o, size_t tap, const nn_conv_shape *shape, size_t size)
{
    ptrdiff_t at = (ptrdiff_t)(o * shape->stride + tap) - (ptrdiff_t)(shape->kernel / 2);
    return at >= 0 && at < (ptrdiff_t)size ? at : -1;
}

/* One row (c', i, j) of X̂ for one image (gather), or its adjoint
 * (scatter-add into the image) when `adjoint`. */
static void im2col_row(float *row, float *image, size_t channel, size_t tap_y, size_t tap_x,
                       const nn_conv_shape *shape, bool adjoint)
{
    size_t out_h = nn_conv_out_height(shape), out_w = nn_conv_out_width(shape);
    float *plane = image + channel * shape->height * shape->width;
    for (size_t oy = 0; oy < out_h; oy++) {
        float *dst = row + oy * out_w;
        ptrdiff_t iy = source_index(oy, tap_y, shape, shape->height);
        if (iy < 0) {
            if (!adjoint)
                memset(dst, 0, out_w * sizeof *dst);
            continue;
        }
        float *src = plane + (size_t)iy * shape->width;
        for (size_t ox = 0; ox < out_w; ox++) {
            ptrdiff_t ix = source_index(ox, tap_x, shape, shape->width);
            if (adjoint) {
                if (ix >= 0)
                    src[ix] += dst[ox];
            } else {
                dst[ox] = ix >= 0 ? src[ix] : 0.0f;
            }
        }
    }
}

/* X̂ of one image (gather), or dx += col2im(X̂) (adjoint). */
static void im2col(float *columns, float *image, const nn_conv_shape *shape, bool adjoint)
{
    size_t k = shape->kernel, pixels = nn_conv_out_pixels(shape);
    for (size_t c = 0; c < shape->in_channels; c++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                im2col_row(columns + ((c * k + i) * k + j) * pixels, image, c, i, j, shape,
                           adjoint);
}

/* X̂ of image `index` of `in`: the image itself or `columns` filled. */
static const float *image_columns(float *columns, const float *in, size_t index,
                                  const nn_conv_shape *shape)
{
    const float *image = in + index * shape->in_channels * shape->height * shape->width;
    if (reads_input_directly(shape))
        return image;
    /* the gather only reads the image */
    im2col(columns, (float *)image, shape, false);
    return columns;
}

void nn_conv2d_forward(float *out, float *columns, const float *in, const float *weight,
                       const float *bias, size_t n, const nn_conv_shape *shape, bool accumulate)
{
    size_t pixels = nn_conv_out_pixels(shape), out_c = shape->out_channels;
    size_t depth = shape->in_channels * shape->kernel * shape->kernel;
    for (size_t img = 0; img < n; img++) {
        float *y = out + img * out_c * pixels;
        float beta = accumulate ? 1.0f : 0.0f;
        if (bias != NULL) {
            /* b first, so that the product accumulates onto it */
            for (size_t c = 0; c < out_c; c++) {
                float *plane = y + c * pixels;
                for (size_t p = 0; p < pixels; p++)
                    plane[p] = (accumulate ? plane[p] : 0.0f) + bias[c];
            }
            beta = 1.0f;
        }
        const float *x = image_columns(columns, in, img, shape);
        /* Y[C_out, P] (+)= W[C_out, K] · X̂[K, P] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)out_c, (int)pixels,
                    (int)depth, 1.0f, weight, (int)depth, x, (int)pixels, beta, y, (int)pixels);
    }
}

void nn_conv2d_backward_params(float *d_weight, float *d_bias, float *columns,
                               const float *d_out, const float *in, size_t n,
                               const nn_conv_shape *shape)
{
    size_t pixels = nn_conv_out_pixels(shape), out_c = shape->out_channels;
    size_t depth = shape->in_channels * shape->kernel * shape->kernel;
    for (size_t img = 0; img < n; img++) {
        const float *g = d_out + img * out_c * pixels;
        const float *x = image_columns(columns, in, img, shape);
        /* dW[C_out, K] += dY[C_out, P] · X̂[K, P]ᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)out_c, (int)depth,
                    (int)pixels, 1.0f, g, (int)pixels, x, (int)pixels, 1.0f, d_weight,
                    (int)depth);
        if (d_bias == NULL)
            continue;
        for (size_t c = 0; c < out_c; c++) {
            float sum = 0.0f;
            for (size_t p = 0; p < pixels; p++)
                sum += g[c * pixels + p];
            d_bias[c] += sum;
        }
    }
}

void nn_conv2d_backward_input(float *d_in, float *columns, const float *d_out,
                              const float *weight, size_t n, const nn_conv_shape *shape)
{
    size_t pixels = nn_conv_out_pixels(shape), out_c = shape->out_channels;
    size_t depth = shape->in_channels * shape->kernel * shape->kernel;
    size_t image_size = shape->in_channels * shape->height * shape->width;
    for (size_t img = 0; img < n; img++) {
        float *dx = d_in + img * image_size;
        const float *g = d_out + img * out_c * pixels;
        float *target = reads_input_directly(shape) ? dx : columns;
        /* dX̂[K, P] = W[C_out, K]ᵀ · dY[C_out, P] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)depth, (int)pixels,
                    (int)out_c, 1.0f, weight, (int)depth, g, (int)pixels, 0.0f, target,
                    (int)pixels);
        if (target == dx)
            continue;
        memset(dx, 0, image_size * sizeof *dx);
        im2col(columns, dx, shape, true);
    }
}
