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

/* Floats of kept state per row: GroupNorm's (μ, 1/σ) per group. */
static size_t state_floats(const nn_layer *layer)
{
    return layer->kind == NN_LAYER_GROUP_NORM ? 2 * layer->groups : 0;
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The sizes of one image's scratch, from the image layers (those whose
 * backward runs image by image). */
static void measure_layer(nn_executor *ex, const nn_layer *layer)
{
    if (!nn_layer_backward_by_row(layer))
        return;
    ex->row_width = max_size(ex->row_width, max_size(layer->in, layer->out));
    if (layer->kind == NN_LAYER_CONV2D) {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        ex->columns = max_size(ex->columns, nn_conv_columns_floats(&shape));
    }
    if (layer->kind == NN_LAYER_ATTENTION) {
        nn_attention_shape shape = attention_shape(layer);
        ex->attention = max_size(ex->attention, pixels_of(layer) * pixels_of(layer));
        ex->weights = max_size(ex->weights, nn_attention_weights_floats(&shape, 1));
    }
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
    ex->state_offsets = calloc(list->count, sizeof *ex->state_offsets);
    if (ex->state_offsets == NULL) {
        nn_executor_release(ex);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a network plan");
    }
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        ex->state_offsets[k] = ex->row_state;
        ex->row_state += state_floats(layer);
        measure_layer(ex, layer);
    }
    diffuse_status status = nn_time_table_init(error, &ex->table, time_dim, max_period);
    if (status == DIFFUSE_OK)
        status = nn_memory_plan_init(error, &ex->predict_plan, list, false);
    if (status == DIFFUSE_OK)
        status = nn_memory_plan_init(error, &ex->train_plan, list, true);
    if (status != DIFFUSE_OK)
        nn_executor_release(ex);
    return status;
}

void nn_executor_release(nn_executor *ex)
{
    free(ex->state_offsets);
    nn_time_table_release(&ex->table);
    nn_memory_plan_release(&ex->predict_plan);
    nn_memory_plan_release(&ex->train_plan);
    nn_workspace_release(&ex->memory);
    memset(ex, 0, sizeof *ex);
}

size_t nn_executor_kept_floats(const nn_executor *ex)
{
    return ex->train_plan.kept_floats + ex->row_state + ex->data_dim + ex->time_dim;
}

size_t nn_executor_train_floats(const nn_executor *ex)
{
    return ex->train_plan.row_floats + ex->row_state + ex->data_dim + ex->time_dim;
}

static void carve(nn_carver *carver, nn_executor *ex, size_t n, const nn_memory_plan *plan)
{
    ex->x = nn_carve_floats(carver, n * ex->data_dim);
    ex->emb = nn_carve_floats(carver, n * ex->time_dim);
    ex->arena = nn_carve_floats(carver, n * plan->row_floats);
    ex->state = nn_carve_floats(carver, n * ex->row_state);
    ex->row_z = nn_carve_floats(carver, ex->row_width);
    ex->row_spare = nn_carve_floats(carver, ex->row_width);
    ex->row_dx = nn_carve_floats(carver, ex->row_width);
    ex->recompute = nn_carve_floats(carver, plan->recompute_floats);
    ex->im2col = nn_carve_floats(carver, ex->columns);
    ex->att_scratch = nn_carve_floats(carver, ex->attention);
    ex->att_weights = nn_carve_floats(carver, ex->weights);
    ex->labels = nn_carve_ints(carver, n);
    ex->keys = nn_carve(carver, n * sizeof *ex->keys);
}

static diffuse_status reserve(diffuse_error *error, nn_executor *ex, size_t n, bool training)
{
    ex->train_rows = 0;
    const nn_memory_plan *plan = training ? &ex->train_plan : &ex->predict_plan;
    nn_carver measure = {NULL, 0};
    carve(&measure, ex, n, plan);
    diffuse_status status = nn_workspace_reserve(error, &ex->memory, measure.used);
    if (status != DIFFUSE_OK)
        return status;
    nn_carver assign = {ex->memory.data, 0};
    carve(&assign, ex, n, plan);
    ex->plan = plan;
    return DIFFUSE_OK;
}

/* The n rows of layer k's output, of its gradient, of its state. */
static float *output_of(const nn_executor *ex, int k, size_t n)
{
    return ex->arena + n * ex->plan->output[k];
}

static float *gradient_of(const nn_executor *ex, int k, size_t n)
{
    return ex->arena + n * ex->plan->gradient[k];
}

