/* Models that learn their variance (DIFFUSE_MODEL_LEARN_VARIANCE): the
 * network's 2·dim outputs split into out and out_variance (MLP and U-Net),
 * training on L_hybrid (finite, decreasing, bit-identical across thread
 * counts it shares with the trainer's rules), the checkpoint round trip, and
 * DDPM sampling with VARIANCE = LEARNED: with v ≡ 1 it is β-sampling, with
 * v ≡ −1 β̃-sampling (plain and respaced), and the step API reproduces the
 * run. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

enum { D = 2, WIDTH = 32, T = 100 };

static diffuse_model *learned_mlp(diffuse_prediction kind)
{
    diffuse_model_config *config;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, D), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, WIDTH),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, kind),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_LEARN_VARIANCE, 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return model;
}

/* The output layer's offsets: weight [2d, H] and bias [2d]. */
static void output_layer(const diffuse_model *model, size_t *weight, size_t *bias)
{
    size_t count = 0, rank, shape[4];
    const char *name;
    ck_assert_int_eq(diffuse_model_tensor_count(model, &count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_info(model, count - 2, &name, weight, &rank, shape),
                     DIFFUSE_OK);
    ck_assert_str_eq(name, "output.weight");
    ck_assert_uint_eq(shape[0], 2 * D);
    ck_assert_int_eq(diffuse_model_tensor_info(model, count - 1, &name, bias, &rank, shape),
                     DIFFUSE_OK);
    ck_assert_uint_eq(shape[0], 2 * D);
}

/* Makes the variance half of the output constant: v ≡ value. */
static void fix_variance_output(diffuse_model *model, float value)
{
    size_t count = 0, weight, bias;
    ck_assert_int_eq(diffuse_model_param_count(model, &count), DIFFUSE_OK);
    float *params = malloc(count * sizeof *params);
    ck_assert_int_eq(diffuse_model_get_params(model, params, count), DIFFUSE_OK);
    output_layer(model, &weight, &bias);
    memset(params + weight + D * WIDTH, 0, D * WIDTH * sizeof *params);
    for (size_t j = D; j < 2 * D; j++)
        params[bias + j] = value;
    ck_assert_int_eq(diffuse_model_set_params(model, params, count), DIFFUSE_OK);
    free(params);
}

START_TEST(predict_splits_the_two_outputs)
{
    diffuse_model *model = learned_mlp(DIFFUSE_PREDICT_EPSILON);
    fix_variance_output(model, 0.25f);
    float x[3 * D] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, out[3 * D], variance[3 * D];
    int32_t t[3] = {0, 50, 99};
    ck_assert_int_eq(diffuse_test_predict_variance(model, 3, t, x, out, variance), DIFFUSE_OK);
    for (size_t j = 0; j < 3 * D; j++)
        ck_assert_float_eq(variance[j], 0.25f);
    /* without out_variance: the same f, v dropped */
    float again[3 * D];
    ck_assert_int_eq(diffuse_test_predict(model, 3, t, x, again), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, again, sizeof out), 0);
    /* a model that does not learn it refuses out_variance */
    diffuse_model_config *config;
    diffuse_model *plain = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, D), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&plain, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_test_predict_variance(plain, 3, t, x, again, variance),
                     DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(plain), "learn"));
    /* out_variance overlapping out */
    ck_assert_int_eq(diffuse_test_predict_variance(model, 3, t, x, again, again),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_model_config_free(config);
    diffuse_model_free(plain);
    diffuse_model_free(model);
}
END_TEST

/* A U-Net with a learned variance has 2C output channels. */
START_TEST(unet_outputs_two_halves)
{
    diffuse_model_config *config;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 64), DIFFUSE_OK);
    diffuse_model_option options[] = {DIFFUSE_MODEL_IMAGE_HEIGHT, DIFFUSE_MODEL_IMAGE_WIDTH,
                                      DIFFUSE_MODEL_BASE_CHANNELS, DIFFUSE_MODEL_LEVELS,
                                      DIFFUSE_MODEL_RES_BLOCKS, DIFFUSE_MODEL_ATTENTION_LEVELS,
                                      DIFFUSE_MODEL_GROUPS, DIFFUSE_MODEL_LEARN_VARIANCE};
    int64_t values[] = {8, 8, 8, 2, 1, 0, 4, 1};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        ck_assert_int_eq(diffuse_model_config_set_int(config, options[i], values[i]),
                         DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    size_t count = 0, offset, rank, shape[4];
    const char *name;
    ck_assert_int_eq(diffuse_model_tensor_count(model, &count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_info(model, count - 1, &name, &offset, &rank, shape),
                     DIFFUSE_OK);
    ck_assert_uint_eq(shape[0], 2); /* out.2.bias: 2C for C = 1 */
    float *x = diffuse_test_uniform_floats(2 * 64, 1, 0, -1.0f, 1.0f);
    float out[2 * 64], variance[2 * 64];
    int32_t t[2] = {3, 40};
    ck_assert_int_eq(diffuse_test_predict_variance(model, 2, t, x, out, variance), DIFFUSE_OK);
    ck_assert(memcmp(out, variance, sizeof out) != 0);
    free(x);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
}
END_TEST

static diffuse_test_handles make_training(diffuse_prediction kind, int threads)
{
    diffuse_test_handles r = diffuse_test_training(
        learned_mlp(kind), diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0), 3e-3);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_THREADS, threads),
                     DIFFUSE_OK);
    return r;
}

