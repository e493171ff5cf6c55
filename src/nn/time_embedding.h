/* Sinusoidal timestep embedding (internal), as in "Attention Is All You
 * Need" and the DDPM reference code (guided-diffusion's order, cosines first):
 *
 *     half = E/2,   f_k = exp(−ln(P)·k/half),   k = 0 … half−1
 *     emb(t) = [cos(t f_0), …, cos(t f_{half−1}), sin(t f_0), …, sin(t f_{half−1})]
 *
 * evaluated in double precision and rounded to float. The embedding does not
 * depend on any parameter, so rows are cached in a table for small t (every
 * t of a typical schedule): a lookup is then a copy instead of E
 * trigonometric calls. */
#ifndef DIFFUSE_SRC_NN_TIME_EMBEDDING_H
#define DIFFUSE_SRC_NN_TIME_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Most floats the cache may hold (16 MiB); larger t are computed directly. */
#define NN_TIME_TABLE_MAX_FLOATS ((size_t)1 << 22)

typedef struct nn_time_table {
    size_t dim;           /* E (even) */
    double *frequencies;  /* f_k, k < E/2 */
    float *rows;          /* emb(t) for t < row_count, row-major */
    size_t row_count;
} nn_time_table;

/* Sets up an empty cache for embeddings of size `dim` with period `max_period`. */
diffuse_status nn_time_table_init(diffuse_error *error, nn_time_table *table, size_t dim,
                                  double max_period);
void nn_time_table_release(nn_time_table *table);

/* out[i·E … i·E + E−1] = emb(t[i]) for i < n (every t[i] ≥ 0). First grows
 * the cache to cover the largest t[i] when that fits in
 * NN_TIME_TABLE_MAX_FLOATS. Fails only for lack of memory. */
diffuse_status nn_time_table_lookup(diffuse_error *error, nn_time_table *table,
                                    const int32_t *t, size_t n, float *out);

#endif