static float *state_of(const nn_executor *ex, size_t k, size_t n)
{
    return ex->state + n * ex->state_offsets[k];
}

/* What `source` (a layer's input) names: x_t, emb(t) or a layer's output;
 * NULL for the labels (an embedding reads ex->labels itself). */
static const float *source_of(const nn_executor *ex, int source, size_t n)
{
    if (source == NN_FROM_DATA)
        return ex->x;
    if (source == NN_FROM_TIME)
        return ex->emb;
    return source >= 0 ? output_of(ex, source, n) : NULL;
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

/* The rows one forward step covers: `count` rows from row `first` of the
 * n rows the arrays hold; y, x, second (a concatenation's) and added (an
 * `add`'s) point at row `first`. */
typedef struct rows_io {
    float *y;
    const float *x, *second, *added;
    size_t first, count, n;
    bool recompute; /* a backward step's: GroupNorm's (μ, 1/σ) are kept */
} rows_io;

/* GN(x) over `rows` images, its statistics computed, or kept from the
 * forward when recomputing (the same bits either way). */
static void norm_forward(const nn_layer *layer, float *y, float *state, const float *x,
                         const float *w, const float *b, size_t rows, bool recompute)
{
    nn_norm_shape shape = norm_shape(layer);
    if (recompute)
        nn_group_norm_apply(y, state, x, w, b, rows, &shape);
    else
        nn_group_norm_forward(y, state, x, w, b, rows, &shape);
}

/* SiLU(GN(x)) one image at a time, GN(x) in row_z (the same bits as over
 * all rows at once: both are per image, resp. per value). */
static void norm_activate_forward(nn_executor *ex, const nn_layer *layer, float *y,
                                  float *state, const float *x, const float *w, const float *b,
                                  size_t rows, bool recompute)
{
    for (size_t i = 0; i < rows; i++) {
        norm_forward(layer, ex->row_z, state + i * 2 * layer->groups, x + i * layer->in, w, b, 1,
                     recompute);
        nn_activation_forward(DIFFUSE_ACTIVATION_SILU, y + i * layer->out, NULL, ex->row_z,
                              layer->out);
    }
}

static void layer_forward(nn_executor *ex, const float *params, size_t k, const rows_io *io,
                          bool training)
{
    const nn_layer *layer = &ex->list->layers[k];
    const float *x = io->x, *w = params + layer->weight, *b = params + layer->bias;
    float *y = io->y, *state = state_of(ex, k, io->n) + io->first * state_floats(layer);
    size_t n = io->count;
    switch (layer->kind) {
    case NN_LAYER_LINEAR:
        nn_linear_forward(y, x, w, b, n, layer->in, layer->out, false);
        break;
    case NN_LAYER_DENSE:
        nn_block_forward(y, ex->arena + io->n * ex->plan->scratch[k], NULL, x, w, b, n, layer->in,
                         layer->out, layer->activation, layer->residual);
        break;
    case NN_LAYER_CONV2D: {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        nn_conv2d_forward(y, ex->im2col, x, w, b, n, &shape, false);
        break;
    }
    case NN_LAYER_GROUP_NORM:
        if (layer->activate)
            norm_activate_forward(ex, layer, y, state, x, w, b, n, io->recompute);
        else
            norm_forward(layer, y, state, x, w, b, n, io->recompute);
        break;
    case NN_LAYER_ATTENTION: {
        /* A is not kept: backward recomputes it image by image */
        nn_attention_shape shape = attention_shape(layer);
        nn_attention_forward(y, ex->att_scratch, x, n, &shape, false);
        break;
    }
    case NN_LAYER_UPSAMPLE:
        nn_upsample2_forward(y, x, n * layer->channels, layer->height, layer->width);
        break;
    case NN_LAYER_CONCAT:
        concat_rows(y, x, layer->in, io->second, layer->out - layer->in, n);
        break;
    case NN_LAYER_DROPOUT:
        memcpy(y, x, n * layer->out * sizeof *y);
        if (training)
            nn_dropout_apply(y, n, layer->out, layer->rate, ex->dropout_seed, ex->keys + io->first);
        break;
    case NN_LAYER_EMBEDDING:
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * layer->out, w + (size_t)ex->labels[io->first + i] * layer->out,
                   layer->out * sizeof *y);
        break;
    }
    if (layer->add == NN_NO_LAYER)
        return;
    if (layer->add_per_channel)
        add_per_channel(y, io->added, n, layer->out_channels, layer->out / layer->out_channels);
    else
        nn_vec_add(y, io->added, n * layer->out);
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
    for (size_t k = 0; k < ex->list->count; k++) {
        const nn_layer *layer = &ex->list->layers[k];
        rows_io io = {output_of(ex, (int)k, n), source_of(ex, layer->input, n),
                      source_of(ex, layer->concat, n), source_of(ex, layer->add, n), 0, n, n,
                      false};
        layer_forward(ex, params, k, &io, training);
    }
    memcpy(out, output_of(ex, (int)ex->list->count - 1, n), n * ex->out_dim * sizeof *out);
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

/* Row i of output j for a backward step: the kept array's, or recomputed
 * into the bump area from its inputs (rows of kept arrays or themselves
 * recomputed), with the bits of the training forward. */
static const float *row_of(nn_executor *ex, const float *params, int j, size_t i, size_t n)
{
    if (j == NN_FROM_DATA)
        return ex->x + i * ex->data_dim;
    if (j == NN_FROM_TIME)
        return ex->emb + i * ex->time_dim;
    const nn_layer *layer = &ex->list->layers[j];
    if (ex->plan->kept[j])
        return output_of(ex, j, n) + i * layer->out;
    float *y = ex->recompute + ex->recompute_used;
    ex->recompute_used += layer->out;
    const float *x = row_of(ex, params, layer->input, i, n);
    const float *second =
        layer->kind == NN_LAYER_CONCAT ? row_of(ex, params, layer->concat, i, n) : NULL;
    rows_io io = {y, x, second, NULL, i, 1, n, true};
    layer_forward(ex, params, (size_t)j, &io, true);
    return y;
}

/* A linear, dense or embedding layer over all n rows: the parameter
 * gradients of its one group and its input gradient into its backward
 * scratch; returns whether there is one to add. */
static bool rows_backward(nn_executor *ex, diffuse_model *m, size_t k, size_t n, const float *g,
                          float *dx)
{
    const nn_layer *layer = &ex->list->layers[k];
    const float *x = source_of(ex, layer->input, n), *w = m->params + layer->weight;
    bool wants_input = layer->input >= 0;
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
        /* φ(x) into dx (for dW), φ'(x) after it; dx over φ(x) */
        float *act = dx, *derivative = dx + n * layer->in;
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
    case NN_LAYER_EMBEDDING: {
        float *d_w = open_layer_grads(m, layer);
        for (size_t i = 0; i < n; i++)
            nn_vec_add(d_w + (size_t)ex->labels[i] * layer->out, g + i * layer->out,
                       layer->out);
        model_grads_close(m);
        return false;
    }
    default:
        return false;
    }
}

