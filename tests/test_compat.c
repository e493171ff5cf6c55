/* Compatibility with libdiffuse 0.1: the DDPM sampler's output and a
 * 1000-step training run, bit for bit.
 *
 * This is the one suite whose expected values are the library's own output:
 * digests recorded on 0.1 (commit eb429b4) so that a refactoring of the
 * trainer, the sampler, the model call or the prediction conversion cannot
 * change a single bit unnoticed. The digest is FNV-1a 64 over the bytes of
 * the floats (and, for training, of the double losses of every step).
 *
 * The bits depend on the OpenBLAS kernels, which OpenBLAS picks per CPU: the
 * digests hold for the core they were recorded on (COMPAT_CORE). On another
 * core the suite still checks that each run is reproducible and prints the
 * digests it computed (DIFFUSE_COMPAT_PRINT=1 prints them anywhere), so that
 * a new core's values can be recorded next to these. */
#include <cblas.h>
#include <diffuse/diffuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "test_support.h"

#define COMPAT_CORE "SkylakeX"
#define SAMPLE_ROWS 200
#define TRAIN_STEPS 1000
#define TRAIN_BATCH 64

static int recorded_core(void)
{
    return strcmp(openblas_get_corename(), COMPAT_CORE) == 0;
}

static int print_digests(void)
{
    const char *print = getenv("DIFFUSE_COMPAT_PRINT");
    return !recorded_core() || (print != NULL && print[0] == '1');
}

/* A small MLP (d = 2, H = 32, L = 2) with its seeded default weights. */
static diffuse_model *small_mlp(diffuse_prediction prediction)
{
    diffuse_model_config *config = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 32),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 2),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, 7), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, prediction),
                     DIFFUSE_OK);
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return model;
}

static void show_digest(const char *what, uint64_t got)
{
    if (print_digests())
        printf("compat digest %s: 0x%016llxu\n", what, (unsigned long long)got);
}

static void expect_digest(const char *what, uint64_t got, uint64_t expected)
{
    if (recorded_core())
        ck_assert_msg(got == expected, "%s: digest 0x%016llx, 0.1 gave 0x%016llx", what,
                      (unsigned long long)got, (unsigned long long)expected);
}

/* ---- Sampling ------------------------------------------------------------ */

typedef struct sample_case {
    diffuse_prediction prediction;
    diffuse_variance variance;
    double clip;
    int threads;
    uint64_t digest; /* recorded on 0.1 */
} sample_case;

static const sample_case sample_cases[] = {
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_BETA, 0.0, 1, 0x8e988686721869feu},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_BETA, 0.0, 2, 0x8e988686721869feu},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_BETA, 1.0, 1, 0xf81565cb8cc4da22u},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_BETA, 1.0, 2, 0xf81565cb8cc4da22u},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_POSTERIOR, 0.0, 1, 0xb515e385541e5db3u},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_POSTERIOR, 0.0, 2, 0xb515e385541e5db3u},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_POSTERIOR, 1.0, 1, 0xa801abf2588b9a4fu},
    {DIFFUSE_PREDICT_EPSILON, DIFFUSE_VARIANCE_POSTERIOR, 1.0, 2, 0xa801abf2588b9a4fu},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_BETA, 0.0, 1, 0xd5b33659fb451a09u},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_BETA, 0.0, 2, 0xd5b33659fb451a09u},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_BETA, 1.0, 1, 0x58c46bfb3253000eu},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_BETA, 1.0, 2, 0x58c46bfb3253000eu},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_POSTERIOR, 0.0, 1, 0xc31efeb1304ebda1u},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_POSTERIOR, 0.0, 2, 0xc31efeb1304ebda1u},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_POSTERIOR, 1.0, 1, 0x95a4e6e3574940d5u},
    {DIFFUSE_PREDICT_V, DIFFUSE_VARIANCE_POSTERIOR, 1.0, 2, 0x95a4e6e3574940d5u},
};

static uint64_t sample_digest(const sample_case *c, diffuse_model *model,
                              const diffuse_schedule *schedule)
{
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE, c->variance),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_CLIP_X0, c->clip),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, c->threads),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, 12345), DIFFUSE_OK);
    float out[SAMPLE_ROWS * 2];
    ck_assert_int_eq(diffuse_sampler_run(sampler, SAMPLE_ROWS, out), DIFFUSE_OK);
    diffuse_sampler_free(sampler);
    return fnv1a(FNV_OFFSET, out, sizeof out);
}

