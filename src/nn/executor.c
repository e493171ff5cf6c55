/* Forward and backward over a layer list, kind by kind (see executor.h). */
#include "nn/executor.h"

#include <stdlib.h>
#include <string.h>

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/block.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/resample.h"
#include "nn/vec.h"

static size_t pixels_of(const nn_layer *layer)
{
    return layer->height * layer->width;
}

static nn_norm_shape norm_shape(const nn_layer *layer)
{
    nn_norm_shape shape = {layer->channels, pixels_of(layer), layer->groups, layer->eps};
    return shape;
}

static nn_attention_shape attention_shape(const nn_layer *layer)
{
    nn_attention_shape shape = {layer->channels, pixels_of(layer), layer->heads};
    return shape;
}

/* Floats of kept state per row: GroupNorm's (μ, 1/σ) per group, the
 * attention weights. */
static size_t state_floats(const nn_layer *layer)
{
    if (layer->kind == NN_LAYER_GROUP_NORM)
        return 2 * layer->groups;
    if (layer->kind == NN_LAYER_ATTENTION) {
        nn_attention_shape shape = attention_shape(layer);
        return nn_attention_weights_floats(&shape, 1);
    }
    return 0;
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

diffuse_status nn_executor_init(diffuse_error *error, nn_executor *ex, const nn_layer_list *list,
                                size_t data_dim, size_t time_dim, double max_period,
                                size_t classes, uint64_t dropout_seed)
{
    memset(ex, 0, sizeof *ex);
    ex->list = list;
    ex->data_dim = data_dim;
    ex->out_dim = list->layers[list->count - 1].out;
    ex->time_dim = time_dim;
    ex->classes = classes;
    ex->dropout_seed = dropout_seed;
    ex->offsets = calloc(list->count, sizeof *ex->offsets);
    ex->state_offsets = calloc(list->count, sizeof *ex->state_offsets);
    if (ex->offsets == NULL || ex->state_offsets == NULL) {
        nn_executor_release(ex);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a network plan");
    }
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        ex->offsets[k] = ex->row_floats;
        ex->row_floats += layer->out;
        ex->state_offsets[k] = ex->row_state;
        ex->row_state += state_floats(layer);
        ex->widest = max_size(ex->widest, max_size(layer->in, layer->out));
        if (layer->kind == NN_LAYER_CONV2D) {
            nn_conv_shape shape = nn_layer_conv_shape(layer);
            ex->columns = max_size(ex->columns, nn_conv_columns_floats(&shape));
        }
        if (layer->kind == NN_LAYER_ATTENTION)
            ex->attention = max_size(ex->attention, pixels_of(layer) * pixels_of(layer));
    }
    diffuse_status status = nn_time_table_init(error, &ex->table, time_dim, max_period);
    if (status != DIFFUSE_OK)
        nn_executor_release(ex);
    return status;
}

void nn_executor_release(nn_executor *ex)
{
    free(ex->offsets);
    free(ex->state_offsets);
    nn_time_table_release(&ex->table);
    nn_workspace_release(&ex->memory);
    memset(ex, 0, sizeof *ex);
}

size_t nn_executor_kept_floats(const nn_executor *ex)
{
    return ex->row_floats + ex->row_state + ex->data_dim + ex->time_dim;
}

static void carve(nn_carver *carver, nn_executor *ex, size_t n, bool gradients)
{
    ex->x = nn_carve_floats(carver, n * ex->data_dim);
    ex->emb = nn_carve_floats(carver, n * ex->time_dim);
    ex->acts = nn_carve_floats(carver, n * ex->row_floats);
    ex->grads = gradients ? nn_carve_floats(carver, n * ex->row_floats) : NULL;
    ex->state = nn_carve_floats(carver, n * ex->row_state);
    ex->scratch_a = nn_carve_floats(carver, n * ex->widest);
    ex->scratch_b = nn_carve_floats(carver, n * ex->widest);
    ex->im2col = nn_carve_floats(carver, ex->columns);
    ex->att_scratch = nn_carve_floats(carver, ex->attention);
    ex->labels = nn_carve_ints(carver, n);
    ex->keys = nn_carve(carver, n * sizeof *ex->keys);
}

static diffuse_status reserve(diffuse_error *error, nn_executor *ex, size_t n, bool gradients)
{
    ex->train_rows = 0;
    nn_carver measure = {NULL, 0};
    carve(&measure, ex, n, gradients);
    diffuse_status status = nn_workspace_reserve(error, &ex->memory, measure.used);
    if (status != DIFFUSE_OK)
        return status;
    nn_carver assign = {ex->memory.data, 0};
    carve(&assign, ex, n, gradients);
    return DIFFUSE_OK;
}

