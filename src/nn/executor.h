/* A generic forward and backward over a finished layer list (internal):
 * the second way to run a list, next to the MLP's hand-planned passes
 * (docs/design.md, "Layers as data"). Each kind has one forward and one
 * backward step here, reading sizes, inputs and parameter offsets from its
 * descriptor; the U-Net (unet.c) is run this way.
 *
 * Memory plan (per row, in floats; Σ over the layers of the list):
 *   training keeps  Σ out_k                (every layer's output)
 *                 + Σ 2·G_k               (GroupNorm μ, 1/σ)
 *                 + Σ M_k·P_k²            (attention weights)
 *                 + d + E                 (x_t and emb(t))
 *   and backward adds the same Σ out_k for the gradients of the outputs,
 *   plus two scratch arrays of the widest layer and one image's im2col.
 * Prediction runs in chunks of NN_EXECUTOR_PREDICT_ROWS rows without the
 * gradient arrays, so sampling memory is bounded by the chunk (not by n or
 * T). Backward zeroes the output gradients, walks the list from last to
 * first and adds every layer's input gradient into its producer's
 * (skip connections have several consumers); each layer's tensors are one
 * gradient group (model_grads_open), opened in reverse list order. */
#ifndef DIFFUSE_SRC_NN_EXECUTOR_H
#define DIFFUSE_SRC_NN_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nn/layers.h"
#include "nn/time_embedding.h"
#include "nn/workspace.h"

#define NN_EXECUTOR_PREDICT_ROWS ((size_t)16)

typedef struct nn_executor {
    const nn_layer_list *list; /* borrowed, finished */
    size_t data_dim, time_dim, classes;
    size_t out_dim; /* floats per output row: the last layer's */
    uint64_t dropout_seed;
    nn_time_table table;
    size_t *offsets;       /* [count]: first float of layer k's output per row */
    size_t *state_offsets; /* [count]: first float of its kept state per row */
    size_t row_floats;     /* Σ out_k */
    size_t row_state;      /* Σ 2·G_k + M_k·P_k² */
    size_t widest;         /* max over the layers of in and out */
    size_t columns;        /* most im2col floats of one image */
    size_t attention;      /* most P² of an attention layer */

    nn_workspace memory;
    size_t train_rows;     /* rows of the training forward kept; 0 = none */
    float *x, *emb, *acts, *grads, *state, *scratch_a, *scratch_b, *im2col, *att_scratch;
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

/* Floats per row training keeps (the memory plan above, without gradients). */
size_t nn_executor_kept_floats(const nn_executor *ex);

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
