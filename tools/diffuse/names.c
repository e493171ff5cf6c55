/* Enum value names and option descriptions (see names.h). */
#include "names.h"

#include <string.h>

#define LIST(array)                                                                                \
    {                                                                                              \
        array, sizeof array / sizeof array[0]                                                      \
    }

static const char *const schedule_kinds[] = {"linear", "scaled_linear", "cosine", "sigmoid",
                                             "custom"};
static const char *const optimizer_kinds[] = {"adam", "adamw"};
const name_list SCHEDULE_KINDS = LIST(schedule_kinds);
const name_list OPTIMIZER_KINDS = LIST(optimizer_kinds);

static const char *const activations[] = {"silu", "gelu"};
static const char *const predictions[] = {"epsilon", "v", "x0"};
static const char *const decays[] = {"none", "cosine", "linear"};
static const char *const variances[] = {"beta", "posterior", "learned"};
static const char *const decoders[] = {"discrete", "continuous"};
static const char *const methods[] = {"ddpm", "ddim", "dpmpp"};
static const char *const spacings[] = {"leading", "trailing", "linspace", "karras"};

static const struct {
    const char *option;
    name_list values;
} enum_options[] = {
    {"activation", LIST(activations)}, {"prediction", LIST(predictions)},
    {"decay", LIST(decays)},           {"variance", LIST(variances)},
    {"method", LIST(methods)},         {"spacing", LIST(spacings)},
    {"decoder", LIST(decoders)},
};

name_list option_value_names(const char *option)
{
    for (size_t i = 0; i < sizeof enum_options / sizeof enum_options[0]; i++)
        if (strcmp(enum_options[i].option, option) == 0)
            return enum_options[i].values;
    return (name_list){NULL, 0};
}

int name_index(name_list list, const char *text)
{
    for (size_t i = 0; i < list.count; i++)
        if (strcmp(list.names[i], text) == 0)
            return (int)i;
    return -1;
}

/* One line each; the public headers have the full story. */
static const struct {
    const char *group, *option, *text;
} descriptions[] = {
    {"model", "hidden_width", "width H of every hidden layer (at least the data dimension)"},
    {"model", "hidden_layers", "hidden H->H blocks after the input layer"},
    {"model", "time_embed_dim", "size of the sinusoidal time embedding (even)"},
    {"model", "activation", "activation function"},
    {"model", "residual", "1: skip connections in the hidden blocks"},
    {"model", "seed", "seed of the weights' initialisation"},
    {"model", "prediction", "what the network predicts: the noise, v or x0"},
    {"model", "time_max_period", "longest period of the time embedding"},
    {"model", "image_channels", "image channels (set from --idx / a 4-d NPY)"},
    {"model", "image_height", "image height (set from --idx / a 3-d or 4-d NPY)"},
    {"model", "image_width", "image width (set from --idx / a 3-d or 4-d NPY)"},
    {"model", "base_channels", "channels of the first level (even)"},
    {"model", "levels", "resolutions (levels - 1 down-samplings)"},
    {"model", "level_mult_0", "channel multiplier of level 0"},
    {"model", "level_mult_1", "channel multiplier of level 1"},
    {"model", "level_mult_2", "channel multiplier of level 2"},
    {"model", "level_mult_3", "channel multiplier of level 3"},
    {"model", "level_mult_4", "channel multiplier of level 4"},
    {"model", "res_blocks", "ResBlocks per level on the way down"},
    {"model", "attention_levels", "bit mask: self-attention at level l if bit l is set"},
    {"model", "heads", "attention heads"},
    {"model", "dropout", "dropout rate inside the ResBlocks"},
    {"model", "groups", "GroupNorm groups"},
    {"model", "learn_variance", "1: the network also learns its reverse variance"},
    {"model", "classes", "classes of the label embedding (0: unconditional)"},
    {"schedule", "beta_start", "first beta"},
    {"schedule", "beta_end", "last beta"},
    {"schedule", "cosine_offset", "offset s of the cosine schedule"},
    {"schedule", "max_beta", "largest beta of the cosine schedule"},
    {"schedule", "sigmoid_range", "range R of the sigmoid's input"},
    {"schedule", "zero_terminal_snr", "1: rescale so that the last step is pure noise"},
    {"optimizer", "learning_rate", "learning rate"},
    {"optimizer", "beta1", "Adam's beta1 (first-moment decay)"},
    {"optimizer", "beta2", "Adam's beta2 (second-moment decay)"},
    {"optimizer", "epsilon", "Adam's epsilon"},
    {"optimizer", "weight_decay", "weight decay of the weight matrices"},
    {"optimizer", "clip_norm", "clip the gradient's global norm to this (0: off)"},
    {"optimizer", "ema_decay", "decay of the weights' moving average (0: no EMA)"},
    {"optimizer", "warmup_steps", "steps of linear learning-rate warm-up"},
    {"optimizer", "decay", "learning-rate decay after the warm-up"},
    {"optimizer", "decay_steps", "steps of the decay"},
    {"optimizer", "min_learning_rate", "learning rate at the end of the decay"},
    {"trainer", "batch_size", "rows per training step"},
    {"trainer", "seed", "seed of the noise, the timesteps and the data order"},
    {"trainer", "threads", "worker threads per step (0: OpenBLAS's threads)"},
    {"trainer", "label_dropout", "probability of training a row on the null class (CFG)"},
    {"trainer", "min_snr_gamma", "gamma of min-SNR-gamma loss weighting (0: off)"},
    {"trainer", "vlb_weight", "lambda of L_simple + lambda L_vlb (learned variance)"},
    {"trainer", "decoder", "L_vlb's decoder at t = 0: discrete (256 levels) or continuous"},
    {"sampler", "variance", "DDPM's reverse variance: beta, the posterior's or learned"},
    {"sampler", "clip_x0", "clip the predicted x0 to [-c, c] (0: off)"},
    {"sampler", "use_ema", "1: sample with the EMA weights"},
    {"sampler", "seed", "seed of the noise"},
    {"sampler", "threads", "worker threads (0: OpenBLAS's threads)"},
    {"sampler", "chunk_rows", "rows denoised together"},
    {"sampler", "method", "sampling method"},
    {"sampler", "steps", "timesteps in the list (0: all T)"},
    {"sampler", "spacing", "how the timesteps spread over [0, T)"},
    {"sampler", "eta", "DDIM's eta (0: deterministic)"},
    {"sampler", "final_alpha_one", "1: the last DDIM/DPM-Solver++ step goes to alpha_bar 1"},
    {"sampler", "lower_order_final", "1: DPM-Solver++'s last step first order (short lists)"},
    {"sampler", "threshold_percentile", "dynamic thresholding's percentile p (0: off)"},
    {"sampler", "threshold_max", "dynamic thresholding's largest scale"},
    {"sampler", "label", "class of every sample (-1: the null class, unconditional)"},
    {"sampler", "guidance_scale", "classifier-free guidance w (1: plain conditional, 0: none)"},
    {"sampler", "guidance_rescale", "guidance rescale phi (Lin et al.; 0: off)"},
    {"sampler", "classifier_scale", "classifier guidance scale s (with a classifier)"},
    {"sampler", "guidance_t_max", "classifier-free guidance only at t < m (0: every step)"},
};

const char *option_description(const char *group, const char *option)
{
    for (size_t i = 0; i < sizeof descriptions / sizeof descriptions[0]; i++)
        if (strcmp(descriptions[i].group, group) == 0 &&
            strcmp(descriptions[i].option, option) == 0)
            return descriptions[i].text;
    return "";
}
