/* Double-precision references of the network layers (see nn_reference.h). */
#include "nn_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* √(2/π) and the cubic coefficient of the tanh-form GELU. */
#define GELU_SCALE 0.7978845608028654
#define GELU_CUBIC 0.044715

/* σ(z) = 1/(1 + e^{−z}); 1 − σ(z) is σ(−z), which keeps its relative
 * precision for large z where 1 − σ(z) would cancel. */
static double sigmoid_reference(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* z = 2u for GELU (½(1 + tanh u) = σ(2u)), z = x for SiLU; and dz/dx. */
static double sigmoid_argument(diffuse_activation kind, double x, double *slope)
{
    if (kind == DIFFUSE_ACTIVATION_SILU) {
        *slope = 1.0;
        return x;
    }
    *slope = 2.0 * GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x);
    return 2.0 * GELU_SCALE * (x + GELU_CUBIC * x * x * x);
}

double nn_activation_reference(diffuse_activation kind, double x)
{
    double slope;
    return x * sigmoid_reference(sigmoid_argument(kind, x, &slope));
}

double nn_activation_derivative_reference(diffuse_activation kind, double x)
{
    double slope, z = sigmoid_argument(kind, x, &slope);
    double s = sigmoid_reference(z);
    return s + x * s * sigmoid_reference(-z) * slope;
}

void nn_linear_forward_reference(double *out, const double *in, const double *weight,
                                 const double *bias, size_t n, size_t in_dim, size_t out_dim)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t o = 0; o < out_dim; o++) {
            double y = bias != NULL ? bias[o] : 0.0;
            for (size_t k = 0; k < in_dim; k++)
                y += weight[o * in_dim + k] * in[i * in_dim + k];
            out[i * out_dim + o] = y;
        }
    }
}

void nn_linear_backward_reference(double *d_in, double *d_weight, double *d_bias,
                                  const double *d_out, const double *in, const double *weight,
                                  size_t n, size_t in_dim, size_t out_dim)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t o = 0; o < out_dim; o++) {
            double g = d_out[i * out_dim + o];
            for (size_t k = 0; k < in_dim; k++)
                d_weight[o * in_dim + k] += g * in[i * in_dim + k];
            if (d_bias != NULL)
                d_bias[o] += g;
        }
    }
    if (d_in == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < in_dim; k++) {
            double g = 0.0;
            for (size_t o = 0; o < out_dim; o++)
                g += d_out[i * out_dim + o] * weight[o * in_dim + k];
            d_in[i * in_dim + k] = g;
        }
    }
}

void nn_block_forward_reference(double *out, const double *in, const double *weight,
                                const double *bias, size_t n, size_t in_dim, size_t out_dim,
                                diffuse_activation kind, bool residual)
{
    for (size_t i = 0; i < n; i++) {
        const double *x = in + i * in_dim;
        for (size_t o = 0; o < out_dim; o++) {
            double y = bias[o] + (residual ? x[o] : 0.0);
            for (size_t k = 0; k < in_dim; k++)
                y += weight[o * in_dim + k] * nn_activation_reference(kind, x[k]);
            out[i * out_dim + o] = y;
        }
    }
}

void nn_time_embedding_reference(double t, size_t dim, double max_period, double *out)
{
    size_t half = dim / 2;
    for (size_t k = 0; k < half; k++) {
        double frequency = exp(-log(max_period) * (double)k / (double)half);
        out[k] = cos(t * frequency);
        out[half + k] = sin(t * frequency);
    }
}

/* The next `count` parameters in the documented tensor order. */
static const double *take(const double **cursor, size_t count)
{
    const double *tensor = *cursor;
    *cursor += count;
    return tensor;
}

/* The MLP's tensors (include/diffuse/model.h), in buffer order. */
typedef struct mlp_tensors {
    const double *time_w1, *time_b1, *time_w2, *time_b2, *input_w, *input_b;
    const double *blocks; /* block l: weight at blocks + l·(H·H + H), then its bias */
    const double *output_w, *output_b;
    const double *label_emb; /* [K + 1, H] when the model has classes */
} mlp_tensors;

