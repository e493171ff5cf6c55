/* The prediction conversion unit (src/core/prediction.c): for ε-, x_0- and
 * v-networks, x̂_0, ε̂ and the training target against the double-precision
 * rows of tests/reference/schedule_reference.py (posterior_reference.h),
 * round trips, what is computed when, and the zero-terminal-SNR rule. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/prediction.h"
#include "reference/posterior_reference.h"
#include "test_support.h"

enum { N = POSTERIOR_REF_N, D = POSTERIOR_REF_D, COUNT = N * D };
enum { CASE_COUNT = sizeof posterior_ref_cases / sizeof posterior_ref_cases[0] };

/* A network of `kind` whose output is the reference's value of that kind,
 * and where the reference keeps x̂_0 and ε̂ of that output (NULL: the
 * output itself, which is one of the inputs). */
typedef struct kind_case {
    diffuse_prediction kind;
    const float *output;
    size_t x0_offset, eps_offset; /* of the double[COUNT] in posterior_ref_case; 0: output */
} kind_case;

static const kind_case kind_cases[] = {
    {DIFFUSE_PREDICT_EPSILON, posterior_ref_eps, offsetof(posterior_ref_case, x0_from_eps), 0},
    {DIFFUSE_PREDICT_X0, posterior_ref_x0, 0, offsetof(posterior_ref_case, eps_from_x0)},
    {DIFFUSE_PREDICT_V, posterior_ref_v, offsetof(posterior_ref_case, x0_from_v),
     offsetof(posterior_ref_case, eps_from_v)},
};
enum { KIND_COUNT = sizeof kind_cases / sizeof kind_cases[0] };

static diffuse_schedule *make_reference(const posterior_ref_case *c)
{
    return diffuse_test_schedule(c->kind, c->steps, c->zero_terminal_snr);
}

/* got == the reference field at `offset` (or `output` for offset 0), for
 * the rows where the reference is defined (NaN: division by ᾱ_t = 0). */
static void expect_field(const char *what, const posterior_ref_case *c, const float *got,
                         size_t offset, const float *output)
{
    for (size_t i = 0; i < COUNT; i++) {
        const double *field = (const double *)((const char *)c + offset);
        double expected = offset == 0 ? output[i] : field[i];
        if (isnan(expected))
            continue;
        ck_assert_msg(fabs(got[i] - expected) <= 1e-6 + 1e-6 * fabs(expected),
                      "%s/%s[%zu] = %.9g, expected %.9g", c->name, what, i, got[i], expected);
    }
}

START_TEST(estimates_match_reference)
{
    const posterior_ref_case *c = &posterior_ref_cases[_i / KIND_COUNT];
    const kind_case *k = &kind_cases[_i % KIND_COUNT];
    diffuse_schedule *s = make_reference(c);
    float x0_buffer[COUNT], eps_buffer[COUNT];
    prediction_estimate e;
    prediction_estimate_init(&e, s, k->kind, N, D, posterior_ref_t, posterior_ref_xt, k->output,
                             x0_buffer, eps_buffer);
    const float *eps = prediction_eps(&e);
    expect_field("eps", c, eps, k->eps_offset, k->output);
    const float *x0 = prediction_x0(&e);
    expect_field("x0", c, x0, k->x0_offset, k->output);
    /* The output itself where it is the estimate, else the buffer; kept. */
    ck_assert_ptr_eq(x0, k->x0_offset == 0 ? k->output : x0_buffer);
    ck_assert_ptr_eq(eps, k->eps_offset == 0 ? k->output : eps_buffer);
    ck_assert_ptr_eq(prediction_x0(&e), x0);
    ck_assert_ptr_eq(prediction_eps(&e), eps);
    ck_assert_int_eq(prediction_eps_is_output(&e), k->eps_offset == 0);
    diffuse_schedule_free(s);
}
END_TEST

/* Each estimate is derived only when asked for: a buffer nobody asked
 * to fill stays untouched. */
