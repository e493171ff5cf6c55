/* Up-sampling and dropout (see resample.h). */
#include "nn/resample.h"

#include "util/philox.h"

void nn_upsample2_forward(float *out, const float *in, size_t planes, size_t height,
                          size_t width)
{
    size_t out_w = 2 * width;
    for (size_t c = 0; c < planes; c++) {
        const float *x = in + c * height * width;
        float *y = out + c * 4 * height * width;
        for (size_t i = 0; i < height; i++) {
            float *top = y + 2 * i * out_w;
            for (size_t j = 0; j < width; j++)
                top[2 * j] = top[2 * j + 1] = x[i * width + j];
            for (size_t j = 0; j < out_w; j++)
                top[out_w + j] = top[j];
        }
    }
}

void nn_upsample2_backward(float *d_in, const float *d_out, size_t planes, size_t height,
                           size_t width)
{
    size_t out_w = 2 * width;
    for (size_t c = 0; c < planes; c++) {
        const float *g = d_out + c * 4 * height * width;
        float *dx = d_in + c * height * width;
        for (size_t i = 0; i < height; i++) {
            const float *top = g + 2 * i * out_w, *bottom = top + out_w;
            for (size_t j = 0; j < width; j++)
                dx[i * width + j] =
                    (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]);
        }
    }
}

/* Uniforms drawn per chunk of a row, so no row-sized scratch is needed. */
#define DROPOUT_CHUNK 256

void nn_dropout_apply(float *x, size_t n, size_t dim, double rate, uint64_t seed,
                      const uint64_t *keys)
{
    if (rate <= 0.0)
        return;
    float scale = (float)(1.0 / (1.0 - rate)), threshold = (float)rate;
    float u[DROPOUT_CHUNK];
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        for (size_t start = 0; start < dim; start += DROPOUT_CHUNK) {
            size_t count = dim - start < DROPOUT_CHUNK ? dim - start : DROPOUT_CHUNK;
            philox_uniform(seed, keys[i], start, u, count);
            for (size_t j = 0; j < count; j++)
                row[start + j] = u[j] >= threshold ? row[start + j] * scale : 0.0f;
        }
    }
}
