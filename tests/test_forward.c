/* The forward process q: reference rows, the rng variant, single steps
 * composing to the marginal, zero terminal SNR, and bad input. */
#include <diffuse/diffuse.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/forward.h"
#include "reference/forward_reference.h"
#include "core/schedule.h"
#include "test_support.h"

enum { N = FORWARD_REF_N, D = FORWARD_REF_D, COUNT = N * D };

static diffuse_schedule *make_reference(const forward_ref_case *c)
{
    return diffuse_test_schedule(c->kind, c->steps, c->zero_terminal_snr);
}

static diffuse_rng *make_rng(uint64_t seed)
{
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, seed, 0), DIFFUSE_OK);
    return rng;
}

static uint64_t rng_position(const diffuse_rng *rng)
{
    uint64_t seed, stream, position;
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, &position), DIFFUSE_OK);
    return position;
}

/* ---- reference ----------------------------------------------------------------- */

START_TEST(q_sample_matches_reference)
{
    const forward_ref_case *c = &forward_ref_cases[_i];
    diffuse_schedule *s = make_reference(c);
    float xt[COUNT];
    ck_assert_int_eq(diffuse_q_sample(s, N, D, forward_ref_t, forward_ref_x0, forward_ref_eps, xt),
                     DIFFUSE_OK);
    for (int i = 0; i < COUNT; i++)
        ck_assert_close(xt[i], c->xt[i], 1e-6, 1e-7);
    for (int i = 0; i < N; i++) {
        double mean, variance;
        size_t t = (size_t)forward_ref_t[i];
        ck_assert_int_eq(diffuse_q_marginal(s, t, &mean, &variance), DIFFUSE_OK);
        /* 1e-10: the zero-SNR rescale recovers β from √ᾱ by 1 − (√ᾱ_t/√ᾱ_{t−1})²,
         * which loses ~12 digits where β ~ 1e-4 in any implementation. */
        ck_assert_close(mean, c->marginal_mean[i], 1e-10, 1e-300);
        ck_assert_close(variance, c->marginal_variance[i], 1e-10, 0);
        ck_assert_int_eq(diffuse_q_step(s, t, &mean, &variance), DIFFUSE_OK);
        ck_assert_close(mean, c->step_mean[i], 1e-10, 1e-300);
        ck_assert_close(variance, c->step_variance[i], 1e-10, 0);
    }
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(internal_and_in_place_agree)
{
    const forward_ref_case *c = &forward_ref_cases[_i];
    diffuse_schedule *s = make_reference(c);
    float expected[COUNT], internal[COUNT], in_x0[COUNT], in_eps[COUNT];
    ck_assert_int_eq(
        diffuse_q_sample(s, N, D, forward_ref_t, forward_ref_x0, forward_ref_eps, expected),
        DIFFUSE_OK);
    forward_q_sample(s, N, D, forward_ref_t, forward_ref_x0, forward_ref_eps, internal);
    memcpy(in_x0, forward_ref_x0, sizeof in_x0);
    memcpy(in_eps, forward_ref_eps, sizeof in_eps);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, forward_ref_t, in_x0, forward_ref_eps, in_x0),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, forward_ref_t, forward_ref_x0, in_eps, in_eps),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(expected, internal, sizeof expected), 0);
    ck_assert_int_eq(memcmp(expected, in_x0, sizeof expected), 0);
    ck_assert_int_eq(memcmp(expected, in_eps, sizeof expected), 0);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(zero_terminal_snr_last_step_is_pure_noise)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_COSINE, 100, 1);
    int32_t t[N] = {99, 99, 99, 99, 99};
    float xt[COUNT];
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, forward_ref_x0, forward_ref_eps, xt),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(xt, forward_ref_eps, sizeof xt), 0);
    double mean, variance;
    ck_assert_int_eq(diffuse_q_marginal(s, 99, &mean, &variance), DIFFUSE_OK);
    ck_assert_double_eq(mean, 0.0);
    ck_assert_double_eq(variance, 1.0);
    ck_assert_int_eq(diffuse_q_step(s, 99, &mean, &variance), DIFFUSE_OK);
    ck_assert_double_eq(mean, 0.0);
    ck_assert_double_eq(variance, 1.0);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- rng variant --------------------------------------------------------------- */

