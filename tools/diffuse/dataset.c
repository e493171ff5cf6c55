/* Training data sources (see dataset.h). */
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dataset_from_table(dataset *d, table *rows, int shuffle, char *error, size_t error_size)
{
    memset(d, 0, sizeof *d);
    d->toy2d = -1;
    d->rows = *rows;
    memset(rows, 0, sizeof *rows);
    d->dim = d->rows.cols;
    d->epoch_rows = d->rows.rows;
    d->shuffle = shuffle;
    d->order_epoch = UINT64_MAX;
    if (d->rows.rank >= 3) {
        d->channels = d->rows.rank == 4 ? d->rows.shape[1] : 1;
        d->height = d->rows.shape[d->rows.rank - 2];
        d->width = d->rows.shape[d->rows.rank - 1];
    }
    d->order = malloc(d->rows.rows * sizeof *d->order);
    d->uniforms = malloc(d->rows.rows * sizeof *d->uniforms);
    if (d->order == NULL || d->uniforms == NULL) {
        snprintf(error, error_size, "out of memory for the data's order");
        dataset_free(d);
        return -1;
    }
    return 0;
}

int dataset_from_idx(dataset *d, const char *images, const char *labels, int shuffle, char *error,
                     size_t error_size)
{
    memset(d, 0, sizeof *d);
    d->toy2d = -1;
    size_t count = 0;
    if (diffuse_images_load_idx(&d->images, images, labels) != DIFFUSE_OK ||
        diffuse_images_shape(d->images, &count, &d->channels, &d->height, &d->width, NULL) !=
            DIFFUSE_OK) {
        snprintf(error, error_size, "%s", diffuse_last_error());
        dataset_free(d);
        return -1;
    }
    d->dim = d->channels * d->height * d->width;
    d->epoch_rows = count;
    d->shuffle = shuffle;
    return 0;
}

int dataset_from_toy2d(dataset *d, const char *name, char *error, size_t error_size)
{
    memset(d, 0, sizeof *d);
    diffuse_toy2d kind;
    if (diffuse_toy2d_from_name(name, &kind) != DIFFUSE_OK) {
        snprintf(error, error_size, "%s", diffuse_last_error());
        return -1;
    }
    d->toy2d = (int)kind;
    d->dim = 2;
    return 0;
}

/* The rows served before step `steps`: whole epochs of ⌈n/b⌉ batches (the
 * last one short), then full batches. */
static uint64_t position_after(uint64_t steps, size_t batch, uint64_t epoch_rows)
{
    if (epoch_rows == 0)
        return steps * batch;
    uint64_t per_epoch = (epoch_rows + batch - 1) / batch;
    return steps / per_epoch * epoch_rows + steps % per_epoch * batch;
}

/* The order of `epoch`: file order, or Fisher–Yates on stream (seed, epoch). */
static int order_epoch(dataset *d, uint64_t epoch, char *message, size_t message_size)
{
    size_t n = d->rows.rows;
    for (size_t i = 0; i < n; i++)
        d->order[i] = i;
    d->order_epoch = epoch;
    if (!d->shuffle || n < 2)
        return 0;
    diffuse_rng *rng = NULL;
    if (diffuse_rng_create(&rng, d->seed, epoch) != DIFFUSE_OK ||
        diffuse_rng_uniform(rng, d->uniforms, n - 1) != DIFFUSE_OK) {
        snprintf(message, message_size, "shuffling: %s", diffuse_last_error());
        diffuse_rng_free(rng);
        return -1;
    }
    diffuse_rng_free(rng);
    for (size_t i = n - 1; i >= 1; i--) {
        size_t j = (size_t)((double)d->uniforms[n - 1 - i] * (double)(i + 1));
        j = j > i ? i : j;
        size_t swap = d->order[i];
        d->order[i] = d->order[j];
        d->order[j] = swap;
    }
    return 0;
}

/* A diffuse_data_fn over the rows of a table. */
static int serve_rows(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                      char *message, size_t message_size)
{
    dataset *d = user;
    (void)labels;
    uint64_t epoch = d->position / d->epoch_rows, first = d->position % d->epoch_rows;
    if (epoch != d->order_epoch && order_epoch(d, epoch, message, message_size) != 0)
        return -1;
    size_t n = d->epoch_rows - first < capacity ? (size_t)(d->epoch_rows - first) : capacity;
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * dim, d->rows.values + d->order[first + i] * dim, dim * sizeof *x);
    d->position += n;
    return (int)n;
}

/* A diffuse_data_fn over a built-in 2-D set: point p is the set's point p. */
static int serve_toy2d(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                       char *message, size_t message_size)
{
    dataset *d = user;
    (void)labels, (void)dim;
    if (diffuse_toy2d_sample((diffuse_toy2d)d->toy2d, d->seed, d->position, capacity, x) !=
        DIFFUSE_OK) {
        snprintf(message, message_size, "toy2d: %s", diffuse_last_error());
        return -1;
    }
    d->position += capacity;
    return (int)capacity;
}

int dataset_attach(dataset *d, diffuse_trainer *trainer, uint64_t seed, uint64_t steps,
                   size_t batch, char *error, size_t error_size)
{
    d->seed = seed;
    d->position = position_after(steps, batch, d->epoch_rows);
    diffuse_status status;
    if (d->images != NULL)
        status = diffuse_images_set_shuffle(d->images, d->shuffle, seed) == DIFFUSE_OK &&
                         diffuse_images_seek(d->images, d->position) == DIFFUSE_OK
                     ? diffuse_trainer_set_data(trainer, diffuse_images_data, d->images)
                     : DIFFUSE_ERROR_INVALID_ARGUMENT;
    else
        status = diffuse_trainer_set_data(trainer, d->toy2d >= 0 ? serve_toy2d : serve_rows, d);
    if (status != DIFFUSE_OK)
        snprintf(error, error_size, "%s", diffuse_last_error());
    return status == DIFFUSE_OK ? 0 : -1;
}

void dataset_free(dataset *d)
{
    table_free(&d->rows);
    diffuse_images_free(d->images);
    free(d->order);
    free(d->uniforms);
    memset(d, 0, sizeof *d);
}
