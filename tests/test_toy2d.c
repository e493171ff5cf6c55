/* Built-in 2-D toy data sets: names, determinism by index, shape of each
 * distribution, bad input. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define PI 3.14159265358979323846
#define KIND_COUNT 4
#define SHAPE_POINTS 4000

static const diffuse_toy2d all_kinds[KIND_COUNT] = {
    DIFFUSE_TOY2D_SWISS_ROLL, DIFFUSE_TOY2D_TWO_MOONS, DIFFUSE_TOY2D_EIGHT_GAUSSIANS,
    DIFFUSE_TOY2D_CHECKERBOARD};

static float *sample(diffuse_toy2d kind, uint64_t seed, size_t n)
{
    float *x = malloc(2 * n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(diffuse_toy2d_sample(kind, seed, 0, n, x), DIFFUSE_OK);
    return x;
}

static double min2(double a, double b)
{
    return a < b ? a : b;
}

START_TEST(names_round_trip)
{
    const char *expected[KIND_COUNT] = {"swiss_roll", "two_moons", "8gaussians", "checkerboard"};
    for (int k = 0; k < KIND_COUNT; k++) {
        diffuse_toy2d kind = (diffuse_toy2d)-1;
        ck_assert_str_eq(diffuse_toy2d_name(all_kinds[k]), expected[k]);
        ck_assert_int_eq(diffuse_toy2d_from_name(expected[k], &kind), DIFFUSE_OK);
        ck_assert_int_eq(kind, all_kinds[k]);
    }
    ck_assert_ptr_null(diffuse_toy2d_name((diffuse_toy2d)4));
    ck_assert_ptr_null(diffuse_toy2d_name((diffuse_toy2d)-1));
}
END_TEST

START_TEST(from_name_rejects_bad_input)
{
    diffuse_toy2d kind = DIFFUSE_TOY2D_TWO_MOONS;
    ck_assert_int_eq(diffuse_toy2d_from_name("swiss", &kind), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "checkerboard"));
    ck_assert_int_eq(diffuse_toy2d_from_name("", &kind), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_from_name("Swiss_Roll", &kind),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_from_name(NULL, &kind), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_from_name("two_moons", NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(kind, DIFFUSE_TOY2D_TWO_MOONS);
}
END_TEST

/* Point i depends only on (kind, seed, first_index + i): 7 + 9 = 16, and
 * any single point can be fetched alone. */
START_TEST(points_depend_only_on_their_index)
{
    for (int k = 0; k < KIND_COUNT; k++) {
        float whole[32], split[32], one[2], other_seed[32];
        ck_assert_int_eq(diffuse_toy2d_sample(all_kinds[k], 99, 1000, 16, whole), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_toy2d_sample(all_kinds[k], 99, 1000, 7, split), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_toy2d_sample(all_kinds[k], 99, 1007, 9, split + 14), DIFFUSE_OK);
        ck_assert_mem_eq(whole, split, sizeof whole);
        ck_assert_int_eq(diffuse_toy2d_sample(all_kinds[k], 99, 1012, 1, one), DIFFUSE_OK);
        ck_assert_mem_eq(one, whole + 24, sizeof one);
        ck_assert_int_eq(diffuse_toy2d_sample(all_kinds[k], 100, 1000, 16, other_seed),
                         DIFFUSE_OK);
        ck_assert_int_ne(memcmp(whole, other_seed, sizeof whole), 0);
    }
}
END_TEST

/* Chunks of the implementation (128 points) must not show: a long fill equals
 * the same points fetched one at a time across a chunk boundary. */
START_TEST(long_fills_match_single_points)
{
    enum { N = 300 };
    float *x = malloc(2 * N * sizeof *x);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_SWISS_ROLL, 5, 3, N, x), DIFFUSE_OK);
    for (size_t i = 120; i < 140; i++) {
        float one[2];
        ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_SWISS_ROLL, 5, 3 + i, 1, one),
                         DIFFUSE_OK);
        ck_assert_mem_eq(one, x + 2 * i, sizeof one);
    }
    free(x);
}
END_TEST

