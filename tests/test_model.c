/* The model and configuration handles: options and their bounds, bad
 * input to every public function, parameters and their layout, seeded
 * initialisation, prediction and callback models. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "nn/mlp.h"
#include "nn_reference.h"
#include "test_support.h"

/* The options 0 … 7 (the MLP's and the shared ones, before the U-Net's),
 * how many apply to the MLP (those, classes and learn_variance), and one
 * past the last option. */
#define FIRST_OPTIONS 8
#define MLP_OPTION_COUNT 10
#define UNKNOWN_OPTION 25

static diffuse_model_config *mlp_config(size_t dim)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, dim), DIFFUSE_OK);
    return config;
}

/* A small MLP (d = 2, H = 16, L = 2, E = 8) with the given seed. */
static diffuse_model *small_model(int64_t seed)
{
    diffuse_model_config *config = mlp_config(2);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 2), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 8), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, seed), 0);
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

static size_t param_count(const diffuse_model *m)
{
    size_t count;
    ck_assert_int_eq(diffuse_model_param_count(m, &count), DIFFUSE_OK);
    return count;
}

/* ---- configuration ----------------------------------------------------- */

START_TEST(config_create_rejects_bad_arguments)
{
    diffuse_model_config *config = (diffuse_model_config *)&config;
    ck_assert_int_eq(diffuse_model_config_create(NULL, DIFFUSE_ARCH_MLP, 2),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_create(&config, (diffuse_architecture)7, 2),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(config);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "architecture"));
    ck_assert_int_eq(diffuse_model_config_create(&config, (diffuse_architecture)-1, 2),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP,
                                                 DIFFUSE_MODEL_MAX_DIM + 1),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_null(config);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIFFUSE_MODEL_MAX_DIM),
                     DIFFUSE_OK);
    diffuse_model_config_free(config);
    diffuse_model_config_free(NULL);
    ck_assert_str_eq(diffuse_model_config_last_error(NULL), "invalid handle (NULL)");

    diffuse_model_config *copy = (diffuse_model_config *)&copy;
    ck_assert_int_eq(diffuse_model_config_copy(&copy, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(copy);
    ck_assert_int_eq(diffuse_model_config_copy(NULL, copy), DIFFUSE_ERROR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(config_defaults_and_getters)
{
    diffuse_model_config *config = mlp_config(5);
    diffuse_architecture arch;
    size_t dim;
    ck_assert_int_eq(diffuse_model_config_architecture(config, &arch), DIFFUSE_OK);
    ck_assert_int_eq(arch, DIFFUSE_ARCH_MLP);
    ck_assert_int_eq(diffuse_model_config_dim(config, &dim), DIFFUSE_OK);
    ck_assert_uint_eq(dim, 5);
    ck_assert_int_eq(diffuse_model_config_architecture(NULL, &arch),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_architecture(config, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_dim(NULL, &dim), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_dim(config, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);

    static const struct {
        diffuse_model_option option;
        int64_t value;
    } int_defaults[] = {
        {DIFFUSE_MODEL_HIDDEN_WIDTH, 128},
        {DIFFUSE_MODEL_HIDDEN_LAYERS, 3},
        {DIFFUSE_MODEL_TIME_EMBED_DIM, 64},
        {DIFFUSE_MODEL_ACTIVATION, DIFFUSE_ACTIVATION_SILU},
        {DIFFUSE_MODEL_RESIDUAL, 1},
        {DIFFUSE_MODEL_SEED, 0},
        {DIFFUSE_MODEL_PREDICTION, DIFFUSE_PREDICT_EPSILON},
    };
    for (size_t i = 0; i < sizeof int_defaults / sizeof int_defaults[0]; i++) {
        int64_t value = -1;
        ck_assert_int_eq(diffuse_model_config_get_int(config, int_defaults[i].option, &value),
                         DIFFUSE_OK);
        ck_assert_int_eq(value, int_defaults[i].value);
    }
    double period;
    ck_assert_int_eq(
        diffuse_model_config_get_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, &period),
        DIFFUSE_OK);
    ck_assert_double_eq(period, 10000.0);

    int64_t value;
    ck_assert_int_eq(diffuse_model_config_get_int(NULL, DIFFUSE_MODEL_SEED, &value),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_SEED, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_get_int(config, (diffuse_model_option)99, &value),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, &value),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_config_last_error(config), "double"));
    ck_assert_int_eq(diffuse_model_config_get_double(config, DIFFUSE_MODEL_SEED, &period),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_get_double(NULL, DIFFUSE_MODEL_SEED, &period),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(
        diffuse_model_config_get_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, NULL),
        DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_model_config_free(config);
}
END_TEST

START_TEST(config_setters_check_bounds)
{
    diffuse_model_config *config = mlp_config(2);
    for (int option = 0; option < FIRST_OPTIONS; option++) {
        int64_t min, max, before, after;
        double dmin, dmax;
        if (option == DIFFUSE_MODEL_TIME_MAX_PERIOD) {
            ck_assert_int_eq(diffuse_model_config_double_bounds(DIFFUSE_ARCH_MLP, option, &dmin,
                                                                &dmax),
                             DIFFUSE_OK);
            ck_assert_double_eq(dmin, 1.0);
            ck_assert_double_eq(dmax, 1e9);
            ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_MLP, option, &min,
                                                             &max),
                             DIFFUSE_ERROR_INVALID_ARGUMENT);
            ck_assert_int_eq(diffuse_model_config_set_double(config, option, 0.5),
                             DIFFUSE_ERROR_OUT_OF_RANGE);
            ck_assert_int_eq(diffuse_model_config_set_double(config, option, 2e9),
                             DIFFUSE_ERROR_OUT_OF_RANGE);
            ck_assert_int_eq(diffuse_model_config_set_double(config, option, NAN),
                             DIFFUSE_ERROR_NUMERIC);
            ck_assert_int_eq(diffuse_model_config_set_double(config, option, INFINITY),
                             DIFFUSE_ERROR_NUMERIC);
            ck_assert_int_eq(diffuse_model_config_set_int(config, option, 100),
                             DIFFUSE_ERROR_INVALID_ARGUMENT);
            ck_assert_int_eq(diffuse_model_config_set_double(config, option, 1.0), DIFFUSE_OK);
            ck_assert_int_eq(diffuse_model_config_get_double(config, option, &dmin), DIFFUSE_OK);
            ck_assert_double_eq(dmin, 1.0);
            continue;
        }
        ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_MLP, option, &min, &max),
                         DIFFUSE_OK);
        ck_assert_int_lt(min, max);
        ck_assert_int_eq(diffuse_model_config_double_bounds(DIFFUSE_ARCH_MLP, option, &dmin,
                                                            &dmax),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_model_config_get_int(config, option, &before), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, min - 1),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, max + 1),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, INT64_MIN),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, INT64_MAX),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_model_config_set_double(config, option, (double)min),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_model_config_get_int(config, option, &after), DIFFUSE_OK);
        ck_assert_int_eq(after, before); /* failed sets change nothing */
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, max), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_model_config_get_int(config, option, &after), DIFFUSE_OK);
        ck_assert_int_eq(after, max);
        ck_assert_int_eq(diffuse_model_config_set_int(config, option, min), DIFFUSE_OK);
    }
    /* the seed keeps every value up to 2^53 − 1 exactly */
    int64_t seed;
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED,
                                                  (INT64_C(1) << 53) - 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_SEED, &seed), DIFFUSE_OK);
    ck_assert_int_eq(seed, (INT64_C(1) << 53) - 1);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, INT64_C(1) << 53),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    /* the time embedding is half cosines, half sines */
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 31),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_model_config_last_error(config), "multiple of 2"));
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 32),
                     DIFFUSE_OK);
    /* unknown options, NULL handles */
    ck_assert_int_eq(diffuse_model_config_set_int(config, (diffuse_model_option)UNKNOWN_OPTION, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_set_int(config, (diffuse_model_option)-1, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_set_int(NULL, DIFFUSE_MODEL_SEED, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_set_double(NULL, DIFFUSE_MODEL_TIME_MAX_PERIOD, 10.0),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    int64_t min, max;
    double dmin, dmax;
    ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_MLP, DIFFUSE_MODEL_SEED, NULL,
                                                     &max),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_MLP, DIFFUSE_MODEL_SEED, &min,
                                                     NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_int_bounds((diffuse_architecture)9, DIFFUSE_MODEL_SEED,
                                                     &min, &max),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_MLP, (diffuse_model_option)42,
                                                     &min, &max),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_double_bounds(DIFFUSE_ARCH_MLP,
                                                        DIFFUSE_MODEL_TIME_MAX_PERIOD, NULL,
                                                        &dmax),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_double_bounds(DIFFUSE_ARCH_MLP,
                                                        DIFFUSE_MODEL_TIME_MAX_PERIOD, &dmin,
                                                        NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_model_config_free(config);
}
END_TEST

START_TEST(config_options_follow_the_architecture)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_CALLBACK, 3), DIFFUSE_OK);
    int64_t value;
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 64),
                     DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(diffuse_model_config_last_error(config), "callback"));
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, &value),
                     DIFFUSE_ERROR_UNSUPPORTED);
    int64_t min, max;
    ck_assert_int_eq(diffuse_model_config_int_bounds(DIFFUSE_ARCH_CALLBACK,
                                                     DIFFUSE_MODEL_HIDDEN_WIDTH, &min, &max),
                     DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION,
                                                  DIFFUSE_PREDICT_V),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_PREDICTION, &value),
                     DIFFUSE_OK);
    ck_assert_int_eq(value, DIFFUSE_PREDICT_V);
    /* a callback configuration cannot build a model by itself */
    diffuse_model *m = (diffuse_model *)&m;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "diffuse_model_create_callback"));
    /* a copy keeps everything */
    diffuse_model_config *copy;
    ck_assert_int_eq(diffuse_model_config_copy(&copy, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(copy, DIFFUSE_MODEL_PREDICTION, &value),
                     DIFFUSE_OK);
    ck_assert_int_eq(value, DIFFUSE_PREDICT_V);
    diffuse_model_config_free(copy);
    diffuse_model_config_free(config);
}
END_TEST

