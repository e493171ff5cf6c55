/* Where the executor (executor.h) keeps every array of a layer list, and
 * which outputs training keeps at all (internal; docs/design.md, "The
 * U-Net's activation memory").
 *
 * The timeline has 2N steps for N layers: forward of layer k at step k,
 * its backward at step 2N − 1 − k. Each array lives from the step that
 * writes it to the last step that reads it:
 *
 *   output k     from k to its last forward consumer (input, add or
 *                concat) and, when training keeps it, to the backward
 *                step of its last backward reader;
 *   gradient k   from the backward step of its first contributor (the
 *                latest layer that reads, adds or appends output k) to its
 *                own backward step; it is zeroed there, so the additions
 *                arrive in the order of the unplanned pass;
 *   scratch      a dense layer's φ(x) in forward, φ(x) and φ′(x) (a linear
 *                layer's dx) in backward: one step each.
 *
 * Training does not keep the output of a cheap layer (GroupNorm [+ SiLU],
 * up-sampling, concatenation, dropout, a 1×1 convolution; none with an
 * `add`) that only
 * row-wise backward steps read (convolution, GroupNorm, attention: one
 * image at a time): those steps recompute it per image from what is kept
 * (its inputs, GroupNorm's (μ, 1/σ), the dropout keys), with the same bits.
 * Offsets come from nn_lifetimes_pack, in floats per row (multiples of 16,
 * so that n·offset floats stay 64-byte aligned); an array of layer k over
 * n rows starts at n·offset. */
#ifndef DIFFUSE_SRC_NN_MEMORY_PLAN_H
#define DIFFUSE_SRC_NN_MEMORY_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/layers.h"
#include "util/error.h"

typedef struct nn_memory_plan {
    bool *kept;             /* [count] training: the output stays for backward */
    size_t *output;         /* [count] offsets (floats per row) of layer k's output, */
    size_t *gradient;       /* [count] its gradient (training plans), */
    size_t *scratch;        /* [count] its forward scratch, */
    size_t *back_scratch;   /* [count] its backward scratch */
    int *first_contributor; /* [count] the layer whose backward adds into gradient k first
                             * (NN_NO_LAYER: none) */
    size_t row_floats;      /* the arena per row */
    size_t bound;           /* the least any packing of these lifetimes needs per row */
    size_t kept_floats;     /* Σ out_k over the kept outputs */
    size_t recompute_floats; /* most floats of one image's recomputed outputs at once */
} nn_memory_plan;

/* Kinds whose backward runs one image at a time (and may read an input
 * recomputed for that image). */
bool nn_layer_backward_by_row(const nn_layer *layer);

/* Its backward reads its input x (the others need only shapes and dL/dy). */
bool nn_layer_backward_reads_input(const nn_layer *layer);

/* The plan of a finished list for prediction (forward only) or for a
 * training forward and its backward. NO_MEMORY. */
diffuse_status nn_memory_plan_init(diffuse_error *error, nn_memory_plan *plan,
                                   const nn_layer_list *list, bool training);
void nn_memory_plan_release(nn_memory_plan *plan);

#endif