START_TEST(q_sample_rng_is_q_sample_with_drawn_noise)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_rng *rng = make_rng(7);
    float eps[COUNT], xt[COUNT], expected[COUNT];
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, forward_ref_t, forward_ref_x0, rng, eps, xt),
                     DIFFUSE_OK);
    ck_assert_uint_eq(rng_position(rng), COUNT);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, forward_ref_t, forward_ref_x0, eps, expected),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(xt, expected, sizeof xt), 0);

    /* the noise is one draw of n·d values */
    float direct[COUNT];
    ck_assert_int_eq(diffuse_rng_set_position(rng, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, direct, COUNT), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(direct, eps, sizeof eps), 0);

    /* without eps_out, and in place (x0 must survive the draw) */
    float again[COUNT], in_place[COUNT];
    ck_assert_int_eq(diffuse_rng_set_position(rng, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, forward_ref_t, forward_ref_x0, rng, NULL,
                                          again),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(again, expected, sizeof again), 0);
    memcpy(in_place, forward_ref_x0, sizeof in_place);
    ck_assert_int_eq(diffuse_rng_set_position(rng, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, forward_ref_t, in_place, rng, NULL, in_place),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(in_place, expected, sizeof in_place), 0);
    memcpy(in_place, forward_ref_x0, sizeof in_place);
    ck_assert_int_eq(diffuse_rng_set_position(rng, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, forward_ref_t, in_place, rng, eps, in_place),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(in_place, expected, sizeof in_place), 0);
    diffuse_rng_free(rng);
    diffuse_schedule_free(s);
}
END_TEST

/* Sample mean and variance of x[0 .. n−1]. */
static void moments(const float *x, size_t n, double *mean, double *variance)
{
    double sum = 0, sum_sq = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    *mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sum_sq += (x[i] - *mean) * (x[i] - *mean);
    *variance = sum_sq / (double)(n - 1);
}

/* Within 5 standard errors of N(mean, variance) for n samples. */
static void assert_moments(const float *x, size_t n, double mean, double variance)
{
    double got_mean, got_variance;
    moments(x, n, &got_mean, &got_variance);
    ck_assert_msg(fabs(got_mean - mean) <= 5.0 * sqrt(variance / (double)n),
                  "mean %.6f, expected %.6f", got_mean, mean);
    ck_assert_msg(fabs(got_variance - variance) <= 5.0 * variance * sqrt(2.0 / (double)n),
                  "variance %.6f, expected %.6f", got_variance, variance);
}

enum { MC_ROWS = 20000 };

START_TEST(q_sample_rng_has_the_marginal_distribution)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_rng *rng = make_rng(11);
    float *x0 = malloc(MC_ROWS * sizeof *x0), *xt = malloc(MC_ROWS * sizeof *xt);
    int32_t *t = malloc(MC_ROWS * sizeof *t);
    for (size_t i = 0; i < MC_ROWS; i++) {
        x0[i] = 1.5f;
        t[i] = 300;
    }
    ck_assert_int_eq(diffuse_q_sample_rng(s, MC_ROWS, 1, t, x0, rng, NULL, xt), DIFFUSE_OK);
    double mean, variance;
    ck_assert_int_eq(diffuse_q_marginal(s, 300, &mean, &variance), DIFFUSE_OK);
    assert_moments(xt, MC_ROWS, mean * 1.5, variance);
    free(x0);
    free(xt);
    free(t);
    diffuse_rng_free(rng);
    diffuse_schedule_free(s);
}
END_TEST

/* x_t = √α_t x_{t−1} + √β_t z applied for t = 0..k gives mean coefficient
 * Π √α_i = √ᾱ_k and variance v_k = α_k v_{k−1} + β_k = 1 − ᾱ_k, exactly. */