/* The n rows of layer k's output (or, with `grads`, of its gradient). */
static float *output_of(const nn_executor *ex, float *base, int k, size_t n)
{
    return base + n * ex->offsets[k];
}

/* What `source` (a layer's input) names: x_t, emb(t) or a layer's output;
 * NULL for the labels (an embedding reads ex->labels itself). */
static const float *source_of(const nn_executor *ex, int source, size_t n)
{
    if (source == NN_FROM_DATA)
        return ex->x;
    if (source == NN_FROM_TIME)
        return ex->emb;
    return source >= 0 ? output_of(ex, ex->acts, source, n) : NULL;
}

/* FNV-1a over a row of x_t and its timestep: the dropout key of the row,
 * so that the mask is fixed by the data (the same on resume and for any
 * split of the batch over threads) and new with every fresh x_t. */
static uint64_t row_key(const float *x, size_t dim, int32_t t)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    const unsigned char *bytes = (const unsigned char *)x;
    for (size_t i = 0; i < dim * sizeof *x; i++)
        hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
    return (hash ^ (uint32_t)t) * UINT64_C(0x100000001b3);
}

/* y += a[c] over the pixels of each channel c, per row (a: [n, C]). */
static void add_per_channel(float *y, const float *a, size_t n, size_t channels, size_t pixels)
{
    for (size_t i = 0; i < n * channels; i++) {
        float value = a[i];
        float *plane = y + i * pixels;
        for (size_t p = 0; p < pixels; p++)
            plane[p] += value;
    }
}

static void concat_rows(float *y, const float *a, size_t a_dim, const float *b, size_t b_dim,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(y + i * (a_dim + b_dim), a + i * a_dim, a_dim * sizeof *y);
        memcpy(y + i * (a_dim + b_dim) + a_dim, b + i * b_dim, b_dim * sizeof *y);
    }
}

static void layer_forward(nn_executor *ex, const float *params, size_t k, size_t n,
                          bool training)
{
    const nn_layer *layer = &ex->list->layers[k];
    const float *x = source_of(ex, layer->input, n), *w = params + layer->weight;
    const float *b = params + layer->bias;
    float *y = output_of(ex, ex->acts, (int)k, n), *state = ex->state + n * ex->state_offsets[k];
    switch (layer->kind) {
    case NN_LAYER_LINEAR:
        nn_linear_forward(y, x, w, b, n, layer->in, layer->out, false);
        break;
    case NN_LAYER_DENSE:
        nn_block_forward(y, ex->scratch_a, NULL, x, w, b, n, layer->in, layer->out,
                         layer->activation, layer->residual);
        break;
    case NN_LAYER_CONV2D: {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        nn_conv2d_forward(y, ex->im2col, x, w, b, n, &shape, false);
        break;
    }
    case NN_LAYER_GROUP_NORM: {
        nn_norm_shape shape = norm_shape(layer);
        float *z = layer->activate ? ex->scratch_a : y;
        nn_group_norm_forward(z, state, x, w, b, n, &shape);
        if (layer->activate)
            nn_activation_forward(DIFFUSE_ACTIVATION_SILU, y, NULL, z, n * layer->out);
        break;
    }
    case NN_LAYER_ATTENTION: {
        nn_attention_shape shape = attention_shape(layer);
        nn_attention_forward(y, state, x, n, &shape, true);
        break;
    }
    case NN_LAYER_UPSAMPLE:
        nn_upsample2_forward(y, x, n * layer->channels, layer->height, layer->width);
        break;
    case NN_LAYER_CONCAT: {
        const float *second = output_of(ex, ex->acts, layer->concat, n);
        concat_rows(y, x, layer->in, second, layer->out - layer->in, n);
        break;
    }
    case NN_LAYER_DROPOUT:
        memcpy(y, x, n * layer->out * sizeof *y);
        if (training)
            nn_dropout_apply(y, n, layer->out, layer->rate, ex->dropout_seed, ex->keys);
        break;
    case NN_LAYER_EMBEDDING:
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * layer->out, w + (size_t)ex->labels[i] * layer->out,
                   layer->out * sizeof *y);
        break;
    }
    if (layer->add == NN_NO_LAYER)
        return;
    const float *added = output_of(ex, ex->acts, layer->add, n);
    if (layer->add_per_channel)
        add_per_channel(y, added, n, layer->out_channels, layer->out / layer->out_channels);
    else
        nn_vec_add(y, added, n * layer->out);
}

