/* Greedy packing of buffers with lifetimes (see lifetimes.h). */
#include "nn/lifetimes.h"

#include <stdbool.h>
#include <stdlib.h>

/* A buffer's place in the placement order: the largest first, then by
 * index (the size is copied in so that the comparison needs no shared
 * state). */
typedef struct ranked {
    size_t size, index;
} ranked;

static bool alive_together(const nn_lifetime *a, const nn_lifetime *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* A stretch of memory in use: [begin, end). */
typedef struct span {
    size_t begin, end;
} span;

/* Where `b` goes among the first `placed` buffers of `order`: the lowest
 * gap between those alive at the same time that fits it, or above them
 * all (first fit; best fit, the smallest gap, packed the U-Net no
 * tighter). `busy` has room for `placed` spans. */
static size_t free_offset(const nn_lifetime *buffers, const ranked *order, size_t placed,
                          const nn_lifetime *b, span *busy)
{
    size_t count = 0;
    for (size_t i = 0; i < placed; i++) {
        const nn_lifetime *other = &buffers[order[i].index];
        if (other->size == 0 || !alive_together(b, other))
            continue;
        /* insertion by offset: the conflicts are few, and qsort's own
         * allocation would be one more that can fail */
        size_t at = count++;
        for (; at > 0 && busy[at - 1].begin > other->offset; at--)
            busy[at] = busy[at - 1];
        busy[at] = (span){other->offset, other->offset + other->size};
    }
    size_t cursor = 0;
    for (size_t i = 0; i < count; i++) {
        if (busy[i].begin >= cursor && busy[i].begin - cursor >= b->size)
            return cursor;
        cursor = busy[i].end > cursor ? busy[i].end : cursor;
    }
    return cursor;
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
    size_t room = count > 0 ? count : 1;
    ranked *order = malloc(room * sizeof *order);
    span *busy = malloc(room * sizeof *busy);
    if (order == NULL || busy == NULL) {
        free(order);
        free(busy);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a plan of %zu buffers", count);
    }
    for (size_t i = 0; i < count; i++)
        order[i] = (ranked){buffers[i].size, i};
    qsort(order, count, sizeof *order, by_size);
    *total = 0;
    for (size_t i = 0; i < count; i++) {
        nn_lifetime *b = &buffers[order[i].index];
        b->offset = b->size > 0 ? free_offset(buffers, order, i, b, busy) : 0;
        if (b->offset + b->size > *total)
            *total = b->offset + b->size;
    }
    free(order);
    free(busy);
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
