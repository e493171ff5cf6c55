/* Posterior mean/variance and the ε/x_0/v conversions: reference rows,
 * μ_θ(true ε) = μ̃(true x_0), round trips, in-place use, zero terminal SNR,
 * and bad input for every public function. */
#include <diffuse/diffuse.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/posterior.h"
#include "reference/posterior_reference.h"
#include "core/schedule.h"
#include "test_support.h"

enum { N = POSTERIOR_REF_N, D = POSTERIOR_REF_D, COUNT = N * D };

typedef diffuse_status (*public_fn)(const diffuse_schedule *, size_t, size_t, const int32_t *,
                                    const float *, const float *, float *);
typedef void (*internal_fn)(const diffuse_schedule *, size_t, size_t, const int32_t *,
                            const float *, const float *, float *);

/* One batched function: its reference inputs (argument order), expected
 * output, argument names, whether it divides by ᾱ_t or α_t, and inputs that
 * make its result overflow float (x, y) — none for the posterior mean, a
 * weighted average that cannot. */
typedef struct conversion_case {
    const char *name;
    public_fn checked;
    internal_fn unchecked;
    const float *x, *y;
    size_t expected_offset; /* of the double[COUNT] in posterior_ref_case */
    const char *x_name, *y_name, *out_name;
    bool guarded;
    bool can_overflow;
    float overflow_x, overflow_y;
} conversion_case;

static const conversion_case conversions[] = {
    {"posterior_mean", diffuse_posterior_mean, posterior_mean, posterior_ref_x0,
     posterior_ref_xt, offsetof(posterior_ref_case, mean), "x0", "xt", "mean", false, false, 0,
     0},
    {"x0_from_eps", diffuse_predict_x0_from_eps, posterior_x0_from_eps, posterior_ref_xt,
     posterior_ref_eps, offsetof(posterior_ref_case, x0_from_eps), "xt", "eps", "x0", true, true,
     FLT_MAX, -FLT_MAX},
    {"eps_from_x0", diffuse_predict_eps_from_x0, posterior_eps_from_x0, posterior_ref_xt,
     posterior_ref_x0, offsetof(posterior_ref_case, eps_from_x0), "xt", "x0", "eps", false, true,
     1e37f, -1e37f},
    {"velocity", diffuse_velocity, posterior_velocity, posterior_ref_x0, posterior_ref_eps,
     offsetof(posterior_ref_case, velocity), "x0", "eps", "v", false, true, -FLT_MAX, FLT_MAX},
    {"x0_from_v", diffuse_predict_x0_from_v, posterior_x0_from_v, posterior_ref_xt,
     posterior_ref_v, offsetof(posterior_ref_case, x0_from_v), "xt", "v", "x0", false, true,
     FLT_MAX, -FLT_MAX},
    {"eps_from_v", diffuse_predict_eps_from_v, posterior_eps_from_v, posterior_ref_xt,
     posterior_ref_v, offsetof(posterior_ref_case, eps_from_v), "xt", "v", "eps", false, true,
     FLT_MAX, FLT_MAX},
    {"model_mean_from_eps", diffuse_posterior_model_mean, posterior_model_mean_from_eps,
     posterior_ref_xt, posterior_ref_eps, offsetof(posterior_ref_case, model_mean), "xt", "eps",
     "mean", true, true, FLT_MAX, -FLT_MAX},
};
enum { CONVERSION_COUNT = sizeof conversions / sizeof conversions[0] };
enum { CASE_COUNT = sizeof posterior_ref_cases / sizeof posterior_ref_cases[0] };

static const double *expected_of(const posterior_ref_case *c, const conversion_case *conv)
{
    return (const double *)((const char *)c + conv->expected_offset);
}

static diffuse_schedule *make_reference(const posterior_ref_case *c)
{
    return diffuse_test_schedule(c->kind, c->steps, c->zero_terminal_snr);
}

static void fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static void assert_untouched(const float *out)
{
    for (int i = 0; i < COUNT; i++)
        ck_assert_float_eq(out[i], 123.0f);
}

static void assert_message(const diffuse_schedule *s, const char *fragment)
{
    const char *message = diffuse_schedule_last_error(s);
    ck_assert_msg(strstr(message, fragment) != NULL, "message \"%s\" lacks \"%s\"", message,
                  fragment);
}

/* ---- reference ----------------------------------------------------------------- */