START_TEST(config_options_can_be_enumerated)
{
    size_t count;
    ck_assert_int_eq(diffuse_model_config_option_count(DIFFUSE_ARCH_MLP, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, MLP_OPTION_COUNT);
    const char *names[MLP_OPTION_COUNT];
    for (size_t i = 0; i < count; i++) {
        diffuse_model_option option, found;
        int is_double, found_double;
        ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_MLP, i, &option, &is_double,
                                                        &names[i]),
                         DIFFUSE_OK);
        /* increasing option value: 0 … 7, then classes and learn_variance */
        ck_assert_int_eq(option, i < FIRST_OPTIONS         ? (int)i
                                 : i == FIRST_OPTIONS ? DIFFUSE_MODEL_CLASSES
                                                      : DIFFUSE_MODEL_LEARN_VARIANCE);
        ck_assert_int_eq(is_double, option == DIFFUSE_MODEL_TIME_MAX_PERIOD);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(names[i], names[j]);
        ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, names[i], &found,
                                                          &found_double),
                         DIFFUSE_OK);
        ck_assert_int_eq(found, option);
        ck_assert_int_eq(found_double, is_double);
    }
    ck_assert_str_eq(names[DIFFUSE_MODEL_HIDDEN_WIDTH], "hidden_width");
    ck_assert_str_eq(names[DIFFUSE_MODEL_TIME_MAX_PERIOD], "time_max_period");

    diffuse_model_option option;
    int is_double;
    const char *name;
    ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_MLP, count, &option, &is_double,
                                                    &name),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_model_config_option_count(DIFFUSE_ARCH_CALLBACK, &count),
                     DIFFUSE_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_CALLBACK, 0, &option,
                                                    &is_double, &name),
                     DIFFUSE_OK);
    ck_assert_int_eq(option, DIFFUSE_MODEL_PREDICTION);
    ck_assert_str_eq(name, "prediction");
    ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_CALLBACK, "hidden_width",
                                                      &option, &is_double),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, "no_such_option",
                                                      &option, &is_double),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    /* bad arguments */
    ck_assert_int_eq(diffuse_model_config_option_count(DIFFUSE_ARCH_MLP, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_count((diffuse_architecture)5, &count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_at((diffuse_architecture)5, 0, &option,
                                                    &is_double, &name),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_MLP, 0, NULL, &is_double, &name),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_MLP, 0, &option, NULL, &name),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_at(DIFFUSE_ARCH_MLP, 0, &option, &is_double,
                                                    NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, NULL, &option,
                                                      &is_double),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, "seed", NULL,
                                                      &is_double),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, "seed", &option, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_find_option((diffuse_architecture)5, "seed", &option,
                                                      &is_double),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    ck_assert_int_eq(diffuse_model_architecture_name(DIFFUSE_ARCH_MLP, &name), DIFFUSE_OK);
    ck_assert_str_eq(name, "mlp");
    ck_assert_int_eq(diffuse_model_architecture_name(DIFFUSE_ARCH_CALLBACK, &name), DIFFUSE_OK);
    ck_assert_str_eq(name, "callback");
    ck_assert_int_eq(diffuse_model_architecture_name(DIFFUSE_ARCH_UNET, &name), DIFFUSE_OK);
    ck_assert_str_eq(name, "unet");
    ck_assert_int_eq(diffuse_model_architecture_name((diffuse_architecture)3, &name),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_architecture_name(DIFFUSE_ARCH_MLP, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
}
END_TEST

/* ---- models -------------------------------------------------------------- */

START_TEST(model_create_and_getters)
{
    diffuse_model *m = (diffuse_model *)&m;
    ck_assert_int_eq(diffuse_model_create(NULL, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_create(&m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    diffuse_model_free(NULL);
    ck_assert_str_eq(diffuse_model_last_error(NULL), "invalid handle (NULL)");

    diffuse_model_config *config = mlp_config(3);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 10), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 4), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 6), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION,
                                                  DIFFUSE_PREDICT_V),
                     0);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    /* the model keeps its own copy */
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 99), 0);
    diffuse_model_config_free(config);
    ck_assert_str_eq(diffuse_model_last_error(m), "");

    size_t dim, count;
    diffuse_architecture arch;
    diffuse_prediction prediction;
    const diffuse_model_config *own;
    ck_assert_int_eq(diffuse_model_dim(m, &dim), DIFFUSE_OK);
    ck_assert_uint_eq(dim, 3);
    ck_assert_int_eq(diffuse_model_architecture(m, &arch), DIFFUSE_OK);
    ck_assert_int_eq(arch, DIFFUSE_ARCH_MLP);
    ck_assert_int_eq(diffuse_model_prediction(m, &prediction), DIFFUSE_OK);
    ck_assert_int_eq(prediction, DIFFUSE_PREDICT_V);
    /* H·E + H + H·H + H + H·d + H + L·(H·H + H) + d·H + d */
    ck_assert_int_eq(diffuse_model_param_count(m, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 10 * 6 + 10 + 100 + 10 + 30 + 10 + 4 * 110 + 30 + 3);
    ck_assert_int_eq(diffuse_model_get_config(m, &own), DIFFUSE_OK);
    int64_t width;
    ck_assert_int_eq(diffuse_model_config_get_int(own, DIFFUSE_MODEL_HIDDEN_WIDTH, &width), 0);
    ck_assert_int_eq(width, 10);

    ck_assert_int_eq(diffuse_model_dim(NULL, &dim), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_dim(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "dim"));
    ck_assert_int_eq(diffuse_model_architecture(NULL, &arch), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_architecture(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_prediction(NULL, &prediction), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_prediction(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_param_count(NULL, &count), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_param_count(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_config(NULL, &own), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_config(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_model_free(m);
}
END_TEST

START_TEST(params_round_trip)
{
    diffuse_model *m = small_model(3);
    size_t count = param_count(m);
    float *params = malloc(count * sizeof *params), *back = malloc(count * sizeof *back);
    ck_assert_int_eq(diffuse_model_get_params(m, params, count), DIFFUSE_OK);
    for (size_t i = 0; i < count; i++)
        params[i] = 0.001f * (float)i - 0.5f;
    ck_assert_int_eq(diffuse_model_set_params(m, params, count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_get_params(m, back, count), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(params, back, count * sizeof *back), 0);

    /* rejected copies change nothing */
    params[count / 2] = NAN;
    ck_assert_int_eq(diffuse_model_set_params(m, params, count), DIFFUSE_ERROR_NUMERIC);
    params[count / 2] = INFINITY;
    ck_assert_int_eq(diffuse_model_set_params(m, params, count), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "not finite"));
    ck_assert_int_eq(diffuse_model_set_params(m, params, count - 1), DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_set_params(m, params, count + 1), DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_set_params(m, NULL, count), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_set_params(NULL, params, count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_params(m, back, count), DIFFUSE_OK);
    ck_assert_float_eq(back[count / 2], 0.001f * (float)(count / 2) - 0.5f);
    ck_assert_int_eq(diffuse_model_get_params(m, back, 0), DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_get_params(m, NULL, count), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_params(NULL, back, count), DIFFUSE_ERROR_INVALID_ARGUMENT);
    free(params);
    free(back);
    diffuse_model_free(m);
}
END_TEST

START_TEST(ema_and_gradient_buffers)
{
    diffuse_model *m = small_model(4);
    size_t count = param_count(m);
    float *values = malloc(count * sizeof *values), *back = malloc(count * sizeof *back);
    int has = -1;
    ck_assert_int_eq(diffuse_model_has_ema(m, &has), DIFFUSE_OK);
    ck_assert_int_eq(has, 0);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, back, count), DIFFUSE_ERROR_STATE);
    ck_assert_int_eq(diffuse_model_has_ema(NULL, &has), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_has_ema(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);

    /* the optimizer's entry point starts the average at the parameters */
    ck_assert_int_eq(model_ensure_ema(m), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_has_ema(m, &has), DIFFUSE_OK);
    ck_assert_int_eq(has, 1);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, back, count), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(back, m->params, count * sizeof *back), 0);
    float *ema = m->ema;
    ck_assert_int_eq(model_ensure_ema(m), DIFFUSE_OK); /* idempotent */
    ck_assert_ptr_eq(m->ema, ema);

    for (size_t i = 0; i < count; i++)
        values[i] = (float)i;
    ck_assert_int_eq(diffuse_model_set_ema_params(m, values, count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, back, count), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(back, values, count * sizeof *back), 0);
    values[0] = NAN;
    ck_assert_int_eq(diffuse_model_set_ema_params(m, values, count), DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(diffuse_model_set_ema_params(m, values, 3), DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_set_ema_params(m, NULL, count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_set_ema_params(NULL, values, count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, back, 3), DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_get_ema_params(NULL, back, count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, NULL, count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_float_eq(m->ema[0], 0.0f);

    /* set_ema_params creates the average on a fresh model */
    diffuse_model *fresh = small_model(4);
    values[0] = 1.0f;
    ck_assert_int_eq(diffuse_model_set_ema_params(fresh, values, count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_has_ema(fresh, &has), DIFFUSE_OK);
    ck_assert_int_eq(has, 1);

    for (size_t i = 0; i < count; i++)
        m->grads[i] = 1.0f;
    model_zero_grads(m);
    for (size_t i = 0; i < count; i++)
        ck_assert_float_eq(m->grads[i], 0.0f);
    free(values);
    free(back);
    diffuse_model_free(m);
    diffuse_model_free(fresh);
}
END_TEST

START_TEST(tensor_layout_tiles_the_parameters)
{
    diffuse_model *m = small_model(5);
    size_t count = param_count(m), tensors, expected_offset = 0;
    ck_assert_int_eq(diffuse_model_tensor_count(m, &tensors), DIFFUSE_OK);
    ck_assert_uint_eq(tensors, 8 + 2 * 2);
    const char *names[12];
    for (size_t i = 0; i < tensors; i++) {
        size_t offset, rank, shape[4];
        ck_assert_int_eq(diffuse_model_tensor_info(m, i, &names[i], &offset, &rank, shape),
                         DIFFUSE_OK);
        ck_assert_uint_eq(offset, expected_offset); /* no gap, no overlap */
        ck_assert_uint_eq(rank, i % 2 == 0 ? 2 : 1); /* weight, bias, weight, … */
        size_t size = 1;
        for (size_t r = 0; r < 4; r++) {
            if (r >= rank)
                ck_assert_uint_eq(shape[r], 1);
            size *= shape[r];
        }
        expected_offset += size;
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(names[i], names[j]);
    }
    ck_assert_uint_eq(expected_offset, count);
    ck_assert_str_eq(names[0], "time_mlp.0.weight");
    ck_assert_str_eq(names[4], "input.weight");
    ck_assert_str_eq(names[7], "blocks.0.bias");
    ck_assert_str_eq(names[11], "output.bias");
    size_t offset, rank, shape[4];
    const char *name;
    ck_assert_int_eq(diffuse_model_tensor_info(m, 4, &name, &offset, &rank, shape), DIFFUSE_OK);
    ck_assert_uint_eq(shape[0], 16); /* input.weight [H, d] */
    ck_assert_uint_eq(shape[1], 2);

    ck_assert_int_eq(diffuse_model_tensor_info(m, tensors, &name, &offset, &rank, shape),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_model_tensor_info(NULL, 0, &name, &offset, &rank, shape),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_info(m, 0, NULL, &offset, &rank, shape),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_info(m, 0, &name, NULL, &rank, shape),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_info(m, 0, &name, &offset, NULL, shape),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_info(m, 0, &name, &offset, &rank, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_count(NULL, &tensors), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_tensor_count(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_model_free(m);
}
END_TEST

START_TEST(initialisation_is_seeded_and_bounded)
{
    diffuse_model *a = small_model(11), *b = small_model(11), *c = small_model(12);
    size_t count = param_count(a);
    ck_assert_int_eq(memcmp(a->params, b->params, count * sizeof(float)), 0);
    size_t same = 0;
    for (size_t i = 0; i < count; i++)
        same += a->params[i] == c->params[i];
    ck_assert_uint_lt(same, count / 100);
    /* every tensor uniform on (−1/√fan_in, 1/√fan_in), none left at zero
     * (the output layer included), mean near 0, spread near bound/√3 */
    for (size_t k = 0; k < a->tensor_count; k++) {
        const model_tensor *tensor = &a->tensors[k];
        size_t fan_in = a->tensors[k - k % 2].shape[1];
        double bound = 1.0 / sqrt((double)fan_in), sum = 0.0, squares = 0.0;
        size_t size = tensor->shape[0] * tensor->shape[1];
        for (size_t i = 0; i < size; i++) {
            double w = a->params[tensor->offset + i];
            ck_assert_msg(w != 0.0 && fabs(w) < bound, "%s[%zu] = %g (bound %g)", tensor->name,
                          i, w, bound);
            sum += w;
            squares += w * w;
        }
        if (size >= 128) {
            ck_assert_double_lt(fabs(sum / (double)size), 0.2 * bound);
            ck_assert_double_lt(fabs(sqrt(squares / (double)size) - bound / sqrt(3.0)),
                                0.15 * bound);
        }
    }
    diffuse_model_free(a);
    diffuse_model_free(b);
    diffuse_model_free(c);
}
END_TEST

START_TEST(predict_checks_arguments_and_matches_network)
{
    enum { N = 5, D = 2 };
    diffuse_model *m = small_model(6);
    int32_t t[N] = {0, 10, 999, 10, 5000};
    float x[N * D] = {0.5f, -1.0f, 2.0f, 0.0f, -0.25f, 0.75f, 1.5f, -2.0f, 3.0f, 0.1f};
    float out[N * D], direct[N * D];
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, out), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, NULL, direct)), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, direct, sizeof out), 0);
    /* against the double reference of the whole network */
    nn_mlp_shape shape;
    nn_mlp_shape_from_config(m->config, &shape);
    size_t count = param_count(m);
    double *params = malloc(count * sizeof *params), xd[N * D], ref[N * D];
    for (size_t i = 0; i < count; i++)
        params[i] = m->params[i];
    for (size_t i = 0; i < N * D; i++)
        xd[i] = x[i];
    ck_assert_int_eq(nn_mlp_forward_reference(&shape, params, xd, t, NULL, N, ref), DIFFUSE_OK);
    for (size_t i = 0; i < N * D; i++)
        ck_assert_close(out[i], ref[i], 1e-5, 1e-5);
    free(params);

    ck_assert_int_eq(diffuse_test_predict(NULL, N, t, x, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, 0, t, x, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, N, NULL, x, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, N, t, NULL, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, SIZE_MAX / 2, t, x, out),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, x), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, x + 1), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "overlap"));
    t[3] = -1;
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "t[3]"));
    t[3] = 10;
    x[7] = NAN;
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, out), DIFFUSE_ERROR_NUMERIC);
    x[7] = -INFINITY;
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, out), DIFFUSE_ERROR_NUMERIC);
    x[7] = -2.0f;
    /* a failed call does not disturb the next one */
    ck_assert_int_eq(diffuse_test_predict(m, N, t, x, direct), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, direct, sizeof out), 0);
    diffuse_model_free(m);
}
END_TEST

