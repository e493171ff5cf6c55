/* A network as a list of layer descriptors (see layers.h). */
#include "nn/layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/init.h"
#include "util/philox.h"

diffuse_status nn_layers_create(diffuse_error *error, nn_layer_list *list, size_t capacity)
{
    memset(list, 0, sizeof *list);
    list->layers = calloc(capacity, sizeof *list->layers);
    if (list->layers == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu layers",
                            capacity);
    list->capacity = capacity;
    return DIFFUSE_OK;
}

void nn_layers_release(nn_layer_list *list)
{
    free(list->layers);
    memset(list, 0, sizeof *list);
}

nn_layer *nn_layers_add(nn_layer_list *list, nn_layer_kind kind, const char *name, size_t in,
                        size_t out, int input)
{
    nn_layer *layer = &list->layers[list->count++];
    memset(layer, 0, sizeof *layer);
    layer->kind = kind;
    snprintf(layer->name, sizeof layer->name, "%s", name);
    layer->in = in;
    layer->out = out;
    layer->input = input;
    layer->add = NN_NO_LAYER;
    layer->concat = NN_NO_LAYER;
    return layer;
}

/* One tensor "<layer>.<suffix>" of `rank` dimensions starting at `offset`. */
static void set_tensor(model_tensor *tensor, const nn_layer *layer, const char *suffix,
                       size_t offset, size_t rank, const size_t *shape)
{
    snprintf(tensor->name, sizeof tensor->name, "%s.%s", layer->name, suffix);
    tensor->offset = offset;
    tensor->rank = rank;
    for (size_t k = 0; k < MODEL_MAX_RANK; k++)
        tensor->shape[k] = k < rank ? shape[k] : 1;
}

static size_t tensor_size(const model_tensor *tensor)
{
    size_t size = 1;
    for (size_t k = 0; k < tensor->rank; k++)
        size *= tensor->shape[k];
    return size;
}

/* The tensors of `layer` in buffer order, the first at layer->weight;
 * returns how many. The one place that knows each kind's shapes. */
static size_t layer_tensors(const nn_layer *layer, model_tensor *tensors)
{
    switch (layer->kind) {
    case NN_LAYER_LINEAR:
    case NN_LAYER_DENSE: {
        /* weight [out, in] like PyTorch's nn.Linear, then bias [out] */
        const size_t weight[] = {layer->out, layer->in};
        set_tensor(&tensors[0], layer, "weight", layer->weight, 2, weight);
        set_tensor(&tensors[1], layer, "bias", layer->weight + tensor_size(&tensors[0]), 1,
                   &layer->out);
        return 2;
    }
    case NN_LAYER_CONV2D: {
        const size_t weight[] = {layer->out_channels, layer->channels, layer->kernel,
                                 layer->kernel};
        set_tensor(&tensors[0], layer, "weight", layer->weight, 4, weight);
        set_tensor(&tensors[1], layer, "bias", layer->weight + tensor_size(&tensors[0]), 1,
                   &layer->out_channels);
        return 2;
    }
    case NN_LAYER_GROUP_NORM:
        set_tensor(&tensors[0], layer, "weight", layer->weight, 1, &layer->channels);
        set_tensor(&tensors[1], layer, "bias", layer->weight + layer->channels, 1,
                   &layer->channels);
        return 2;
    case NN_LAYER_EMBEDDING: {
        const size_t weight[] = {layer->in, layer->out};
        set_tensor(&tensors[0], layer, "weight", layer->weight, 2, weight);
        return 1;
    }
    case NN_LAYER_ATTENTION:
    case NN_LAYER_UPSAMPLE:
    case NN_LAYER_CONCAT:
    case NN_LAYER_DROPOUT:
        return 0;
    }
    return 0;
}

size_t nn_layer_param_count(const nn_layer *layer)
{
    model_tensor tensors[NN_LAYER_MAX_TENSORS];
    size_t count = layer_tensors(layer, tensors), floats = 0;
    for (size_t i = 0; i < count; i++)
        floats += tensor_size(&tensors[i]);
    return floats;
}

nn_conv_shape nn_layer_conv_shape(const nn_layer *layer)
{
    nn_conv_shape shape = {layer->channels, layer->out_channels, layer->height, layer->width,
                           layer->kernel, layer->stride};
    return shape;
}

/* The features an image layer of this shape reads and writes, or false
 * when the shape itself is impossible. */
static bool image_sizes(const nn_layer *layer, size_t *in, size_t *out)
{
    size_t pixels = layer->height * layer->width, image = layer->channels * pixels;
    switch (layer->kind) {
    case NN_LAYER_CONV2D: {
        if (layer->kernel % 2 == 0 || layer->stride == 0 || layer->out_channels == 0)
            return false;
        nn_conv_shape shape = nn_layer_conv_shape(layer);
        *in = image;
        *out = layer->out_channels * nn_conv_out_pixels(&shape);
        return true;
    }
    case NN_LAYER_GROUP_NORM:
        *in = *out = image;
        return layer->groups > 0 && layer->channels % layer->groups == 0;
    case NN_LAYER_ATTENTION:
        *in = 3 * image;
        *out = image;
        return layer->heads > 0 && layer->channels % layer->heads == 0;
    case NN_LAYER_UPSAMPLE:
        *in = image;
        *out = 4 * image;
        return true;
    default:
        *in = layer->in;
        *out = layer->out;
        return true;
    }
}

/* Whether `index` names a layer before `self`. */
static bool is_earlier(int index, size_t self)
{
    return index >= 0 && (size_t)index < self;
}

