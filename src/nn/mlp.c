/* The time-conditioned MLP (see mlp.h and include/diffuse/model.h). */
#include "nn/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_config.h"
#include "nn/activation.h"
#include "nn/block.h"
#include "nn/layers.h"
#include "nn/linear.h"
#include "nn/time_embedding.h"
#include "nn/time_mlp.h"
#include "nn/vec.h"
#include "nn/workspace.h"

/* Positions in the MLP's layer list (the tensor order of model.h): the
 * time branch, the input layer, then the trunk of dense layers, blocks.0 …
 * blocks.{L−1} and the output layer; trunk layer MLP_TRUNK + l reads h_l.
 * A model with classes ends the list with the label embedding (after the
 * output layer, so that the unconditional layout is a prefix). */
enum { MLP_TIME_HIDDEN, MLP_TIME_FEATURES, MLP_INPUT, MLP_TRUNK };

typedef struct mlp_state {
    nn_mlp_shape shape; /* what the configuration asks for (the list describes it) */
    nn_layer_list layers;
    nn_time_shape time_shape;
    nn_time_table table;
    size_t kept;   /* floats per row training keeps: h_0 … h_L (nn_layers_kept_floats) */
    size_t widest; /* H: the width of each activation array (nn_layers_widest_input) */
    size_t output; /* the output layer's position: MLP_TRUNK + L */

    /* One workspace for training and prediction, which never run at once:
     * a prediction overwrites what a training forward kept (train_rows). */
    nn_workspace memory;
    nn_time_pass time;
    size_t train_rows;   /* rows of the training forward `memory` holds; 0 = none */
    size_t chunk_bytes;  /* what a full prediction chunk needs: `memory` never holds less */
    float *x;            /* [n, d] copy of the training input */
    float *h;            /* training: [L+1][n, H], h_0 … h_L; prediction: [rows, H] */
    float *spare;        /* [n, H]: φ(h_l) in forward, then one array of backward's rotation */
    int32_t *labels;     /* [n] the embedding rows of the call (K > 0) */
} mlp_state;

void nn_mlp_shape_from_config(const diffuse_model_config *config, nn_mlp_shape *shape)
{
    shape->dim = config->dim;
    bool learn_variance = model_config_int(config, DIFFUSE_MODEL_LEARN_VARIANCE) != 0;
    shape->out_dim = config->dim * (learn_variance ? 2 : 1);
    shape->width = (size_t)model_config_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH);
    shape->layers = (size_t)model_config_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS);
    shape->time_dim = (size_t)model_config_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM);
    shape->activation = (diffuse_activation)model_config_int(config, DIFFUSE_MODEL_ACTIVATION);
    shape->residual = model_config_int(config, DIFFUSE_MODEL_RESIDUAL) != 0;
    shape->max_period = model_config_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD);
    shape->classes = (size_t)model_config_int(config, DIFFUSE_MODEL_CLASSES);
}

/* The network of include/diffuse/model.h as a layer list. */
static diffuse_status describe_mlp(diffuse_error *error, const nn_mlp_shape *shape,
                                   nn_layer_list *list)
{
    size_t d = shape->dim, width = shape->width;
    diffuse_status status =
        nn_layers_create(error, list, MLP_TRUNK + shape->layers + 1 + (shape->classes > 0));
    if (status != DIFFUSE_OK)
        return status;
    /* features(t) = W_t2 φ(W_t1 emb(t) + b_t1) + b_t2 */
    nn_layers_add(list, NN_LAYER_LINEAR, "time_mlp.0", shape->time_dim, width, NN_FROM_TIME);
    nn_layers_add(list, NN_LAYER_DENSE, "time_mlp.2", width, width, MLP_TIME_HIDDEN)
        ->activation = shape->activation;
    /* h_0 = W_in x + b_in + features(t) */
    nn_layers_add(list, NN_LAYER_LINEAR, "input", d, width, NN_FROM_DATA)->add = MLP_TIME_FEATURES;
    /* h_l = W_l φ(h_{l−1}) + b_l [+ h_{l−1}], each reading the layer before */
    for (size_t l = 0; l < shape->layers; l++) {
        char name[sizeof list->layers->name];
        snprintf(name, sizeof name, "blocks.%zu", l);
        nn_layer *block =
            nn_layers_add(list, NN_LAYER_DENSE, name, width, width, (int)list->count - 1);
        block->activation = shape->activation;
        block->residual = shape->residual;
    }
    /* f = W_out φ(h_L) + b_out */
    nn_layers_add(list, NN_LAYER_DENSE, "output", width, shape->out_dim, (int)list->count - 1)
        ->activation = shape->activation;
    /* E [K + 1, H]: the classes and the null class (model_classes), added to h_0 */
    if (shape->classes > 0)
        nn_layers_add(list, NN_LAYER_EMBEDDING, "label_emb", shape->classes + 1, width,
                      NN_FROM_LABELS);
    return nn_layers_finish(error, list);
}

