/* The time branch of a network (internal): timestep → features
 *
 *     features(t) = W2 φ(W1 emb(t) + b1) + b2         (E → H → H)
 *
 * with emb the sinusoidal embedding (time_embedding.h). A batch usually
 * repeats timesteps (sampling uses one t for every row; training with a
 * short schedule repeats many), and the features depend on t alone, so the
 * branch runs once per DISTINCT timestep: forward finds the U distinct
 * values (in order of first appearance), computes their features, and maps
 * each row to its distinct value; backward first sums the rows' gradients
 * per distinct value (in row order, so the result is deterministic). */
#ifndef DIFFUSE_SRC_NN_TIME_MLP_H
#define DIFFUSE_SRC_NN_TIME_MLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "nn/time_embedding.h"
#include "nn/workspace.h"

typedef struct nn_time_shape {
    size_t embed_dim;              /* E */
    size_t width;                  /* H */
    diffuse_activation activation; /* φ */
} nn_time_shape;

typedef struct nn_time_weights {
    const float *w1, *b1; /* [H, E], [H] */
    const float *w2, *b2; /* [H, H], [H] */
} nn_time_weights;

/* Where backward accumulates the gradients of (W2, b2) and then of
 * (W1, b1): open(context, offset, count) returns the array for the group
 * whose weight starts `offset` floats into the gradient buffer (the bias
 * follows the weight; `count` floats in all), close(context) ends the group (model_grads_open/close in a
 * network; model.h says why). */
typedef struct nn_time_grads {
    float *(*open)(void *context, size_t offset, size_t count);
    void (*close)(void *context);
    void *context;
    size_t w1, w2; /* offsets of W1 [H, E] and W2 [H, H] */
} nn_time_grads;

/* What one pass over n rows keeps between forward and backward (U ≤ n
 * distinct timesteps). */
typedef struct nn_time_pass {
    size_t rows;           /* n */
    size_t unique;         /* U */
    int32_t *slot;         /* [n]: distinct value used by each row */
    int32_t *unique_t;     /* [U] */
    int32_t *hash;         /* open-addressing set of the distinct values */
    size_t hash_bits;      /* the set has 2^hash_bits ≥ 2n entries */
    float *emb;            /* [U, E] */
    float *pre;            /* [U, H]  W1 emb + b1 */
} nn_time_pass;

/* Carves the pass's arrays for up to n rows (see workspace.h: call once to
 * measure, once to assign). */
void nn_time_pass_carve(nn_carver *carver, nn_time_pass *pass, const nn_time_shape *shape,
                        size_t n);

/* Forward over the timesteps t[0 … n−1] (all ≥ 0): rows[i, :] =
 * features(t_i) + bias, the time features broadcast to the batch with the
 * bias of the layer they are added to. rows is [n, H]; `scratch` (at least
 * U·H floats, overlapping nothing else) holds φ(pre) meanwhile. Fails only
 * for lack of memory in the embedding cache. */
diffuse_status nn_time_mlp_forward(diffuse_error *error, const nn_time_shape *shape,
                                   nn_time_table *table, nn_time_pass *pass,
                                   const nn_time_weights *weights, const int32_t *t, size_t n,
                                   float *scratch, const float *bias, float *rows);

/* Backward given d_rows[n, H] = dL/d(the rows of the last forward):
 * accumulates dW2, db2 and then dW1, db1 (grads says where). φ(pre) and
 * φ'(pre) are recomputed rather than kept since forward: φ'(pre) over pre,
 * and φ(pre) over d_rows once its rows are summed per distinct timestep
 * into `scratch` (at least U·H floats). All three are overwritten; pre is
 * used up, so the next backward needs a new forward. */
void nn_time_mlp_backward(const nn_time_shape *shape, nn_time_pass *pass,
                          const nn_time_weights *weights, const nn_time_grads *grads,
                          float *d_rows, float *scratch);

#endif
