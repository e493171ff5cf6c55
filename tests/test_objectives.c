/* The training objectives: min-SNR-γ weights (src/train/loss_weight.c)
 * against the double-precision script tests/reference/objectives_reference.py
 * (objectives_reference.h), finite at SNR = 0 and ∞, and the trainer's
 * option (bounds, effect, a zero-terminal-SNR schedule, checkpoints); the
 * Gaussian terms of the bound (src/core/likelihood.c) against the same
 * script; L_hybrid's gradient in the learned variance
 * (src/train/hybrid_loss.c) against finite differences; training a model
 * that learns its variance, and its checkpoint. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/likelihood.h"
#include "core/schedule.h"
#include "reference/objectives_reference.h"
#include "test_support.h"
#include "train/hybrid_loss.h"
#include "train/loss_weight.h"

static const diffuse_prediction kinds[3] = {DIFFUSE_PREDICT_EPSILON, DIFFUSE_PREDICT_V,
                                            DIFFUSE_PREDICT_X0};

START_TEST(min_snr_weights_match_reference)
{
    for (size_t g = 0; g < MIN_SNR_REF_GAMMAS; g++) {
        for (size_t a = 0; a < MIN_SNR_REF_ABARS; a++) {
            size_t row = (size_t)_i * MIN_SNR_REF_GAMMAS + g;
            double expected = min_snr_ref_weight[row * MIN_SNR_REF_ABARS + a];
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

static diffuse_test_handles make_training(diffuse_prediction kind, int zero_terminal_snr)
{
    diffuse_model_config *config;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, kind),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return diffuse_test_training(
        model, diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 100, zero_terminal_snr), 1e-3);
}

/* The loss of one step on a fixed batch with γ (0: off). */
static double loss_with_gamma(diffuse_prediction kind, int zero_terminal_snr, double gamma)
{
    diffuse_test_handles r = make_training(kind, zero_terminal_snr);
    ck_assert_int_eq(diffuse_trainer_set_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, gamma),
                     DIFFUSE_OK);
    float *x0 = diffuse_test_uniform_floats(64 * 2, 7, 0, -1.0f, 1.0f);
    double loss = NAN;
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 64, x0, &loss), DIFFUSE_OK);
    free(x0);
    diffuse_test_handles_free(&r);
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
    diffuse_test_handles r = make_training(DIFFUSE_PREDICT_EPSILON, 0);
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
    diffuse_test_handles_free(&r);
}
END_TEST

/* γ is saved with a trainer checkpoint and restored. */
START_TEST(trainer_option_checkpoint_round_trip)
{
    diffuse_test_handles saved = make_training(DIFFUSE_PREDICT_V, 0);
    ck_assert_int_eq(
        diffuse_trainer_set_double(saved.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, 2.5),
        DIFFUSE_OK);
    diffuse_test_handles r = diffuse_test_reload_trainer(saved.trainer);
    diffuse_test_handles_free(&saved);
    double gamma = 0.0;
    ck_assert_int_eq(diffuse_trainer_get_double(r.trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, &gamma),
                     DIFFUSE_OK);
    ck_assert_double_eq(gamma, 2.5);
    diffuse_test_handles_free(&r);
}
END_TEST

static void expect_close(const char *what, size_t index, double got, double expected,
                         double tolerance)
{
    ck_assert_msg(fabs(got - expected) <= tolerance * fmax(1.0, fabs(expected)),
                  "%s case %zu: %.15g, expected %.15g", what, index, got, expected);
}

START_TEST(gaussian_terms_match_reference)
{
    for (size_t i = 0; i < KL_REF_CASES; i++) {
        const double *c = kl_ref + 6 * i;
        expect_close("KL", i, likelihood_gaussian_kl(c[0], c[1], c[2], c[3]), c[4], 1e-12);
        /* the reference derivative is a central difference: ~1e-9 */
        expect_close("dKL", i, likelihood_gaussian_kl_dlogvar(c[0], c[1], c[2], c[3]), c[5],
                     1e-7);
    }
    for (size_t i = 0; i < DECODER_REF_CASES; i++) {
        const double *c = decoder_ref + 7 * i;
        expect_close("continuous", i, likelihood_continuous_nll(c[0], c[1], c[2]), c[3], 1e-12);
        expect_close("d continuous", i, likelihood_continuous_nll_dlogvar(c[0], c[1], c[2]),
                     c[4], 1e-7);
        expect_close("discretised", i, likelihood_discretized_nll(c[0], c[1], c[2]), c[5],
                     1e-10);
        expect_close("d discretised", i, likelihood_discretized_nll_dlogvar(c[0], c[1], c[2]),
                     c[6], 1e-6);
    }
}
END_TEST

