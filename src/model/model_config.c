/* The model configuration handle: generic typed options over one table. */
#include "model/model_config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/architecture.h"
#include "util/option_table.h"

#define ARCH_BIT(arch) (1u << (arch))
#define NETWORKS (ARCH_BIT(DIFFUSE_ARCH_MLP) | ARCH_BIT(DIFFUSE_ARCH_UNET))
#define UNET ARCH_BIT(DIFFUSE_ARCH_UNET)
#define ALL_ARCHITECTURES (NETWORKS | ARCH_BIT(DIFFUSE_ARCH_CALLBACK))

/* Seeds go through a double; 2^53 − 1 is the largest that stays exact. */
#define MAX_SEED 9007199254740991.0

/* Names, types, bounds and defaults, indexed by diffuse_model_option. */
static const option_spec option_specs[MODEL_OPTION_COUNT] = {
    [DIFFUSE_MODEL_HIDDEN_WIDTH] = {"hidden_width", false, 1, 65536, 128},
    [DIFFUSE_MODEL_HIDDEN_LAYERS] = {"hidden_layers", false, 0, 256, 3},
    [DIFFUSE_MODEL_TIME_EMBED_DIM] = {"time_embed_dim", false, 2, 65536, 64},
    [DIFFUSE_MODEL_ACTIVATION] = {"activation", false, DIFFUSE_ACTIVATION_SILU,
                                  DIFFUSE_ACTIVATION_GELU, DIFFUSE_ACTIVATION_SILU},
    [DIFFUSE_MODEL_RESIDUAL] = {"residual", false, 0, 1, 1},
    [DIFFUSE_MODEL_SEED] = {"seed", false, 0, MAX_SEED, 0},
    [DIFFUSE_MODEL_PREDICTION] = {"prediction", false, DIFFUSE_PREDICT_EPSILON,
                                  DIFFUSE_PREDICT_X0, DIFFUSE_PREDICT_EPSILON},
    [DIFFUSE_MODEL_TIME_MAX_PERIOD] = {"time_max_period", true, 1.0, 1e9, 10000.0},
    [DIFFUSE_MODEL_IMAGE_CHANNELS] = {"image_channels", false, 1, 256, 1},
    [DIFFUSE_MODEL_IMAGE_HEIGHT] = {"image_height", false, 1, 4096, 28},
    [DIFFUSE_MODEL_IMAGE_WIDTH] = {"image_width", false, 1, 4096, 28},
    [DIFFUSE_MODEL_BASE_CHANNELS] = {"base_channels", false, 2, 4096, 32},
    [DIFFUSE_MODEL_LEVELS] = {"levels", false, 1, 5, 3},
    [DIFFUSE_MODEL_LEVEL_MULT_0] = {"level_mult_0", false, 1, 64, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_1] = {"level_mult_1", false, 1, 64, 2},
    [DIFFUSE_MODEL_LEVEL_MULT_2] = {"level_mult_2", false, 1, 64, 2},
    [DIFFUSE_MODEL_LEVEL_MULT_3] = {"level_mult_3", false, 1, 64, 2},
    [DIFFUSE_MODEL_LEVEL_MULT_4] = {"level_mult_4", false, 1, 64, 2},
    [DIFFUSE_MODEL_RES_BLOCKS] = {"res_blocks", false, 1, 16, 2},
    [DIFFUSE_MODEL_ATTENTION_LEVELS] = {"attention_levels", false, 0, 31, 4},
    [DIFFUSE_MODEL_HEADS] = {"heads", false, 1, 64, 4},
    [DIFFUSE_MODEL_DROPOUT] = {"dropout", true, 0.0, 0.99, 0.0},
    [DIFFUSE_MODEL_GROUPS] = {"groups", false, 1, 1024, 8},
    [DIFFUSE_MODEL_CLASSES] = {"classes", false, 0, 1048576, 0},
    [DIFFUSE_MODEL_LEARN_VARIANCE] = {"learn_variance", false, 0, 1, 0},
};

static const option_table model_options = {"model", option_specs, MODEL_OPTION_COUNT};

/* What the generic table cannot say: which architectures take an option,
 * and a granularity (the time embedding is half cosines, half sines). */
