/* Greedy packing of buffers with lifetimes (see lifetimes.h). */
#include "nn/lifetimes.h"

#include <stdbool.h>
#include <stdlib.h>

/* A buffer's place in the placement order: largest first, then by index
 * (the size is copied in so that the comparison needs no shared state). */
typedef struct ranked {
    size_t size, index;
} ranked;

static bool alive_together(const nn_lifetime *a, const nn_lifetime *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* The lowest offset at which `b` overlaps none of the first `placed`
 * buffers of `order` that live at the same time: start at 0 and move past
 * every conflicting buffer until a whole pass finds none (at most placed
 * passes, each lifting the offset). */
static size_t lowest_free_offset(const nn_lifetime *buffers, const ranked *order, size_t placed,
                                 const nn_lifetime *b)
{
    size_t offset = 0;
    bool moved = true;
    while (moved) {
        moved = false;
        for (size_t i = 0; i < placed; i++) {
            const nn_lifetime *other = &buffers[order[i].index];
            bool overlaps = offset < other->offset + other->size && other->offset < offset + b->size;
            if (other->size > 0 && alive_together(b, other) && overlaps) {
                offset = other->offset + other->size;
                moved = true;
            }
        }
    }
    return offset;
}

static int by_size(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

diffuse_status nn_lifetimes_pack(diffuse_error *error, nn_lifetime *buffers, size_t count,
                                 size_t *total)
{
    ranked *order = malloc((count > 0 ? count : 1) * sizeof *order);
    if (order == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a plan of %zu buffers", count);
    for (size_t i = 0; i < count; i++)
        order[i] = (ranked){buffers[i].size, i};
    qsort(order, count, sizeof *order, by_size);
    *total = 0;
    for (size_t i = 0; i < count; i++) {
        nn_lifetime *b = &buffers[order[i].index];
        b->offset = b->size > 0 ? lowest_free_offset(buffers, order, i, b) : 0;
        if (b->offset + b->size > *total)
            *total = b->offset + b->size;
    }
    free(order);
    return DIFFUSE_OK;
}

size_t nn_lifetimes_bound(const nn_lifetime *buffers, size_t count)
{
    size_t bound = 0, last = 0;
    for (size_t i = 0; i < count; i++)
        last = buffers[i].last > last ? buffers[i].last : last;
    for (size_t t = 0; t <= last && count > 0; t++) {
        size_t alive = 0;
        for (size_t i = 0; i < count; i++)
            if (buffers[i].first <= t && t <= buffers[i].last)
                alive += buffers[i].size;
        bound = alive > bound ? alive : bound;
    }
    return bound;
}