enum { HYBRID_N = 6, HYBRID_D = 3 };

/* Σ_i T·L_{t_i} of the rows for variance outputs v (the gradient lands in
 * `gradient` when not NULL). */
static double hybrid_value(hybrid_rows rows, const float *v, float *gradient)
{
    float copy[HYBRID_N * HYBRID_D];
    memcpy(copy, v, sizeof copy);
    rows.variance = copy;
    double value = hybrid_vlb_and_gradient(&rows, 1.0);
    if (gradient != NULL)
        memcpy(gradient, copy, sizeof copy);
    return value;
}

/* ∂(Σ T·L_t)/∂v of hybrid_vlb_and_gradient against central differences in
 * v, for each prediction kind and decoder, rows at t = 0 (decoder), 1, T/2
 * and T − 1 (KLs). */
START_TEST(hybrid_gradient_matches_finite_differences)
{
    diffuse_prediction kind = kinds[_i % 3];
    diffuse_decoder decoder = _i < 3 ? DIFFUSE_DECODER_DISCRETE : DIFFUSE_DECODER_CONTINUOUS;
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_COSINE, 100, 0);
    int32_t t[HYBRID_N] = {0, 0, 1, 50, 99, 7};
    /* x_0 on the 256-level grid, an edge included */
    float x0[HYBRID_N * HYBRID_D], eps[HYBRID_N * HYBRID_D], x_t[HYBRID_N * HYBRID_D];
    float *noise = diffuse_test_uniform_floats(HYBRID_N * HYBRID_D, 3, 1, -1.5f, 1.5f);
    float *output = diffuse_test_uniform_floats(HYBRID_N * HYBRID_D, 3, 2, -1.0f, 1.0f);
    float *v = diffuse_test_uniform_floats(HYBRID_N * HYBRID_D, 3, 3, -0.9f, 0.9f);
    for (size_t j = 0; j < HYBRID_N * HYBRID_D; j++) {
        x0[j] = (float)((double)((j * 37) % 256) / 127.5 - 1.0);
        eps[j] = noise[j];
    }
    x0[0] = -1.0f;
    ck_assert_int_eq(diffuse_q_sample(s, HYBRID_N, HYBRID_D, t, x0, eps, x_t), DIFFUSE_OK);
    float scratch[HYBRID_N * HYBRID_D], gradient[HYBRID_N * HYBRID_D];
    hybrid_rows rows = {.schedule = s, .kind = kind, .decoder = decoder, .n = HYBRID_N,
                        .d = HYBRID_D, .t = t, .x0 = x0, .x_t = x_t, .output = output,
                        .x0_scratch = scratch};
    hybrid_value(rows, v, gradient);
    for (size_t j = 0; j < HYBRID_N * HYBRID_D; j++) {
        float plus[HYBRID_N * HYBRID_D], minus[HYBRID_N * HYBRID_D];
        memcpy(plus, v, sizeof plus);
        memcpy(minus, v, sizeof minus);
        float h = 1e-2f;
        plus[j] += h;
        minus[j] -= h;
        double numeric = (hybrid_value(rows, plus, NULL) - hybrid_value(rows, minus, NULL)) /
                         (double)(plus[j] - minus[j]);
        ck_assert_msg(fabs(gradient[j] - numeric) <= 2e-3 * fmax(1.0, fabs(numeric)),
                      "kind %d decoder %d element %zu: %.9g, finite difference %.9g",
                      (int)kind, (int)decoder, j, gradient[j], numeric);
    }
    free(noise);
    free(output);
    free(v);
    diffuse_schedule_free(s);
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
    TCase *hybrid = tcase_create("hybrid");
    tcase_add_test(hybrid, gaussian_terms_match_reference);
    tcase_add_loop_test(hybrid, hybrid_gradient_matches_finite_differences, 0, 6);
    suite_add_tcase(suite, hybrid);
    return diffuse_test_run(suite);
}