/* ---- callback models ---------------------------------------------------- */

/* The struct's size rule (diffuse/model.h): an older or newer caller's
 * call, out_variance, labels (ignored by the MLP). */
START_TEST(model_call_size_rule_and_labels)
{
    enum { N = 3, D = 2 };
    diffuse_model *m = small_model(4);
    int32_t t[N] = {1, 50, 900}, labels[N] = {0, 1, 2};
    float x[N * D] = {0.5f, -1.0f, 2.0f, 0.0f, -0.25f, 0.75f}, out[N * D], again[N * D];
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    ck_assert_uint_eq(call.size, sizeof(diffuse_model_call));
    call.n = N;
    call.t = t;
    call.x_t = x;
    call.out = out;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_predict(m, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);

    /* A newer header's larger struct: fine while its extra fields are 0. */
    struct {
        diffuse_model_call call;
        uint64_t future[2];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.call = call;
    newer.call.size = sizeof newer;
    newer.call.out = again;
    ck_assert_int_eq(diffuse_model_predict(m, &newer.call), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, again, sizeof out), 0);
    newer.future[1] = 1;
    ck_assert_int_eq(diffuse_model_predict(m, &newer.call), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "knows only"));
    /* Smaller than any struct ever was: uninitialised, most likely. */
    call.size = sizeof(size_t);
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "DIFFUSE_MODEL_CALL_INIT"));
    call.size = sizeof call;

    call.out_variance = again;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_ERROR_UNSUPPORTED);
    call.out_variance = NULL;

    /* The MLP has no classes: labels change nothing. */
    call.labels = labels;
    call.out = again;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, again, sizeof out), 0);
    call.labels = (const int32_t *)(const void *)again;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "labels"));
    diffuse_model_free(m);
}
END_TEST

