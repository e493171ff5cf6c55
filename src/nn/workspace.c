/* Grow-on-demand scratch memory (see workspace.h). */
#include "nn/workspace.h"

#include <stdint.h>
#include <stdlib.h>

#define NN_ALIGNMENT ((size_t)64)

static size_t round_up(size_t bytes)
{
    return (bytes + NN_ALIGNMENT - 1) / NN_ALIGNMENT * NN_ALIGNMENT;
}

diffuse_status nn_workspace_reserve(diffuse_error *error, nn_workspace *workspace, size_t bytes)
{
    if (bytes <= workspace->capacity)
        return DIFFUSE_OK;
    nn_workspace_release(workspace);
    /* aligned_alloc wants a multiple of the alignment. */
    size_t size = round_up(bytes);
    workspace->data = aligned_alloc(NN_ALIGNMENT, size);
    if (workspace->data == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu bytes of network activations", size);
    workspace->capacity = size;
    return DIFFUSE_OK;
}

void nn_workspace_release(nn_workspace *workspace)
{
    free(workspace->data);
    workspace->data = NULL;
    workspace->capacity = 0;
}

void *nn_carve(nn_carver *carver, size_t bytes)
{
    size_t offset = round_up(carver->used);
    carver->used = offset + bytes;
    return carver->base != NULL ? carver->base + offset : NULL;
}

float *nn_carve_floats(nn_carver *carver, size_t count)
{
    return nn_carve(carver, count * sizeof(float));
}

int32_t *nn_carve_ints(nn_carver *carver, size_t count)
{
    return nn_carve(carver, count * sizeof(int32_t));
}
