/* Grow-on-demand scratch memory (internal).
 *
 * A layer stack needs many arrays whose sizes scale with the number of rows
 * n. They are carved out of one allocation that only grows, so once a model
 * has seen its largest batch no call allocates again. Carving runs twice:
 * with a NULL base it only measures (nn_carve returns NULL), then, after
 * nn_workspace_reserve, with the real base it hands out the pointers. */
#ifndef DIFFUSE_SRC_NN_WORKSPACE_H
#define DIFFUSE_SRC_NN_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct nn_workspace {
    unsigned char *data; /* 64-byte aligned, NULL until the first reserve */
    size_t capacity;     /* bytes */
} nn_workspace;

typedef struct nn_carver {
    unsigned char *base; /* NULL while measuring */
    size_t used;         /* bytes handed out so far */
} nn_carver;

/* Makes the workspace at least `bytes` long (contents are not kept).
 * DIFFUSE_ERROR_NO_MEMORY (message in `error`) when that fails; the old
 * memory is then released. */
diffuse_status nn_workspace_reserve(diffuse_error *error, nn_workspace *workspace, size_t bytes);

void nn_workspace_release(nn_workspace *workspace);

/* The next `bytes` of the carver's memory, 64-byte aligned (cache lines,
 * AVX-512 vectors), or NULL while measuring. */
void *nn_carve(nn_carver *carver, size_t bytes);

/* nn_carve for `count` floats / int32 values. */
float *nn_carve_floats(nn_carver *carver, size_t count);
int32_t *nn_carve_ints(nn_carver *carver, size_t count);

#endif