/* dL/dz of z = GN(x) under y = SiLU(z), given g = dL/dy: z again (the same
 * bits) into row_z, then g ⊙ φ'(z) there. */
static const float *norm_activate_backward(nn_executor *ex, const nn_layer *layer,
                                           const float *params, const float *state, const float *x,
                                           const float *g)
{
    nn_norm_shape shape = norm_shape(layer);
    float *z = ex->row_z;
    nn_group_norm_apply(z, state, x, params + layer->weight, params + layer->bias, 1, &shape);
    nn_activation_recompute(DIFFUSE_ACTIVATION_SILU, ex->row_spare, z, layer->out);
    nn_vec_multiply(z, g, NULL, layer->out);
    return z;
}

/* Image i of an image layer's backward: parameter gradients into d_w (the
 * layer's open group) and the input gradient into row_dx. x is the
 * image's input, g its dL/dy. */
static void image_backward(nn_executor *ex, const float *params, size_t k, size_t i, size_t n,
                           const float *x, const float *g, float *d_w)
{
    const nn_layer *layer = &ex->list->layers[k];
    const float *w = params + layer->weight;
    float *dx = ex->row_dx;
    switch (layer->kind) {
    case NN_LAYER_CONV2D: {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        nn_conv2d_backward_params(d_w, d_w + (layer->bias - layer->weight), ex->im2col, g, x, 1,
                                  &shape);
        if (layer->input >= 0)
            nn_conv2d_backward_input(dx, ex->im2col, g, w, 1, &shape);
        break;
    }
    case NN_LAYER_GROUP_NORM: {
        nn_norm_shape shape = norm_shape(layer);
        float *state = state_of(ex, k, n) + i * state_floats(layer);
        const float *d_norm = layer->activate
                                  ? norm_activate_backward(ex, layer, params, state, x, g)
                                  : g;
        nn_group_norm_backward(dx, d_w, d_w + layer->channels, d_norm, x, w, state, 1, &shape);
        break;
    }
    case NN_LAYER_ATTENTION: {
        /* this image's A again (its output, discarded, in row_spare) */
        nn_attention_shape shape = attention_shape(layer);
        nn_attention_forward(ex->row_spare, ex->att_weights, x, 1, &shape, true);
        nn_attention_backward(dx, ex->att_scratch, g, x, ex->att_weights, 1, &shape);
        break;
    }
    case NN_LAYER_UPSAMPLE:
        nn_upsample2_backward(dx, g, layer->channels, layer->height, layer->width);
        break;
    case NN_LAYER_CONCAT: {
        size_t first = layer->in, second = layer->out - layer->in;
        memcpy(dx, g, first * sizeof *dx);
        nn_vec_add(gradient_of(ex, layer->concat, n) + i * second, g + first, second);
        break;
    }
    case NN_LAYER_DROPOUT:
        memcpy(dx, g, layer->out * sizeof *dx);
        nn_dropout_apply(dx, 1, layer->out, layer->rate, ex->dropout_seed, ex->keys + i);
        break;
    default:
        break;
    }
}

