/* 2-D convolution through im2col and OpenBLAS (see conv2d.h). */
#include "nn/conv2d.h"

#include <cblas.h>
#include <string.h>

#include "nn/vec.h"

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

/* The output coordinates o whose input coordinate s·o + t − p (tap t)
 * lies inside [0, size): o in [*first, *last), the rest read padding. */
static void valid_outputs(size_t tap, size_t size, size_t outputs, const nn_conv_shape *shape,
                          size_t *first, size_t *last)
{
    size_t pad = shape->kernel / 2, stride = shape->stride;
    /* s·o + t ≥ p  ⇔  o ≥ ⌈(p − t)/s⌉;  s·o + t − p ≤ size − 1  ⇔  o ≤ ⌊(size − 1 + p − t)/s⌋ */
    size_t lo = tap >= pad ? 0 : (pad - tap + stride - 1) / stride;
    size_t hi = size - 1 + pad >= tap ? (size - 1 + pad - tap) / stride + 1 : 0;
    *first = lo < outputs ? lo : outputs;
    *last = hi < outputs ? hi : outputs;
    if (*last < *first)
        *last = *first;
}

/* dst[o] = src[s·(o − first)] for o in [first, last), 0 elsewhere below
 * `count` (gather; src is the first pixel read); or src[s·(o − first)] +=
 * dst[o] for o in [first, last) (adjoint). Stride 1 is a copy (or a
 * vector add). */
static void gather_line(float *dst, float *src, size_t count, size_t first, size_t last,
                        size_t stride, bool adjoint)
{
    size_t span = last - first;
    if (adjoint) {
        if (stride == 1)
            nn_vec_add(src, dst + first, span);
        else
            for (size_t o = 0; o < span; o++)
                src[o * stride] += dst[first + o];
        return;
    }
    memset(dst, 0, first * sizeof *dst);
    if (stride == 1)
        memcpy(dst + first, src, span * sizeof *dst);
    else
        for (size_t o = 0; o < span; o++)
            dst[first + o] = src[o * stride];
    memset(dst + last, 0, (count - last) * sizeof *dst);
}

/* One row (c', i, j) of X̂ for one image (gather), or its adjoint
 * (scatter-add into the image) when `adjoint`. */
static void im2col_row(float *row, float *image, size_t channel, size_t tap_y, size_t tap_x,
                       const nn_conv_shape *shape, bool adjoint)
{
    size_t out_h = nn_conv_out_height(shape), out_w = nn_conv_out_width(shape);
    size_t pad = shape->kernel / 2, y_first, y_last, x_first, x_last;
    valid_outputs(tap_y, shape->height, out_h, shape, &y_first, &y_last);
    valid_outputs(tap_x, shape->width, out_w, shape, &x_first, &x_last);
    float *plane = image + channel * shape->height * shape->width;
    if (x_first == x_last) /* the tap reads only padding (an image narrower than k) */
        y_first = y_last = out_h;
    if (!adjoint) {
        memset(row, 0, y_first * out_w * sizeof *row);
        memset(row + y_last * out_w, 0, (out_h - y_last) * out_w * sizeof *row);
    }
    /* the first pixel read in each line: s·x_first + j − p ≥ 0 */
    size_t ix = x_first * shape->stride + tap_x - pad;
    for (size_t oy = y_first; oy < y_last; oy++) {
        size_t iy = oy * shape->stride + tap_y - pad;
        gather_line(row + oy * out_w, plane + iy * shape->width + ix, out_w, x_first, x_last,
                    shape->stride, adjoint);
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