/* Data on the 256-level grid of [−1, 1]: two clusters. */
static float *grid_data(size_t n)
{
    float *x = diffuse_test_uniform_floats(n * D, 11, 0, -0.1f, 0.1f);
    for (size_t i = 0; i < n * D; i++) {
        double value = (i / D) % 2 ? 0.5 + x[i] : -0.5 + x[i];
        x[i] = (float)(round((value + 1.0) * 127.5) / 127.5 - 1.0);
    }
    return x;
}

/* Mean loss of `steps` steps on the same batch. */
static double mean_loss(diffuse_test_handles *r, const float *x, size_t n, int steps)
{
    double sum = 0.0, loss = NAN;
    for (int k = 0; k < steps; k++) {
        ck_assert_int_eq(diffuse_trainer_step_batch(r->trainer, n, x, &loss), DIFFUSE_OK);
        ck_assert(isfinite(loss));
        sum += loss;
    }
    return sum / steps;
}

START_TEST(hybrid_training_learns)
{
    diffuse_prediction kind = (diffuse_prediction)_i;
    diffuse_test_handles r = make_training(kind, 1);
    float *x = grid_data(256);
    double first = mean_loss(&r, x, 256, 20);
    mean_loss(&r, x, 256, 200);
    double last = mean_loss(&r, x, 256, 20);
    ck_assert_msg(last < 0.8 * first, "kind %d: loss %.4g → %.4g", (int)kind, first, last);
    free(x);
    diffuse_test_handles_free(&r);
}
END_TEST

/* L_vlb's gradient goes into the model with the mean's, through the
 * worker split: 2 threads agree with 1 to rounding; λ = 0 changes the loss. */
START_TEST(hybrid_training_threads_and_weight)
{
    float *x = grid_data(64);
    diffuse_test_handles one = make_training(DIFFUSE_PREDICT_EPSILON, 1);
    diffuse_test_handles two = make_training(DIFFUSE_PREDICT_EPSILON, 2);
    double a = mean_loss(&one, x, 64, 5), b = mean_loss(&two, x, 64, 5);
    ck_assert_msg(fabs(a - b) <= 1e-5 * fabs(a), "%.9g vs %.9g", a, b);
    diffuse_test_handles plain = make_training(DIFFUSE_PREDICT_EPSILON, 1);
    ck_assert_int_eq(diffuse_trainer_set_double(plain.trainer, DIFFUSE_TRAINER_VLB_WEIGHT, 0.0),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(plain.trainer, DIFFUSE_TRAINER_DECODER,
                                             DIFFUSE_DECODER_CONTINUOUS),
                     DIFFUSE_OK);
    ck_assert(mean_loss(&plain, x, 64, 1) != mean_loss(&one, x, 64, 1));
    free(x);
    diffuse_test_handles_free(&one);
    diffuse_test_handles_free(&two);
    diffuse_test_handles_free(&plain);
}
END_TEST

/* The option and the variance half are in the model checkpoint; the
 * trainer's λ and decoder in the trainer checkpoint. */
START_TEST(checkpoint_round_trip)
{
    diffuse_test_handles r = make_training(DIFFUSE_PREDICT_V, 1);
    float *x = grid_data(32);
    mean_loss(&r, x, 32, 3);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_VLB_WEIGHT, 0.01),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_DECODER,
                                             DIFFUSE_DECODER_CONTINUOUS),
                     DIFFUSE_OK);
    diffuse_test_handles back = diffuse_test_reload_trainer(r.trainer);
    const diffuse_model_config *config;
    int64_t learn = 0, decoder = 0;
    double weight = 0.0;
    ck_assert_int_eq(diffuse_model_get_config(back.model, &config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_LEARN_VARIANCE, &learn),
                     DIFFUSE_OK);
    ck_assert_int_eq(learn, 1);
    ck_assert_int_eq(diffuse_trainer_get_double(back.trainer, DIFFUSE_TRAINER_VLB_WEIGHT,
                                                &weight),
                     DIFFUSE_OK);
    ck_assert_double_eq(weight, 0.01);
    ck_assert_int_eq(diffuse_trainer_get_int(back.trainer, DIFFUSE_TRAINER_DECODER, &decoder),
                     DIFFUSE_OK);
    ck_assert_int_eq(decoder, DIFFUSE_DECODER_CONTINUOUS);
    /* training on continues bit-exactly */
    double a = mean_loss(&r, x, 32, 2), b = mean_loss(&back, x, 32, 2);
    ck_assert_double_eq(a, b);
    free(x);
    diffuse_test_handles_free(&r);
    diffuse_test_handles_free(&back);
}
END_TEST

