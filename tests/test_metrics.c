/* Energy distance and sample moments: against the Python reference
 * (reference/metrics_reference.py), statistical behaviour, bad input. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/philox.h"
#include "reference/metrics_reference.h"
#include "test_support.h"

#define CASE_COUNT (sizeof metrics_ref_energy_cases / sizeof metrics_ref_energy_cases[0])

/* n points of N(shift, scale² I) in d dimensions from Philox (seed, stream). */
static float *gaussian_points(uint64_t stream, size_t n, size_t d, float shift, float scale)
{
    float *x = malloc(n * d * sizeof *x);
    ck_assert_ptr_nonnull(x);
    philox_normal(1234, stream, 0, x, n * d);
    for (size_t i = 0; i < n * d; i++)
        x[i] = shift + scale * x[i];
    return x;
}

START_TEST(energy_matches_reference)
{
    for (size_t c = 0; c < CASE_COUNT; c++) {
        const metrics_ref_energy_case *rc = &metrics_ref_energy_cases[c];
        double e = NAN;
        ck_assert_int_eq(diffuse_energy_distance(rc->a, rc->na, rc->b, rc->nb, rc->d, &e),
                         DIFFUSE_OK);
        ck_assert_close(e, rc->energy, 1e-12, 1e-14);
    }
}
END_TEST

START_TEST(energy_is_symmetric_and_scales_with_the_data)
{
    const metrics_ref_energy_case *rc = &metrics_ref_energy_cases[2];
    size_t na = rc->na * rc->d, nb = rc->nb * rc->d;
    float a[64 * 3], b[64 * 3];
    ck_assert_uint_le(na, sizeof a / sizeof a[0]);
    ck_assert_uint_le(nb, sizeof b / sizeof b[0]);
    double ab, ba, scaled;
    ck_assert_int_eq(diffuse_energy_distance(rc->a, rc->na, rc->b, rc->nb, rc->d, &ab),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_energy_distance(rc->b, rc->nb, rc->a, rc->na, rc->d, &ba),
                     DIFFUSE_OK);
    ck_assert_close(ba, ab, 1e-12, 0.0);
    /* E(4a + 3, 4b + 3) = 4 E(a, b): translation-invariant, linear in scale
     * (4 and 3 keep the float arithmetic exact enough). */
    for (size_t i = 0; i < na; i++)
        a[i] = 4.0f * rc->a[i] + 3.0f;
    for (size_t i = 0; i < nb; i++)
        b[i] = 4.0f * rc->b[i] + 3.0f;
    ck_assert_int_eq(diffuse_energy_distance(a, rc->na, b, rc->nb, rc->d, &scaled), DIFFUSE_OK);
    ck_assert_close(scaled, 4.0 * ab, 1e-6, 0.0);
}
END_TEST

/* Two samples of 1000 points of the same 2-D Gaussian: E near 0 (its
 * standard deviation here is about 0.003); a shift by (0.5, 0.5) or a doubled
 * scale gives E ≈ 0.21 and ≈ 0.31, far above that. */
START_TEST(energy_separates_equal_from_different_distributions)
{
    const size_t n = 1000, d = 2;
    float *a = gaussian_points(1, n, d, 0.0f, 1.0f);
    float *same = gaussian_points(2, n, d, 0.0f, 1.0f);
    float *shifted = gaussian_points(3, n, d, 0.5f, 1.0f);
    float *scaled = gaussian_points(4, n, d, 0.0f, 2.0f);
    double e_same, e_shifted, e_scaled;
    ck_assert_int_eq(diffuse_energy_distance(a, n, same, n, d, &e_same), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_energy_distance(a, n, shifted, n, d, &e_shifted), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_energy_distance(a, n, scaled, n, d, &e_scaled), DIFFUSE_OK);
    ck_assert_double_lt(fabs(e_same), 0.015);
    ck_assert_double_gt(e_shifted, 0.1);
    ck_assert_double_gt(e_scaled, 0.15);
    free(a);
    free(same);
    free(shifted);
    free(scaled);
}
END_TEST

