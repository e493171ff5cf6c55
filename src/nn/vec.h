/* Elementwise float32 kernels shared by the layers (internal).
 *
 * Why this file exists: the default build (-O2) only vectorises loops whose
 * trip count is a known multiple of the vector width, and the baseline
 * x86-64 target has 4-wide vectors. So every kernel walks its array in
 * blocks of NN_VEC_BLOCK elements (a constant trip count) plus a scalar
 * tail, and NN_VECTOR_CLONES compiles it for AVX-512 and AVX2 as well, the
 * best variant being picked when the library is loaded. Each element goes
 * through the same IEEE operations in every variant and in the tail (ISO C
 * mode does not contract a*b+c into FMA), so the results are bitwise
 * identical whichever variant runs. */
#ifndef DIFFUSE_SRC_NN_VEC_H
#define DIFFUSE_SRC_NN_VEC_H

#include <stddef.h>
#include <string.h> /* also defines __GLIBC__ where it applies */

#define NN_VEC_BLOCK 64

/* The per-span helpers must be inlined into the block loops for the
 * constant trip count to reach the vectoriser. */
#if defined(__GNUC__)
#define NN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NN_ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define NN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_VECTOR_CLONES
#endif

/* out[i·cols + j] = row[j] for every row i < rows. */
void nn_vec_set_rows(float *out, const float *row, size_t rows, size_t cols);

/* out[i·cols + j] += row[j] for every row i < rows. */
void nn_vec_add_rows(float *out, const float *row, size_t rows, size_t cols);

/* out[k] += in[k], k < n (out and in do not overlap). */
void nn_vec_add(float *out, const float *in, size_t n);

/* out[k] = a[k] + b[k], k < n (out overlaps neither). */
void nn_vec_sum(float *out, const float *a, const float *b, size_t n);

/* sums[j] += Σ_i in[i·cols + j], rows added in order i = 0, 1, … (so the
 * result does not depend on anything but the data). */
void nn_vec_column_sums(float *sums, const float *in, size_t rows, size_t cols);

/* inout[k] = inout[k]·factor[k] (+ addend[k] unless addend is NULL). */
void nn_vec_multiply(float *inout, const float *factor, const float *addend, size_t n);

#endif
