/* The training objectives (src/train/loss_weight.c): min-SNR-γ weights
 * against the double-precision script tests/reference/objectives_reference.py
 * (objectives_reference.h), finite at SNR = 0 and ∞, and the trainer's
 * option (bounds, effect, a zero-terminal-SNR schedule, checkpoints). */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference/objectives_reference.h"
#include "test_support.h"
#include "train/loss_weight.h"

static const diffuse_prediction kinds[3] = {DIFFUSE_PREDICT_EPSILON, DIFFUSE_PREDICT_V,
                                            DIFFUSE_PREDICT_X0};

START_TEST(min_snr_weights_match_reference)
{
    for (size_t g = 0; g < MIN_SNR_REF_GAMMAS; g++) {
        for (size_t a = 0; a < MIN_SNR_REF_ABARS; a++) {
            double expected = min_snr_ref_weight[((size_t)_i * MIN_SNR_REF_GAMMAS + g) * MIN_SNR_REF_ABARS + a];
            double got = loss_min_snr_weight(kinds[_i], min_snr_ref_abar[a], min_snr_ref_gamma[g]);
            ck_assert_msg(isfinite(got) && fabs(got - expected) <= 1e-12 * fmax(1.0, expected),
                          "kind %d, gamma %g, abar %.17g: %.17g, expected %.17g", (int)kinds[_i],
                          min_snr_ref_gamma[g], min_snr_ref_abar[a], got, expected);
        }
    }
}
END_TEST

/* A zero-terminal-SNR schedule (ᾱ_{T−1} = 0: SNR = 0) and ᾱ = 1 (SNR = ∞)
 * give the limits, never NaN; γ = 0 gives 1 everywhere. */
START_TEST(min_snr_weights_at_zero_and_infinite_snr)
{
    diffuse_schedule *zero = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 1);
    int32_t t[2] = {999, 0};
    float w[2];
    double at_zero[3] = {1.0, 0.0, 0.0}, at_infinity[3] = {0.0, 0.0, 5.0};
    for (size_t k = 0; k < 3; k++) {
        loss_min_snr_weights(zero, kinds[k], 5.0, 2, t, w);
        ck_assert(isfinite(w[0]) && isfinite(w[1]));
        ck_assert_float_eq(w[0], (float)at_zero[k]);
        ck_assert_double_eq(loss_min_snr_weight(kinds[k], 1.0, 5.0), at_infinity[k]);
        loss_min_snr_weights(zero, kinds[k], 0.0, 2, t, w);
        ck_assert_float_eq(w[0], 1.0f);
        ck_assert_float_eq(w[1], 1.0f);
    }
    diffuse_schedule_free(zero);
}
END_TEST

typedef struct training {
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_schedule *schedule;
} training;

static training make_training(diffuse_prediction kind, int zero_terminal_snr)
{
    training r = {0};
    r.schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 100, zero_terminal_snr);
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, kind),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&r.model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    ck_assert_int_eq(diffuse_optimizer_create(&r.optimizer, DIFFUSE_OPTIMIZER_ADAMW, r.model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&r.trainer, r.model, r.schedule, r.optimizer),
                     DIFFUSE_OK);
    return r;
}

static void free_training(training *r)
{
    diffuse_trainer_free(r->trainer);
    diffuse_optimizer_free(r->optimizer);
    diffuse_model_free(r->model);
    diffuse_schedule_free(r->schedule);
}

/* The loss of one step on a fixed batch with γ (0: off). */
static double loss_with_gamma(diffuse_prediction kind, int zero_terminal_snr, double gamma)
{
    training r = make_training(kind, zero_terminal_snr);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, gamma),
                     DIFFUSE_OK);
    float *x0 = diffuse_test_uniform_floats(64 * 2, 7, 0, -1.0f, 1.0f);
    double loss = NAN;
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 64, x0, &loss), DIFFUSE_OK);
    free(x0);
    free_training(&r);
    return loss;
}

START_TEST(trainer_option_changes_the_loss)
{
    double off = loss_with_gamma(DIFFUSE_PREDICT_EPSILON, 0, 0.0);
    /* ε-weights are 1 where SNR ≤ γ: every t of this schedule (SNR ≤ 1e4). */
    ck_assert_double_eq(loss_with_gamma(DIFFUSE_PREDICT_EPSILON, 0, 1e6), off);
    double weighted = loss_with_gamma(DIFFUSE_PREDICT_EPSILON, 0, 1.0);
    ck_assert(isfinite(weighted) && weighted < off);
    /* Zero terminal SNR: finite for every kind the trainer accepts. */
    for (size_t k = 0; k < 3; k++)
        ck_assert(isfinite(loss_with_gamma(kinds[k], 1, 5.0)));
}
END_TEST

START_TEST(trainer_option_bounds_and_types)
{
    training r = make_training(DIFFUSE_PREDICT_EPSILON, 0);
    double value = -1.0, min = -1.0, max = -1.0;
    ck_assert_int_eq(diffuse_trainer_get_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, &value),
                     DIFFUSE_OK);
    ck_assert_double_eq(value, 0.0);
    ck_assert_int_eq(diffuse_trainer_double_bounds(DIFFUSE_TRAINER_MIN_SNR_GAMMA, &min, &max),
                     DIFFUSE_OK);
    ck_assert_double_eq(min, 0.0);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, -1.0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, NAN),
                     DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_SEED, 1.0),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    free_training(&r);
}
END_TEST

/* γ is saved with a trainer checkpoint and restored. */
START_TEST(trainer_option_checkpoint_round_trip)
{
    char dir[512], path[600];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/trainer.safetensors", dir);
    training r = make_training(DIFFUSE_PREDICT_V, 0);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, 2.5),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, path), DIFFUSE_OK);
    free_training(&r);
    diffuse_trainer *trainer = NULL;
    diffuse_model *model = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_schedule *schedule = NULL;
    ck_assert_int_eq(diffuse_trainer_load(path, &model, &schedule, &optimizer, &trainer),
                     DIFFUSE_OK);
    double gamma = 0.0;
    ck_assert_int_eq(diffuse_trainer_get_double(trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, &gamma),
                     DIFFUSE_OK);
    ck_assert_double_eq(gamma, 2.5);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
    diffuse_test_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("objectives");
    TCase *weights = tcase_create("min_snr");
    tcase_add_loop_test(weights, min_snr_weights_match_reference, 0, 3);
    tcase_add_test(weights, min_snr_weights_at_zero_and_infinite_snr);
    tcase_add_test(weights, trainer_option_changes_the_loss);
    tcase_add_test(weights, trainer_option_bounds_and_types);
    tcase_add_test(weights, trainer_option_checkpoint_round_trip);
    suite_add_tcase(suite, weights);
    return diffuse_test_run(suite);
}