START_TEST(single_steps_compose_to_marginal_exactly)
{
    int kind = _i % 4, zero_snr = _i / 4;
    size_t steps = 500;
    diffuse_schedule *s = diffuse_test_schedule(kind, steps, zero_snr);
    double coef = 1.0, variance = 0.0;
    for (size_t t = 0; t < steps; t++) {
        double step_mean, step_variance, marginal_mean, marginal_variance;
        ck_assert_int_eq(diffuse_q_step(s, t, &step_mean, &step_variance), DIFFUSE_OK);
        coef *= step_mean;
        variance = step_mean * step_mean * variance + step_variance;
        ck_assert_int_eq(diffuse_q_marginal(s, t, &marginal_mean, &marginal_variance), DIFFUSE_OK);
        ck_assert_close(coef, marginal_mean, 1e-10, 1e-300);
        ck_assert_close(variance, marginal_variance, 1e-10, 0);
    }
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(single_steps_compose_to_marginal_by_sampling)
{
    enum { STEPS = 40, LAST = 30 };
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_COSINE, STEPS, 0);
    diffuse_rng *rng = make_rng(3);
    float *x = malloc(MC_ROWS * sizeof *x), *z = malloc(MC_ROWS * sizeof *z);
    for (size_t i = 0; i < MC_ROWS; i++)
        x[i] = -0.75f;
    for (size_t t = 0; t <= LAST; t++) {
        double step_mean, step_variance;
        ck_assert_int_eq(diffuse_q_step(s, t, &step_mean, &step_variance), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_rng_normal(rng, z, MC_ROWS), DIFFUSE_OK);
        for (size_t i = 0; i < MC_ROWS; i++)
            x[i] = (float)(step_mean * x[i] + sqrt(step_variance) * z[i]);
    }
    double mean, variance;
    ck_assert_int_eq(diffuse_q_marginal(s, LAST, &mean, &variance), DIFFUSE_OK);
    assert_moments(x, MC_ROWS, -0.75 * mean, variance);
    free(x);
    free(z);
    diffuse_rng_free(rng);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------- */

static void assert_failure(diffuse_status got, diffuse_status expected, const diffuse_schedule *s,
                           const float *xt, const char *fragment)
{
    ck_assert_int_eq(got, expected);
    for (int i = 0; i < COUNT; i++)
        ck_assert_float_eq(xt[i], 123.0f); /* untouched */
    if (s != NULL && fragment != NULL)
        ck_assert_msg(strstr(diffuse_schedule_last_error(s), fragment) != NULL,
                      "message \"%s\" lacks \"%s\"", diffuse_schedule_last_error(s), fragment);
}

static void fill(float *x, float v)
{
    for (int i = 0; i < COUNT; i++)
        x[i] = v;
}

START_TEST(q_sample_rejects_bad_input)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    float xt[COUNT], bad[COUNT];
    const int32_t *t = forward_ref_t;
    const float *x0 = forward_ref_x0, *eps = forward_ref_eps;
    int32_t bad_t[N] = {0, 1, -1, 3, 4}, late_t[N] = {0, 1, 2, 1000, 4};
    fill(xt, 123.0f);
    assert_failure(diffuse_q_sample(NULL, N, D, t, x0, eps, xt), DIFFUSE_ERROR_INVALID_ARGUMENT,
                   NULL, xt, NULL);
    assert_failure(diffuse_q_sample(s, 0, D, t, x0, eps, xt), DIFFUSE_ERROR_INVALID_ARGUMENT, s,
                   xt, "sizes");
    assert_failure(diffuse_q_sample(s, N, 0, t, x0, eps, xt), DIFFUSE_ERROR_INVALID_ARGUMENT, s,
                   xt, "sizes");
    assert_failure(diffuse_q_sample(s, SIZE_MAX / 2, D, t, x0, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "too large");
    assert_failure(diffuse_q_sample(s, N, D, NULL, x0, eps, xt), DIFFUSE_ERROR_INVALID_ARGUMENT,
                   s, xt, "t must not be NULL");
    assert_failure(diffuse_q_sample(s, N, D, bad_t, x0, eps, xt), DIFFUSE_ERROR_OUT_OF_RANGE, s,
                   xt, "t[2] = -1");
    assert_failure(diffuse_q_sample(s, N, D, late_t, x0, eps, xt), DIFFUSE_ERROR_OUT_OF_RANGE, s,
                   xt, "t[3] = 1000");
    assert_failure(diffuse_q_sample(s, N, D, t, NULL, eps, xt), DIFFUSE_ERROR_INVALID_ARGUMENT, s,
                   xt, "x0");
    assert_failure(diffuse_q_sample(s, N, D, t, x0, NULL, xt), DIFFUSE_ERROR_INVALID_ARGUMENT, s,
                   xt, "eps");
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, x0, eps, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    memcpy(bad, x0, sizeof bad);
    bad[7] = NAN;
    assert_failure(diffuse_q_sample(s, N, D, t, bad, eps, xt), DIFFUSE_ERROR_NUMERIC, s, xt,
                   "x0[7]");
    memcpy(bad, eps, sizeof bad);
    bad[14] = -INFINITY;
    assert_failure(diffuse_q_sample(s, N, D, t, x0, bad, xt), DIFFUSE_ERROR_NUMERIC, s, xt,
                   "eps[14]");
    /* √ᾱ + √(1−ᾱ) > 1 for 0 < ᾱ < 1: FLT_MAX in both overflows from row 0 on */
    float big[COUNT];
    fill(big, FLT_MAX);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, big, big, xt), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "xt row 0"));
    diffuse_schedule_free(s);
}
END_TEST

