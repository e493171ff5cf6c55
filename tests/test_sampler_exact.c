/* Exact-score tests of every sampling method (the ε-oracle of
 * test_sampler_oracle.h), in a suite of their own: they sample 20000 rows
 * through up to 1000 steps, too slow for valgrind (tests/run-valgrind.sh). */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "reference/sampler_reference.h"
#include "test_sampler_oracle.h"
#include "test_support.h"

/* Exact-score test: each method at 1000, 100, 50 and 20 trailing-spaced
 * steps, driven by the ε-oracle, reproduces the moments its chain has on
 * the exact score (sampler_reference.py computes them in closed form: every
 * estimate is affine in x_t) within 4 standard errors of N = 20000 rows per
 * coordinate. Those are the data's N(1.5, 0.5²) up to the method's own
 * bias (printed with DIFFUSE_REF_PRINT=1). A planted off-by-one in t fails
 * it. */
START_TEST(exact_score_moments)
{
    const sampler_ref_moments *c = &sampler_ref_exact[_i];
    enum { N = 20000 };
    ck_assert(SAMPLER_REF_GAUSS_MU == ORACLE_MEAN && SAMPLER_REF_GAUSS_S == ORACLE_STD);
    oracle o = {.schedule = linear_schedule(1000)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_METHOD, c->method), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE, c->variance), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_ETA, c->eta), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, (int64_t)c->steps),
                     0);
    float *x = malloc((size_t)N * DIM * sizeof(float));
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, x), DIFFUSE_OK);
    double mean[DIM], cov[DIM * DIM];
    ck_assert_int_eq(diffuse_sample_moments(x, N, DIM, mean, cov), DIFFUSE_OK);
    double se_mean = c->std / sqrt((double)N), se_std = c->std / sqrt(2.0 * N);
    for (size_t j = 0; j < DIM; j++) {
        double std = sqrt(cov[j * DIM + j]);
        if (getenv("DIFFUSE_REF_PRINT") != NULL)
            printf("exact %-20s coord %zu: mean %.4f (chain %.4f, %+.1f se; data %+.4f) "
                   "std %.4f (chain %.4f, %+.1f se; data %+.4f)\n",
                   c->name, j, mean[j], c->mean, (mean[j] - c->mean) / se_mean,
                   mean[j] - ORACLE_MEAN, std, c->std, (std - c->std) / se_std,
                   std - ORACLE_STD);
        ck_assert_msg(fabs(mean[j] - c->mean) <= 4.0 * se_mean, "%s: mean %.5f, chain %.5f",
                      c->name, mean[j], c->mean);
        ck_assert_msg(fabs(std - c->std) <= 4.0 * se_std, "%s: std %.5f, chain %.5f", c->name,
                      std, c->std);
    }
    free(x);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

static Suite *sampler_exact_suite(void)
{
    Suite *suite = suite_create("sampler_exact");
    TCase *tc = tcase_create("exact");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, exact_score_moments, 0,
                        (int)(sizeof sampler_ref_exact / sizeof sampler_ref_exact[0]));
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(sampler_exact_suite());
}
