/* A generic forward and backward over a finished layer list (internal):
 * the second way to run a list, next to the MLP's hand-planned passes
 * (docs/design.md, "Layers as data"). Each kind has one forward and one
 * backward step here, reading sizes, inputs and parameter offsets from its
 * descriptor; the U-Net (unet.c) is run this way.
 *
 * Memory: every array that scales with the rows lives in one arena, at
 * the offsets of a liveness plan computed once per list (memory_plan.h):
 * one for prediction (an output lives until its last consumer has run),
 * one for training (outputs that backward reads stay until then, except
 * those of cheap layers, which backward recomputes image by image; each
 * gradient lives from its first contributor's backward to its own). Kept
 * besides: x_t, emb(t), GroupNorm's (μ, 1/σ) and the dropout keys; one
 * image's worth of scratch (im2col, GroupNorm, attention, recomputation).
 * Prediction runs in chunks of NN_EXECUTOR_PREDICT_ROWS rows, so sampling
 * memory is bounded by the chunk (not by n or T). Backward walks the list
 * from last to first and adds every layer's input gradient into its
 * producer's (skip connections have several consumers), each gradient
 * zeroed just before its first addition, so every sum is formed in the
 * same order as by a pass that zeroes all of them first; each layer's
 * tensors are one gradient group (model_grads_open), opened in reverse
 * list order. docs/design.md, "The U-Net's activation memory". */
#ifndef DIFFUSE_SRC_NN_EXECUTOR_H
#define DIFFUSE_SRC_NN_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nn/layers.h"
#include "nn/memory_plan.h"
#include "nn/time_embedding.h"
#include "nn/workspace.h"

#define NN_EXECUTOR_PREDICT_ROWS ((size_t)16)

typedef struct nn_executor {
    const nn_layer_list *list; /* borrowed, finished */
    size_t data_dim, time_dim, classes;
    size_t out_dim; /* floats per output row: the last layer's */
    uint64_t dropout_seed;
    nn_time_table table;
    nn_memory_plan predict_plan, train_plan;
    const nn_memory_plan *plan; /* the one the workspace is carved for */
    size_t *state_offsets; /* [count]: first float of its kept state per row */
    size_t row_state;      /* Σ 2·G_k over the GroupNorm layers */
    size_t row_width;      /* max over the image layers of in and out */
    size_t columns;        /* most im2col floats of one image */
    size_t attention;      /* most P² of an attention layer */
    size_t weights;        /* most M·P² of an attention layer */

    nn_workspace memory;
    size_t train_rows;     /* rows of the training forward kept; 0 = none */
    float *x, *emb, *arena, *state;
    /* one image's scratch: GroupNorm's x̂ (z), a discarded φ or attention
     * output, an input gradient, recomputed outputs (a bump area reset per
     * image), im2col, one head's P² and one image's attention weights */
    float *row_z, *row_spare, *row_dx, *recompute, *im2col, *att_scratch, *att_weights;
    size_t recompute_used;
    int32_t *labels;
    uint64_t *keys;        /* dropout key per row */
} nn_executor;

/* Derives the sizes of `list` (borrowed until release) for data dimension
 * d (= the first layer's input), sinusoidal embeddings of size E with
 * period P, and `classes` labels (0: none). NO_MEMORY. */
diffuse_status nn_executor_init(diffuse_error *error, nn_executor *ex, const nn_layer_list *list,
                                size_t data_dim, size_t time_dim, double max_period,
                                size_t classes, uint64_t dropout_seed);
void nn_executor_release(nn_executor *ex);

/* Floats per row training keeps (kept outputs, state, x_t and emb(t)),
 * and the training arena with them (kept + gradients + scratch, packed). */
size_t nn_executor_kept_floats(const nn_executor *ex);
size_t nn_executor_train_floats(const nn_executor *ex);

/* call->out = f(params; call) over call->n rows; prediction (dropout off,
 * in chunks) unless `training`, which keeps the activations for one
 * backward. INVALID_ARGUMENT (labels missing or out of range for a model
 * with classes, n too large), NO_MEMORY. */
diffuse_status nn_executor_forward(nn_executor *ex, diffuse_error *error, const float *params,
                                   const diffuse_model_call *call, bool training);

/* Accumulates dL/dparams (through model_grads_open of `m`) given d_out =
 * dL/df of the last training forward over n rows. STATE when there is
 * none. */
diffuse_status nn_executor_backward(nn_executor *ex, diffuse_model *m, const float *d_out,
                                    size_t n);

#endif
