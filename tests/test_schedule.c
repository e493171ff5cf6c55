/* Noise schedules: reference tables, identities, options, zero terminal SNR,
 * the internal configuration API, and bad input for every public function. */
#include <diffuse/diffuse.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference/schedule_reference.h"
#include "core/schedule.h"
#include "test_support.h"

enum { TABLE_COUNT = 13, KIND_COUNT = 5 };

/* ---- helpers ------------------------------------------------------------------ */

static diffuse_schedule *make(diffuse_schedule_kind kind, size_t steps)
{
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create(&s, kind, steps), DIFFUSE_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

static diffuse_schedule *make_custom(const double *betas, size_t steps)
{
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, steps), DIFFUSE_OK);
    return s;
}

/* Every kind, with its default options (CUSTOM from the reference betas). */
static diffuse_schedule *make_any(int kind, size_t steps)
{
    if (kind == DIFFUSE_SCHEDULE_CUSTOM) {
        double *betas = malloc(steps * sizeof *betas);
        for (size_t t = 0; t < steps; t++)
            betas[t] = schedule_ref_custom_betas[t % 12];
        diffuse_schedule *s = make_custom(betas, steps);
        free(betas);
        return s;
    }
    return make((diffuse_schedule_kind)kind, steps);
}

static double value(const diffuse_schedule *s, diffuse_schedule_table table, size_t t)
{
    double v = NAN;
    ck_assert_int_eq(diffuse_schedule_value(s, table, t, &v), DIFFUSE_OK);
    return v;
}

/* All tables, concatenated (caller frees). */
static double *snapshot(const diffuse_schedule *s)
{
    size_t steps = schedule_steps(s);
    double *all = malloc(TABLE_COUNT * steps * sizeof *all);
    for (int k = 0; k < TABLE_COUNT; k++)
        ck_assert_int_eq(diffuse_schedule_get_table(s, (diffuse_schedule_table)k, all + k * steps,
                                                    steps),
                         DIFFUSE_OK);
    return all;
}

static void assert_unchanged(const diffuse_schedule *s, const double *before)
{
    double *after = snapshot(s);
    ck_assert_int_eq(memcmp(before, after, TABLE_COUNT * schedule_steps(s) * sizeof *after), 0);
    free(after);
}

static void assert_message(const diffuse_schedule *s, const char *fragment)
{
    const char *message = diffuse_schedule_last_error(s);
    ck_assert_msg(strstr(message, fragment) != NULL, "message \"%s\" lacks \"%s\"", message,
                  fragment);
}

/* ---- reference values --------------------------------------------------------- */

static diffuse_schedule *make_reference(const schedule_ref_case *c)
{
    diffuse_schedule *s = c->kind == DIFFUSE_SCHEDULE_CUSTOM
                              ? make_custom(schedule_ref_custom_betas, c->steps)
                              : make((diffuse_schedule_kind)c->kind, c->steps);
    for (size_t i = 0; i < c->option_count; i++) {
        diffuse_schedule_option option = (diffuse_schedule_option)c->options[i].option;
        diffuse_status status = option == DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR
                                    ? diffuse_schedule_set_int(s, option,
                                                               (int64_t)c->options[i].value)
                                    : diffuse_schedule_set_double(s, option, c->options[i].value);
        ck_assert_msg(status == DIFFUSE_OK, "%s: %s", c->name, diffuse_schedule_last_error(s));
    }
    return s;
}

START_TEST(tables_match_reference)
{
    const schedule_ref_case *c = &schedule_ref_cases[_i];
    diffuse_schedule *s = make_reference(c);
    for (size_t p = 0; p < c->point_count; p++) {
        for (int k = 0; k < TABLE_COUNT; k++) {
            double expected = c->values[p][k];
            double got = value(s, (diffuse_schedule_table)k, c->points[p]);
            if (isinf(expected)) {
                ck_assert_msg(got == expected, "%s table %d t=%zu: %g, expected inf", c->name, k,
                              c->points[p], got);
                continue;
            }
            ck_assert_msg(fabs(got - expected) <= 1e-10 * fabs(expected) + 1e-300,
                          "%s table %d t=%zu: %.17g, expected %.17g", c->name, k, c->points[p],
                          got, expected);
        }
    }
    diffuse_schedule_free(s);
}
END_TEST

/* ---- identities --------------------------------------------------------------- */