typedef struct option_scope {
    unsigned architectures; /* ARCH_BIT mask */
    int64_t multiple_of;    /* int options: the value must be a multiple of this */
} option_scope;

static const option_scope option_scopes[MODEL_OPTION_COUNT] = {
    [DIFFUSE_MODEL_HIDDEN_WIDTH] = {ARCH_BIT(DIFFUSE_ARCH_MLP), 1},
    [DIFFUSE_MODEL_HIDDEN_LAYERS] = {ARCH_BIT(DIFFUSE_ARCH_MLP), 1},
    [DIFFUSE_MODEL_TIME_EMBED_DIM] = {ARCH_BIT(DIFFUSE_ARCH_MLP), 2},
    [DIFFUSE_MODEL_ACTIVATION] = {ARCH_BIT(DIFFUSE_ARCH_MLP), 1},
    [DIFFUSE_MODEL_RESIDUAL] = {ARCH_BIT(DIFFUSE_ARCH_MLP), 1},
    [DIFFUSE_MODEL_SEED] = {NETWORKS, 1},
    [DIFFUSE_MODEL_PREDICTION] = {ALL_ARCHITECTURES, 1},
    [DIFFUSE_MODEL_TIME_MAX_PERIOD] = {NETWORKS, 1},
    [DIFFUSE_MODEL_IMAGE_CHANNELS] = {UNET, 1},
    [DIFFUSE_MODEL_IMAGE_HEIGHT] = {UNET, 1},
    [DIFFUSE_MODEL_IMAGE_WIDTH] = {UNET, 1},
    [DIFFUSE_MODEL_BASE_CHANNELS] = {UNET, 2},
    [DIFFUSE_MODEL_LEVELS] = {UNET, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_0] = {UNET, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_1] = {UNET, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_2] = {UNET, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_3] = {UNET, 1},
    [DIFFUSE_MODEL_LEVEL_MULT_4] = {UNET, 1},
    [DIFFUSE_MODEL_RES_BLOCKS] = {UNET, 1},
    [DIFFUSE_MODEL_ATTENTION_LEVELS] = {UNET, 1},
    [DIFFUSE_MODEL_HEADS] = {UNET, 1},
    [DIFFUSE_MODEL_DROPOUT] = {UNET, 1},
    [DIFFUSE_MODEL_GROUPS] = {UNET, 1},
    [DIFFUSE_MODEL_CLASSES] = {NETWORKS, 1},
    [DIFFUSE_MODEL_LEARN_VARIANCE] = {NETWORKS, 1},
};

/* The handle is heap-allocated and used by one thread at a time, so a
 * failure of a const getter may still be recorded in it. */
static diffuse_error *config_error(const diffuse_model_config *config)
{
    return config != NULL ? (diffuse_error *)&config->error : NULL;
}

static const nn_architecture *find_architecture(diffuse_error *error, int arch)
{
    const nn_architecture *found = nn_architecture_find(arch);
    if (found == NULL)
        diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown model architecture %d",
                     arch);
    return found;
}

static bool applies(diffuse_architecture arch, int option)
{
    return (option_scopes[option].architectures & ARCH_BIT(arch)) != 0;
}

/* The spec of `option` if it exists, has the wanted type and applies to
 * `arch`; otherwise the failure, recorded in `error`. */