START_TEST(ddpm_samples_match_0_1)
{
    const sample_case *c = &sample_cases[_i];
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_model *model = small_mlp(c->prediction);
    uint64_t digest = sample_digest(c, model, schedule);
    /* On another core at least the run must be reproducible. */
    if (!recorded_core())
        ck_assert_msg(sample_digest(c, model, schedule) == digest, "a second run differs");
    char what[96];
    snprintf(what, sizeof what, "sample[%d] (%s, variance %d, clip %g, %d threads)", _i,
             c->prediction == DIFFUSE_PREDICT_V ? "v" : "eps", (int)c->variance, c->clip,
             c->threads);
    show_digest(what, digest);
    expect_digest(what, digest, c->digest);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

/* ---- Training ------------------------------------------------------------ */

typedef struct train_case {
    diffuse_prediction prediction;
    int threads;
    uint64_t params_digest, loss_digest; /* recorded on 0.1 */
} train_case;

static const train_case train_cases[] = {
    {DIFFUSE_PREDICT_EPSILON, 1,
     0xd64615c939c8cb52u, 0xb45b7117f3379b44u},
    {DIFFUSE_PREDICT_EPSILON, 2,
     0x519d59c231e2799fu, 0xaf52f306cc4e1a6cu},
    {DIFFUSE_PREDICT_V, 1,
     0x9c8df8f1f7e825bdu, 0xdd36e91dfc23309du},
    {DIFFUSE_PREDICT_V, 2,
     0x12e7d1c71a0471bfu, 0x0ea4f1695ea4b17cu},
};

/* Two moons, TRAIN_BATCH points per call, continuing through the set, with
 * labels 0/1 alternating (the trainer must accept them). */
static int moons(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                 char *message, size_t message_size)
{
    (void)message;
    (void)message_size;
    uint64_t *next = user;
    size_t rows = capacity < TRAIN_BATCH ? capacity : TRAIN_BATCH;
    if (dim != 2 || diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 3, *next, rows, x) != DIFFUSE_OK)
        return -1;
    for (size_t i = 0; i < rows; i++)
        labels[i] = (int32_t)((*next + i) % 2);
    *next += rows;
    return (int)rows;
}

START_TEST(training_matches_0_1)
{
    const train_case *c = &train_cases[_i];
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_model *model = small_mlp(c->prediction);
    diffuse_optimizer *optimizer = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_double(optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.99),
                     DIFFUSE_OK);
    diffuse_trainer *trainer = NULL;
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, schedule, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_BATCH_SIZE, TRAIN_BATCH),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_THREADS, c->threads),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_SEED, 99), DIFFUSE_OK);
    uint64_t next = 0;
    ck_assert_int_eq(diffuse_trainer_set_data(trainer, moons, &next), DIFFUSE_OK);
    uint64_t loss_digest = FNV_OFFSET;
    for (int step = 0; step < TRAIN_STEPS; step++) {
        double loss;
        ck_assert_int_eq(diffuse_trainer_step(trainer, &loss), DIFFUSE_OK);
        loss_digest = fnv1a(loss_digest, &loss, sizeof loss);
    }
    size_t count;
    ck_assert_int_eq(diffuse_model_param_count(model, &count), DIFFUSE_OK);
    float *params = malloc(2 * count * sizeof *params);
    ck_assert_ptr_nonnull(params);
    ck_assert_int_eq(diffuse_model_get_params(model, params, count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_get_ema_params(model, params + count, count), DIFFUSE_OK);
    uint64_t params_digest = fnv1a(FNV_OFFSET, params, 2 * count * sizeof *params);
    free(params);
    char params_what[64], loss_what[64];
    snprintf(params_what, sizeof params_what, "train[%d] params (%s, %d threads)", _i,
             c->prediction == DIFFUSE_PREDICT_V ? "v" : "eps", c->threads);
    snprintf(loss_what, sizeof loss_what, "train[%d] losses (%s, %d threads)", _i,
             c->prediction == DIFFUSE_PREDICT_V ? "v" : "eps", c->threads);
    show_digest(params_what, params_digest);
    show_digest(loss_what, loss_digest);
    expect_digest(params_what, params_digest, c->params_digest);
    expect_digest(loss_what, loss_digest, c->loss_digest);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("compat");
    TCase *bits = tcase_create("bits_of_0_1");
    tcase_set_timeout(bits, 600);
    tcase_add_loop_test(bits, ddpm_samples_match_0_1, 0,
                        (int)(sizeof sample_cases / sizeof sample_cases[0]));
    tcase_add_loop_test(bits, training_matches_0_1, 0,
                        (int)(sizeof train_cases / sizeof train_cases[0]));
    suite_add_tcase(suite, bits);
    return diffuse_test_run(suite);
}