/* ᾱ_t = Π α_i and every derived table from its definition, for every kind
 * with and without zero terminal SNR. */
START_TEST(tables_satisfy_definitions)
{
    int kind = _i % KIND_COUNT;
    int zero_snr = _i / KIND_COUNT;
    size_t steps = 300;
    diffuse_schedule *s = make_any(kind, steps);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, zero_snr),
                     DIFFUSE_OK);
    long double product = 1.0L;
    for (size_t t = 0; t < steps; t++) {
        double beta = value(s, DIFFUSE_TABLE_BETA, t);
        double alpha = value(s, DIFFUSE_TABLE_ALPHA, t);
        double ab = value(s, DIFFUSE_TABLE_ALPHA_BAR, t);
        double prev = t == 0 ? 1.0 : value(s, DIFFUSE_TABLE_ALPHA_BAR, t - 1);
        double one_minus = 1.0 - ab, one_minus_prev = 1.0 - prev;
        ck_assert(beta > 0.0 && beta <= 1.0);
        ck_assert_double_eq(alpha, 1.0 - beta);
        product *= (long double)alpha;
        ck_assert_close(ab, (double)product, 1e-12, 1e-300);
        ck_assert_double_eq(value(s, DIFFUSE_TABLE_ALPHA_BAR_PREV, t), prev);
        ck_assert_close(value(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, t), sqrt(ab), 1e-15, 0);
        ck_assert_close(value(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t), sqrt(one_minus),
                        1e-9, 0);
        ck_assert_close(value(s, DIFFUSE_TABLE_SNR, t), ab / one_minus, 1e-9, 0);
        ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE, t),
                        one_minus_prev / one_minus * beta, 1e-9, 1e-300);
        ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0, t),
                        sqrt(prev) * beta / one_minus, 1e-9, 0);
        ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT, t),
                        sqrt(alpha) * one_minus_prev / one_minus, 1e-9, 1e-300);
        if (ab > 0.0) {
            ck_assert_close(value(s, DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR, t), 1.0 / sqrt(ab),
                            1e-15, 0);
            ck_assert_close(value(s, DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR, t),
                            sqrt(1.0 / ab - 1.0), 1e-9, 0);
        }
        if (t > 0)
            ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED, t),
                            log(value(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE, t)), 1e-15, 0);
    }
    /* clipped: t = 0 repeats t = 1 */
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED, 0),
                        value(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED, 1));
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE, 0), 0.0);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(one_minus_alpha_bar_keeps_precision)
{
    /* 1 − ᾱ_0 = β_0 exactly, which the naive 1 − (1 − β_0) misses. */
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 1000);
    double root = value(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, 0);
    ck_assert_close(root * root, 1e-4, 1e-15, 0);
    ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0, 0), 1.0, 1e-15, 0);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(single_step_schedule_uses_log_beta)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 1);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, 0), 1e-4);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE, 0), 0.0);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED, 0), log(1e-4));
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    assert_message(s, "at least 2 steps");
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(kinds_have_documented_shape)
{
    size_t steps = 1000;
    diffuse_schedule *linear = make(DIFFUSE_SCHEDULE_LINEAR, steps);
    ck_assert_double_eq(value(linear, DIFFUSE_TABLE_BETA, 0), 1e-4);
    ck_assert_double_eq(value(linear, DIFFUSE_TABLE_BETA, steps - 1), 0.02);
    diffuse_schedule *scaled = make(DIFFUSE_SCHEDULE_SCALED_LINEAR, steps);
    ck_assert_close(value(scaled, DIFFUSE_TABLE_BETA, 0), 0.00085, 1e-15, 0);
    ck_assert_close(value(scaled, DIFFUSE_TABLE_BETA, steps - 1), 0.012, 1e-15, 0);
    diffuse_schedule *cosine = make(DIFFUSE_SCHEDULE_COSINE, steps);
    ck_assert_double_eq(value(cosine, DIFFUSE_TABLE_BETA, steps - 1), 0.999); /* clipped */
    diffuse_schedule *sigmoid = make(DIFFUSE_SCHEDULE_SIGMOID, steps);
    double mid = 0.5 * (value(sigmoid, DIFFUSE_TABLE_BETA, steps / 2 - 1) +
                        value(sigmoid, DIFFUSE_TABLE_BETA, steps / 2));
    ck_assert_close(mid, 0.5 * (1e-4 + 0.02), 1e-12, 0); /* symmetric about the middle */
    diffuse_schedule_kind kind;
    ck_assert_int_eq(diffuse_schedule_get_kind(sigmoid, &kind), DIFFUSE_OK);
    ck_assert_int_eq(kind, DIFFUSE_SCHEDULE_SIGMOID);
    size_t got_steps = 0;
    ck_assert_int_eq(diffuse_schedule_steps(sigmoid, &got_steps), DIFFUSE_OK);
    ck_assert_uint_eq(got_steps, steps);
    diffuse_schedule_free(linear);
    diffuse_schedule_free(scaled);
    diffuse_schedule_free(cosine);
    diffuse_schedule_free(sigmoid);
}
END_TEST

