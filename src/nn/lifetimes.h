/* Offsets for buffers that live over intervals of a timeline (internal):
 * the packing step of a memory plan (memory_plan.h).
 *
 * Buffer b is needed at the steps first_b … last_b and is size_b units long.
 * Two buffers may share memory when their intervals are disjoint, so the
 * arena needs at least max_t Σ_{b alive at t} size_b units; packing them is
 * NP-hard in general, and the greedy rule used here (largest first, each at
 * the lowest offset that overlaps no placed buffer alive at the same time)
 * is the usual one: for the U-Net's lists it comes within a few percent of
 * that bound (docs/design.md). Ties go by index, so the result depends on
 * the input only. */
#ifndef DIFFUSE_SRC_NN_LIFETIMES_H
#define DIFFUSE_SRC_NN_LIFETIMES_H

#include <stddef.h>

#include "util/error.h"

typedef struct nn_lifetime {
    size_t size;        /* units (0: needs no memory, offset 0) */
    size_t first, last; /* steps, first ≤ last */
    size_t offset;      /* set by nn_lifetimes_pack */
} nn_lifetime;

/* Sets every buffer's offset and *total (the arena's length in units).
 * NO_MEMORY (for the placement order). */
diffuse_status nn_lifetimes_pack(diffuse_error *error, nn_lifetime *buffers, size_t count,
                                 size_t *total);

/* max_t Σ size over the buffers alive at step t: the least any packing
 * needs. */
size_t nn_lifetimes_bound(const nn_lifetime *buffers, size_t count);

#endif