/* The description of layer k is consistent with the layers before it. */
static diffuse_status check_layer(diffuse_error *error, const nn_layer_list *list, size_t k)
{
    const nn_layer *layer = &list->layers[k];
    const char *problem = NULL;
    size_t in, out;
    if (layer->in == 0 || layer->out == 0)
        problem = "has no features";
    else if (layer->input != NN_FROM_DATA && layer->input != NN_FROM_TIME &&
             layer->input != NN_FROM_LABELS && !is_earlier(layer->input, k))
        problem = "reads a layer that does not come before it";
    else if (layer->input >= 0 && list->layers[layer->input].out != layer->in)
        problem = "reads an output of another width";
    else if ((layer->input == NN_FROM_LABELS) != (layer->kind == NN_LAYER_EMBEDDING))
        problem = "reads labels but is no embedding, or is an embedding of something else";
    else if (layer->add != NN_NO_LAYER &&
             (!is_earlier(layer->add, k) ||
              list->layers[layer->add].out !=
                  (layer->add_per_channel ? layer->out_channels : layer->out)))
        problem = "adds an output that is not an earlier one of its width";
    else if ((layer->kind == NN_LAYER_CONCAT) !=
             (is_earlier(layer->concat, k) &&
              layer->out == layer->in + list->layers[layer->concat].out))
        problem = "concatenates what is not an earlier layer, or to the wrong width";
    else if (!image_sizes(layer, &in, &out) || in != layer->in || out != layer->out)
        problem = "has a shape that does not match its features";
    else if (layer->residual && (layer->kind != NN_LAYER_DENSE || layer->in != layer->out))
        problem = "has a skip connection but not a square dense layer";
    if (problem != NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "layer %zu (%s) %s", k,
                            layer->name, problem);
    return DIFFUSE_OK;
}

/* A layer depends on t alone when everything it reads does. */
static bool depends_on_time_only(const nn_layer_list *list, const nn_layer *layer)
{
    bool input = layer->input == NN_FROM_TIME ||
                 (layer->input >= 0 && list->layers[layer->input].per_timestep);
    return input && (layer->add == NN_NO_LAYER || list->layers[layer->add].per_timestep);
}

diffuse_status nn_layers_finish(diffuse_error *error, nn_layer_list *list)
{
    size_t offset = 0, tensor_count = 0;
    for (size_t k = 0; k < list->count; k++) {
        diffuse_status status = check_layer(error, list, k);
        if (status != DIFFUSE_OK)
            return status;
        nn_layer *layer = &list->layers[k];
        layer->per_timestep = depends_on_time_only(list, layer);
        /* the layer's tensors follow the previous layer's without a gap */
        model_tensor tensors[NN_LAYER_MAX_TENSORS];
        layer->weight = offset;
        size_t count = layer_tensors(layer, tensors);
        layer->bias = count > 1 ? tensors[1].offset : 0;
        offset += nn_layer_param_count(layer);
        tensor_count += count;
    }
    list->param_count = offset;
    list->tensor_count = tensor_count;
    return DIFFUSE_OK;
}

diffuse_status nn_layers_describe(diffuse_error *error, const nn_layer_list *list,
                                  model_tensor **tensors)
{
    model_tensor *table = calloc(list->tensor_count, sizeof *table);
    if (table == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a table of %zu tensors", list->tensor_count);
    size_t next = 0;
    for (size_t k = 0; k < list->count; k++)
        next += layer_tensors(&list->layers[k], table + next);
    *tensors = table;
    return DIFFUSE_OK;
}

/* Every tensor uniform on (−1/√fan_in, 1/√fan_in), fan_in = Π shape[1…]
 * of the first tensor (PyTorch's default for nn.Linear and nn.Conv2d,
 * weight and bias alike). */
static void init_fan_in(const model_tensor *tensors, size_t count, float *params,
                        uint64_t seed)
{
    size_t fan_in = tensor_size(&tensors[0]) / tensors[0].shape[0];
    double bound = 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < count; i++)
        nn_init_uniform(params, tensors[i].offset, tensor_size(&tensors[i]), bound, seed);
}

static void init_constant(const model_tensor *tensor, float value, float *params)
{
    for (size_t i = 0; i < tensor_size(tensor); i++)
        params[tensor->offset + i] = value;
}

void nn_layers_init_params(const nn_layer_list *list, float *params, uint64_t seed)
{
    for (size_t k = 0; k < list->count; k++) {
        model_tensor tensors[NN_LAYER_MAX_TENSORS];
        size_t count = layer_tensors(&list->layers[k], tensors);
        switch (list->layers[k].kind) {
        case NN_LAYER_LINEAR:
        case NN_LAYER_DENSE:
        case NN_LAYER_CONV2D:
            init_fan_in(tensors, count, params, seed);
            break;
        case NN_LAYER_GROUP_NORM:
            init_constant(&tensors[0], 1.0f, params);
            init_constant(&tensors[1], 0.0f, params);
            break;
        case NN_LAYER_EMBEDDING:
            philox_normal(seed, 1, tensors[0].offset, params + tensors[0].offset,
                          tensor_size(&tensors[0]));
            break;
        default:
            break;
        }
    }
}

/* The layer runs per batch row and reads an earlier layer's output. */
static bool reads_batch_activation(const nn_layer *layer)
{
    return layer->input >= 0 && !layer->per_timestep;
}

size_t nn_layers_kept_floats(const nn_layer_list *list)
{
    size_t floats = 0;
    for (size_t k = 0; k < list->count; k++)
        floats += reads_batch_activation(&list->layers[k]) ? list->layers[k].in : 0;
    return floats;
}

size_t nn_layers_widest_input(const nn_layer_list *list)
{
    size_t widest = 0;
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        if (layer->input >= 0 && layer->in > widest)
            widest = layer->in;
    }
    return widest;
}
