/* Sinusoidal timestep embedding with a cache of rows (see time_embedding.h). */
#include "nn/time_embedding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

diffuse_status nn_time_table_init(diffuse_error *error, nn_time_table *table, size_t dim,
                                  double max_period)
{
    size_t half = dim / 2;
    memset(table, 0, sizeof *table);
    table->dim = dim;
    table->frequencies = malloc(half * sizeof *table->frequencies);
    if (table->frequencies == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for the time embedding");
    /* f_k = exp(−ln(P)·k/half) */
    for (size_t k = 0; k < half; k++)
        table->frequencies[k] = exp(-log(max_period) * (double)k / (double)half);
    return DIFFUSE_OK;
}

void nn_time_table_release(nn_time_table *table)
{
    free(table->frequencies);
    free(table->rows);
    memset(table, 0, sizeof *table);
}

/* emb(t) = [cos(t f_k) …, sin(t f_k) …], rounded to float. */
static void compute_row(const nn_time_table *table, int32_t t, float *out)
{
    size_t half = table->dim / 2;
    for (size_t k = 0; k < half; k++) {
        double angle = (double)t * table->frequencies[k];
        out[k] = (float)cos(angle);
        out[half + k] = (float)sin(angle);
    }
}

/* Makes the cache cover t < needed. Grows at least twofold so that slowly
 * increasing t do not regrow every call. */
static diffuse_status grow(diffuse_error *error, nn_time_table *table, size_t needed)
{
    size_t max_rows = NN_TIME_TABLE_MAX_FLOATS / table->dim;
    if (needed <= table->row_count)
        return DIFFUSE_OK;
    size_t rows = needed > 2 * table->row_count ? needed : 2 * table->row_count;
    rows = rows < max_rows ? rows : max_rows;
    float *grown = realloc(table->rows, rows * table->dim * sizeof *grown);
    if (grown == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu rows of time embeddings", rows);
    for (size_t t = table->row_count; t < rows; t++)
        compute_row(table, (int32_t)t, grown + t * table->dim);
    table->rows = grown;
    table->row_count = rows;
    return DIFFUSE_OK;
}

diffuse_status nn_time_table_lookup(diffuse_error *error, nn_time_table *table,
                                    const int32_t *t, size_t n, float *out)
{
    /* Cover the largest t that may be cached; larger ones are computed. */
    size_t max_rows = NN_TIME_TABLE_MAX_FLOATS / table->dim, needed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t rows = (size_t)t[i] + 1;
        needed = rows > needed && rows <= max_rows ? rows : needed;
    }
    diffuse_status status = grow(error, table, needed);
    if (status != DIFFUSE_OK)
        return status;
    size_t dim = table->dim;
    for (size_t i = 0; i < n; i++) {
        if ((size_t)t[i] < table->row_count)
            memcpy(out + i * dim, table->rows + (size_t)t[i] * dim, dim * sizeof *out);
        else
            compute_row(table, t[i], out + i * dim);
    }
    return DIFFUSE_OK;
}
