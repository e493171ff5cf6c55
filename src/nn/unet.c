/* The U-Net as a layer list (see unet.h and include/diffuse/model.h). */
#include "nn/unet.h"

#include <stdio.h>
#include <stdlib.h>

#include "model/model_config.h"
#include "nn/executor.h"
#include "nn/layers.h"

#define UNET_NORM_EPS 1e-5f

typedef struct unet_state {
    nn_unet_shape shape;
    nn_layer_list layers;
    nn_executor executor;
} unet_state;

void nn_unet_shape_from_config(const diffuse_model_config *config, nn_unet_shape *shape)
{
    shape->channels = (size_t)model_config_int(config, DIFFUSE_MODEL_IMAGE_CHANNELS);
    shape->out_channels =
        shape->channels * (model_config_int(config, DIFFUSE_MODEL_LEARN_VARIANCE) ? 2 : 1);
    shape->height = (size_t)model_config_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT);
    shape->width = (size_t)model_config_int(config, DIFFUSE_MODEL_IMAGE_WIDTH);
    shape->base = (size_t)model_config_int(config, DIFFUSE_MODEL_BASE_CHANNELS);
    shape->levels = (size_t)model_config_int(config, DIFFUSE_MODEL_LEVELS);
    for (size_t l = 0; l < NN_UNET_MAX_LEVELS; l++)
        shape->mult[l] = (size_t)model_config_int(
            config, (diffuse_model_option)(DIFFUSE_MODEL_LEVEL_MULT_0 + (int)l));
    shape->res_blocks = (size_t)model_config_int(config, DIFFUSE_MODEL_RES_BLOCKS);
    shape->attention_levels = (unsigned)model_config_int(config, DIFFUSE_MODEL_ATTENTION_LEVELS);
    shape->heads = (size_t)model_config_int(config, DIFFUSE_MODEL_HEADS);
    shape->groups = (size_t)model_config_int(config, DIFFUSE_MODEL_GROUPS);
    shape->classes = (size_t)model_config_int(config, DIFFUSE_MODEL_CLASSES);
    shape->dropout = model_config_double(config, DIFFUSE_MODEL_DROPOUT);
    shape->max_period = model_config_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD);
}

/* The options that only make sense together. */
static diffuse_status check_shape(diffuse_error *error, const nn_unet_shape *s, size_t dim)
{
    size_t scale = (size_t)1 << (s->levels - 1);
    if (dim != s->channels * s->height * s->width)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "a U-Net over %zu×%zu×%zu images needs dim = %zu, not %zu",
                            s->channels, s->height, s->width,
                            s->channels * s->height * s->width, dim);
    if (s->height % scale != 0 || s->width % scale != 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "%zu levels halve the image %zu times: %zu×%zu is not a multiple "
                            "of %zu",
                            s->levels, s->levels - 1, s->height, s->width, scale);
    if (s->base % s->groups != 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "base channels %zu are not a multiple of %zu groups", s->base,
                            s->groups);
    if ((s->attention_levels >> s->levels) != 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "attention_levels = %u names a level beyond the %zu levels",
                            s->attention_levels, s->levels);
    for (size_t l = 0; l < s->levels; l++)
        if ((s->attention_levels >> l & 1u) && s->mult[l] * s->base % s->heads != 0)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "level %zu has %zu channels, not a multiple of %zu heads", l,
                                s->mult[l] * s->base, s->heads);
    return DIFFUSE_OK;
}

/* What the builder tracks while it appends layers. */
typedef struct builder {
    const nn_unet_shape *shape;
    nn_layer_list *list;
    int time;                   /* the time features e */
    int skips[64];              /* down-path outputs the up path concatenates */
    size_t skip_channels[64];
    size_t skip_count;
} builder;

/* name = a + b, truncated to `size` like every layer name (nn_layers_add);
 * the U-Net's longest, "output_blocks.15.2.skip_connection", fits. The
 * result is read so that the compiler knows truncation was considered. */
static void join_name(char *name, size_t size, const char *a, const char *b)
{
    if (snprintf(name, size, "%s%s", a, b) >= (int)size)
        name[size - 1] = '\0';
}

static int last(const builder *b)
{
    return (int)b->list->count - 1;
}