/* Copies the call's rows in, and the labels of a model with classes (the
 * null row for a call without labels, model_labels_take). */
static diffuse_status take_inputs(nn_executor *ex, diffuse_error *error, const float *x,
                                  const int32_t *t, const int32_t *labels, size_t n)
{
    memcpy(ex->x, x, n * ex->data_dim * sizeof *ex->x);
    diffuse_status status = nn_time_table_lookup(error, &ex->table, t, n, ex->emb);
    if (status != DIFFUSE_OK || ex->classes == 0)
        return status;
    return model_labels_take(error, ex->classes, labels, n, ex->labels);
}

/* One pass over rows [0, n) of the arrays given. */
static diffuse_status run(nn_executor *ex, diffuse_error *error, const float *params,
                          const float *x, const int32_t *t, const int32_t *labels, size_t n,
                          float *out, bool training)
{
    diffuse_status status = take_inputs(ex, error, x, t, labels, n);
    if (status != DIFFUSE_OK)
        return status;
    if (training)
        for (size_t i = 0; i < n; i++)
            ex->keys[i] = row_key(x + i * ex->data_dim, ex->data_dim, t[i]);
    for (size_t k = 0; k < ex->list->count; k++)
        layer_forward(ex, params, k, n, training);
    memcpy(out, output_of(ex, ex->acts, (int)ex->list->count - 1, n),
           n * ex->out_dim * sizeof *out);
    return DIFFUSE_OK;
}

diffuse_status nn_executor_forward(nn_executor *ex, diffuse_error *error, const float *params,
                                   const diffuse_model_call *call, bool training)
{
    size_t n = call->n, d = ex->data_dim;
    if (n == 0 || n > NN_MAX_ROWS)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "row count %zu is outside [1, %zu]", n, NN_MAX_ROWS);
    size_t chunk = training || n < NN_EXECUTOR_PREDICT_ROWS ? n : NN_EXECUTOR_PREDICT_ROWS;
    diffuse_status status = reserve(error, ex, chunk, training);
    for (size_t start = 0; start < n && status == DIFFUSE_OK; start += chunk) {
        size_t rows = n - start < chunk ? n - start : chunk;
        status = run(ex, error, params, call->x_t + start * d, call->t + start,
                     call->labels != NULL ? call->labels + start : NULL, rows,
                     call->out + start * ex->out_dim, training);
    }
    if (status == DIFFUSE_OK && training)
        ex->train_rows = n;
    return status;
}

/* ---- backward ------------------------------------------------------------ */

/* d[n, C] += Σ over the pixels of g[n, C, P] (the adjoint of add_per_channel). */
static void add_channel_sums(float *d, const float *g, size_t n, size_t channels, size_t pixels)
{
    for (size_t i = 0; i < n * channels; i++) {
        float sum = 0.0f;
        for (size_t p = 0; p < pixels; p++)
            sum += g[i * pixels + p];
        d[i] += sum;
    }
}

/* The layer's gradient group: all its tensors. */
static float *open_layer_grads(diffuse_model *m, const nn_layer *layer)
{
    return model_grads_open(m, layer->weight, nn_layer_param_count(layer));
}

/* The parameter gradients of the layer's one group, and its input
 * gradient into scratch_a; returns whether there is one to add. */