START_TEST(estimates_are_computed_on_request)
{
    diffuse_schedule *s = make_reference(&posterior_ref_cases[0]);
    float x0_buffer[COUNT], eps_buffer[COUNT];
    memset(eps_buffer, 0, sizeof eps_buffer);
    prediction_estimate e;
    prediction_estimate_init(&e, s, DIFFUSE_PREDICT_V, N, D, posterior_ref_t, posterior_ref_xt,
                             posterior_ref_v, x0_buffer, eps_buffer);
    prediction_x0(&e);
    for (size_t i = 0; i < COUNT; i++)
        ck_assert_float_eq(eps_buffer[i], 0.0f);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(targets_match_reference)
{
    const posterior_ref_case *c = &posterior_ref_cases[_i];
    diffuse_schedule *s = make_reference(c);
    float scratch[COUNT];
    ck_assert_ptr_eq(prediction_target(s, DIFFUSE_PREDICT_EPSILON, N, D, posterior_ref_t,
                                       posterior_ref_x0, posterior_ref_eps, scratch),
                     posterior_ref_eps);
    ck_assert_ptr_eq(prediction_target(s, DIFFUSE_PREDICT_X0, N, D, posterior_ref_t,
                                       posterior_ref_x0, posterior_ref_eps, scratch),
                     posterior_ref_x0);
    const float *v = prediction_target(s, DIFFUSE_PREDICT_V, N, D, posterior_ref_t,
                                       posterior_ref_x0, posterior_ref_eps, scratch);
    ck_assert_ptr_eq(v, scratch);
    expect_field("v target", c, v, offsetof(posterior_ref_case, velocity), NULL);
    diffuse_schedule_free(s);
}
END_TEST

/* x_t from (x_0, ε), each kind's target as its output: every kind then
 * estimates the same x̂_0 = x_0 and ε̂ = ε (up to float rounding, which
 * 1/√ᾱ_t magnifies for an ε-network's x̂_0 at large t). */
START_TEST(every_kind_recovers_x0_and_eps)
{
    const posterior_ref_case *c = &posterior_ref_cases[_i / KIND_COUNT];
    diffuse_prediction kind = kind_cases[_i % KIND_COUNT].kind;
    diffuse_schedule *s = make_reference(c);
    float xt[COUNT], target_buffer[COUNT], x0_buffer[COUNT], eps_buffer[COUNT];
    ck_assert_int_eq(diffuse_q_sample(s, N, D, posterior_ref_t, posterior_ref_x0,
                                      posterior_ref_eps, xt),
                     DIFFUSE_OK);
    const float *output = prediction_target(s, kind, N, D, posterior_ref_t, posterior_ref_x0,
                                            posterior_ref_eps, target_buffer);
    prediction_estimate e;
    prediction_estimate_init(&e, s, kind, N, D, posterior_ref_t, xt, output, x0_buffer,
                             eps_buffer);
    const float *x0 = prediction_x0(&e), *eps = prediction_eps(&e);
    for (size_t i = 0; i < COUNT; i++) {
        double alpha_bar;
        diffuse_schedule_value(s, DIFFUSE_TABLE_ALPHA_BAR, (size_t)posterior_ref_t[i / D],
                               &alpha_bar);
        if (kind == DIFFUSE_PREDICT_EPSILON && alpha_bar == 0.0)
            continue; /* x̂_0 = x_t/√ᾱ_t − … is not defined there */
        double x0_tolerance = kind == DIFFUSE_PREDICT_EPSILON ? 1e-6 / sqrt(alpha_bar) : 1e-6;
        ck_assert_close(x0[i], posterior_ref_x0[i], 0, x0_tolerance);
        ck_assert_close(eps[i], posterior_ref_eps[i], 0, 1e-5);
    }
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(zero_terminal_snr_rules_out_epsilon_only)
{
    diffuse_schedule *plain = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    diffuse_schedule *zero = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 1);
    diffuse_error error = {0};
    for (size_t k = 0; k < KIND_COUNT; k++)
        ck_assert_int_eq(prediction_check_schedule(&error, kind_cases[k].kind, plain),
                         DIFFUSE_OK);
    ck_assert_int_eq(prediction_check_schedule(&error, DIFFUSE_PREDICT_X0, zero), DIFFUSE_OK);
    ck_assert_int_eq(prediction_check_schedule(&error, DIFFUSE_PREDICT_V, zero), DIFFUSE_OK);
    ck_assert_int_eq(prediction_check_schedule(&error, DIFFUSE_PREDICT_EPSILON, zero),
                     DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(error.message, "epsilon-prediction"));
    ck_assert_ptr_nonnull(strstr(error.message, "zero terminal SNR"));
    diffuse_schedule_free(zero);
    diffuse_schedule_free(plain);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("prediction");
    TCase *reference = tcase_create("reference");
    tcase_add_loop_test(reference, estimates_match_reference, 0, CASE_COUNT * KIND_COUNT);
    tcase_add_loop_test(reference, targets_match_reference, 0, CASE_COUNT);
    tcase_add_loop_test(reference, every_kind_recovers_x0_and_eps, 0, CASE_COUNT * KIND_COUNT);
    suite_add_tcase(suite, reference);
    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, estimates_are_computed_on_request);
    tcase_add_test(rules, zero_terminal_snr_rules_out_epsilon_only);
    suite_add_tcase(suite, rules);
    return diffuse_test_run(suite);
}