static nn_time_weights time_weights(const nn_layer *layers, const float *params)
{
    const nn_layer *hidden = &layers[MLP_TIME_HIDDEN], *features = &layers[MLP_TIME_FEATURES];
    nn_time_weights weights = {params + hidden->weight, params + hidden->bias,
                               params + features->weight, params + features->bias};
    return weights;
}

/* h_0 += E[y_i] per row, for a model with classes (y = the null row K for
 * a call without labels); the rows are kept for backward. */
static diffuse_status add_label_embedding(mlp_state *s, diffuse_error *error,
                                          const float *params, const int32_t *labels, size_t n)
{
    if (s->shape.classes == 0)
        return DIFFUSE_OK;
    diffuse_status status = model_labels_take(error, s->shape.classes, labels, n, s->labels);
    const float *table = params + s->layers.layers[s->output + 1].weight;
    size_t width = s->shape.width;
    for (size_t i = 0; i < n && status == DIFFUSE_OK; i++)
        nn_vec_add(s->h + i * width, table + (size_t)s->labels[i] * width, width);
    return status;
}

/* f(params; x, t) for n rows into `out`. Trunk layer l reads h + l·h_stride
 * and writes h + (l+1)·h_stride (the last one writes `out`): with h_stride
 * = 0 every layer works in place (prediction), otherwise each h_l stays for
 * backward (training). The spare array holds φ(h_l) (and φ(pre) of the
 * time branch). Only h_l is kept: backward recomputes φ(h_l) and φ'(h_l),
 * which costs one activation pass per layer but halves the memory a
 * training batch needs. */
static diffuse_status run_forward(mlp_state *s, diffuse_error *error, const float *params,
                                  const float *x, const int32_t *t, const int32_t *labels,
                                  size_t n, float *out, size_t h_stride)
{
    const nn_layer *layers = s->layers.layers, *input = &layers[MLP_INPUT];
    nn_time_weights weights = time_weights(layers, params);
    float *act = s->spare;
    /* h_0 = features(t) + b_in + W_in x */
    diffuse_status status = nn_time_mlp_forward(error, &s->time_shape, &s->table, &s->time,
                                                &weights, t, n, act, params + input->bias,
                                                s->h);
    if (status != DIFFUSE_OK)
        return status;
    nn_linear_forward(s->h, x, params + input->weight, NULL, n, input->in, input->out, true);
    if ((status = add_label_embedding(s, error, params, labels, n)) != DIFFUSE_OK)
        return status;
    /* y = W φ(h_l) + b [+ h_l]: h_{l+1} for the blocks, f for the output */
    size_t last = s->output;
    for (size_t k = MLP_TRUNK; k <= last; k++) {
        const nn_layer *layer = &layers[k];
        size_t l = k - MLP_TRUNK;
        float *y = k == last ? out : s->h + (l + 1) * h_stride;
        nn_block_forward(y, act, NULL, s->h + l * h_stride, params + layer->weight,
                         params + layer->bias, n, layer->in, layer->out, layer->activation,
                         layer->residual);
    }
    return DIFFUSE_OK;
}

static void carve_train(nn_carver *carver, mlp_state *s, size_t n)
{
    nn_time_pass_carve(carver, &s->time, &s->time_shape, n);
    s->labels = nn_carve_ints(carver, n);
    s->x = nn_carve_floats(carver, n * s->layers.layers[MLP_INPUT].in);
    s->h = nn_carve_floats(carver, n * s->kept);
    s->spare = nn_carve_floats(carver, n * s->widest);
}

static void carve_predict(nn_carver *carver, mlp_state *s, size_t rows)
{
    nn_time_pass_carve(carver, &s->time, &s->time_shape, rows);
    s->labels = nn_carve_ints(carver, rows);
    s->x = NULL;
    s->h = nn_carve_floats(carver, rows * s->widest);
    s->spare = nn_carve_floats(carver, rows * s->widest);
}

/* Bytes that `carve` needs for `rows`. */
static size_t carve_size(mlp_state *s, void (*carve)(nn_carver *, mlp_state *, size_t),
                         size_t rows)
{
    nn_carver measure = {NULL, 0};
    carve(&measure, s, rows);
    return measure.used;
}

/* Lays `memory` out for `rows` with `carve`. It always has room for a full
 * prediction chunk too, so that a model sampled between training steps
 * never reallocates: the freed block could stay resident in a worker
 * thread's malloc arena next to the new one. */