typedef struct callback_user {
    int calls;
    int fail;      /* return this when non-zero */
    int write_nan; /* put a NaN in the output */
    size_t size;   /* call->size of the last call */
} callback_user;

/* f(x, t [, label])_j = 0.5·x_j + t [+ 100·label] */
static int affine(void *user, const diffuse_model_call *call, size_t dim)
{
    callback_user *state = user;
    const float *x_t = call->x_t;
    size_t n = call->n;
    float *out = call->out;
    state->calls++;
    state->size = call->size;
    if (state->fail != 0)
        return state->fail;
    for (size_t i = 0; i < n; i++) {
        float label = call->labels != NULL ? 100.0f * (float)call->labels[i] : 0.0f;
        for (size_t j = 0; j < dim; j++)
            out[i * dim + j] = 0.5f * x_t[i * dim + j] + (float)call->t[i] + label;
    }
    if (state->write_nan)
        out[n * dim - 1] = NAN;
    return 0;
}

START_TEST(callback_model_predicts_and_reports_failures)
{
    callback_user user = {0, 0, 0, 0};
    diffuse_model *m = (diffuse_model *)&m;
    ck_assert_int_eq(diffuse_model_create_callback(NULL, 3, DIFFUSE_PREDICT_EPSILON, affine, &user),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_create_callback(&m, 3, DIFFUSE_PREDICT_EPSILON, NULL, &user),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(diffuse_model_create_callback(&m, 0, DIFFUSE_PREDICT_EPSILON, affine, &user),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_model_create_callback(&m, 3, (diffuse_prediction)3, affine, &user),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_create_callback(&m, 3, (diffuse_prediction)-1, affine, &user),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);

    ck_assert_int_eq(diffuse_model_create_callback(&m, 3, DIFFUSE_PREDICT_V, affine, &user),
                     DIFFUSE_OK);
    diffuse_architecture arch;
    diffuse_prediction prediction;
    size_t count = 1, dim;
    ck_assert_int_eq(diffuse_model_architecture(m, &arch), DIFFUSE_OK);
    ck_assert_int_eq(arch, DIFFUSE_ARCH_CALLBACK);
    ck_assert_int_eq(diffuse_model_prediction(m, &prediction), DIFFUSE_OK);
    ck_assert_int_eq(prediction, DIFFUSE_PREDICT_V);
    ck_assert_int_eq(diffuse_model_dim(m, &dim), DIFFUSE_OK);
    ck_assert_uint_eq(dim, 3);
    ck_assert_int_eq(diffuse_model_param_count(m, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(diffuse_model_tensor_count(m, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 0);
    ck_assert(m->ops->forward == NULL); /* cannot train */
    ck_assert(m->ops->backward == NULL);
    const diffuse_model_config *config;
    int64_t stored;
    ck_assert_int_eq(diffuse_model_get_config(m, &config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_PREDICTION, &stored), 0);
    ck_assert_int_eq(stored, DIFFUSE_PREDICT_V);
    float values[3] = {0};
    ck_assert_int_eq(diffuse_model_get_params(m, values, 0), DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_int_eq(diffuse_model_set_params(m, values, 0), DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_int_eq(diffuse_model_set_ema_params(m, values, 0), DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_int_eq(model_ensure_ema(m), DIFFUSE_ERROR_UNSUPPORTED);
    model_zero_grads(m);

    int32_t t[2] = {4, 0};
    float x[6] = {1, 2, 3, 4, 5, 6}, out[6];
    ck_assert_int_eq(diffuse_test_predict(m, 2, t, x, out), DIFFUSE_OK);
    ck_assert_int_eq(user.calls, 1);
    for (size_t i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], 0.5f * x[i] + (float)t[i / 3]);
    /* the samplers' entry point works the same */
    ck_assert_int_eq(m->ops->predict(m, NULL, &MODEL_CALL(2, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(user.calls, 2);

    user.fail = -3;
    ck_assert_int_eq(diffuse_test_predict(m, 2, t, x, out), DIFFUSE_ERROR_CALLBACK);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "-3"));
    ck_assert_int_eq(m->ops->predict(m, NULL, &MODEL_CALL(2, x, t, NULL, out)),
                     DIFFUSE_ERROR_CALLBACK);
    user.fail = 0;
    user.write_nan = 1;
    ck_assert_int_eq(diffuse_test_predict(m, 2, t, x, out), DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(m->ops->predict(m, NULL, &MODEL_CALL(2, x, t, NULL, out)),
                     DIFFUSE_ERROR_NUMERIC);
    user.write_nan = 0;
    ck_assert_int_eq(diffuse_test_predict(m, 2, t, x, out), DIFFUSE_OK);
    ck_assert_uint_eq(user.size, sizeof(diffuse_model_call));
    /* labels reach the function */
    int32_t labels[2] = {1, 3};
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = 2;
    call.t = t;
    call.x_t = x;
    call.labels = labels;
    call.out = out;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    for (size_t i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], 0.5f * x[i] + (float)t[i / 3] + 100.0f * (float)labels[i / 3]);
    diffuse_model_free(m);
}
END_TEST

/* What a checkpoint does: enumerate the options of a model's config by
 * name, rebuild a config from them, and get the same model. */
START_TEST(config_rebuilds_from_option_names)
{
    diffuse_model *m = small_model(77);
    const diffuse_model_config *saved;
    ck_assert_int_eq(diffuse_model_get_config(m, &saved), DIFFUSE_OK);
    diffuse_architecture arch;
    size_t dim, count;
    ck_assert_int_eq(diffuse_model_config_architecture(saved, &arch), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_dim(saved, &dim), DIFFUSE_OK);
    diffuse_model_config *loaded;
    ck_assert_int_eq(diffuse_model_config_create(&loaded, arch, dim), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_option_count(arch, &count), DIFFUSE_OK);
    for (size_t i = 0; i < count; i++) {
        diffuse_model_option option, found;
        int is_double, found_double;
        const char *name;
        ck_assert_int_eq(diffuse_model_config_option_at(arch, i, &option, &is_double, &name), 0);
        ck_assert_int_eq(diffuse_model_config_find_option(arch, name, &found, &found_double), 0);
        if (is_double) {
            double value;
            ck_assert_int_eq(diffuse_model_config_get_double(saved, option, &value), 0);
            ck_assert_int_eq(diffuse_model_config_set_double(loaded, found, value), 0);
        } else {
            int64_t value;
            ck_assert_int_eq(diffuse_model_config_get_int(saved, option, &value), 0);
            ck_assert_int_eq(diffuse_model_config_set_int(loaded, found, value), 0);
        }
    }
    diffuse_model *rebuilt;
    ck_assert_int_eq(diffuse_model_create(&rebuilt, loaded), DIFFUSE_OK);
    ck_assert_uint_eq(param_count(rebuilt), param_count(m));
    ck_assert_int_eq(memcmp(rebuilt->params, m->params, param_count(m) * sizeof(float)), 0);
    diffuse_model_config_free(loaded);
    diffuse_model_free(rebuilt);
    diffuse_model_free(m);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *suite = suite_create("model");
    TCase *config = tcase_create("config");
    tcase_add_test(config, config_create_rejects_bad_arguments);
    tcase_add_test(config, config_defaults_and_getters);
    tcase_add_test(config, config_setters_check_bounds);
    tcase_add_test(config, config_options_follow_the_architecture);
    tcase_add_test(config, config_options_can_be_enumerated);
    tcase_add_test(config, config_rebuilds_from_option_names);
    suite_add_tcase(suite, config);
    TCase *model = tcase_create("model");
    tcase_add_test(model, model_create_and_getters);
    tcase_add_test(model, params_round_trip);
    tcase_add_test(model, ema_and_gradient_buffers);
    tcase_add_test(model, tensor_layout_tiles_the_parameters);
    tcase_add_test(model, initialisation_is_seeded_and_bounded);
    tcase_add_test(model, predict_checks_arguments_and_matches_network);
    tcase_add_test(model, model_call_size_rule_and_labels);
    tcase_add_test(model, callback_model_predicts_and_reports_failures);
    suite_add_tcase(suite, model);
    return suite;
}

int main(void)
{
    return diffuse_test_run(model_suite());
}