static diffuse_status find_option(diffuse_error *error, diffuse_architecture arch, int option,
                                  bool want_double, const option_spec **spec)
{
    const nn_architecture *architecture = find_architecture(error, (int)arch);
    if (architecture == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *spec = option_find(error, &model_options, option, want_double);
    if (*spec == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    if (!applies(arch, option))
        return diffuse_fail(error, DIFFUSE_ERROR_UNSUPPORTED,
                            "model option %s does not apply to the %s architecture",
                            (*spec)->name, architecture->name);
    return DIFFUSE_OK;
}

int64_t model_config_int(const diffuse_model_config *config, diffuse_model_option option)
{
    return (int64_t)config->values[option];
}

double model_config_double(const diffuse_model_config *config, diffuse_model_option option)
{
    return config->values[option];
}

diffuse_status model_config_new(diffuse_error *error, diffuse_model_config **out,
                                diffuse_architecture arch, size_t dim)
{
    if (find_architecture(error, (int)arch) == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    if (dim == 0 || dim > DIFFUSE_MODEL_MAX_DIM)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "model dimension %zu is outside [1, %zu]", dim,
                            DIFFUSE_MODEL_MAX_DIM);
    diffuse_model_config *config = calloc(1, sizeof *config);
    if (config == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a model config");
    config->architecture = arch;
    config->dim = dim;
    option_defaults(&model_options, config->values);
    *out = config;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_config_create(diffuse_model_config **out,
                                                       diffuse_architecture arch, size_t dim)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    return model_config_new(NULL, out, arch, dim);
}

DIFFUSE_API diffuse_status diffuse_model_config_copy(diffuse_model_config **out,
                                                     const diffuse_model_config *config)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    status = diffuse_check_pointer(NULL, config, "config");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_model_config *copy = malloc(sizeof *copy);
    if (copy == NULL)
        return diffuse_fail(config_error(config), DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a model config");
    memcpy(copy, config, sizeof *copy);
    copy->error.message[0] = '\0';
    *out = copy;
    return DIFFUSE_OK;
}

DIFFUSE_API void diffuse_model_config_free(diffuse_model_config *config)
{
    free(config);
}

DIFFUSE_API const char *diffuse_model_config_last_error(const diffuse_model_config *config)
{
    return diffuse_error_message(config != NULL ? &config->error : NULL);
}

DIFFUSE_API diffuse_status diffuse_model_config_architecture(const diffuse_model_config *config,
                                                             diffuse_architecture *arch)
{
    diffuse_status status = diffuse_check_pointer(NULL, config, "config");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(config_error(config), arch, "arch");
    if (status == DIFFUSE_OK)
        *arch = config->architecture;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_dim(const diffuse_model_config *config,
                                                    size_t *dim)
{
    diffuse_status status = diffuse_check_pointer(NULL, config, "config");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(config_error(config), dim, "dim");
    if (status == DIFFUSE_OK)
        *dim = config->dim;
    return status;
}

/* Validates and stores one value (int options arrive also as double). */
static diffuse_status set_value(diffuse_model_config *config, int option, double value,
                                bool is_double, int64_t int_value)
{
    if (config == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "config must not be NULL");
    const option_spec *spec;
    diffuse_status status = find_option(&config->error, config->architecture, option, is_double,
                                        &spec);
    if (status != DIFFUSE_OK)
        return status;
    int64_t multiple = option_scopes[option].multiple_of;
    bool in_bounds = value >= spec->min && value <= spec->max;
    if (!is_double && in_bounds && int_value % multiple != 0)
        return diffuse_fail(&config->error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "model option %s = %lld must be a multiple of %lld", spec->name,
                            (long long)int_value, (long long)multiple);
    if (!is_double) /* exact in the message */
        return option_set_int(&config->error, &model_options, config->values, option, int_value);
    return option_set(&config->error, &model_options, config->values, option, value, true);
}

/* Checks the arguments of a getter. */
static diffuse_status get_value(const diffuse_model_config *config, int option, bool is_double,
                                const void *value)
{
    diffuse_status status = diffuse_check_pointer(NULL, config, "config");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(config_error(config), value, "value");
    if (status != DIFFUSE_OK)
        return status;
    const option_spec *spec;
    return find_option(config_error(config), config->architecture, option, is_double, &spec);
}

DIFFUSE_API diffuse_status diffuse_model_config_set_int(diffuse_model_config *config,
                                                        diffuse_model_option option,
                                                        int64_t value)
{
    return set_value(config, (int)option, (double)value, false, value);
}

DIFFUSE_API diffuse_status diffuse_model_config_get_int(const diffuse_model_config *config,
                                                        diffuse_model_option option,
                                                        int64_t *value)
{
    diffuse_status status = get_value(config, (int)option, false, value);
    if (status == DIFFUSE_OK)
        *value = model_config_int(config, option);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_set_double(diffuse_model_config *config,
                                                           diffuse_model_option option,
                                                           double value)
{
    return set_value(config, (int)option, value, true, 0);
}

DIFFUSE_API diffuse_status diffuse_model_config_get_double(const diffuse_model_config *config,
                                                           diffuse_model_option option,
                                                           double *value)
{
    diffuse_status status = get_value(config, (int)option, true, value);
    if (status == DIFFUSE_OK)
        *value = model_config_double(config, option);
    return status;
}

static diffuse_status bounds(diffuse_architecture arch, int option, bool is_double,
                             const void *min, const void *max, double *low, double *high)
{
    diffuse_status status = diffuse_check_pointer(NULL, min, "min");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, max, "max");
    if (status != DIFFUSE_OK)
        return status;
    const option_spec *spec;
    status = find_option(NULL, arch, option, is_double, &spec);
    if (status != DIFFUSE_OK)
        return status;
    *low = spec->min;
    *high = spec->max;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_config_int_bounds(diffuse_architecture arch,
                                                           diffuse_model_option option,
                                                           int64_t *min, int64_t *max)
{
    double low, high;
    diffuse_status status = bounds(arch, (int)option, false, min, max, &low, &high);
    if (status == DIFFUSE_OK) {
        *min = (int64_t)low;
        *max = (int64_t)high;
    }
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_double_bounds(diffuse_architecture arch,
                                                              diffuse_model_option option,
                                                              double *min, double *max)
{
    double low, high;
    diffuse_status status = bounds(arch, (int)option, true, min, max, &low, &high);
    if (status == DIFFUSE_OK) {
        *min = low;
        *max = high;
    }
    return status;
}

/* The options of `arch` as an option_table mask (bit k: option k applies). */
static diffuse_status architecture_options(diffuse_architecture arch, uint32_t *mask)
{
    if (find_architecture(NULL, (int)arch) == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *mask = 0;
    for (int option = 0; option < MODEL_OPTION_COUNT; option++)
        if (applies(arch, option))
            *mask |= OPTION_BIT(option);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_config_option_count(diffuse_architecture arch,
                                                             size_t *count)
{
    uint32_t mask;
    diffuse_status status = diffuse_check_pointer(NULL, count, "count");
    if (status == DIFFUSE_OK)
        status = architecture_options(arch, &mask);
    if (status == DIFFUSE_OK)
        status = option_count(&model_options, mask, count);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_option_info(diffuse_architecture arch,
                                                            size_t index,
                                                            diffuse_option_info *info)
{
    uint32_t mask;
    diffuse_status status = architecture_options(arch, &mask);
    if (status == DIFFUSE_OK)
        status = option_info(&model_options, mask, NULL, index, info);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_option_at(diffuse_architecture arch, size_t index,
                                                          diffuse_model_option *option,
                                                          int *is_double, const char **name)
{
    diffuse_status status = diffuse_check_pointer(NULL, option, "option");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, is_double, "is_double");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, name, "name");
    diffuse_option_info info = {.size = sizeof info};
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_option_info(arch, index, &info);
    if (status == DIFFUSE_OK) {
        *option = (diffuse_model_option)info.option;
        *is_double = info.is_double;
        *name = info.name;
    }
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_config_find_option(diffuse_architecture arch,
                                                            const char *name,
                                                            diffuse_model_option *option,
                                                            int *is_double)
{
    diffuse_status status = diffuse_check_pointer(NULL, name, "name");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, option, "option");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, is_double, "is_double");
    if (status != DIFFUSE_OK)
        return status;
    const nn_architecture *architecture = find_architecture(NULL, (int)arch);
    if (architecture == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    for (int candidate = 0; candidate < MODEL_OPTION_COUNT; candidate++) {
        if (applies(arch, candidate) && strcmp(option_specs[candidate].name, name) == 0) {
            *option = (diffuse_model_option)candidate;
            *is_double = option_specs[candidate].is_double;
            return DIFFUSE_OK;
        }
    }
    return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                        "the %s architecture has no option named \"%s\"", architecture->name,
                        name);
}

DIFFUSE_API diffuse_status diffuse_model_architecture_name(diffuse_architecture arch,
                                                           const char **name)
{
    diffuse_status status = diffuse_check_pointer(NULL, name, "name");
    if (status != DIFFUSE_OK)
        return status;
    const nn_architecture *architecture = find_architecture(NULL, (int)arch);
    if (architecture == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *name = architecture->name;
    return DIFFUSE_OK;
}