/* An image layer, image by image (its input recomputed where training did
 * not keep it), its tensors one gradient group; each image's input
 * gradient added into its producer's as it comes. */
static void layer_backward_by_row(nn_executor *ex, diffuse_model *m, size_t k, size_t n,
                                  const float *g)
{
    const nn_layer *layer = &ex->list->layers[k];
    bool tensors = layer->kind == NN_LAYER_CONV2D || layer->kind == NN_LAYER_GROUP_NORM;
    float *d_w = tensors ? open_layer_grads(m, layer) : NULL;
    bool reads = nn_layer_backward_reads_input(layer);
    for (size_t i = 0; i < n; i++) {
        ex->recompute_used = 0;
        const float *x = reads ? row_of(ex, m->params, layer->input, i, n) : NULL;
        image_backward(ex, m->params, k, i, n, x, g + i * layer->out, d_w);
        if (layer->input >= 0)
            nn_vec_add(gradient_of(ex, layer->input, n) + i * layer->in, ex->row_dx, layer->in);
    }
    if (tensors)
        model_grads_close(m);
}

/* Zeroes the gradients whose first addition comes in step k (and k's own
 * when nothing adds into it): the sums then start from +0 exactly as when
 * every gradient was zeroed before the pass. */
static void start_gradients(nn_executor *ex, size_t k, size_t n)
{
    const nn_layer *layer = &ex->list->layers[k];
    const int targets[] = {layer->add, layer->concat, layer->input};
    for (size_t i = 0; i < 3; i++) {
        int j = targets[i];
        if (j >= 0 && ex->plan->first_contributor[j] == (int)k)
            memset(gradient_of(ex, j, n), 0, n * ex->list->layers[j].out * sizeof(float));
    }
    if (ex->plan->first_contributor[k] == NN_NO_LAYER && k + 1 < ex->list->count)
        memset(gradient_of(ex, (int)k, n), 0, n * layer->out * sizeof(float));
}

static void backward_step(nn_executor *ex, diffuse_model *m, size_t k, size_t n)
{
    const nn_layer *layer = &ex->list->layers[k];
    start_gradients(ex, k, n);
    const float *g = gradient_of(ex, (int)k, n);
    if (layer->add != NN_NO_LAYER) {
        float *d_add = gradient_of(ex, layer->add, n);
        if (layer->add_per_channel)
            add_channel_sums(d_add, g, n, layer->out_channels, layer->out / layer->out_channels);
        else
            nn_vec_add(d_add, g, n * layer->out);
    }
    if (nn_layer_backward_by_row(layer)) {
        layer_backward_by_row(ex, m, k, n, g);
        return;
    }
    float *dx = ex->arena + n * ex->plan->back_scratch[k];
    if (rows_backward(ex, m, k, n, g, dx))
        nn_vec_add(gradient_of(ex, layer->input, n), dx, n * layer->in);
}

diffuse_status nn_executor_backward(nn_executor *ex, diffuse_model *m, const float *d_out,
                                    size_t n)
{
    if (n == 0 || n != ex->train_rows)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_STATE,
                            "backward over %zu rows needs a forward over the same rows first", n);
    const nn_layer_list *list = ex->list;
    memcpy(gradient_of(ex, (int)list->count - 1, n), d_out, n * ex->out_dim * sizeof *d_out);
    for (size_t k = list->count; k-- > 0;)
        backward_step(ex, m, k, n);
    ex->train_rows = 0;
    return DIFFUSE_OK;
}