START_TEST(indices_up_to_the_last_counter)
{
    float x[32];
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_CHECKERBOARD, 1, UINT64_MAX, 1, x),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_CHECKERBOARD, 1, UINT64_MAX - 15, 16, x),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_CHECKERBOARD, 1, UINT64_MAX - 14, 16, x),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_CHECKERBOARD, 1, UINT64_MAX, 2, x),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
}
END_TEST

START_TEST(sample_rejects_bad_input)
{
    float x[4] = {5.0f, 5.0f, 5.0f, 5.0f};
    ck_assert_int_eq(diffuse_toy2d_sample((diffuse_toy2d)4, 0, 0, 2, x),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_sample((diffuse_toy2d)-1, 0, 0, 2, x),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 0, 0, 2, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 0, 0, 0, x),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 0, 0, SIZE_MAX, x),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(x[i], 5.0f);
}
END_TEST

/* Mean ≈ 0 and the per-coordinate standard deviations the header states. */
START_TEST(moments_match_the_documented_scaling)
{
    static const double expected_std[KIND_COUNT][2] = {
        {1.892, 1.986}, {2.17, 1.27}, {1.0056, 1.0056}, {1.1547, 1.1547}};
    for (int k = 0; k < KIND_COUNT; k++) {
        float *x = sample(all_kinds[k], 7, SHAPE_POINTS);
        double mean[2], cov[4];
        ck_assert_int_eq(diffuse_sample_moments(x, SHAPE_POINTS, 2, mean, cov), DIFFUSE_OK);
        for (int c = 0; c < 2; c++) {
            /* 5 standard errors of a 4000-point mean: 5/√4000 ≈ 0.08 std */
            ck_assert_double_lt(fabs(mean[c]), 0.08 * expected_std[k][c]);
            ck_assert_close(sqrt(cov[3 * c]), expected_std[k][c], 0.05, 0.0);
        }
        free(x);
    }
}
END_TEST

/* Every swiss-roll point lies within the noise of the spiral
 * (s cos s, s sin s), s ∈ [1.5π, 4.5π], in raw coordinates. */
START_TEST(swiss_roll_points_lie_on_the_spiral)
{
    enum { GRID = 4000 };
    static double curve[GRID][2];
    for (int g = 0; g < GRID; g++) {
        double s = 1.5 * PI + 3.0 * PI * g / (GRID - 1);
        curve[g][0] = s * cos(s);
        curve[g][1] = s * sin(s);
    }
    float *x = sample(DIFFUSE_TOY2D_SWISS_ROLL, 11, SHAPE_POINTS);
    double worst = 0.0;
    for (size_t i = 0; i < SHAPE_POINTS; i++) {
        double px = 3.5 * x[2 * i] + 2.0, py = 3.5 * x[2 * i + 1] + 2.0 / (3.0 * PI);
        double best = INFINITY;
        for (int g = 0; g < GRID; g++)
            best = min2(best, hypot(px - curve[g][0], py - curve[g][1]));
        worst = best > worst ? best : worst;
    }
    /* noise 0.25 per coordinate: |n| > 1.5 has probability e^-18 */
    ck_assert_double_lt(worst, 1.5);
    free(x);
}
END_TEST

/* Distance from p to the unit half circle around (cx, cy) spanning angles
 * [lo, lo + π]. */
static double half_circle_distance(double px, double py, double cx, double cy, double lo)
{
    double dx = px - cx, dy = py - cy;
    double angle = atan2(dy, dx) - lo;
    angle -= 2.0 * PI * floor(angle / (2.0 * PI));
    if (angle <= PI)
        return fabs(hypot(dx, dy) - 1.0);
    return min2(hypot(dx - cos(lo), dy - sin(lo)), hypot(dx + cos(lo), dy + sin(lo)));
}

/* Two clusters: every point is near the upper arc (centre (0,0), angles
 * 0..π) or the lower arc (centre (1, 1/2), angles π..2π), about half each. */
