/* The time-conditioned MLP (see mlp.h and include/diffuse/model.h). */
#include "nn/mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_config.h"
#include "nn/activation.h"
#include "nn/block.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/time_embedding.h"
#include "nn/time_mlp.h"
#include "nn/workspace.h"

typedef struct mlp_state {
    nn_mlp_shape shape;
    nn_mlp_layout layout;
    nn_time_shape time_shape;
    nn_time_table table;

    /* One workspace for training and prediction, which never run at once:
     * a prediction overwrites what a training forward kept (train_rows). */
    nn_workspace memory;
    nn_time_pass time;
    size_t train_rows; /* rows of the training forward `memory` holds; 0 = none */
    size_t least_bytes; /* `memory` never holds less: a full prediction chunk */
    float *x;          /* [n, d] copy of the training input */
    float *h;          /* training: [L+1][n, H], h_0 … h_L; prediction: [rows, H] */
    float *spare;      /* [n, H]: φ(h_l) in forward, then one array of backward's rotation */
} mlp_state;

void nn_mlp_shape_from_config(const diffuse_model_config *config, nn_mlp_shape *shape)
{
    shape->dim = config->dim;
    shape->width = (size_t)model_config_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH);
    shape->layers = (size_t)model_config_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS);
    shape->time_dim = (size_t)model_config_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM);
    shape->activation = (diffuse_activation)model_config_int(config, DIFFUSE_MODEL_ACTIVATION);
    shape->residual = model_config_int(config, DIFFUSE_MODEL_RESIDUAL) != 0;
    shape->max_period = model_config_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD);
}

void nn_mlp_layout_compute(const nn_mlp_shape *shape, nn_mlp_layout *layout)
{
    size_t d = shape->dim, width = shape->width, embed = shape->time_dim;
    size_t offset = 0;
    layout->time_w1 = offset;
    offset += width * embed;
    layout->time_b1 = offset;
    offset += width;
    layout->time_w2 = offset;
    offset += width * width;
    layout->time_b2 = offset;
    offset += width;
    layout->input_w = offset;
    offset += width * d;
    layout->input_b = offset;
    offset += width;
    layout->blocks = offset;
    layout->block_stride = width * width + width;
    offset += shape->layers * layout->block_stride;
    layout->output_w = offset;
    offset += d * width;
    layout->output_b = offset;
    offset += d;
    layout->total = offset;
}

static nn_time_weights time_weights(const nn_mlp_layout *layout, const float *params)
{
    nn_time_weights weights = {params + layout->time_w1, params + layout->time_b1,
                               params + layout->time_w2, params + layout->time_b2};
    return weights;
}

/* f(params; x, t) for n rows into `out`. Block l reads h + l·h_stride and
 * writes h + (l+1)·h_stride: with h_stride = 0 every layer works in place
 * (prediction), otherwise each h_l stays for backward (training). The
 * spare array holds φ(h_l) (and φ(pre) of the time branch). Only h_l is
 * kept: backward recomputes φ(h_l) and φ'(h_l), which costs one activation
 * pass per layer but halves the memory a training batch needs. */
static diffuse_status run_forward(mlp_state *s, diffuse_error *error, const float *params,
                                  const float *x, const int32_t *t, size_t n, float *out,
                                  size_t h_stride)
{
    const nn_mlp_shape *shape = &s->shape;
    const nn_mlp_layout *layout = &s->layout;
    size_t d = shape->dim, width = shape->width;
    nn_time_weights weights = time_weights(layout, params);
    float *act = s->spare;
    /* h_0 = features(t) + b_in + W_in x */
    diffuse_status status = nn_time_mlp_forward(error, &s->time_shape, &s->table, &s->time,
                                                &weights, t, n, act, params + layout->input_b,
                                                s->h);
    if (status != DIFFUSE_OK)
        return status;
    nn_linear_forward(s->h, x, params + layout->input_w, NULL, n, d, width, true);
    for (size_t l = 0; l < shape->layers; l++) {
        /* h_{l+1} = W φ(h_l) + b [+ h_l] */
        size_t block = layout->blocks + l * layout->block_stride;
        nn_block_forward(s->h + (l + 1) * h_stride, act, NULL, s->h + l * h_stride,
                         params + block, params + block + width * width, n, width, width,
                         shape->activation, shape->residual);
    }
    /* f = W_out φ(h_L) + b_out */
    nn_block_forward(out, act, NULL, s->h + shape->layers * h_stride, params + layout->output_w,
                     params + layout->output_b, n, width, d, shape->activation, false);
    return DIFFUSE_OK;
}

static void carve_train(nn_carver *carver, mlp_state *s, size_t n)
{
    size_t activations = n * s->shape.width;
    nn_time_pass_carve(carver, &s->time, &s->time_shape, n);
    s->x = nn_carve_floats(carver, n * s->shape.dim);
    s->h = nn_carve_floats(carver, (s->shape.layers + 1) * activations);
    s->spare = nn_carve_floats(carver, activations);
}