/* An image layer named prefix + suffix reading `input` ([C, H, W]). */
static nn_layer *add_image(builder *b, nn_layer_kind kind, const char *prefix, const char *suffix,
                           int input, size_t channels, size_t height, size_t width, size_t in,
                           size_t out)
{
    char name[sizeof b->list->layers->name];
    join_name(name, sizeof name, prefix, suffix);
    nn_layer *layer = nn_layers_add(b->list, kind, name, in, out, input);
    layer->channels = channels;
    layer->height = height;
    layer->width = width;
    return layer;
}

static nn_layer *add_conv(builder *b, const char *prefix, const char *suffix, int input,
                          size_t channels, size_t height, size_t width, size_t out_channels,
                          size_t kernel, size_t stride)
{
    size_t out_h = (height - 1) / stride + 1, out_w = (width - 1) / stride + 1;
    nn_layer *layer = add_image(b, NN_LAYER_CONV2D, prefix, suffix, input, channels, height,
                                width, channels * height * width, out_channels * out_h * out_w);
    layer->out_channels = out_channels;
    layer->kernel = kernel;
    layer->stride = stride;
    return layer;
}

static void add_norm(builder *b, const char *prefix, const char *suffix, int input,
                     size_t channels, size_t height, size_t width, bool activate)
{
    size_t size = channels * height * width;
    nn_layer *layer = add_image(b, NN_LAYER_GROUP_NORM, prefix, suffix, input, channels, height,
                                width, size, size);
    layer->groups = b->shape->groups;
    layer->eps = UNET_NORM_EPS;
    layer->activate = activate;
}

/* ResBlock(x; C_in → C_out) at H×W (model.h); returns its output. */
static int add_resblock(builder *b, const char *prefix, int input, size_t in_c, size_t out_c,
                        size_t h, size_t w)
{
    size_t pixels = h * w;
    add_norm(b, prefix, ".in_layers.0", input, in_c, h, w, true);
    int normed = last(b);
    /* the time projection W_e SiLU(e) + b_e, added per channel */
    char name[sizeof b->list->layers->name];
    join_name(name, sizeof name, prefix, ".emb_layers.1");
    nn_layer *emb =
        nn_layers_add(b->list, NN_LAYER_DENSE, name, 4 * b->shape->base, out_c, b->time);
    emb->activation = DIFFUSE_ACTIVATION_SILU;
    int projection = last(b);
    nn_layer *conv = add_conv(b, prefix, ".in_layers.2", normed, in_c, h, w, out_c, 3, 1);
    conv->add = projection;
    conv->add_per_channel = true;
    add_norm(b, prefix, ".out_layers.0", last(b), out_c, h, w, true);
    if (b->shape->dropout > 0.0)
        add_image(b, NN_LAYER_DROPOUT, prefix, ".out_layers.2", last(b), out_c, h, w,
                  out_c * pixels, out_c * pixels)
            ->rate = b->shape->dropout;
    int inner = last(b), skip = input;
    if (in_c != out_c) {
        add_conv(b, prefix, ".skip_connection", input, in_c, h, w, out_c, 1, 1);
        skip = last(b);
    }
    add_conv(b, prefix, ".out_layers.3", inner, out_c, h, w, out_c, 3, 1)->add = skip;
    return last(b);
}

/* Attention(x; C) at H×W: GN, QKV, the attention core, projection + x. */
static int add_attention(builder *b, const char *prefix, int input, size_t c, size_t h,
                         size_t w)
{
    size_t size = c * h * w;
    add_norm(b, prefix, ".norm", input, c, h, w, false);
    add_conv(b, prefix, ".qkv", last(b), c, h, w, 3 * c, 1, 1);
    add_image(b, NN_LAYER_ATTENTION, prefix, ".attention", last(b), c, h, w, 3 * size, size)
        ->heads = b->shape->heads;
    add_conv(b, prefix, ".proj_out", last(b), c, h, w, c, 1, 1)->add = input;
    return last(b);
}

static void push_skip(builder *b, int layer, size_t channels)
{
    b->skips[b->skip_count] = layer;
    b->skip_channels[b->skip_count++] = channels;
}