static bool layer_backward(nn_executor *ex, diffuse_model *m, size_t k, size_t n,
                           const float *g)
{
    const nn_layer *layer = &ex->list->layers[k];
    const float *x = source_of(ex, layer->input, n), *w = m->params + layer->weight;
    float *state = ex->state + n * ex->state_offsets[k];
    bool wants_input = layer->input >= 0;
    float *dx = ex->scratch_a;
    switch (layer->kind) {
    case NN_LAYER_LINEAR: {
        float *d_w = open_layer_grads(m, layer);
        nn_linear_backward_params(d_w, d_w + (layer->bias - layer->weight), g, x, n, layer->in,
                                  layer->out);
        model_grads_close(m);
        if (wants_input)
            nn_linear_backward_input(dx, g, w, n, layer->in, layer->out);
        return wants_input;
    }
    case NN_LAYER_DENSE: {
        /* φ(x) into scratch_a (for dW), φ'(x) into scratch_b; dx over φ(x) */
        float *act = ex->scratch_a, *derivative = ex->scratch_b;
        nn_activation_forward(layer->activation, act, derivative, x, n * layer->in);
        float *d_w = open_layer_grads(m, layer);
        nn_linear_backward_params(d_w, d_w + (layer->bias - layer->weight), g, act, n,
                                  layer->in, layer->out);
        model_grads_close(m);
        if (wants_input)
            nn_block_backward_input(act, g, derivative, w, n, layer->in, layer->out,
                                    layer->residual);
        return wants_input;
    }
    case NN_LAYER_CONV2D: {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        float *d_w = open_layer_grads(m, layer);
        nn_conv2d_backward_params(d_w, d_w + (layer->bias - layer->weight), ex->im2col, g, x, n,
                                  &shape);
        model_grads_close(m);
        if (wants_input)
            nn_conv2d_backward_input(dx, ex->im2col, g, w, n, &shape);
        return wants_input;
    }
    case NN_LAYER_GROUP_NORM: {
        nn_norm_shape shape = norm_shape(layer);
        const float *d_norm = g;
        if (layer->activate) {
            /* z = GN(x) again (the same bits), then dL/dz = g ⊙ φ'(z) */
            float *z = ex->scratch_b;
            nn_group_norm_forward(z, state, x, w, m->params + layer->bias, n, &shape);
            nn_activation_recompute(DIFFUSE_ACTIVATION_SILU, ex->scratch_a, z, n * layer->out);
            nn_vec_multiply(z, g, NULL, n * layer->out);
            d_norm = z;
        }
        float *d_w = open_layer_grads(m, layer);
        nn_group_norm_backward(dx, d_w, d_w + layer->channels, d_norm, x, w, state, n, &shape);
        model_grads_close(m);
        return wants_input;
    }
    case NN_LAYER_ATTENTION: {
        nn_attention_shape shape = attention_shape(layer);
        nn_attention_backward(dx, ex->att_scratch, g, x, state, n, &shape);
        return wants_input;
    }
    case NN_LAYER_UPSAMPLE:
        nn_upsample2_backward(dx, g, n * layer->channels, layer->height, layer->width);
        return wants_input;
    case NN_LAYER_CONCAT: {
        size_t first = layer->in, second = layer->out - layer->in;
        float *d_second = output_of(ex, ex->grads, layer->concat, n);
        for (size_t i = 0; i < n; i++) {
            memcpy(dx + i * first, g + i * layer->out, first * sizeof *dx);
            nn_vec_add(d_second + i * second, g + i * layer->out + first, second);
        }
        return wants_input;
    }
    case NN_LAYER_DROPOUT:
        memcpy(dx, g, n * layer->out * sizeof *dx);
        nn_dropout_apply(dx, n, layer->out, layer->rate, ex->dropout_seed, ex->keys);
        return wants_input;
    case NN_LAYER_EMBEDDING: {
        float *d_w = open_layer_grads(m, layer);
        for (size_t i = 0; i < n; i++)
            nn_vec_add(d_w + (size_t)ex->labels[i] * layer->out, g + i * layer->out,
                       layer->out);
        model_grads_close(m);
        return false;
    }
    }
    return false;
}

diffuse_status nn_executor_backward(nn_executor *ex, diffuse_model *m, const float *d_out,
                                    size_t n)
{
    if (n == 0 || n != ex->train_rows)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_STATE,
                            "backward over %zu rows needs a forward over the same rows first", n);
    const nn_layer_list *list = ex->list;
    memset(ex->grads, 0, n * ex->row_floats * sizeof *ex->grads);
    memcpy(output_of(ex, ex->grads, (int)list->count - 1, n), d_out,
           n * ex->out_dim * sizeof *d_out);
    for (size_t k = list->count; k-- > 0;) {
        const nn_layer *layer = &list->layers[k];
        const float *g = output_of(ex, ex->grads, (int)k, n);
        if (layer->add != NN_NO_LAYER) {
            float *d_add = output_of(ex, ex->grads, layer->add, n);
            if (layer->add_per_channel)
                add_channel_sums(d_add, g, n, layer->out_channels,
                                 layer->out / layer->out_channels);
            else
                nn_vec_add(d_add, g, n * layer->out);
        }
        if (layer_backward(ex, m, k, n, g))
            nn_vec_add(output_of(ex, ex->grads, layer->input, n), ex->scratch_a, n * layer->in);
    }
    ex->train_rows = 0;
    return DIFFUSE_OK;
}
