/* The time-conditioned MLP (internal); the equations, weight layout and
 * initialisation are documented in include/diffuse/model.h. It is the first
 * builder of a layer list (layers.h), which gives it its parameter layout,
 * tensor table, initialisation and activation sizes:
 *
 *   h_0 = W_in x + b_in + features(t) [+ E[y]]     (time_mlp.h; E: K > 0 classes)
 *   h_l = W_l φ(h_{l−1}) + b_l [+ h_{l−1}]         (block.h, l = 1 … L)
 *   f   = W_out φ(h_L) + b_out                     (block.h)
 *
 * Training forward keeps x and every h_l; backward walks the blocks in
 * reverse, recomputing φ(h_l) into a free array and φ'(h_l) over h_l
 * (cheap next to the GEMMs), with one spare [n, H] array and the arrays it
 * has finished with as scratch: (L + 2)·n·H floats besides the time
 * branch, less than half of what keeping φ(h_l) and φ'(h_l) for every
 * layer would take. Prediction runs in
 * chunks of NN_MLP_PREDICT_ROWS rows (bounded, cache-sized activations) in
 * two [rows, H] arrays, in the same memory. */
#ifndef DIFFUSE_SRC_NN_MLP_H
#define DIFFUSE_SRC_NN_MLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/architecture.h"

#define NN_MLP_PREDICT_ROWS ((size_t)256)

typedef struct nn_mlp_shape {
    size_t dim;                    /* d */
    size_t out_dim;                /* d, or 2d when the variance is learned */
    size_t width;                  /* H */
    size_t layers;                 /* L */
    size_t time_dim;               /* E */
    diffuse_activation activation; /* φ */
    bool residual;
    double max_period;             /* P */
    size_t classes;                /* K: 0 = unconditional */
} nn_mlp_shape;

extern const nn_architecture nn_mlp_architecture;

/* The sizes of the MLP a configuration describes. */
void nn_mlp_shape_from_config(const diffuse_model_config *config, nn_mlp_shape *shape);

/* Backward of the last training forward of the MLP model `m` over n rows:
 * accumulates dL/dparams given d_out = dL/df (into m->grads, or through
 * m's gradient team: model_grads_open), and writes d_x = dL/dx (n·d
 * floats) unless d_x is NULL (training does not need it). It uses up what
 * the forward kept: DIFFUSE_ERROR_STATE when no forward over n rows came
 * since the last backward or prediction. */
diffuse_status nn_mlp_backward(diffuse_model *m, const float *d_out, size_t n, float *d_x);

#endif