/* ResBlock [+ Attention] at level l as `prefix`.0 [and .1]. */
static int add_level_block(builder *b, const char *prefix, int input, size_t in_c,
                           size_t out_c, size_t l, size_t h, size_t w)
{
    char name[40];
    join_name(name, sizeof name, prefix, ".0");
    int out = add_resblock(b, name, input, in_c, out_c, h, w);
    if (b->shape->attention_levels >> l & 1u) {
        join_name(name, sizeof name, prefix, ".1");
        out = add_attention(b, name, out, out_c, h, w);
    }
    return out;
}

static void add_time_branch(builder *b)
{
    const nn_unet_shape *s = b->shape;
    size_t width = 4 * s->base;
    int label = NN_NO_LAYER;
    if (s->classes > 0) {
        /* K + 1 rows: the classes and the null class (model_classes) */
        nn_layers_add(b->list, NN_LAYER_EMBEDDING, "label_emb", s->classes + 1, width,
                      NN_FROM_LABELS);
        label = last(b);
    }
    /* e = W_2 SiLU(W_1 emb(t) + b_1) + b_2 [+ E_label[y]] */
    nn_layers_add(b->list, NN_LAYER_LINEAR, "time_embed.0", s->base, width, NN_FROM_TIME);
    nn_layer *second =
        nn_layers_add(b->list, NN_LAYER_DENSE, "time_embed.2", width, width, last(b));
    second->activation = DIFFUSE_ACTIVATION_SILU;
    second->add = label;
    b->time = last(b);
}

/* The down path; returns its output, with *channels, *h, *w its shape. */
static int add_down_path(builder *b, size_t *channels, size_t *h, size_t *w)
{
    const nn_unet_shape *s = b->shape;
    char prefix[40];
    add_conv(b, "input_blocks.0.0", "", NN_FROM_DATA, s->channels, *h, *w, s->base, 3, 1);
    int h_out = last(b);
    push_skip(b, h_out, s->base);
    size_t block = 1, c = s->base;
    for (size_t l = 0; l < s->levels; l++) {
        for (size_t r = 0; r < s->res_blocks; r++, block++) {
            snprintf(prefix, sizeof prefix, "input_blocks.%zu", block);
            h_out = add_level_block(b, prefix, h_out, c, s->mult[l] * s->base, l, *h, *w);
            c = s->mult[l] * s->base;
            push_skip(b, h_out, c);
        }
        if (l + 1 < s->levels) {
            snprintf(prefix, sizeof prefix, "input_blocks.%zu.0", block++);
            add_conv(b, prefix, ".op", h_out, c, *h, *w, c, 3, 2);
            *h /= 2;
            *w /= 2;
            h_out = last(b);
            push_skip(b, h_out, c);
        }
    }
    *channels = c;
    return h_out;
}

/* The up path from the middle block's output; returns its output. */
static int add_up_path(builder *b, int h_out, size_t c, size_t h, size_t w)
{
    const nn_unet_shape *s = b->shape;
    char prefix[40];
    size_t block = 0;
    for (size_t l = s->levels; l-- > 0;) {
        for (size_t r = 0; r <= s->res_blocks; r++, block++) {
            /* [h; skip] along channels */
            size_t skip_c = b->skip_channels[--b->skip_count], size = h * w;
            snprintf(prefix, sizeof prefix, "output_blocks.%zu", block);
            add_image(b, NN_LAYER_CONCAT, prefix, ".concat", h_out, c + skip_c, h, w, c * size,
                      (c + skip_c) * size)
                ->concat = b->skips[b->skip_count];
            h_out = add_level_block(b, prefix, last(b), c + skip_c, s->mult[l] * s->base, l, h,
                                    w);
            c = s->mult[l] * s->base;
            if (l > 0 && r == s->res_blocks) {
                bool attention = (s->attention_levels >> l & 1u) != 0;
                snprintf(prefix, sizeof prefix, "output_blocks.%zu.%d", block, attention ? 2 : 1);
                add_image(b, NN_LAYER_UPSAMPLE, prefix, ".upsample", h_out, c, h, w, c * h * w,
                          4 * c * h * w);
                h *= 2;
                w *= 2;
                add_conv(b, prefix, ".conv", last(b), c, h, w, c, 3, 1);
                h_out = last(b);
            }
        }
    }
    return h_out;
}