START_TEST(largest_schedule_is_valid)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_MAX_STEPS);
    ck_assert(value(s, DIFFUSE_TABLE_BETA, 0) > 0.0);
    ck_assert(value(s, DIFFUSE_TABLE_ALPHA_BAR, DIFFUSE_SCHEDULE_MAX_STEPS - 1) > 0.0);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- zero terminal SNR ---------------------------------------------------------- */

START_TEST(zero_terminal_snr_rescales)
{
    int kind = _i;
    size_t steps = 200, last = steps - 1;
    diffuse_schedule *s = make_any(kind, steps);
    double sqrt_first = value(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, 0);
    double *plain = snapshot(s);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_OK);
    int64_t on = 0;
    ck_assert_int_eq(diffuse_schedule_get_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &on),
                     DIFFUSE_OK);
    ck_assert_int_eq(on, 1);
    ck_assert_close(value(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, 0), sqrt_first, 1e-14, 0);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_ALPHA_BAR, last), 0.0);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, last), 1.0);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_ALPHA, last), 0.0);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_SNR, last), 0.0);
    ck_assert(isinf(value(s, DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR, last)));
    ck_assert(isinf(value(s, DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR, last)));
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT, last), 0.0);
    ck_assert_close(value(s, DIFFUSE_TABLE_POSTERIOR_VARIANCE, last),
                    1.0 - value(s, DIFFUSE_TABLE_ALPHA_BAR, last - 1), 1e-12, 0);
    for (int k = 0; k < TABLE_COUNT; k++) {
        if (k == DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR || k == DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR)
            continue;
        for (size_t t = 0; t < steps; t++)
            ck_assert(isfinite(value(s, (diffuse_schedule_table)k, t)));
    }
    /* SNR decreases strictly to 0 */
    for (size_t t = 1; t < steps; t++)
        ck_assert(value(s, DIFFUSE_TABLE_SNR, t) < value(s, DIFFUSE_TABLE_SNR, t - 1));
    /* switching it off restores the original tables bit for bit */
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 0),
                     DIFFUSE_OK);
    assert_unchanged(s, plain);
    free(plain);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(zero_terminal_snr_of_terminal_beta_one_is_identity)
{
    /* ᾱ_{T−1} is already 0 (β = 1 at the last step): the rescale changes nothing. */
    double betas[4] = {0.1, 0.3, 0.5, 1.0};
    diffuse_schedule *s = make_custom(betas, 4);
    double *before = snapshot(s);
    ck_assert(isinf(value(s, DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR, 3)));
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_OK);
    assert_unchanged(s, before);
    free(before);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- options -------------------------------------------------------------------- */

START_TEST(defaults_are_documented)
{
    static const struct {
        diffuse_schedule_kind kind;
        diffuse_schedule_option option;
        double value;
    } defaults[] = {
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, 1e-4},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_END, 0.02},
        {DIFFUSE_SCHEDULE_SCALED_LINEAR, DIFFUSE_SCHEDULE_BETA_START, 0.00085},
        {DIFFUSE_SCHEDULE_SCALED_LINEAR, DIFFUSE_SCHEDULE_BETA_END, 0.012},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.008},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_MAX_BETA, 0.999},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_BETA_START, 1e-4},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_BETA_END, 0.02},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_SIGMOID_RANGE, 6.0},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        diffuse_schedule *s = make(defaults[i].kind, 10);
        double v = 0;
        ck_assert_int_eq(diffuse_schedule_get_double(s, defaults[i].option, &v), DIFFUSE_OK);
        ck_assert_double_eq(v, defaults[i].value);
        int64_t zero_snr = -1;
        ck_assert_int_eq(diffuse_schedule_get_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &zero_snr),
                         DIFFUSE_OK);
        ck_assert_int_eq(zero_snr, 0);
        diffuse_schedule_free(s);
    }
}
END_TEST