START_TEST(conversions_match_reference)
{
    const posterior_ref_case *c = &posterior_ref_cases[_i / CONVERSION_COUNT];
    const conversion_case *conv = &conversions[_i % CONVERSION_COUNT];
    const double *expected = expected_of(c, conv);
    diffuse_schedule *s = make_reference(c);
    float out[COUNT];
    fill(out, COUNT, 123.0f);
    /* rows where the reference has NaN (division by ᾱ_t = 0 or α_t = 0) are last */
    size_t rows = N;
    while (rows > 0 && isnan(expected[(rows - 1) * D]))
        rows--;
    ck_assert_msg(rows == N || conv->guarded, "%s: unexpected NaN reference", conv->name);
    if (rows < N) {
        ck_assert_int_eq(conv->checked(s, N, D, posterior_ref_t, conv->x, conv->y, out),
                         DIFFUSE_ERROR_NUMERIC);
        assert_untouched(out);
        assert_message(s, "row 4");
    }
    ck_assert_msg(conv->checked(s, rows, D, posterior_ref_t, conv->x, conv->y, out) == DIFFUSE_OK,
                  "%s/%s: %s", c->name, conv->name, diffuse_schedule_last_error(s));
    for (size_t i = 0; i < rows * D; i++)
        ck_assert_msg(fabs(out[i] - expected[i]) <= 1e-6 + 1e-6 * fabs(expected[i]),
                      "%s/%s[%zu] = %.9g, expected %.9g", c->name, conv->name, i, out[i],
                      expected[i]);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(variance_matches_reference)
{
    const posterior_ref_case *c = &posterior_ref_cases[_i];
    diffuse_schedule *s = make_reference(c);
    for (int i = 0; i < N; i++) {
        double variance, log_variance;
        ck_assert_int_eq(diffuse_posterior_variance(s, (size_t)posterior_ref_t[i], &variance,
                                                    &log_variance),
                         DIFFUSE_OK);
        ck_assert_close(variance, c->variance[i], 1e-10, 1e-300);
        ck_assert_close(log_variance, c->log_variance[i], 1e-12, 0);
    }
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(in_place_and_internal_agree)
{
    const conversion_case *conv = &conversions[_i];
    diffuse_schedule *s = make_reference(&posterior_ref_cases[0]);
    float expected[COUNT], internal[COUNT], over_x[COUNT], over_y[COUNT];
    ck_assert_int_eq(conv->checked(s, N, D, posterior_ref_t, conv->x, conv->y, expected),
                     DIFFUSE_OK);
    conv->unchecked(s, N, D, posterior_ref_t, conv->x, conv->y, internal);
    memcpy(over_x, conv->x, sizeof over_x);
    memcpy(over_y, conv->y, sizeof over_y);
    ck_assert_int_eq(conv->checked(s, N, D, posterior_ref_t, over_x, conv->y, over_x),
                     DIFFUSE_OK);
    ck_assert_int_eq(conv->checked(s, N, D, posterior_ref_t, conv->x, over_y, over_y),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(expected, internal, sizeof expected), 0);
    ck_assert_int_eq(memcmp(expected, over_x, sizeof expected), 0);
    ck_assert_int_eq(memcmp(expected, over_y, sizeof expected), 0);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- identities ------------------------------------------------------------------ */

enum { SWEEP_ROWS = 9, SWEEP_D = 4, SWEEP_COUNT = SWEEP_ROWS * SWEEP_D, SWEEP_STEPS = 200 };

static const int32_t sweep_t[SWEEP_ROWS] = {0, 1, 2, 17, 50, 100, 150, 198, 199};

/* Fixed inputs with |x| < 2, exact in float. */
static void sweep_inputs(float *x0, float *eps)
{
    for (int i = 0; i < SWEEP_COUNT; i++) {
        x0[i] = (float)((i * 29 % 61) - 30) / 16.0f;
        eps[i] = (float)((i * 43 % 67) - 33) / 16.0f;
    }
}

/* μ_θ(x_t, ε) = μ̃_t(x_t, x_0) when x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε. */
START_TEST(model_mean_with_true_eps_is_posterior_mean)
{
    int kind = _i % 4, zero_snr = _i / 4;
    diffuse_schedule *s = diffuse_test_schedule(kind, SWEEP_STEPS, zero_snr);
    float x0[SWEEP_COUNT], eps[SWEEP_COUNT], xt[SWEEP_COUNT];
    float model[SWEEP_COUNT], posterior[SWEEP_COUNT];
    sweep_inputs(x0, eps);
    /* α_{T−1} = 0 with zero terminal SNR: leave out the last row there */
    size_t rows = zero_snr ? SWEEP_ROWS - 1 : SWEEP_ROWS;
    ck_assert_int_eq(diffuse_q_sample(s, rows, SWEEP_D, sweep_t, x0, eps, xt), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_posterior_model_mean(s, rows, SWEEP_D, sweep_t, xt, eps, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_posterior_mean(s, rows, SWEEP_D, sweep_t, x0, xt, posterior),
                     DIFFUSE_OK);
    for (size_t i = 0; i < rows * SWEEP_D; i++)
        ck_assert_close(model[i], posterior[i], 1e-5, 1e-5);
    diffuse_schedule_free(s);
}
END_TEST

/* Tolerance for a result that divides float-rounded inputs by `divisor`. */
static double tolerance(double divisor)
{
    return 1e-6 * (1.0 + 1.0 / divisor);
}

START_TEST(conversions_round_trip)
{
    int kind = _i % 4, zero_snr = _i / 4;
    diffuse_schedule *s = diffuse_test_schedule(kind, SWEEP_STEPS, zero_snr);
    const double *sqrt_ab = schedule_column(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR);
    const double *sqrt_1m = schedule_column(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR);
    float x0[SWEEP_COUNT], eps[SWEEP_COUNT], xt[SWEEP_COUNT], v[SWEEP_COUNT];
    float back[SWEEP_COUNT];
    sweep_inputs(x0, eps);
    size_t n = SWEEP_ROWS, d = SWEEP_D;
    size_t eps_rows = zero_snr ? n - 1 : n; /* x̂_0 from ε needs ᾱ_t > 0 */
    ck_assert_int_eq(diffuse_q_sample(s, n, d, sweep_t, x0, eps, xt), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_velocity(s, n, d, sweep_t, x0, eps, v), DIFFUSE_OK);

    ck_assert_int_eq(diffuse_predict_x0_from_eps(s, eps_rows, d, sweep_t, xt, eps, back),
                     DIFFUSE_OK);
    for (size_t i = 0; i < eps_rows * d; i++)
        ck_assert_close(back[i], x0[i], 0, tolerance(sqrt_ab[sweep_t[i / d]]));
    ck_assert_int_eq(diffuse_predict_eps_from_x0(s, n, d, sweep_t, xt, x0, back), DIFFUSE_OK);
    for (size_t i = 0; i < n * d; i++)
        ck_assert_close(back[i], eps[i], 0, tolerance(sqrt_1m[sweep_t[i / d]]));
    ck_assert_int_eq(diffuse_predict_x0_from_v(s, n, d, sweep_t, xt, v, back), DIFFUSE_OK);
    for (size_t i = 0; i < n * d; i++)
        ck_assert_close(back[i], x0[i], 0, tolerance(1.0));
    ck_assert_int_eq(diffuse_predict_eps_from_v(s, n, d, sweep_t, xt, v, back), DIFFUSE_OK);
    for (size_t i = 0; i < n * d; i++)
        ck_assert_close(back[i], eps[i], 0, tolerance(1.0));
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(clipped_log_variance_at_t0)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 100, 0);
    double v0, log0, v1, log1;
    ck_assert_int_eq(diffuse_posterior_variance(s, 0, &v0, &log0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_posterior_variance(s, 1, &v1, &log1), DIFFUSE_OK);
    ck_assert_double_eq(v0, 0.0);
    ck_assert_double_eq(log0, log1);
    ck_assert_double_eq(log1, log(v1));
    diffuse_schedule_free(s);
}
END_TEST

/* ---- zero terminal SNR ----------------------------------------------------------- */

START_TEST(zero_snr_guards_name_the_row)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 100, 1);
    int32_t t[N] = {0, 99, 5, 98, 1};
    float out[COUNT];
    fill(out, COUNT, 123.0f);
    ck_assert_int_eq(diffuse_predict_x0_from_eps(s, N, D, t, posterior_ref_xt, posterior_ref_eps,
                                                 out),
                     DIFFUSE_ERROR_NUMERIC);
    assert_untouched(out);
    assert_message(s, "row 1: t = 99 has alpha_bar = 0");
    ck_assert_int_eq(diffuse_posterior_model_mean(s, N, D, t, posterior_ref_xt, posterior_ref_eps,
                                                 out),
                     DIFFUSE_ERROR_NUMERIC);
    assert_untouched(out);
    assert_message(s, "row 1: t = 99 has alpha = 0");
    /* the rest work at t = T−1; μ̃ there is √ᾱ_{T−2} x_0 (COEF_XT = 0) */
    ck_assert_int_eq(diffuse_predict_eps_from_x0(s, N, D, t, posterior_ref_xt, posterior_ref_x0,
                                                 out),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_posterior_mean(s, N, D, t, posterior_ref_x0, posterior_ref_xt, out),
                     DIFFUSE_OK);
    double sqrt_prev = sqrt(schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR)[98]);
    for (int j = 0; j < D; j++)
        ck_assert_close(out[D + j], sqrt_prev * posterior_ref_x0[D + j], 1e-6, 1e-7);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(beta_one_at_the_end_of_custom_schedule)
{
    /* ᾱ = 0 and α = 0 at t = 4 only (β = 1 is allowed at the last step only) */
    double betas[5] = {0.1, 0.2, 0.3, 0.4, 1.0};
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, 5), DIFFUSE_OK);
    int32_t last[N] = {0, 1, 4, 3, 1}, before[N] = {0, 1, 2, 3, 3};
    float out[COUNT];
    ck_assert_int_eq(diffuse_predict_x0_from_eps(s, N, D, last, posterior_ref_xt,
                                                 posterior_ref_eps, out),
                     DIFFUSE_ERROR_NUMERIC);
    assert_message(s, "row 2: t = 4");
    ck_assert_int_eq(diffuse_posterior_model_mean(s, N, D, last, posterior_ref_xt,
                                                  posterior_ref_eps, out),
                     DIFFUSE_ERROR_NUMERIC);
    assert_message(s, "row 2: t = 4");
    ck_assert_int_eq(diffuse_posterior_model_mean(s, N, D, before, posterior_ref_xt,
                                                  posterior_ref_eps, out),
                     DIFFUSE_OK);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------- */

START_TEST(batched_functions_reject_bad_input)
{
    const conversion_case *conv = &conversions[_i];
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    const int32_t *t = posterior_ref_t;
    const float *x = conv->x, *y = conv->y;
    float out[COUNT], bad[COUNT];
    int32_t negative_t[N] = {0, -1, 2, 3, 4}, late_t[N] = {0, 1, 2, 3, 1000};
    char expected[64];
    fill(out, COUNT, 123.0f);

    ck_assert_int_eq(conv->checked(NULL, N, D, t, x, y, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(conv->checked(s, 0, D, t, x, y, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "sizes must be positive");
    ck_assert_int_eq(conv->checked(s, N, 0, t, x, y, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(conv->checked(s, SIZE_MAX / 4, 4, t, x, y, out),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "too large");
    ck_assert_int_eq(conv->checked(s, N, D, NULL, x, y, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "t must not be NULL");
    ck_assert_int_eq(conv->checked(s, N, D, negative_t, x, y, out), DIFFUSE_ERROR_OUT_OF_RANGE);
    assert_message(s, "t[1] = -1");
    ck_assert_int_eq(conv->checked(s, N, D, late_t, x, y, out), DIFFUSE_ERROR_OUT_OF_RANGE);
    assert_message(s, "t[4] = 1000 is outside [0, 1000)");
    ck_assert_int_eq(conv->checked(s, N, D, t, NULL, y, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s must not be NULL", conv->x_name);
    assert_message(s, expected);
    ck_assert_int_eq(conv->checked(s, N, D, t, x, NULL, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s must not be NULL", conv->y_name);
    assert_message(s, expected);
    ck_assert_int_eq(conv->checked(s, N, D, t, x, y, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s must not be NULL", conv->out_name);
    assert_message(s, expected);
    memcpy(bad, x, sizeof bad);
    bad[4] = NAN;
    ck_assert_int_eq(conv->checked(s, N, D, t, bad, y, out), DIFFUSE_ERROR_NUMERIC);
    snprintf(expected, sizeof expected, "%s[4] is not finite", conv->x_name);
    assert_message(s, expected);
    memcpy(bad, y, sizeof bad);
    bad[11] = INFINITY;
    ck_assert_int_eq(conv->checked(s, N, D, t, x, bad, out), DIFFUSE_ERROR_NUMERIC);
    snprintf(expected, sizeof expected, "%s[11] is not finite", conv->y_name);
    assert_message(s, expected);
    assert_untouched(out);

    if (conv->can_overflow) {
        float big_x[COUNT], big_y[COUNT];
        fill(big_x, COUNT, conv->overflow_x);
        fill(big_y, COUNT, conv->overflow_y);
        ck_assert_int_eq(conv->checked(s, N, D, t, big_x, big_y, out), DIFFUSE_ERROR_NUMERIC);
        snprintf(expected, sizeof expected, "%s row", conv->out_name);
        assert_message(s, expected);
        assert_message(s, "overflows float");
    }
    diffuse_schedule_free(s);
}
END_TEST

/* In place is allowed, a partial overlap with an input or any overlap
 * with t is not (conversion _i). */
START_TEST(batched_functions_reject_partial_overlap)
{
    const conversion_case *conv = &conversions[_i];
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    const int32_t *t = posterior_ref_t;
    float area[COUNT + 1];
    char expected[64];
    memcpy(area, conv->x, COUNT * sizeof *area);
    ck_assert_int_eq(conv->checked(s, N, D, t, area, conv->y, area + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s partially overlaps %s", conv->out_name, conv->x_name);
    assert_message(s, expected);
    memcpy(area + 1, conv->y, COUNT * sizeof *area);
    ck_assert_int_eq(conv->checked(s, N, D, t, conv->x, area + 1, area),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s partially overlaps %s", conv->out_name, conv->y_name);
    assert_message(s, expected);
    union { float f[COUNT + N]; int32_t i[COUNT + N]; } both;
    memcpy(both.i, t, N * sizeof *t);
    ck_assert_int_eq(conv->checked(s, N, D, both.i, conv->x, conv->y, both.f + N - 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    snprintf(expected, sizeof expected, "%s must not overlap t", conv->out_name);
    assert_message(s, expected);
    memcpy(area, conv->x, COUNT * sizeof *area);
    ck_assert_int_eq(conv->checked(s, N, D, t, area, conv->y, area), DIFFUSE_OK);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(variance_rejects_bad_input)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    double v = 5.0, lv = 5.0;
    ck_assert_int_eq(diffuse_posterior_variance(NULL, 0, &v, &lv), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_posterior_variance(s, 0, NULL, &lv), DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "variance must not be NULL");
    ck_assert_int_eq(diffuse_posterior_variance(s, 0, &v, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "log_variance_clipped must not be NULL");
    ck_assert_int_eq(diffuse_posterior_variance(s, 10, &v, &lv), DIFFUSE_ERROR_OUT_OF_RANGE);
    assert_message(s, "t = 10 is outside [0, 10)");
    ck_assert_double_eq(v, 5.0);
    ck_assert_double_eq(lv, 5.0);
    diffuse_schedule_free(s);
}
END_TEST

static Suite *posterior_suite(void)
{
    Suite *suite = suite_create("posterior");
    TCase *reference = tcase_create("reference");
    tcase_add_loop_test(reference, conversions_match_reference, 0, CASE_COUNT * CONVERSION_COUNT);
    tcase_add_loop_test(reference, variance_matches_reference, 0, CASE_COUNT);
    tcase_add_loop_test(reference, in_place_and_internal_agree, 0, CONVERSION_COUNT);
    suite_add_tcase(suite, reference);

    TCase *identities = tcase_create("identities");
    tcase_add_loop_test(identities, model_mean_with_true_eps_is_posterior_mean, 0, 8);
    tcase_add_loop_test(identities, conversions_round_trip, 0, 8);
    tcase_add_test(identities, clipped_log_variance_at_t0);
    suite_add_tcase(suite, identities);

    TCase *zero_snr = tcase_create("zero_terminal_snr");
    tcase_add_test(zero_snr, zero_snr_guards_name_the_row);
    tcase_add_test(zero_snr, beta_one_at_the_end_of_custom_schedule);
    suite_add_tcase(suite, zero_snr);

    TCase *bad = tcase_create("bad_input");
    tcase_add_loop_test(bad, batched_functions_reject_bad_input, 0, CONVERSION_COUNT);
    tcase_add_loop_test(bad, batched_functions_reject_partial_overlap, 0, CONVERSION_COUNT);
    tcase_add_test(bad, variance_rejects_bad_input);
    suite_add_tcase(suite, bad);
    return suite;
}

int main(void)
{
    return diffuse_test_run(posterior_suite());
}