static mlp_tensors find_tensors(const nn_mlp_shape *shape, const double *params)
{
    size_t d = shape->dim, width = shape->width, embed = shape->time_dim;
    mlp_tensors p;
    p.time_w1 = take(&params, width * embed);
    p.time_b1 = take(&params, width);
    p.time_w2 = take(&params, width * width);
    p.time_b2 = take(&params, width);
    p.input_w = take(&params, width * d);
    p.input_b = take(&params, width);
    p.blocks = take(&params, shape->layers * (width * width + width));
    p.output_w = take(&params, d * width);
    p.output_b = take(&params, d);
    p.label_emb = take(&params, shape->classes > 0 ? (shape->classes + 1) * width : 0);
    return p;
}

diffuse_status nn_mlp_forward_reference(const nn_mlp_shape *shape, const double *params,
                                        const double *x, const int32_t *t,
                                        const int32_t *labels, size_t n, double *out)
{
    mlp_tensors p = find_tensors(shape, params);
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
        /* features(t) = W_t2 φ(W_t1 emb(t) + b_t1) + b_t2 */
        nn_time_embedding_reference((double)t[i], embed, shape->max_period, emb);
        nn_linear_forward_reference(pre, emb, p.time_w1, p.time_b1, 1, embed, width);
        nn_block_forward_reference(features, pre, p.time_w2, p.time_b2, 1, width, width,
                                   shape->activation, false);
        /* h_0 = W_in x + b_in + features(t) [+ E[y]] */
        nn_linear_forward_reference(h, x + i * d, p.input_w, p.input_b, 1, d, width);
        size_t label = labels != NULL ? (size_t)labels[i] : shape->classes;
        for (size_t k = 0; k < width; k++)
            h[k] += features[k] + (shape->classes > 0 ? p.label_emb[label * width + k] : 0.0);
        /* h_l = W_l φ(h_{l−1}) + b_l [+ h_{l−1}] */
        for (size_t l = 0; l < shape->layers; l++) {
            const double *weight = p.blocks + l * (width * width + width);
            nn_block_forward_reference(next, h, weight, weight + width * width, 1, width, width,
                                       shape->activation, shape->residual);
            memcpy(h, next, width * sizeof *h);
        }
        /* f = W_out φ(h_L) + b_out */
        nn_block_forward_reference(out + i * d, h, p.output_w, p.output_b, 1, width, d,
                                   shape->activation, false);
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

/* Calls visit(ctx, output index, input index, weight index) for every
 * product term W[c, c', i, j]·x[c', s·oy + i − p, s·ox + j − p] of the
 * convolution that reads a pixel inside the image, image by image. */
typedef void (*conv_term_fn)(void *ctx, size_t out, size_t in, size_t weight);

static void conv_visit_terms(const nn_conv_shape *s, size_t n, conv_term_fn visit, void *ctx)
{
    size_t k = s->kernel, pad = k / 2;
    size_t out_h = (s->height + 2 * pad - k) / s->stride + 1;
    size_t out_w = (s->width + 2 * pad - k) / s->stride + 1;
    for (size_t img = 0; img < n; img++)
        for (size_t c = 0; c < s->out_channels; c++)
            for (size_t oy = 0; oy < out_h; oy++)
                for (size_t ox = 0; ox < out_w; ox++)
                    for (size_t ci = 0; ci < s->in_channels; ci++)
                        for (size_t i = 0; i < k; i++)
                            for (size_t j = 0; j < k; j++) {
                                long y = (long)(oy * s->stride + i) - (long)pad;
                                long x = (long)(ox * s->stride + j) - (long)pad;
                                if (y < 0 || x < 0 || y >= (long)s->height ||
                                    x >= (long)s->width)
                                    continue;
                                size_t out = ((img * s->out_channels + c) * out_h + oy) * out_w +
                                             ox;
                                size_t in = ((img * s->in_channels + ci) * s->height +
                                             (size_t)y) * s->width + (size_t)x;
                                visit(ctx, out, in, ((c * s->in_channels + ci) * k + i) * k + j);
                            }
}

typedef struct conv_arrays {
    double *out, *d_in, *d_weight;
    const double *in, *weight, *d_out;
} conv_arrays;

static void forward_term(void *ctx, size_t out, size_t in, size_t weight)
{
    conv_arrays *a = ctx;
    a->out[out] += a->weight[weight] * a->in[in];
}

static void backward_term(void *ctx, size_t out, size_t in, size_t weight)
{
    conv_arrays *a = ctx;
    a->d_weight[weight] += a->d_out[out] * a->in[in];
    if (a->d_in != NULL)
        a->d_in[in] += a->d_out[out] * a->weight[weight];
}

static size_t conv_out_size(const nn_conv_shape *s, size_t n)
{
    size_t pad = s->kernel / 2;
    return n * s->out_channels * ((s->height + 2 * pad - s->kernel) / s->stride + 1) *
           ((s->width + 2 * pad - s->kernel) / s->stride + 1);
}

void nn_conv2d_forward_reference(double *out, const double *in, const double *weight,
                                 const double *bias, size_t n, const nn_conv_shape *shape)
{
    size_t size = conv_out_size(shape, n), plane = size / (n * shape->out_channels);
    for (size_t i = 0; i < size; i++)
        out[i] = bias != NULL ? bias[i / plane % shape->out_channels] : 0.0;
    conv_arrays arrays = {.out = out, .in = in, .weight = weight};
    conv_visit_terms(shape, n, forward_term, &arrays);
}

void nn_conv2d_backward_reference(double *d_in, double *d_weight, double *d_bias,
                                  const double *d_out, const double *in, const double *weight,
                                  size_t n, const nn_conv_shape *shape)
{
    size_t size = conv_out_size(shape, n), plane = size / (n * shape->out_channels);
    if (d_bias != NULL)
        for (size_t i = 0; i < size; i++)
            d_bias[i / plane % shape->out_channels] += d_out[i];
    if (d_in != NULL)
        memset(d_in, 0, n * shape->in_channels * shape->height * shape->width * sizeof *d_in);
    conv_arrays arrays = {.d_in = d_in, .d_weight = d_weight, .in = in, .weight = weight,
                          .d_out = d_out};
    conv_visit_terms(shape, n, backward_term, &arrays);
}

void nn_group_norm_forward_reference(double *out, const double *in, const double *gain,
                                     const double *bias, size_t n, const nn_norm_shape *shape)
{
    size_t per_group = shape->channels / shape->groups, m = per_group * shape->pixels;
    for (size_t g = 0; g < n * shape->groups; g++) {
        const double *x = in + g * m;
        double mean = 0.0, variance = 0.0;
        for (size_t i = 0; i < m; i++)
            mean += x[i] / (double)m;
        for (size_t i = 0; i < m; i++)
            variance += (x[i] - mean) * (x[i] - mean) / (double)m;
        for (size_t i = 0; i < m; i++) {
            size_t c = g % shape->groups * per_group + i / shape->pixels;
            out[g * m + i] = gain[c] * (x[i] - mean) / sqrt(variance + shape->eps) + bias[c];
        }
    }
}

void nn_upsample2_forward_reference(double *out, const double *in, size_t planes,
                                    size_t height, size_t width)
{
    for (size_t c = 0; c < planes; c++)
        for (size_t y = 0; y < 2 * height; y++)
            for (size_t x = 0; x < 2 * width; x++)
                out[(c * 2 * height + y) * 2 * width + x] =
                    in[(c * height + y / 2) * width + x / 2];
}

void nn_attention_forward_reference(double *out, const double *qkv, size_t n,
                                    const nn_attention_shape *shape)
{
    size_t c_all = shape->channels, p = shape->pixels, d = c_all / shape->heads;
    double *row = malloc(p * sizeof *row);
    for (size_t img = 0; img < n; img++) {
        const double *q = qkv + img * 3 * c_all * p, *k = q + c_all * p, *v = k + c_all * p;
        for (size_t h = 0; h < shape->heads; h++) {
            for (size_t i = 0; i < p; i++) {
                /* A[i, ·] = softmax_j(Σ_c q[c, i] k[c, j] / √d) */
                double max = -INFINITY, sum = 0.0;
                for (size_t j = 0; j < p; j++) {
                    row[j] = 0.0;
                    for (size_t c = h * d; c < (h + 1) * d; c++)
                        row[j] += q[c * p + i] * k[c * p + j] / sqrt((double)d);
                    max = fmax(max, row[j]);
                }
                for (size_t j = 0; j < p; j++)
                    sum += row[j] = exp(row[j] - max);
                /* O[c, i] = Σ_j A[i, j] v[c, j] */
                for (size_t c = h * d; c < (h + 1) * d; c++) {
                    double o = 0.0;
                    for (size_t j = 0; j < p; j++)
                        o += row[j] / sum * v[c * p + j];
                    out[(img * c_all + c) * p + i] = o;
                }
            }
        }
    }
    free(row);
}

/* One layer of the reference walk: y[n, out] from its source. */
static void reference_layer(const nn_layer *layer, const double *params, const double *src,
                            const double *second, const int32_t *labels, size_t n, double *y)
{
    const double *w = params + layer->weight, *b = params + layer->bias;
    size_t pixels = layer->height * layer->width;
    switch (layer->kind) {
    case NN_LAYER_LINEAR:
        nn_linear_forward_reference(y, src, w, b, n, layer->in, layer->out);
        break;
    case NN_LAYER_DENSE:
        nn_block_forward_reference(y, src, w, b, n, layer->in, layer->out, layer->activation,
                                   layer->residual);
        break;
    case NN_LAYER_CONV2D: {
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        nn_conv2d_forward_reference(y, src, w, b, n, &shape);
        break;
    }
    case NN_LAYER_GROUP_NORM: {
        nn_norm_shape shape = {layer->channels, pixels, layer->groups, layer->eps};
        nn_group_norm_forward_reference(y, src, w, b, n, &shape);
        if (layer->activate)
            for (size_t i = 0; i < n * layer->out; i++)
                y[i] = nn_activation_reference(DIFFUSE_ACTIVATION_SILU, y[i]);
        break;
    }
    case NN_LAYER_ATTENTION: {
        nn_attention_shape shape = {layer->channels, pixels, layer->heads};
        nn_attention_forward_reference(y, src, n, &shape);
        break;
    }
    case NN_LAYER_UPSAMPLE:
        nn_upsample2_forward_reference(y, src, n * layer->channels, layer->height, layer->width);
        break;
    case NN_LAYER_CONCAT:
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < layer->out; j++)
                y[i * layer->out + j] = j < layer->in
                                            ? src[i * layer->in + j]
                                            : second[i * (layer->out - layer->in) + j - layer->in];
        break;
    case NN_LAYER_DROPOUT:
        memcpy(y, src, n * layer->out * sizeof *y);
        break;
    case NN_LAYER_EMBEDDING:
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * layer->out, w + (size_t)labels[i] * layer->out,
                   layer->out * sizeof *y);
        break;
    }
}

void nn_layers_forward_reference(const nn_layer_list *list, const double *params,
                                 const double *x, const double *emb, const int32_t *labels,
                                 size_t n, double *out)
{
    double **outputs = calloc(list->count, sizeof *outputs);
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        outputs[k] = calloc(n * layer->out, sizeof **outputs);
        const double *src = layer->input == NN_FROM_DATA   ? x
                            : layer->input == NN_FROM_TIME ? emb
                            : layer->input >= 0            ? outputs[layer->input]
                                                           : NULL;
        const double *second = layer->concat >= 0 ? outputs[layer->concat] : NULL;
        reference_layer(layer, params, src, second, labels, n, outputs[k]);
        if (layer->add == NN_NO_LAYER)
            continue;
        const double *added = outputs[layer->add];
        size_t per = layer->add_per_channel ? layer->out / layer->out_channels : 1;
        for (size_t i = 0; i < n * layer->out; i++)
            outputs[k][i] += added[i / per];
    }
    memcpy(out, outputs[list->count - 1], n * list->layers[list->count - 1].out * sizeof *out);
    for (size_t k = 0; k < list->count; k++)
        free(outputs[k]);
    free(outputs);
}