static diffuse_status reserve(diffuse_error *error, mlp_state *s,
                              void (*carve)(nn_carver *, mlp_state *, size_t), size_t rows)
{
    s->train_rows = 0;
    size_t needed = carve_size(s, carve, rows);
    diffuse_status status = nn_workspace_reserve(
        error, &s->memory, needed > s->chunk_bytes ? needed : s->chunk_bytes);
    if (status != DIFFUSE_OK)
        return status;
    nn_carver assign = {s->memory.data, 0};
    carve(&assign, s, rows);
    return DIFFUSE_OK;
}

static diffuse_status check_rows(diffuse_error *error, size_t n)
{
    if (n == 0 || n > NN_MAX_ROWS)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "row count %zu is outside [1, %zu]", n, NN_MAX_ROWS);
    return DIFFUSE_OK;
}

static diffuse_status mlp_predict(diffuse_model *m, const float *params,
                                  const diffuse_model_call *call)
{
    const float *x = call->x_t;
    const int32_t *t = call->t;
    size_t n = call->n;
    float *out = call->out;
    mlp_state *s = m->arch;
    diffuse_status status = check_rows(&m->error, n);
    if (status != DIFFUSE_OK)
        return status;
    size_t chunk = n < NN_MLP_PREDICT_ROWS ? n : NN_MLP_PREDICT_ROWS;
    status = reserve(&m->error, s, carve_predict, chunk);
    size_t d = s->shape.dim, out_dim = s->shape.out_dim;
    for (size_t start = 0; start < n && status == DIFFUSE_OK; start += chunk) {
        size_t rows = n - start < chunk ? n - start : chunk;
        status = run_forward(s, &m->error, params, x + start * d, t + start,
                             call->labels != NULL ? call->labels + start : NULL, rows,
                             out + start * out_dim, 0);
    }
    return status;
}

static diffuse_status mlp_forward(diffuse_model *m, const diffuse_model_call *call)
{
    const float *x = call->x_t;
    const int32_t *t = call->t;
    size_t n = call->n;
    float *out = call->out;
    mlp_state *s = m->arch;
    diffuse_status status = check_rows(&m->error, n);
    if (status == DIFFUSE_OK)
        status = reserve(&m->error, s, carve_train, n);
    if (status != DIFFUSE_OK)
        return status;
    memcpy(s->x, x, n * s->shape.dim * sizeof *s->x);
    status = run_forward(s, &m->error, m->params, s->x, t, call->labels, n, out,
                         n * s->shape.width);
    if (status == DIFFUSE_OK)
        s->train_rows = n;
    return status;
}

/* dW += d_yᵀ·in and db += Σ_rows d_y for `layer`: one gradient group
 * (model.h). */
static void add_param_grads(diffuse_model *m, const nn_layer *layer, const float *d_y,
                            const float *in, size_t n)
{
    float *d_weight = model_grads_open(m, layer->weight, nn_layer_param_count(layer));
    nn_linear_backward_params(d_weight, d_weight + (layer->bias - layer->weight), d_y, in, n,
                              layer->in, layer->out);
    model_grads_close(m);
}

/* dE[y_i] += dL/dh_0 of row i: the embedding's gradient group. */
static void add_label_grads(const mlp_state *s, diffuse_model *m, const float *d_h0, size_t n)
{
    if (s->shape.classes == 0)
        return;
    size_t width = s->shape.width;
    const nn_layer *table = &s->layers.layers[s->output + 1];
    float *d_table = model_grads_open(m, table->weight, nn_layer_param_count(table));
    for (size_t i = 0; i < n; i++)
        nn_vec_add(d_table + (size_t)s->labels[i] * width, d_h0 + i * width, width);
    model_grads_close(m);
}

/* Backward through y = W φ(in) + b [+ in] given d_y = dL/dy: φ(in) is
 * recomputed into the free array and φ'(in) over `in` (no longer needed),
 * the weight and bias gradients are added, and dL/din replaces φ(in)
 * (block.h allows it). Returns that array; the one d_y was in is then free
 * for the next layer. */
static float *dense_backward(const mlp_state *s, diffuse_model *m, const nn_layer *layer,
                             const float *d_y, float *free_array, float *in)
{
    size_t n = s->train_rows;
    float *act = free_array, *derivative = in;
    nn_activation_recompute(layer->activation, act, in, n * layer->in);
    add_param_grads(m, layer, d_y, act, n);
    nn_block_backward_input(act, d_y, derivative, m->params + layer->weight, n, layer->in,
                            layer->out, layer->residual);
    return act;
}