/* Layers a U-Net of this shape has at most. */
static size_t layer_bound(const nn_unet_shape *s)
{
    /* a ResBlock ≤ 8 layers, an attention block 4, a concatenation and an
     * up- or down-sampling ≤ 2 */
    return 8 + 2 * (8 + 4) + s->levels * (2 * s->res_blocks + 1) * (1 + 8 + 4 + 2);
}

static diffuse_status describe_unet(diffuse_error *error, const nn_unet_shape *s,
                                    nn_layer_list *list)
{
    diffuse_status status = nn_layers_create(error, list, layer_bound(s));
    if (status != DIFFUSE_OK)
        return status;
    builder b = {.shape = s, .list = list};
    add_time_branch(&b);
    size_t c, h = s->height, w = s->width;
    int x = add_down_path(&b, &c, &h, &w);
    x = add_resblock(&b, "middle_block.0", x, c, c, h, w);
    x = add_attention(&b, "middle_block.1", x, c, h, w);
    x = add_resblock(&b, "middle_block.2", x, c, c, h, w);
    x = add_up_path(&b, x, c, h, w);
    add_norm(&b, "out.0", "", x, s->base, s->height, s->width, true);
    add_conv(&b, "out.2", "", last(&b), s->base, s->height, s->width, s->out_channels, 3, 1);
    return nn_layers_finish(error, list);
}

static void unet_destroy(void *arch)
{
    unet_state *s = arch;
    if (s == NULL)
        return;
    nn_executor_release(&s->executor);
    nn_layers_release(&s->layers);
    free(s);
}

static diffuse_status unet_predict(diffuse_model *m, const float *params,
                                   const diffuse_model_call *call)
{
    unet_state *s = m->arch;
    return nn_executor_forward(&s->executor, &m->error, params, call, false);
}

static diffuse_status unet_forward(diffuse_model *m, const diffuse_model_call *call)
{
    unet_state *s = m->arch;
    return nn_executor_forward(&s->executor, &m->error, m->params, call, true);
}

static diffuse_status unet_backward(diffuse_model *m, const float *d_out, size_t n)
{
    unet_state *s = m->arch;
    return nn_executor_backward(&s->executor, m, d_out, n);
}

static const model_ops unet_ops = {
    .predict = unet_predict,
    .forward = unet_forward,
    .backward = unet_backward,
    .destroy = unet_destroy,
};

static diffuse_status unet_build(diffuse_model *m)
{
    unet_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a U-Net");
    nn_unet_shape_from_config(m->config, &s->shape);
    const nn_unet_shape *shape = &s->shape;
    uint64_t seed = (uint64_t)model_config_int(m->config, DIFFUSE_MODEL_SEED);
    diffuse_status status = check_shape(&m->error, shape, m->dim);
    if (status == DIFFUSE_OK)
        status = describe_unet(&m->error, shape, &s->layers);
    if (status == DIFFUSE_OK)
        status = nn_executor_init(&m->error, &s->executor, &s->layers, m->dim, shape->base,
                                  shape->max_period, shape->classes, seed);
    if (status == DIFFUSE_OK)
        status = nn_layers_describe(&m->error, &s->layers, &m->tensors);
    if (status != DIFFUSE_OK) {
        unet_destroy(s);
        return status;
    }
    m->ops = &unet_ops;
    m->arch = s;
    m->tensor_count = s->layers.tensor_count;
    m->param_count = s->layers.param_count;
    return DIFFUSE_OK;
}

const nn_layer_list *nn_unet_layers(const diffuse_model *m)
{
    const unet_state *s = m->arch;
    return &s->layers;
}

static void unet_init_params(diffuse_model *m)
{
    const unet_state *s = m->arch;
    nn_layers_init_params(&s->layers, m->params,
                          (uint64_t)model_config_int(m->config, DIFFUSE_MODEL_SEED));
}

const nn_architecture nn_unet_architecture = {
    .id = DIFFUSE_ARCH_UNET,
    .name = "unet",
    .build = unet_build,
    .init_params = unet_init_params,
};
