/* Elementwise float32 kernels (see vec.h for the blocking scheme). */
#include "nn/vec.h"

static NN_ALWAYS_INLINE void add_span(float *restrict out, const float *restrict in, size_t count)
{
    for (size_t k = 0; k < count; k++)
        out[k] += in[k];
}

/* out += in over n elements: full blocks (vectorised), then the tail. */
static NN_ALWAYS_INLINE void add_blocks(float *restrict out, const float *restrict in, size_t n)
{
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        add_span(out + i, in + i, NN_VEC_BLOCK);
    add_span(out + i, in + i, n - i);
}

void nn_vec_set_rows(float *out, const float *row, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        memcpy(out + i * cols, row, cols * sizeof *row);
}

NN_VECTOR_CLONES void nn_vec_add_rows(float *restrict out, const float *restrict row, size_t rows,
                                      size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        add_blocks(out + i * cols, row, cols);
}

NN_VECTOR_CLONES void nn_vec_add(float *restrict out, const float *restrict in, size_t n)
{
    add_blocks(out, in, n);
}

static NN_ALWAYS_INLINE void sum_span(float *restrict out, const float *restrict a,
                                      const float *restrict b, size_t count)
{
    for (size_t k = 0; k < count; k++)
        out[k] = a[k] + b[k];
}

NN_VECTOR_CLONES void nn_vec_sum(float *restrict out, const float *restrict a,
                                 const float *restrict b, size_t n)
{
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        sum_span(out + i, a + i, b + i, NN_VEC_BLOCK);
    sum_span(out + i, a + i, b + i, n - i);
}

NN_VECTOR_CLONES void nn_vec_column_sums(float *restrict sums, const float *restrict in,
                                         size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        add_blocks(sums, in + i * cols, cols);
}

static NN_ALWAYS_INLINE void multiply_span(float *restrict inout, const float *restrict factor,
                                           size_t count)
{
    for (size_t k = 0; k < count; k++)
        inout[k] *= factor[k];
}

static NN_ALWAYS_INLINE void multiply_add_span(float *restrict inout,
                                               const float *restrict factor,
                                               const float *restrict addend, size_t count)
{
    for (size_t k = 0; k < count; k++)
        inout[k] = inout[k] * factor[k] + addend[k];
}

NN_VECTOR_CLONES void nn_vec_multiply(float *restrict inout, const float *restrict factor,
                                      const float *restrict addend, size_t n)
{
    size_t i = 0;
    if (addend == NULL) {
        for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
            multiply_span(inout + i, factor + i, NN_VEC_BLOCK);
        multiply_span(inout + i, factor + i, n - i);
        return;
    }
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        multiply_add_span(inout + i, factor + i, addend + i, NN_VEC_BLOCK);
    multiply_add_span(inout + i, factor + i, addend + i, n - i);
}