START_TEST(setters_recompute_tables)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 100);
    /* widening upwards: beta_end first */
    ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_END, 0.05), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 0.03),
                     DIFFUSE_OK);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, 0), 0.03);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, 99), 0.05);
    ck_assert_close(value(s, DIFFUSE_TABLE_ALPHA_BAR, 0), 0.97, 1e-15, 0);
    diffuse_schedule_free(s);

    diffuse_schedule *c = make(DIFFUSE_SCHEDULE_COSINE, 100);
    ck_assert_int_eq(diffuse_schedule_set_double(c, DIFFUSE_SCHEDULE_MAX_BETA, 0.1), DIFFUSE_OK);
    ck_assert_double_eq(value(c, DIFFUSE_TABLE_BETA, 99), 0.1);
    double before = value(c, DIFFUSE_TABLE_BETA, 0);
    ck_assert_int_eq(diffuse_schedule_set_double(c, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.1),
                     DIFFUSE_OK);
    ck_assert(value(c, DIFFUSE_TABLE_BETA, 0) > before);
    diffuse_schedule_free(c);

    diffuse_schedule *g = make(DIFFUSE_SCHEDULE_SIGMOID, 101);
    ck_assert_int_eq(diffuse_schedule_set_double(g, DIFFUSE_SCHEDULE_SIGMOID_RANGE, 0.0),
                     DIFFUSE_OK);
    ck_assert_close(value(g, DIFFUSE_TABLE_BETA, 0), 0.5 * (1e-4 + 0.02), 1e-15, 0);
    diffuse_schedule_free(g);
}
END_TEST

START_TEST(bad_option_values_leave_schedule_unchanged)
{
    static const struct {
        diffuse_schedule_kind kind;
        diffuse_schedule_option option;
        double value;
        diffuse_status expected;
    } bad[] = {
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, 0.0, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, -0.1, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_END, 1.5, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, NAN, DIFFUSE_ERROR_NUMERIC},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_END, INFINITY, DIFFUSE_ERROR_NUMERIC},
        /* combination: β_start above the current β_end */
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, 0.03, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_SCALED_LINEAR, DIFFUSE_SCHEDULE_BETA_END, 1e-4,
         DIFFUSE_ERROR_OUT_OF_RANGE},
        /* in bounds, but so small that the SNR table overflows */
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_BETA_START, DBL_TRUE_MIN,
         DIFFUSE_ERROR_NUMERIC},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_COSINE_OFFSET, -0.01,
         DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_COSINE_OFFSET, 1.01,
         DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_MAX_BETA, 0.0, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_MAX_BETA, 1.0001, DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_SIGMOID_RANGE, -1.0,
         DIFFUSE_ERROR_OUT_OF_RANGE},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_SIGMOID_RANGE, 100.5,
         DIFFUSE_ERROR_OUT_OF_RANGE},
        /* not applicable to the kind */
        {DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_BETA_START, 1e-4,
         DIFFUSE_ERROR_UNSUPPORTED},
        {DIFFUSE_SCHEDULE_CUSTOM, DIFFUSE_SCHEDULE_BETA_END, 0.02,
         DIFFUSE_ERROR_UNSUPPORTED},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.008,
         DIFFUSE_ERROR_UNSUPPORTED},
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SIGMOID_RANGE, 6.0,
         DIFFUSE_ERROR_UNSUPPORTED},
        {DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_MAX_BETA, 0.5,
         DIFFUSE_ERROR_UNSUPPORTED},
        /* wrong type, unknown */
        {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1.0,
         DIFFUSE_ERROR_INVALID_ARGUMENT},
        {DIFFUSE_SCHEDULE_LINEAR, (diffuse_schedule_option)6, 1.0,
         DIFFUSE_ERROR_INVALID_ARGUMENT},
        {DIFFUSE_SCHEDULE_LINEAR, (diffuse_schedule_option)-1, 1.0,
         DIFFUSE_ERROR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        diffuse_schedule *s = make_any(bad[i].kind, 50);
        double *before = snapshot(s);
        double options_before[SCHEDULE_OPTION_COUNT];
        memcpy(options_before, s->options, sizeof options_before);
        ck_assert_msg(diffuse_schedule_set_double(s, bad[i].option, bad[i].value) ==
                          bad[i].expected,
                      "case %zu: %s", i, diffuse_schedule_last_error(s));
        ck_assert_str_ne(diffuse_schedule_last_error(s), "");
        assert_unchanged(s, before);
        ck_assert_int_eq(memcmp(options_before, s->options, sizeof options_before), 0);
        free(before);
        diffuse_schedule_free(s);
    }
}
END_TEST

