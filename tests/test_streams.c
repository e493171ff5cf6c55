/* The random streams trainer and sampler draw from, as docs/design.md
 * ("Randomness and reproducibility") documents them for other
 * implementations: reproduced here from diffuse_rng alone, in double
 * precision, and compared with what the library did.
 *
 *   trainer, step k (k = the optimizer's step count), row i, element j:
 *     t_i  = min(⌊u_i · T⌋, T − 1),  u_i = uniform value i of stream (seed, 2k)
 *     ε_ij = normal value i·d + j of stream (seed, 2k + 1)
 *   sampler, row i (global), element j:
 *     x_T,ij = normal value i·d + j of stream (seed, 0)
 *     z_t,ij = normal value i·d + j of stream (seed, t + 1) at reverse step t
 *
 * A swapped stream, an off-by-one in k or t or a per-chunk offset makes the
 * results differ at order one, far outside the tolerances. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>

#include "test_support.h"

enum { DIM = 3, ROWS = 40, T = 20 };
#define SEED 4242u

/* `count` values of stream (seed, stream) from position 0. */
static void stream_values(uint64_t stream, int normal, float *out, size_t count)
{
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, SEED, stream), DIFFUSE_OK);
    ck_assert_int_eq(normal ? diffuse_rng_normal(rng, out, count)
                            : diffuse_rng_uniform(rng, out, count),
                     DIFFUSE_OK);
    diffuse_rng_free(rng);
}

static void schedule_table(const diffuse_schedule *s, diffuse_schedule_table table, double *out)
{
    ck_assert_int_eq(diffuse_schedule_get_table(s, table, out, T), DIFFUSE_OK);
}

/* The loss of training step k on batch x0 with the model as it is now:
 * 1/(n·d) Σ (ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t))² from the documented draws. */
static double expected_loss(diffuse_model *model, const diffuse_schedule *s, uint64_t k,
                            const float *x0)
{
    float u[ROWS], eps[ROWS * DIM], x_t[ROWS * DIM], out[ROWS * DIM];
    int32_t t[ROWS];
    double alpha_bar[T];
    schedule_table(s, DIFFUSE_TABLE_ALPHA_BAR, alpha_bar);
    stream_values(2 * k, 0, u, ROWS);
    stream_values(2 * k + 1, 1, eps, ROWS * DIM);
    for (size_t i = 0; i < ROWS; i++) {
        size_t step = (size_t)((double)u[i] * T);
        t[i] = (int32_t)(step < T ? step : T - 1);
        for (size_t j = 0; j < DIM; j++) {
            double ab = alpha_bar[t[i]];
            x_t[i * DIM + j] = (float)(sqrt(ab) * x0[i * DIM + j] + sqrt(1 - ab) * eps[i * DIM + j]);
        }
    }
    ck_assert_int_eq(diffuse_test_predict(model, ROWS, t, x_t, out), DIFFUSE_OK);
    double sum = 0.0;
    for (size_t i = 0; i < ROWS * DIM; i++)
        sum += ((double)eps[i] - out[i]) * ((double)eps[i] - out[i]);
    return sum / (ROWS * DIM);
}

START_TEST(trainer_draws_t_and_noise_from_the_documented_streams)
{
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, schedule, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_SEED, SEED), DIFFUSE_OK);
    float x0[ROWS * DIM];
    for (size_t i = 0; i < ROWS * DIM; i++)
        x0[i] = (float)(i % 7) * 0.25f - 0.75f;
    /* Steps 0, 1 and 2: the stream pair moves with the optimizer's step count. */
    for (uint64_t k = 0; k < 3; k++) {
        double expected = expected_loss(model, schedule, k, x0), loss;
        ck_assert_int_eq(diffuse_trainer_step_batch(trainer, ROWS, x0, &loss), DIFFUSE_OK);
        ck_assert_close(loss, expected, 1e-5, 0.0);
    }
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    diffuse_schedule_free(schedule);
}
END_TEST

/* With ε_θ = 0, Algorithm 2 is x_{t−1} = x_t/√α_t + √β_t z_t (no z at t = 0):
 * the final sample is a fixed combination of the documented draws. */
START_TEST(sampler_draws_x_T_and_z_t_from_the_documented_streams)
{
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
    diffuse_model *model = NULL;
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&model, DIM, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, SEED), DIFFUSE_OK);
    /* Chunks of 7 rows: the draws are addressed by global row, not per chunk. */
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, 7), DIFFUSE_OK);
    float got[ROWS * DIM], draws[ROWS * DIM];
    ck_assert_int_eq(diffuse_sampler_run(sampler, ROWS, got), DIFFUSE_OK);

    double alpha[T], beta[T], x[ROWS * DIM];
    schedule_table(schedule, DIFFUSE_TABLE_ALPHA, alpha);
    schedule_table(schedule, DIFFUSE_TABLE_BETA, beta);
    stream_values(0, 1, draws, ROWS * DIM);
    for (size_t i = 0; i < ROWS * DIM; i++)
        x[i] = draws[i];
    for (size_t t = T; t-- > 0;) {
        stream_values(t + 1, 1, draws, ROWS * DIM);
        for (size_t i = 0; i < ROWS * DIM; i++)
            x[i] = x[i] / sqrt(alpha[t]) + (t > 0 ? sqrt(beta[t]) * draws[i] : 0.0);
    }
    for (size_t i = 0; i < ROWS * DIM; i++)
        ck_assert_close(got[i], x[i], 1e-5, 1e-6);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

static Suite *streams_suite(void)
{
    Suite *suite = suite_create("streams");
    TCase *tc = tcase_create("documented");
    tcase_add_test(tc, trainer_draws_t_and_noise_from_the_documented_streams);
    tcase_add_test(tc, sampler_draws_x_T_and_z_t_from_the_documented_streams);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(streams_suite());
}