static float *open_time_group(void *model, size_t offset, size_t count)
{
    return model_grads_open(model, offset, count);
}

static void close_time_group(void *model)
{
    model_grads_close(model);
}

diffuse_status nn_mlp_backward(diffuse_model *m, const float *d_out, size_t n, float *d_x)
{
    mlp_state *s = m->arch;
    if (n == 0 || n != s->train_rows)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_STATE,
                            "backward over %zu rows needs a forward over the same rows first", n);
    const nn_layer *layers = s->layers.layers, *input = &layers[MLP_INPUT];
    size_t activations = n * s->widest, last = s->output;
    /* The layers in reverse list order. f = W_out φ(h_L) + b_out: */
    float *h_last = s->h + (last - MLP_TRUNK) * activations;
    float *grad = dense_backward(s, m, &layers[last], d_out, s->spare, h_last);
    float *free_array = h_last;
    /* h_{l+1} = W φ(h_l) + b [+ h_l], l = L−1 … 0; each frees dL/dh_{l+1}. */
    for (size_t k = last; k-- > MLP_TRUNK;) {
        float *next = dense_backward(s, m, &layers[k], grad, free_array,
                                     s->h + (k - MLP_TRUNK) * activations);
        free_array = grad;
        grad = next;
    }
    /* h_0 = W_in x + b_in + features(t) [+ E[y]] */
    add_param_grads(m, input, grad, s->x, n);
    add_label_grads(s, m, grad, n);
    if (d_x != NULL)
        nn_linear_backward_input(d_x, grad, m->params + input->weight, n, input->in, input->out);
    nn_time_weights weights = time_weights(layers, m->params);
    nn_time_grads time_grads = {open_time_group, close_time_group, m,
                                layers[MLP_TIME_HIDDEN].weight, layers[MLP_TIME_FEATURES].weight};
    nn_time_mlp_backward(&s->time_shape, &s->time, &weights, &time_grads, grad, free_array);
    s->train_rows = 0; /* the arrays backward walked through are overwritten */
    return DIFFUSE_OK;
}

static diffuse_status mlp_backward(diffuse_model *m, const float *d_out, size_t n)
{
    return nn_mlp_backward(m, d_out, n, NULL);
}

static void mlp_destroy(void *arch)
{
    mlp_state *s = arch;
    if (s == NULL)
        return;
    nn_layers_release(&s->layers);
    nn_time_table_release(&s->table);
    nn_workspace_release(&s->memory);
    free(s);
}

static const model_ops mlp_ops = {
    .predict = mlp_predict,
    .forward = mlp_forward,
    .backward = mlp_backward,
    .destroy = mlp_destroy,
};

/* The sizes the passes derive from the list, once. */
static void derive_sizes(mlp_state *s)
{
    const nn_layer *layers = s->layers.layers;
    s->time_shape = (nn_time_shape){layers[MLP_TIME_HIDDEN].in, layers[MLP_TIME_HIDDEN].out,
                                    layers[MLP_TIME_FEATURES].activation};
    s->kept = nn_layers_kept_floats(&s->layers);
    s->widest = nn_layers_widest_input(&s->layers);
    s->output = MLP_TRUNK + s->shape.layers;
    s->chunk_bytes = carve_size(s, carve_predict, NN_MLP_PREDICT_ROWS);
}

static diffuse_status mlp_build(diffuse_model *m)
{
    nn_mlp_shape shape;
    nn_mlp_shape_from_config(m->config, &shape);
    mlp_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for an MLP");
    diffuse_status status = describe_mlp(&m->error, &shape, &s->layers);
    if (status == DIFFUSE_OK)
        status = nn_time_table_init(&m->error, &s->table, shape.time_dim, shape.max_period);
    if (status == DIFFUSE_OK)
        status = nn_layers_describe(&m->error, &s->layers, &m->tensors);
    if (status != DIFFUSE_OK) {
        mlp_destroy(s);
        return status;
    }
    s->shape = shape;
    derive_sizes(s);
    m->ops = &mlp_ops;
    m->arch = s;
    m->tensor_count = s->layers.tensor_count;
    m->param_count = s->layers.param_count;
    return DIFFUSE_OK;
}

static void mlp_init_params(diffuse_model *m)
{
    const mlp_state *s = m->arch;
    nn_layers_init_params(&s->layers, m->params,
                          (uint64_t)model_config_int(m->config, DIFFUSE_MODEL_SEED));
}

const nn_architecture nn_mlp_architecture = {
    .id = DIFFUSE_ARCH_MLP,
    .name = "mlp",
    .build = mlp_build,
    .init_params = mlp_init_params,
};