START_TEST(two_moons_form_two_arcs)
{
    float *x = sample(DIFFUSE_TOY2D_TWO_MOONS, 12, SHAPE_POINTS);
    size_t upper = 0;
    for (size_t i = 0; i < SHAPE_POINTS; i++) {
        double px = x[2 * i] / 2.5 + 0.5, py = x[2 * i + 1] / 2.5 + 0.25;
        double du = half_circle_distance(px, py, 0.0, 0.0, 0.0);
        double dl = half_circle_distance(px, py, 1.0, 0.5, PI);
        ck_assert_double_lt(min2(du, dl), 0.5); /* noise 0.08: 6 sigma */
        upper += du < dl;
    }
    ck_assert_uint_gt(upper, SHAPE_POINTS / 2 - 200);
    ck_assert_uint_lt(upper, SHAPE_POINTS / 2 + 200);
    free(x);
}
END_TEST

/* Every point is within 6 sigma of one of the 8 centres √2 (cos kπ/4,
 * sin kπ/4), and each centre gets about 1/8 of the points. */
START_TEST(eight_gaussians_surround_their_centres)
{
    float *x = sample(DIFFUSE_TOY2D_EIGHT_GAUSSIANS, 13, SHAPE_POINTS);
    size_t counts[8] = {0};
    for (size_t i = 0; i < SHAPE_POINTS; i++) {
        int nearest = 0;
        double best = INFINITY;
        for (int k = 0; k < 8; k++) {
            double d = hypot(x[2 * i] - sqrt(2.0) * cos(k * PI / 4),
                             x[2 * i + 1] - sqrt(2.0) * sin(k * PI / 4));
            if (d < best) {
                best = d;
                nearest = k;
            }
        }
        ck_assert_double_lt(best, 6.0 * 0.15 / sqrt(2.0));
        counts[nearest]++;
    }
    for (int k = 0; k < 8; k++)
        ck_assert_uint_gt(counts[k], SHAPE_POINTS / 8 - 100);
    free(x);
}
END_TEST

/* Every point lies in one of the 8 filled (closed) squares [i, i+1] × [j, j+1],
 * i + j even, of [−2, 2]², and each square gets about 1/8 of the points. */
START_TEST(checkerboard_fills_only_its_squares)
{
    float *x = sample(DIFFUSE_TOY2D_CHECKERBOARD, 14, SHAPE_POINTS);
    size_t counts[8] = {0};
    for (size_t p = 0; p < SHAPE_POINTS; p++) {
        double px = x[2 * p], py = x[2 * p + 1];
        int square = -1;
        for (int s = 0; s < 8 && square < 0; s++) {
            int j = s / 2 - 2, i = (j % 2 == 0 ? -2 : -1) + 2 * (s % 2);
            if (px >= i && px <= i + 1 && py >= j && py <= j + 1)
                square = s;
        }
        ck_assert_msg(square >= 0, "point (%g, %g) outside the filled squares", px, py);
        counts[square]++;
    }
    for (int s = 0; s < 8; s++)
        ck_assert_uint_gt(counts[s], SHAPE_POINTS / 8 - 100);
    free(x);
}
END_TEST

static Suite *toy2d_suite(void)
{
    Suite *suite = suite_create("toy2d");
    TCase *api = tcase_create("api");
    tcase_add_test(api, names_round_trip);
    tcase_add_test(api, from_name_rejects_bad_input);
    tcase_add_test(api, points_depend_only_on_their_index);
    tcase_add_test(api, long_fills_match_single_points);
    tcase_add_test(api, indices_up_to_the_last_counter);
    tcase_add_test(api, sample_rejects_bad_input);
    suite_add_tcase(suite, api);
    TCase *shape = tcase_create("shape");
    tcase_add_test(shape, moments_match_the_documented_scaling);
    tcase_add_test(shape, swiss_roll_points_lie_on_the_spiral);
    tcase_add_test(shape, two_moons_form_two_arcs);
    tcase_add_test(shape, eight_gaussians_surround_their_centres);
    tcase_add_test(shape, checkerboard_fills_only_its_squares);
    suite_add_tcase(suite, shape);
    return suite;
}

int main(void)
{
    return diffuse_test_run(toy2d_suite());
}