static void carve_predict(nn_carver *carver, mlp_state *s, size_t rows)
{
    size_t activations = rows * s->shape.width;
    nn_time_pass_carve(carver, &s->time, &s->time_shape, rows);
    s->x = NULL;
    s->h = nn_carve_floats(carver, activations);
    s->spare = nn_carve_floats(carver, activations);
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
        error, &s->memory, needed > s->least_bytes ? needed : s->least_bytes);
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

/* The MLP has no classes: call->labels is ignored. */
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
    size_t d = s->shape.dim;
    for (size_t start = 0; start < n && status == DIFFUSE_OK; start += chunk) {
        size_t rows = n - start < chunk ? n - start : chunk;
        status = run_forward(s, &m->error, params, x + start * d, t + start, rows,
                             out + start * d, 0);
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
    status = run_forward(s, &m->error, m->params, s->x, t, n, out, n * s->shape.width);
    if (status == DIFFUSE_OK)
        s->train_rows = n;
    return status;
}

/* Backward through y = W φ(in) + b [+ in] given d_y = dL/dy: φ(in) is
 * recomputed into the free array and φ'(in) over `in` (no longer needed),
 * the weight and bias gradients are added (one group, model.h), and dL/din
 * replaces φ(in) (block.h allows it). Returns that array; the one d_y was
 * in is then free for the next layer. */
static float *block_backward(const mlp_state *s, diffuse_model *m, const float *d_y,
                             float *free_array, float *in, size_t weight, size_t bias,
                             size_t out_dim, bool residual)
{
    size_t n = s->train_rows, width = s->shape.width;
    float *act = free_array, *derivative = in;
    nn_activation_recompute(s->shape.activation, act, in, n * width);
    float *d_weight = model_grads_open(m, weight);
    nn_linear_backward_params(d_weight, d_weight + (bias - weight), d_y, act, n, width, out_dim);
    model_grads_close(m);
    nn_block_backward_input(act, d_y, derivative, m->params + weight, n, width, out_dim,
                            residual);
    return act;
}

