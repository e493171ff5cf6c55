/* Every sampling method, spacing and prediction type against the
 * independent double-precision trajectories of
 * tests/reference/sampler_reference.py, on the same deterministic test model
 * (a callback model): within 1e-5 (relative to the largest |x|) at every
 * recorded step, driven through the step API; diffuse_sampler_run must then
 * give the step loop's final sample bit for bit.
 * DIFFUSE_REF_PRINT=1 prints the largest relative error of each case. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference/sampler_reference.h"
#include "test_handles.h"
#include "test_support.h"

#define COUNT (SAMPLER_REF_ROWS * SAMPLER_REF_DIM)
#define TOLERANCE 1e-5

typedef struct test_model {
    diffuse_schedule *schedule;
    diffuse_prediction kind;
} test_model;

/* The reference's model: ε = E[ε | x_t] of N(MU, S² I) + 0.1 sin(x_{j+1} + t/500),
 * read as ε, x_0 or v. */
static int test_model_predict(void *user, const diffuse_model_call *call, size_t dim)
{
    const test_model *m = user;
    for (size_t i = 0; i < call->n; i++) {
        double a;
        diffuse_schedule_value(m->schedule, DIFFUSE_TABLE_ALPHA_BAR, (size_t)call->t[i], &a);
        double var = a * SAMPLER_REF_S * SAMPLER_REF_S + 1.0 - a;
        const float *x = call->x_t + i * dim;
        for (size_t j = 0; j < dim; j++) {
            double eps = sqrt(1.0 - a) * (x[j] - sqrt(a) * SAMPLER_REF_MU) / var +
                         0.1 * sin((double)x[(j + 1) % dim] + call->t[i] / 500.0);
            double x0 = (x[j] - sqrt(1.0 - a) * eps) / sqrt(a);
            double v = sqrt(a) * eps - sqrt(1.0 - a) * x0;
            call->out[i * dim + j] = (float)(m->kind == DIFFUSE_PREDICT_V    ? v
                                             : m->kind == DIFFUSE_PREDICT_X0 ? x0
                                                                             : eps);
        }
    }
    return 0;
}

static void configure(diffuse_sampler *s, const sampler_ref_case *c)
{
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_SEED, SAMPLER_REF_SEED), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_METHOD, c->method), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_VARIANCE, c->variance), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_FINAL_ALPHA_ONE, c->final_one),
                     0);
    ck_assert_int_eq(
        diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_LOWER_ORDER_FINAL, c->lower_final), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_ETA, c->eta), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_CLIP_X0, c->clip), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE, c->percentile), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_THRESHOLD_MAX, c->threshold_max), 0);
    if (c->spacing < 0) {
        ck_assert_int_eq(diffuse_sampler_set_timesteps(s, c->list, c->count), 0);
        return;
    }
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_SPACING, c->spacing), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_STEPS, (int64_t)c->steps), 0);
}

/* The list the sampler uses is the reference's (diffusers' spacing). */
static void expect_list(const diffuse_sampler *s, const sampler_ref_case *c)
{
    size_t count = 0;
    ck_assert_int_eq(diffuse_sampler_timesteps(s, NULL, 0, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, c->count);
    int32_t *list = malloc(count * sizeof *list);
    ck_assert_int_eq(diffuse_sampler_timesteps(s, list, count, &count), DIFFUSE_OK);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(list[i] == c->list[i], "%s: entry %zu is %d, not %d", c->name, i,
                      (int)list[i], (int)c->list[i]);
    free(list);
}

static double relative_error(const float *x, const double *reference)
{
    double err = 0.0, scale = 0.0;
    for (size_t i = 0; i < COUNT; i++) {
        err = fmax(err, fabs(x[i] - reference[i]));
        scale = fmax(scale, fabs(reference[i]));
    }
    return err / scale;
}

START_TEST(matches_the_reference)
{
    const sampler_ref_case *c = &sampler_ref_cases[_i];
    test_model tm = {.kind = (diffuse_prediction)c->prediction};
    ck_assert_int_eq(diffuse_schedule_create(&tm.schedule, DIFFUSE_SCHEDULE_LINEAR, SAMPLER_REF_T),
                     DIFFUSE_OK);
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&model, SAMPLER_REF_DIM, tm.kind,
                                                   test_model_predict, &tm),
                     DIFFUSE_OK);
    diffuse_sampler *s = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&s, model, tm.schedule), DIFFUSE_OK);
    configure(s, c);
    expect_list(s, c);
    float x[COUNT], out[COUNT], ran[COUNT];
    ck_assert_int_eq(diffuse_sampler_initial_noise(s, SAMPLER_REF_ROWS, x), DIFFUSE_OK);
    int32_t t[SAMPLER_REF_ROWS];
    double worst = 0.0;
    for (size_t k = 0, mark = 0; k < c->count; k++) {
        for (size_t i = 0; i < SAMPLER_REF_ROWS; i++)
            t[i] = c->list[k];
        ck_assert_int_eq(diffuse_test_predict(model, SAMPLER_REF_ROWS, t, x, out), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_sampler_step(s, SAMPLER_REF_ROWS, c->list[k], out, x, x, NULL),
                         DIFFUSE_OK);
        if (mark < c->checkpoint_count && c->checkpoints[mark] == k) {
            double err = relative_error(x, c->x[mark++]);
            worst = fmax(worst, err);
            ck_assert_msg(err <= TOLERANCE, "%s: step %zu (t = %d) off by %.3g relative",
                          c->name, k, (int)c->list[k], err);
        }
    }
    if (getenv("DIFFUSE_REF_PRINT") != NULL)
        printf("reference %-48s max rel error %.2e\n", c->name, worst);
    ck_assert_int_eq(diffuse_sampler_run(s, SAMPLER_REF_ROWS, ran), DIFFUSE_OK);
    ck_assert_msg(memcmp(ran, x, sizeof x) == 0, "%s: the run differs from the step loop",
                  c->name);
    diffuse_sampler_free(s);
    diffuse_model_free(model);
    diffuse_schedule_free(tm.schedule);
}
END_TEST

static Suite *sampler_reference_suite(void)
{
    Suite *suite = suite_create("sampler_reference");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, matches_the_reference, 0,
                        (int)(sizeof sampler_ref_cases / sizeof sampler_ref_cases[0]));
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(sampler_reference_suite());
}
