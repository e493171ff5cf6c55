/* A network as data (internal): a list of layer descriptors, from which
 * everything that is the same for every network is derived once:
 *
 *   - the parameter layout: each layer's tensors, in list order, packed
 *     without gaps into one buffer (param_count, offsets);
 *   - the named tensor table (model_tensor: "<layer name>.weight", …) that
 *     checkpoints, the optimizer and diffuse_model_tensor_info read;
 *   - the default initialisation, by layer kind (nn_layers_init_params);
 *   - the activation memory: which outputs training keeps for backward
 *     and how wide the scratch array must be (nn_layers_kept_floats,
 *     nn_layers_widest_input);
 *   - which layers depend on the timestep alone (per_timestep: run once
 *     per distinct t) and the backward order.
 *
 * A builder (one per architecture: nn/mlp.c) turns a configuration into a
 * list with nn_layers_add and nn_layers_finish; its forward and backward
 * then read each layer's sizes, inputs and parameter offsets from the list.
 * Inputs always name an EARLIER layer (nn_layers_finish checks it), so the
 * list is in topological order: forward visits it first to last, backward
 * last to first, and each layer's tensors are one gradient group
 * (model_grads_open) opened in that reverse order. docs/design.md, "Layers
 * as data", shows how a new kind is added. */
#ifndef DIFFUSE_SRC_NN_LAYERS_H
#define DIFFUSE_SRC_NN_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "model/model.h"
#include "nn/conv2d.h"
#include "util/error.h"

typedef enum nn_layer_kind {
    NN_LAYER_LINEAR, /* y = W x + b              (linear.h)  weight [out, in], bias [out] */
    NN_LAYER_DENSE,  /* y = W φ(x) + b [+ x]     (block.h)   weight [out, in], bias [out] */
    /* Image layers: the input is [channels, height, width] (in = C·H·W). */
    NN_LAYER_CONV2D,     /* conv2d.h: weight [C_out, C, k, k], bias [C_out] */
    NN_LAYER_GROUP_NORM, /* group_norm.h, then SiLU when `activate`: weight (γ) [C], bias [C] */
    NN_LAYER_ATTENTION,  /* attention.h: qkv [3C, P] → [C, P] (`channels` = C); no tensors */
    NN_LAYER_UPSAMPLE,   /* resample.h: [C, H, W] → [C, 2H, 2W]; no tensors */
    NN_LAYER_CONCAT,     /* [input; concat] along channels: out = in + concat's out; none */
    NN_LAYER_DROPOUT,    /* resample.h, rate `rate`, training only; no tensors */
    NN_LAYER_EMBEDDING,  /* y = E[label] from NN_FROM_LABELS: weight [classes = in, out] */
} nn_layer_kind;

/* Where a layer's input comes from, besides an earlier layer's index. */
#define NN_FROM_DATA (-1) /* the network input x_t */
#define NN_FROM_TIME (-2) /* the sinusoidal embedding emb(t) (time_embedding.h) */
#define NN_NO_LAYER (-3)  /* `add`, `concat`: none */
#define NN_FROM_LABELS (-4) /* the class labels of the call (EMBEDDING) */

/* Most tensors one layer has. */
#define NN_LAYER_MAX_TENSORS 2

typedef struct nn_layer {
    /* The description, set by the builder: */
    nn_layer_kind kind;
    char name[48];                 /* tensor prefix: "blocks.0" → "blocks.0.weight" */
    size_t in, out;                /* features in and out */
    int input;                     /* NN_FROM_DATA, NN_FROM_TIME or an earlier layer */
    int add;                       /* an earlier layer whose output is added to y */
    diffuse_activation activation; /* φ of a DENSE layer */
    bool residual;                 /* DENSE: the skip term + x (in == out) */
    bool add_per_channel;          /* `add` has one value per output channel, broadcast
                                    * over the pixels (a time projection) */
    /* Image layers: */
    size_t channels, height, width; /* the input image (ATTENTION: C of its output) */
    size_t out_channels;           /* CONV2D */
    size_t kernel, stride;         /* CONV2D */
    size_t groups;                 /* GROUP_NORM */
    float eps;                     /* GROUP_NORM */
    bool activate;                 /* GROUP_NORM: SiLU after the normalisation */
    size_t heads;                  /* ATTENTION */
    double rate;                   /* DROPOUT */
    int concat;                    /* CONCAT: the earlier layer appended */
    /* Derived by nn_layers_finish: */
    size_t weight, bias;           /* offsets (floats) of its first and second tensor */
    bool per_timestep;             /* its value depends on t alone */
} nn_layer;

typedef struct nn_layer_list {
    nn_layer *layers;
    size_t count, capacity;
    size_t param_count;  /* derived: floats of every tensor */
    size_t tensor_count; /* derived */
} nn_layer_list;

/* An empty list with room for `capacity` layers. NO_MEMORY. */
diffuse_status nn_layers_create(diffuse_error *error, nn_layer_list *list, size_t capacity);
void nn_layers_release(nn_layer_list *list);

/* Appends a layer of `kind` named `name` (truncated to fit) reading `input`,
 * with nothing added or concatenated, no activation and no skip; returns
 * it for the builder to set the other fields (an image layer: its shape).
 * The list must have room (its capacity is the builder's count). */
nn_layer *nn_layers_add(nn_layer_list *list, nn_layer_kind kind, const char *name, size_t in,
                        size_t out, int input);

/* Checks the description (inputs name earlier layers, sizes agree, a skip
 * has in == out, an image layer's in and out match its shape) and derives
 * the layout and per_timestep. A failure is a builder's bug or an
 * inconsistent configuration: INVALID_ARGUMENT. */
diffuse_status nn_layers_finish(diffuse_error *error, nn_layer_list *list);

/* Floats of `layer`'s tensors in the buffer (its gradient group's size). */
size_t nn_layer_param_count(const nn_layer *layer);

/* The named tensor table of a finished list, in buffer order: *tensors
 * (malloc'd, the caller frees it) gets list->tensor_count entries. */
diffuse_status nn_layers_describe(diffuse_error *error, const nn_layer_list *list,
                                  model_tensor **tensors);

/* The default initial values, by kind: LINEAR and DENSE as PyTorch's
 * nn.Linear, every weight and bias uniform on (−1/√fan_in, 1/√fan_in) with
 * fan_in = the product of the weight's shape after its first dimension
 * (in features; C_in·k·k for a convolution kernel); GROUP_NORM γ = 1,
 * β = 0; EMBEDDING N(0, 1) like nn.Embedding (Philox normal value i of
 * stream (seed, 1)). Parameter i takes the
 * Philox uniform value i of stream (seed, 0) (init.h). */
void nn_layers_init_params(const nn_layer_list *list, float *params, uint64_t seed);

/* Floats per batch row that training keeps for backward: the input of
 * every layer that reads an earlier layer's output (backward needs it, or
 * recomputes φ of it), summed over the layers that run per row. */
size_t nn_layers_kept_floats(const nn_layer_list *list);

/* The widest input of a layer that reads an earlier layer: the width of
 * the scratch array that holds φ(input) or a gradient meanwhile. */
size_t nn_layers_widest_input(const nn_layer_list *list);

/* The convolution shape of a CONV2D layer. */
nn_conv_shape nn_layer_conv_shape(const nn_layer *layer);

#endif