/* DDPM samples of `model` with `variance` over `steps` list entries. */
static float *ddpm_samples(diffuse_model *model, const diffuse_schedule *s,
                           diffuse_variance variance, int steps, size_t n)
{
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE, variance),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, steps), DIFFUSE_OK);
    float *out = malloc(n * D * sizeof *out);
    ck_assert_int_eq(diffuse_sampler_run(sampler, n, out), DIFFUSE_OK);
    diffuse_sampler_free(sampler);
    return out;
}

static void expect_same_samples(const float *a, const float *b, size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-4f * fmaxf(1.0f, fabsf(b[i])),
                      "%s[%zu]: %.9g vs %.9g", what, i, a[i], b[i]);
}

/* v ≡ 1: σ² = β (or β'), v ≡ −1: σ² = β̃ (β̃'), over all T and 20 steps. */
START_TEST(learned_sampling_spans_beta_and_posterior)
{
    int steps = _i == 0 ? 0 : 20;
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
    diffuse_model *model = learned_mlp(DIFFUSE_PREDICT_EPSILON);
    size_t n = 16;
    float values[2] = {1.0f, -1.0f};
    diffuse_variance fixed[2] = {DIFFUSE_VARIANCE_BETA, DIFFUSE_VARIANCE_POSTERIOR};
    for (int k = 0; k < 2; k++) {
        fix_variance_output(model, values[k]);
        float *learned = ddpm_samples(model, s, DIFFUSE_VARIANCE_LEARNED, steps, n);
        float *reference = ddpm_samples(model, s, fixed[k], steps, n);
        expect_same_samples(learned, reference, n * D, fixed[k] ? "posterior" : "beta");
        free(learned);
        free(reference);
    }
    diffuse_model_free(model);
    diffuse_schedule_free(s);
}
END_TEST

/* The step API with the variance output reproduces a LEARNED run bit for
 * bit; without it the step fails; a non-learning model cannot run LEARNED. */
START_TEST(learned_step_api_reproduces_run)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
    diffuse_model *model = learned_mlp(DIFFUSE_PREDICT_V);
    enum { N = 8 };
    float *run = ddpm_samples(model, s, DIFFUSE_VARIANCE_LEARNED, 25, N);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create_standalone(&sampler, s, D, DIFFUSE_PREDICT_V),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE,
                                             DIFFUSE_VARIANCE_LEARNED),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, 25), DIFFUSE_OK);
    int32_t list[25];
    size_t count = 0;
    ck_assert_int_eq(diffuse_sampler_timesteps(sampler, list, 25, &count), DIFFUSE_OK);
    float x[N * D], out[N * D], variance[N * D];
    int32_t t[N];
    ck_assert_int_eq(diffuse_sampler_initial_noise(sampler, N, x), DIFFUSE_OK);
    for (size_t k = 0; k < count; k++) {
        for (size_t i = 0; i < N; i++)
            t[i] = list[k];
        ck_assert_int_eq(diffuse_test_predict_variance(model, N, t, x, out, variance),
                         DIFFUSE_OK);
        if (k == 0)
            ck_assert_int_eq(diffuse_sampler_step(sampler, N, list[k], out, x, x, NULL),
                             DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(
            diffuse_sampler_step_variance(sampler, N, list[k], out, variance, x, x, NULL),
            DIFFUSE_OK);
    }
    ck_assert_int_eq(memcmp(x, run, sizeof x), 0);
    diffuse_sampler_free(sampler);
    /* a model without the variance output cannot be sampled LEARNED */
    diffuse_model_config *config;
    diffuse_model *plain = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, D), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&plain, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, plain, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE,
                                             DIFFUSE_VARIANCE_LEARNED),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, x), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(sampler), "LEARNED"));
    diffuse_sampler_free(sampler);
    diffuse_model_free(plain);
    diffuse_model_config_free(config);
    free(run);
    diffuse_model_free(model);
    diffuse_schedule_free(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("learned_variance");
    TCase *model = tcase_create("model");
    tcase_add_test(model, predict_splits_the_two_outputs);
    tcase_add_test(model, unet_outputs_two_halves);
    suite_add_tcase(suite, model);
    TCase *train = tcase_create("training");
    tcase_add_loop_test(train, hybrid_training_learns, 0, 3);
    tcase_add_test(train, hybrid_training_threads_and_weight);
    tcase_add_test(train, checkpoint_round_trip);
    suite_add_tcase(suite, train);
    TCase *sampling = tcase_create("sampling");
    tcase_add_loop_test(sampling, learned_sampling_spans_beta_and_posterior, 0, 2);
    tcase_add_test(sampling, learned_step_api_reproduces_run);
    suite_add_tcase(suite, sampling);
    return diffuse_test_run(suite);
}