/* The output may be an input itself (in place) but must not overlap one
 * partially, nor overlap t: shifted by one value, the rows would be read
 * after they were written. */
START_TEST(q_sample_rejects_partial_overlap)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    const int32_t *t = forward_ref_t;
    float area[COUNT + 1];
    memcpy(area, forward_ref_x0, sizeof forward_ref_x0);
    area[COUNT] = 123.0f;
    float *x0 = area, *xt = area + 1;
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, x0, forward_ref_eps, xt),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "xt partially overlaps x0"));
    ck_assert_int_eq(memcmp(area, forward_ref_x0, sizeof forward_ref_x0), 0);
    memcpy(area + 1, forward_ref_eps, sizeof forward_ref_eps);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, forward_ref_x0, area + 1, area),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "xt partially overlaps eps"));
    /* t inside the output */
    union { float f[COUNT + N]; int32_t i[COUNT + N]; } both;
    memcpy(both.i, t, N * sizeof *t);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, both.i, forward_ref_x0, forward_ref_eps,
                                      both.f + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "xt must not overlap t"));
    /* eps_out of the rng variant: no overlap at all with x0 or xt */
    diffuse_rng *rng = make_rng(5);
    float out[COUNT], eps[COUNT + 1];
    memcpy(eps, forward_ref_x0, sizeof forward_ref_x0);
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, t, eps, rng, eps + 1, out),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "eps_out must not overlap x0"));
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, t, forward_ref_x0, rng, eps, eps + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "eps_out must not overlap xt"));
    ck_assert_uint_eq(rng_position(rng), 0);
    /* in place still works */
    memcpy(out, forward_ref_x0, sizeof out);
    ck_assert_int_eq(diffuse_q_sample(s, N, D, t, out, forward_ref_eps, out), DIFFUSE_OK);
    diffuse_rng_free(rng);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(q_sample_rng_rejects_bad_input)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_rng *rng = make_rng(5);
    float xt[COUNT], eps[COUNT], x0[COUNT];
    const int32_t *t = forward_ref_t;
    int32_t bad_t[N] = {0, 1, 2, 3, 1000};
    memcpy(x0, forward_ref_x0, sizeof x0);
    fill(xt, 123.0f);
    assert_failure(diffuse_q_sample_rng(NULL, N, D, t, x0, rng, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, NULL, xt, NULL);
    assert_failure(diffuse_q_sample_rng(s, 0, D, t, x0, rng, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "sizes");
    assert_failure(diffuse_q_sample_rng(s, N, 0, t, x0, rng, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "sizes");
    assert_failure(diffuse_q_sample_rng(s, N, D, NULL, x0, rng, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "t must not be NULL");
    assert_failure(diffuse_q_sample_rng(s, N, D, bad_t, x0, rng, eps, xt),
                   DIFFUSE_ERROR_OUT_OF_RANGE, s, xt, "t[4]");
    assert_failure(diffuse_q_sample_rng(s, N, D, t, NULL, rng, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "x0");
    assert_failure(diffuse_q_sample_rng(s, N, D, t, x0, NULL, eps, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "rng");
    ck_assert_int_eq(diffuse_q_sample_rng(s, N, D, t, x0, rng, eps, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_failure(diffuse_q_sample_rng(s, N, D, t, x0, rng, x0, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "eps_out");
    assert_failure(diffuse_q_sample_rng(s, N, D, t, x0, rng, xt, xt),
                   DIFFUSE_ERROR_INVALID_ARGUMENT, s, xt, "eps_out");
    x0[3] = INFINITY;
    assert_failure(diffuse_q_sample_rng(s, N, D, t, x0, rng, eps, xt), DIFFUSE_ERROR_NUMERIC, s,
                   xt, "x0[3]");
    ck_assert_uint_eq(rng_position(rng), 0); /* no failing call drew anything */
    /* a failing generator: its message reaches the schedule */
    ck_assert_int_eq(diffuse_rng_set_position(rng, UINT64_MAX - 2), DIFFUSE_OK);
    memcpy(x0, forward_ref_x0, sizeof x0);
    assert_failure(diffuse_q_sample_rng(s, N, D, t, x0, rng, eps, xt), DIFFUSE_ERROR_OUT_OF_RANGE,
                   s, xt, "drawing the noise failed");
    diffuse_rng_free(rng);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(scalar_queries_reject_bad_input)
{
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    double a = 5.0, b = 5.0;
    diffuse_status (*query[2])(const diffuse_schedule *, size_t, double *, double *) = {
        diffuse_q_marginal, diffuse_q_step};
    for (int q = 0; q < 2; q++) {
        ck_assert_int_eq(query[q](NULL, 0, &a, &b), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(query[q](s, 0, NULL, &b), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(query[q](s, 0, &a, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(query[q](s, 10, &a, &b), DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(query[q](s, SIZE_MAX, &a, &b), DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_ptr_nonnull(strstr(diffuse_schedule_last_error(s), "outside [0, 10)"));
        ck_assert_double_eq(a, 5.0);
        ck_assert_double_eq(b, 5.0);
    }
    diffuse_schedule_free(s);
}
END_TEST

static Suite *forward_suite(void)
{
    Suite *suite = suite_create("forward");
    int cases = (int)(sizeof forward_ref_cases / sizeof forward_ref_cases[0]);
    TCase *reference = tcase_create("reference");
    tcase_add_loop_test(reference, q_sample_matches_reference, 0, cases);
    tcase_add_loop_test(reference, internal_and_in_place_agree, 0, cases);
    tcase_add_test(reference, zero_terminal_snr_last_step_is_pure_noise);
    suite_add_tcase(suite, reference);

    TCase *sampling = tcase_create("sampling");
    tcase_add_test(sampling, q_sample_rng_is_q_sample_with_drawn_noise);
    tcase_add_test(sampling, q_sample_rng_has_the_marginal_distribution);
    tcase_add_loop_test(sampling, single_steps_compose_to_marginal_exactly, 0, 8);
    tcase_add_test(sampling, single_steps_compose_to_marginal_by_sampling);
    suite_add_tcase(suite, sampling);

    TCase *bad = tcase_create("bad_input");
    tcase_add_test(bad, q_sample_rejects_bad_input);
    tcase_add_test(bad, q_sample_rejects_partial_overlap);
    tcase_add_test(bad, q_sample_rng_rejects_bad_input);
    tcase_add_test(bad, scalar_queries_reject_bad_input);
    suite_add_tcase(suite, bad);
    return suite;
}

int main(void)
{
    return diffuse_test_run(forward_suite());
}
