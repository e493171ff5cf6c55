/* IDX files (internal; the format is described in include/diffuse/images.h):
 * one array of unsigned bytes with its dimensions, raw or gzip. */
#ifndef DIFFUSE_SRC_IDX_H
#define DIFFUSE_SRC_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define IDX_MAX_RANK 4

typedef struct idx_array {
    uint8_t *values;             /* count values, row-major; malloc'd */
    size_t rank;
    uint32_t dims[IDX_MAX_RANK];
    uint64_t count;              /* the product of the dims */
} idx_array;

/* Reads `path`, which must hold an array of `rank` dimensions of unsigned
 * bytes, none of them 0, with at most `max_count` values in all and no
 * dimension after the first above `max_side`. IO, FORMAT, OUT_OF_RANGE or
 * NO_MEMORY with a message naming the file in `error` otherwise (see
 * diffuse_images_load_idx); *out is then empty. */
diffuse_status idx_read(diffuse_error *error, const char *path, size_t rank, uint64_t max_count,
                        uint64_t max_side, idx_array *out);

void idx_free(idx_array *a);

#endif