START_TEST(combination_message_explains_order)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 10);
    ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 0.03),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    assert_message(s, "set beta_end first");
    ck_assert_str_eq(diffuse_last_error(), diffuse_schedule_last_error(s));
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(bad_int_options)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 10);
    double *before = snapshot(s);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 2),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, -1),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, INT64_MAX),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_BETA_START, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_set_int(s, (diffuse_schedule_option)42, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_set_int(NULL, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_set_double(NULL, DIFFUSE_SCHEDULE_BETA_START, 0.01),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_unchanged(s, before);
    free(before);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(getters_reject_bad_input)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_COSINE, 10);
    double d = 0;
    int64_t i = 0;
    ck_assert_int_eq(diffuse_schedule_get_double(NULL, DIFFUSE_SCHEDULE_MAX_BETA, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_double(s, DIFFUSE_SCHEDULE_MAX_BETA, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_double(s, DIFFUSE_SCHEDULE_BETA_START, &d),
                     DIFFUSE_ERROR_UNSUPPORTED);
    assert_message(s, "does not apply to a cosine schedule");
    ck_assert_int_eq(diffuse_schedule_get_double(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_double(s, (diffuse_schedule_option)77, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_int(NULL, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &i),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_int(s, DIFFUSE_SCHEDULE_MAX_BETA, &i),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_int(s, (diffuse_schedule_option)-3, &i),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    size_t steps;
    diffuse_schedule_kind kind;
    ck_assert_int_eq(diffuse_schedule_steps(NULL, &steps), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_steps(s, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_kind(NULL, &kind), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_kind(s, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);

    ck_assert_int_eq(diffuse_schedule_value(NULL, DIFFUSE_TABLE_BETA, 0, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_value(s, DIFFUSE_TABLE_BETA, 0, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_value(s, (diffuse_schedule_table)13, 0, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_value(s, (diffuse_schedule_table)-1, 0, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    d = 42.0;
    ck_assert_int_eq(diffuse_schedule_value(s, DIFFUSE_TABLE_BETA, 10, &d),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_double_eq(d, 42.0);
    assert_message(s, "t = 10");

    double table[11] = {0};
    ck_assert_int_eq(diffuse_schedule_get_table(NULL, DIFFUSE_TABLE_BETA, table, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_table(s, DIFFUSE_TABLE_BETA, NULL, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_table(s, (diffuse_schedule_table)99, table, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_get_table(s, DIFFUSE_TABLE_BETA, table, 11),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_schedule_get_table(s, DIFFUSE_TABLE_BETA, table, 9),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_double_eq(table[0], 0.0);
    ck_assert_int_eq(diffuse_schedule_get_table(s, DIFFUSE_TABLE_BETA, table, 10), DIFFUSE_OK);
    ck_assert_double_eq(table[9], 0.999);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(bounds_queries)
{
    static const struct {
        diffuse_schedule_option option;
        double min, max;
    } expected[] = {
        {DIFFUSE_SCHEDULE_BETA_START, DBL_TRUE_MIN, 1.0},
        {DIFFUSE_SCHEDULE_BETA_END, DBL_TRUE_MIN, 1.0},
        {DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.0, 1.0},
        {DIFFUSE_SCHEDULE_MAX_BETA, DBL_TRUE_MIN, 1.0},
        {DIFFUSE_SCHEDULE_SIGMOID_RANGE, 0.0, 100.0},
    };
    double lo, hi;
    int64_t ilo, ihi;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        ck_assert_int_eq(diffuse_schedule_double_bounds(expected[i].option, &lo, &hi),
                         DIFFUSE_OK);
        ck_assert_double_eq(lo, expected[i].min);
        ck_assert_double_eq(hi, expected[i].max);
        ck_assert_int_eq(diffuse_schedule_int_bounds(expected[i].option, &ilo, &ihi),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
    }
    ck_assert_int_eq(diffuse_schedule_int_bounds(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &ilo, &ihi),
                     DIFFUSE_OK);
    ck_assert_int_eq(ilo, 0);
    ck_assert_int_eq(ihi, 1);
    ck_assert_int_eq(diffuse_schedule_double_bounds(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &lo, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_double_bounds((diffuse_schedule_option)6, &lo, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_int_bounds((diffuse_schedule_option)-1, &ilo, &ihi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_double_bounds(DIFFUSE_SCHEDULE_BETA_START, NULL, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_double_bounds(DIFFUSE_SCHEDULE_BETA_START, &lo, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_int_bounds(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, NULL, &ihi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_int_bounds(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, &ilo, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
}
END_TEST

/* ---- constructors ------------------------------------------------------------------ */

START_TEST(create_rejects_bad_input)
{
    diffuse_schedule *s = (diffuse_schedule *)&s; /* any non-NULL value */
    ck_assert_int_eq(diffuse_schedule_create(NULL, DIFFUSE_SCHEDULE_LINEAR, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_CUSTOM, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "diffuse_schedule_create_custom"));
    s = (diffuse_schedule *)&s;
    ck_assert_int_eq(diffuse_schedule_create(&s, (diffuse_schedule_kind)5, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(diffuse_schedule_create(&s, (diffuse_schedule_kind)-1, 10),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_LINEAR, 0),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_LINEAR,
                                             DIFFUSE_SCHEDULE_MAX_STEPS + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_LINEAR, SIZE_MAX),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(create_custom_rejects_bad_input)
{
    double betas[4] = {0.1, 0.2, 0.3, 0.4};
    diffuse_schedule *s = (diffuse_schedule *)&s;
    ck_assert_int_eq(diffuse_schedule_create_custom(NULL, betas, 4),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, NULL, 4), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, 0), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, DIFFUSE_SCHEDULE_MAX_STEPS + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    static const struct {
        double beta;
        diffuse_status expected;
    } bad[] = {
        {NAN, DIFFUSE_ERROR_NUMERIC},          {INFINITY, DIFFUSE_ERROR_NUMERIC},
        {-INFINITY, DIFFUSE_ERROR_NUMERIC},    {0.0, DIFFUSE_ERROR_OUT_OF_RANGE},
        {-0.1, DIFFUSE_ERROR_OUT_OF_RANGE},    {1.0000001, DIFFUSE_ERROR_OUT_OF_RANGE},
        {1e-320, DIFFUSE_ERROR_NUMERIC}, /* valid β, but SNR overflows */
    };
    static const char *const fragments[] = {"betas[0]", "betas[0]", "betas[0]", "betas[0]",
                                             "betas[0]", "betas[0]", "table snr"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double copy[4] = {0.1, 0.2, 0.3, 0.4};
        copy[0] = bad[i].beta;
        s = (diffuse_schedule *)&s;
        ck_assert_msg(diffuse_schedule_create_custom(&s, copy, 4) == bad[i].expected, "case %zu",
                      i);
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(strstr(diffuse_last_error(), fragments[i]));
    }
}
END_TEST

/* β = 1 before the last step would make every later step pure noise and
 * the ε-model's reverse step infinite, found only at the end of a sampling
 * run: rejected at creation, custom or generated. At the last step it is
 * zero terminal SNR and stays allowed (custom_copies_betas). */
START_TEST(unit_beta_only_at_the_last_step)
{
    double betas[4] = {0.1, 1.0, 0.3, 0.4};
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, 4), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(diffuse_last_error(), "betas[1] = 1 is before the last step (t = 3)") !=
                      NULL,
                  "%s", diffuse_last_error());
    s = make(DIFFUSE_SCHEDULE_LINEAR, 10);
    ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_END, 1.0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 1.0),
                     DIFFUSE_ERROR_NUMERIC);
    ck_assert_msg(strstr(diffuse_schedule_last_error(s), "beta[0] = 1 before the last step") !=
                      NULL,
                  "%s", diffuse_schedule_last_error(s));
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, 9), 1.0); /* unchanged: β_end = 1 */
    ck_assert(value(s, DIFFUSE_TABLE_BETA, 8) < 1.0);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(custom_copies_betas)
{
    double betas[3] = {0.1, 0.2, 1.0}; /* β = 1 is allowed */
    diffuse_schedule *s = make_custom(betas, 3);
    betas[0] = 0.9;
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_BETA, 0), 0.1);
    ck_assert_double_eq(value(s, DIFFUSE_TABLE_ALPHA_BAR, 2), 0.0);
    diffuse_schedule_kind kind;
    ck_assert_int_eq(diffuse_schedule_get_kind(s, &kind), DIFFUSE_OK);
    ck_assert_int_eq(kind, DIFFUSE_SCHEDULE_CUSTOM);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(clone_is_independent)
{
    diffuse_schedule *s = make_any(_i, 64);
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_OK);
    double *original = snapshot(s);
    diffuse_schedule *copy = NULL;
    ck_assert_int_eq(diffuse_schedule_clone(&copy, s), DIFFUSE_OK);
    assert_unchanged(copy, original);
    diffuse_schedule_kind kind;
    ck_assert_int_eq(diffuse_schedule_get_kind(copy, &kind), DIFFUSE_OK);
    ck_assert_int_eq(kind, _i);
    ck_assert_int_eq(diffuse_schedule_set_int(copy, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 0),
                     DIFFUSE_OK);
    ck_assert(value(copy, DIFFUSE_TABLE_BETA, 63) < 1.0);
    assert_unchanged(s, original);
    free(original);
    diffuse_schedule_free(copy);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(clone_rejects_bad_input)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 10);
    diffuse_schedule *copy = (diffuse_schedule *)&copy;
    ck_assert_int_eq(diffuse_schedule_clone(&copy, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_clone(NULL, s), DIFFUSE_ERROR_INVALID_ARGUMENT);
    assert_message(s, "out must not be NULL");
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(free_and_last_error_accept_null)
{
    diffuse_schedule_free(NULL);
    ck_assert_ptr_nonnull(diffuse_schedule_last_error(NULL));
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_LINEAR, 10);
    ck_assert_str_eq(diffuse_schedule_last_error(s), "");
    diffuse_schedule_free(s);
}
END_TEST

/* ---- internal API ---------------------------------------------------------------- */

START_TEST(internal_accessors_match_public)
{
    diffuse_schedule *s = make(DIFFUSE_SCHEDULE_SIGMOID, 33);
    ck_assert_uint_eq(schedule_steps(s), 33);
    for (int k = 0; k < TABLE_COUNT; k++)
        ck_assert_double_eq(schedule_column(s, (diffuse_schedule_table)k)[17],
                            value(s, (diffuse_schedule_table)k, 17));
    ck_assert_ptr_eq(schedule_error(s), &s->error);
    ck_assert_ptr_null(schedule_error(NULL));
    ck_assert(schedule_option_applies(DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_SIGMOID_RANGE));
    ck_assert(!schedule_option_applies(DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SIGMOID_RANGE));
    ck_assert(schedule_option_applies(DIFFUSE_SCHEDULE_CUSTOM, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR));
    ck_assert(!schedule_option_applies(DIFFUSE_SCHEDULE_CUSTOM, DIFFUSE_SCHEDULE_BETA_START));
    ck_assert(!schedule_option_applies((diffuse_schedule_kind)9, DIFFUSE_SCHEDULE_BETA_START));
    ck_assert_str_eq(schedule_option_name(DIFFUSE_SCHEDULE_MAX_BETA), "max_beta");
    ck_assert_ptr_null(schedule_option_name((diffuse_schedule_option)6));
    diffuse_schedule_free(s);
}
END_TEST

/* What a checkpoint writer stores rebuilds the same tables. */
START_TEST(config_round_trip)
{
    diffuse_schedule *s = make_any(_i, 40);
    if (_i == DIFFUSE_SCHEDULE_COSINE)
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_MAX_BETA, 0.3),
                         DIFFUSE_OK);
    if (_i == DIFFUSE_SCHEDULE_SCALED_LINEAR) {
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_END, 0.5),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 0.1),
                         DIFFUSE_OK);
    }
    ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_OK);
    ck_assert(_i == DIFFUSE_SCHEDULE_CUSTOM ? s->custom_betas != NULL : s->custom_betas == NULL);
    /* only applicable options are stored; others are garbage to the reader */
    double stored[SCHEDULE_OPTION_COUNT];
    for (int k = 0; k < SCHEDULE_OPTION_COUNT; k++)
        stored[k] = schedule_option_applies(s->kind, (diffuse_schedule_option)k) ? s->options[k]
                                                                                 : NAN;
    diffuse_error error = {{0}};
    diffuse_schedule *copy = NULL;
    ck_assert_int_eq(schedule_create_from_config(&copy, &error, s->kind, s->steps, stored,
                                                 s->custom_betas),
                     DIFFUSE_OK);
    double *expected = snapshot(s);
    assert_unchanged(copy, expected);
    free(expected);
    diffuse_schedule_free(copy);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(config_rejects_bad_values)
{
    diffuse_error error = {{0}};
    diffuse_schedule *s = (diffuse_schedule *)&s;
    double options[SCHEDULE_OPTION_COUNT] = {0.03, 0.02, 0, 0, 0, 0};
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_LINEAR, 10,
                                                 options, NULL),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(error.message, "beta_start"));
    double half_snr[SCHEDULE_OPTION_COUNT] = {1e-4, 0.02, 0, 0, 0, 0.5};
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_LINEAR, 10,
                                                 half_snr, NULL),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(error.message, "whole number"));
    double nan_offset[SCHEDULE_OPTION_COUNT] = {0, 0, NAN, 0.999, 0, 0};
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_COSINE, 10,
                                                 nan_offset, NULL),
                     DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_CUSTOM, 10,
                                                 options, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(schedule_create_from_config(&s, &error, (diffuse_schedule_kind)7, 10,
                                                 options, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_LINEAR, 0, options,
                                                 NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(schedule_create_from_config(&s, &error, DIFFUSE_SCHEDULE_LINEAR, 10, NULL,
                                                 NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(schedule_create_from_config(NULL, &error, DIFFUSE_SCHEDULE_LINEAR, 10,
                                                 options, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
}
END_TEST

static Suite *schedule_suite(void)
{
    Suite *suite = suite_create("schedule");
    TCase *reference = tcase_create("reference");
    int cases = (int)(sizeof schedule_ref_cases / sizeof schedule_ref_cases[0]);
    tcase_add_loop_test(reference, tables_match_reference, 0, cases);
    tcase_add_loop_test(reference, tables_satisfy_definitions, 0, 2 * KIND_COUNT);
    tcase_add_test(reference, one_minus_alpha_bar_keeps_precision);
    tcase_add_test(reference, single_step_schedule_uses_log_beta);
    tcase_add_test(reference, kinds_have_documented_shape);
    tcase_add_test(reference, largest_schedule_is_valid);
    suite_add_tcase(suite, reference);

    TCase *zero_snr = tcase_create("zero_terminal_snr");
    tcase_add_loop_test(zero_snr, zero_terminal_snr_rescales, 0, KIND_COUNT);
    tcase_add_test(zero_snr, zero_terminal_snr_of_terminal_beta_one_is_identity);
    suite_add_tcase(suite, zero_snr);

    TCase *options = tcase_create("options");
    tcase_add_test(options, defaults_are_documented);
    tcase_add_test(options, setters_recompute_tables);
    tcase_add_test(options, bad_option_values_leave_schedule_unchanged);
    tcase_add_test(options, combination_message_explains_order);
    tcase_add_test(options, bad_int_options);
    tcase_add_test(options, getters_reject_bad_input);
    tcase_add_test(options, bounds_queries);
    suite_add_tcase(suite, options);

    TCase *lifecycle = tcase_create("lifecycle");
    tcase_add_test(lifecycle, create_rejects_bad_input);
    tcase_add_test(lifecycle, create_custom_rejects_bad_input);
    tcase_add_test(lifecycle, custom_copies_betas);
    tcase_add_test(lifecycle, unit_beta_only_at_the_last_step);
    tcase_add_loop_test(lifecycle, clone_is_independent, 0, KIND_COUNT);
    tcase_add_test(lifecycle, clone_rejects_bad_input);
    tcase_add_test(lifecycle, free_and_last_error_accept_null);
    suite_add_tcase(suite, lifecycle);

    TCase *internal = tcase_create("internal");
    tcase_add_test(internal, internal_accessors_match_public);
    tcase_add_loop_test(internal, config_round_trip, 0, KIND_COUNT);
    tcase_add_test(internal, config_rejects_bad_values);
    suite_add_tcase(suite, internal);
    return suite;
}

int main(void)
{
    return diffuse_test_run(schedule_suite());
}