START_TEST(energy_rejects_bad_input)
{
    const metrics_ref_energy_case *rc = &metrics_ref_energy_cases[1];
    const float *a = rc->a, *b = rc->b;
    size_t na = rc->na, nb = rc->nb, d = rc->d;
    double e = 42.0;
    ck_assert_int_eq(diffuse_energy_distance(NULL, na, b, nb, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, na, NULL, nb, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, na, b, nb, d, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, 0, b, nb, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, na, b, 0, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, na, b, nb, 0, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, 1, b, nb, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "at least 2"));
    ck_assert_int_eq(diffuse_energy_distance(a, na, b, 1, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_energy_distance(a, SIZE_MAX / 2, b, nb, d, &e),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    float bad[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    bad[3] = NAN;
    ck_assert_int_eq(diffuse_energy_distance(bad, 2, b, nb, d, &e), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "a[3]"));
    bad[3] = INFINITY;
    ck_assert_int_eq(diffuse_energy_distance(a, na, bad, 2, d, &e), DIFFUSE_ERROR_NUMERIC);
    bad[3] = -INFINITY;
    ck_assert_int_eq(diffuse_energy_distance(a, na, bad, 2, d, &e), DIFFUSE_ERROR_NUMERIC);
    ck_assert_double_eq(e, 42.0);
}
END_TEST

START_TEST(moments_match_reference)
{
    const size_t n = METRICS_REF_MOMENTS_N, d = METRICS_REF_MOMENTS_D;
    double mean[METRICS_REF_MOMENTS_D], cov[METRICS_REF_MOMENTS_D * METRICS_REF_MOMENTS_D];
    ck_assert_int_eq(diffuse_sample_moments(metrics_ref_moments_x, n, d, mean, cov), DIFFUSE_OK);
    for (size_t k = 0; k < d; k++)
        ck_assert_close(mean[k], metrics_ref_moments_mean[k], 1e-13, 1e-15);
    for (size_t k = 0; k < d * d; k++)
        ck_assert_close(cov[k], metrics_ref_moments_cov[k], 1e-13, 1e-15);

    double mean_only[METRICS_REF_MOMENTS_D];
    ck_assert_int_eq(diffuse_sample_moments(metrics_ref_moments_x, n, d, mean_only, NULL),
                     DIFFUSE_OK);
    ck_assert_mem_eq(mean_only, mean, sizeof mean);
}
END_TEST

START_TEST(moments_of_a_single_point)
{
    const float x[3] = {1.5f, -2.0f, 0.25f};
    double mean[3], cov[9] = {7.0};
    ck_assert_int_eq(diffuse_sample_moments(x, 1, 3, mean, NULL), DIFFUSE_OK);
    for (size_t k = 0; k < 3; k++)
        ck_assert_double_eq(mean[k], x[k]);
    ck_assert_int_eq(diffuse_sample_moments(x, 1, 3, mean, cov), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_double_eq(cov[0], 7.0);
}
END_TEST

START_TEST(moments_reject_bad_input)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    double mean[3] = {9, 9, 9}, cov[9];
    ck_assert_int_eq(diffuse_sample_moments(NULL, 2, 3, mean, cov),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sample_moments(x, 2, 3, NULL, cov), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sample_moments(x, 0, 3, mean, cov), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sample_moments(x, 2, 0, mean, cov), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sample_moments(x, SIZE_MAX / 2, 3, mean, cov),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    x[4] = NAN;
    ck_assert_int_eq(diffuse_sample_moments(x, 2, 3, mean, cov), DIFFUSE_ERROR_NUMERIC);
    x[4] = INFINITY;
    ck_assert_int_eq(diffuse_sample_moments(x, 2, 3, mean, NULL), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "x[4]"));
    ck_assert_double_eq(mean[0], 9.0);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *suite = suite_create("metrics");
    TCase *energy = tcase_create("energy");
    tcase_add_test(energy, energy_matches_reference);
    tcase_add_test(energy, energy_is_symmetric_and_scales_with_the_data);
    tcase_add_test(energy, energy_separates_equal_from_different_distributions);
    tcase_add_test(energy, energy_rejects_bad_input);
    suite_add_tcase(suite, energy);
    TCase *moments = tcase_create("moments");
    tcase_add_test(moments, moments_match_reference);
    tcase_add_test(moments, moments_of_a_single_point);
    tcase_add_test(moments, moments_reject_bad_input);
    suite_add_tcase(suite, moments);
    return suite;
}

int main(void)
{
    return diffuse_test_run(metrics_suite());
}