static float *open_time_group(void *model, size_t offset)
{
    return model_grads_open(model, offset);
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
    const nn_mlp_layout *layout = &s->layout;
    size_t d = s->shape.dim, width = s->shape.width, layers = s->shape.layers;
    size_t activations = n * width;
    /* f = W_out φ(h_L) + b_out */
    float *h_last = s->h + layers * activations;
    float *grad = block_backward(s, m, d_out, s->spare, h_last, layout->output_w,
                                 layout->output_b, d, false);
    float *free_array = h_last;
    /* h_{l+1} = W φ(h_l) + b [+ h_l], l = L−1 … 0; each frees dL/dh_{l+1}. */
    for (size_t l = layers; l-- > 0;) {
        size_t block = layout->blocks + l * layout->block_stride;
        float *next = block_backward(s, m, grad, free_array, s->h + l * activations, block,
                                     block + width * width, width, s->shape.residual);
        free_array = grad;
        grad = next;
    }
    /* h_0 = W_in x + b_in + features(t) */
    float *d_input_w = model_grads_open(m, layout->input_w);
    nn_linear_backward_params(d_input_w, d_input_w + (layout->input_b - layout->input_w), grad,
                              s->x, n, d, width);
    model_grads_close(m);
    if (d_x != NULL)
        nn_linear_backward_input(d_x, grad, m->params + layout->input_w, n, d, width);
    nn_time_weights weights = time_weights(layout, m->params);
    nn_time_grads time_grads = {open_time_group, close_time_group, m, layout->time_w1,
                                layout->time_w2};
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

static void set_tensor(model_tensor *tensor, const char *name, size_t offset, size_t rows,
                       size_t cols)
{
    snprintf(tensor->name, sizeof tensor->name, "%s", name);
    tensor->offset = offset;
    tensor->rank = cols == 0 ? 1 : 2;
    tensor->shape[0] = rows;
    tensor->shape[1] = cols == 0 ? 1 : cols;
    tensor->shape[2] = 1;
    tensor->shape[3] = 1;
}

/* The layout as named tensors, in buffer order, as weight/bias pairs. */
static void describe_tensors(const nn_mlp_shape *shape, const nn_mlp_layout *layout,
                             model_tensor *tensors)
{
    size_t d = shape->dim, width = shape->width;
    set_tensor(&tensors[0], "time_mlp.0.weight", layout->time_w1, width, shape->time_dim);
    set_tensor(&tensors[1], "time_mlp.0.bias", layout->time_b1, width, 0);
    set_tensor(&tensors[2], "time_mlp.2.weight", layout->time_w2, width, width);
    set_tensor(&tensors[3], "time_mlp.2.bias", layout->time_b2, width, 0);
    set_tensor(&tensors[4], "input.weight", layout->input_w, width, d);
    set_tensor(&tensors[5], "input.bias", layout->input_b, width, 0);
    for (size_t l = 0; l < shape->layers; l++) {
        char name[64];
        size_t block = layout->blocks + l * layout->block_stride;
        snprintf(name, sizeof name, "blocks.%zu.weight", l);
        set_tensor(&tensors[6 + 2 * l], name, block, width, width);
        snprintf(name, sizeof name, "blocks.%zu.bias", l);
        set_tensor(&tensors[7 + 2 * l], name, block + width * width, width, 0);
    }
    size_t last = 6 + 2 * shape->layers;
    set_tensor(&tensors[last], "output.weight", layout->output_w, d, width);
    set_tensor(&tensors[last + 1], "output.bias", layout->output_b, d, 0);
}

static diffuse_status mlp_build(diffuse_model *m)
{
    nn_mlp_shape shape;
    nn_mlp_shape_from_config(m->config, &shape);
    size_t tensor_count = 8 + 2 * shape.layers;
    mlp_state *s = calloc(1, sizeof *s);
    model_tensor *tensors = calloc(tensor_count, sizeof *tensors);
    diffuse_status status;
    if (s == NULL || tensors == NULL)
        status = diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for an MLP");
    else
        status = nn_time_table_init(&m->error, &s->table, shape.time_dim, shape.max_period);
    if (status != DIFFUSE_OK) {
        free(s);
        free(tensors);
        return status;
    }
    s->shape = shape;
    nn_mlp_layout_compute(&shape, &s->layout);
    s->time_shape = (nn_time_shape){shape.time_dim, shape.width, shape.activation};
    s->least_bytes = carve_size(s, carve_predict, NN_MLP_PREDICT_ROWS);
    describe_tensors(&shape, &s->layout, tensors);
    m->ops = &mlp_ops;
    m->arch = s;
    m->tensors = tensors;
    m->tensor_count = tensor_count;
    m->param_count = s->layout.total;
    return DIFFUSE_OK;
}

/* Every (weight [out, in], bias [out]) pair: uniform(±1/√in). */
static void mlp_init_params(diffuse_model *m)
{
    uint64_t seed = (uint64_t)model_config_int(m->config, DIFFUSE_MODEL_SEED);
    for (size_t i = 0; i + 1 < m->tensor_count; i += 2) {
        const model_tensor *weight = &m->tensors[i], *bias = &m->tensors[i + 1];
        double bound = 1.0 / sqrt((double)weight->shape[1]);
        nn_init_uniform(m->params, weight->offset, weight->shape[0] * weight->shape[1], bound,
                        seed);
        nn_init_uniform(m->params, bias->offset, bias->shape[0], bound, seed);
    }
}

const nn_architecture nn_mlp_architecture = {
    .id = DIFFUSE_ARCH_MLP,
    .name = "mlp",
    .build = mlp_build,
    .init_params = mlp_init_params,
};

diffuse_status nn_mlp_forward_reference(const nn_mlp_shape *shape, const double *params,
                                        const double *x, const int32_t *t, size_t n,
                                        double *out)
{
    nn_mlp_layout layout;
    nn_mlp_layout_compute(shape, &layout);
    size_t d = shape->dim, width = shape->width, embed = shape->time_dim;
    double *emb = malloc(embed * sizeof *emb);
    double *pre = malloc(width * sizeof *pre);
    double *features = malloc(width * sizeof *features);
    double *h = malloc(width * sizeof *h);
    double *next = malloc(width * sizeof *next);
    diffuse_status status = DIFFUSE_ERROR_NO_MEMORY;
    if (emb == NULL || pre == NULL || features == NULL || h == NULL || next == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        nn_time_embedding_reference((double)t[i], embed, shape->max_period, emb);
        nn_linear_forward_reference(pre, emb, params + layout.time_w1, params + layout.time_b1,
                                    1, embed, width);
        nn_block_forward_reference(features, pre, params + layout.time_w2,
                                   params + layout.time_b2, 1, width, width, shape->activation,
                                   false);
        nn_linear_forward_reference(h, x + i * d, params + layout.input_w,
                                    params + layout.input_b, 1, d, width);
        for (size_t k = 0; k < width; k++)
            h[k] += features[k];
        for (size_t l = 0; l < shape->layers; l++) {
            size_t block = layout.blocks + l * layout.block_stride;
            nn_block_forward_reference(next, h, params + block, params + block + width * width,
                                       1, width, width, shape->activation, shape->residual);
            memcpy(h, next, width * sizeof *h);
        }
        nn_block_forward_reference(out + i * d, h, params + layout.output_w,
                                   params + layout.output_b, 1, width, d, shape->activation,
                                   false);
    }
    status = DIFFUSE_OK;
done:
    free(emb);
    free(pre);
    free(features);
    free(h);
    free(next);
    return status;
}
