/* The training data of `diffuse train` as a trainer data source: rows from
 * a CSV or NPY file (in memory), IDX images (diffuse_images) or a built-in
 * 2-D set (tools/diffuse, not part of libdiffuse).
 *
 * A file's rows are served once per epoch, in an order shuffled per epoch
 * (Fisher–Yates, swap i with ⌊u_i·(i+1)⌋ for i = n−1 … 1, u_i the Philox
 * uniform values of stream (seed, epoch)) or in file order; a batch never
 * crosses the end of an epoch, as diffuse_images_data does, so the rows
 * served after k steps of batch b depend only on (k, b) and a resumed run
 * gets the batches of one that never stopped. A 2-D set is endless. */
#ifndef DIFFUSE_CLI_DATASET_H
#define DIFFUSE_CLI_DATASET_H

#include <diffuse/diffuse.h>

#include "table.h"

typedef struct dataset {
    size_t dim;                     /* floats a row */
    size_t channels, height, width; /* the image shape; 0 for vectors */
    uint64_t epoch_rows;            /* rows an epoch; 0: endless */
    int shuffle;
    uint64_t seed;
    /* what serves the rows: one of */
    table rows;
    diffuse_images *images;
    int toy2d; /* a diffuse_toy2d, or -1 */
    /* the position and, for rows, the current epoch's order */
    uint64_t position, order_epoch;
    size_t *order;
    float *uniforms;
} dataset;

/* Takes over `rows` (a CSV or NPY table); a 3-d (n, H, W) or 4-d
 * (n, C, H, W) NPY array gives the image shape. */
int dataset_from_table(dataset *d, table *rows, int shuffle, char *error, size_t error_size);
/* An IDX image file and optionally its labels. */
int dataset_from_idx(dataset *d, const char *images, const char *labels, int shuffle, char *error,
                     size_t error_size);
/* A built-in 2-D set by name ("swiss_roll"). */
int dataset_from_toy2d(dataset *d, const char *name, char *error, size_t error_size);

/* Sets the shuffling seed and moves to where `steps` steps of `batch` rows
 * end, then hands the source to the trainer. */
int dataset_attach(dataset *d, diffuse_trainer *trainer, uint64_t seed, uint64_t steps,
                   size_t batch, char *error, size_t error_size);

void dataset_free(dataset *d);

#endif
