/* End to end: the toy2d demo's default recipe learns its distribution.
 *
 * After the demo's default training, 2,000 samples are compared with 2,000
 * fresh data points by the energy distance; it must be at most 1/20 of what
 * N(0, I) noise scores against the same data. A Gaussian blob with the
 * data's exact mean and covariance must FAIL the same threshold, showing the
 * test measures shape, not just the first two moments.
 *
 * The fast samplers on the same trained model, DDIM with 50 steps and
 * DPM-Solver++ 2M with 20 (trailing spacing, as the demo's --sampler), must
 * meet the issue's bar against DDPM-1000 on every data set: a mean energy
 * distance within 1.5× DDPM-1000's (or inside the data-vs-data floor, where
 * DDPM-1000 is; failed beyond two standard errors of the mean) and a mean
 * k-NN precision at most 0.02 below DDPM-1000's, means over QUALITY_DRAWS
 * paired sampling draws, since one draw's noise is as large as the bar.
 * (The 8 Gaussians meet it with the demo's recipe for them, 18,000 training
 * steps and DPM-Solver++ over uniform-λ steps: toy2d_recipe.h/.c.) With DIFFUSE_TEST_FAST (tests/run-tests.sh's default;
 * CI sets 0) one draw and DDPM-1000's own looser bar. The line printed for
 * each data set is what docs/performance.md quotes. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "toy2d_recipe.h"

#define QUALITY_SAMPLES 2000
#define QUALITY_MAX_RATIO (1.0 / 20.0)
/* The issue's bar for the fast samplers against DDPM-1000. */
#define QUALITY_DISTANCE_RATIO 1.5
#define QUALITY_PRECISION_DROP 0.02
/* Draws averaged: one draw's precision spreads by ~0.005 and its energy
 * distance by ~the floor, as much as the bar allows. */
#define QUALITY_DRAWS 8

/* DIFFUSE_TEST_FAST set and not 0 (tests/run-tests.sh's default): one draw. */
static int quality_draws(void)
{
    const char *fast = getenv("DIFFUSE_TEST_FAST");
    return fast != NULL && fast[0] != '\0' && strcmp(fast, "0") != 0 ? 1 : QUALITY_DRAWS;
}

/* Samples of N(mean, cov) matched to `data`: the blur a model that learnt
 * only the first two moments would produce. */
static void matched_gaussian(const float *data, size_t n, float *out)
{
    double mean[2], cov[4];
    ck_assert_int_eq(diffuse_sample_moments(data, n, 2, mean, cov), DIFFUSE_OK);
    /* Cholesky factor of the 2×2 covariance. */
    double l00 = sqrt(cov[0]), l10 = cov[2] / l00, l11 = sqrt(cov[3] - l10 * l10);
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, 77, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, out, 2 * n), DIFFUSE_OK);
    diffuse_rng_free(rng);
    for (size_t i = 0; i < n; i++) {
        double z0 = out[2 * i], z1 = out[2 * i + 1];
        out[2 * i] = (float)(mean[0] + l00 * z0);
        out[2 * i + 1] = (float)(mean[1] + l10 * z0 + l11 * z1);
    }
}

/* ED(a, b) of two fresh data sets (the other one from its own seed per
 * draw): what any sampler's score is noise around. */
static double data_floor(diffuse_toy2d kind, uint64_t draw, const float *data)
{
    float *other = malloc(QUALITY_SAMPLES * 2 * sizeof(float));
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(diffuse_toy2d_sample(kind, 991 + draw, 0, QUALITY_SAMPLES, other),
                     DIFFUSE_OK);
    double floor;
    ck_assert_int_eq(diffuse_energy_distance(other, QUALITY_SAMPLES, data, QUALITY_SAMPLES, 2,
                                             &floor),
                     DIFFUSE_OK);
    free(other);
    return floor;
}

/* The quality of the run's samples with `method` over `steps` entries. */
static toy2d_quality method_quality(toy2d_run *run, diffuse_sample_method method, int64_t steps,
                                    float *samples, float *data)
{
    run->recipe.sample_method = method;
    run->recipe.sample_steps = steps;
    ck_assert_int_eq(toy2d_sample(run, QUALITY_SAMPLES, samples), 0);
    toy2d_quality quality;
    ck_assert_int_eq(toy2d_measure(run, samples, QUALITY_SAMPLES, data, &quality), 0);
    return quality;
}

/* Means over the draws of one method's energy distance and k-NN precision,
 * and the mean square of the distance (for its standard error). */
typedef struct method_means {
    double distance, precision, distance_sq;
} method_means;

typedef struct comparison {
    method_means ddpm, ddim, dpmpp;
    double floor_rms;      /* √(mean ED²) of fresh data vs fresh data: a perfect model's score */
    double data_precision; /* fresh data's k-NN precision against the data */
    double noise;          /* ED of N(0, I) against the data (draw 0) */
} comparison;

static void add_draw(method_means *sum, const toy2d_quality *q, double weight)
{
    sum->distance += weight * q->samples;
    sum->precision += weight * q->knn.precision;
    sum->distance_sq += weight * q->samples * q->samples;
}

/* The standard error of the mean distance over `draws` draws. */
static double distance_error(const method_means *m, int draws)
{
    double variance = fmax(0.0, m->distance_sq - m->distance * m->distance);
    return sqrt(variance / (draws - 1));
}

/* DDPM-1000, DDIM-50 and DPM-Solver++-20 over `draws` paired draws: draw k
 * samples every method with seed s + k (s: the training seed) and measures
 * it against the same fresh data (recipe.seed sets both, toy2d_recipe.h),
 * so what the methods share cancels in their differences and the means'
 * noise falls as 1/√draws. Draw 0's DDPM-1000 is `first`, already measured
 * against `data`, which holds draw 0's fresh data on entry. */
static comparison compare_methods(toy2d_run *run, const toy2d_quality *first, int draws,
                                  float *samples, float *data)
{
    comparison c = {0};
    uint64_t training_seed = run->recipe.seed;
    for (int k = 0; k < draws; k++) {
        double w = 1.0 / draws;
        run->recipe.seed = training_seed + (uint64_t)k;
        toy2d_quality ddpm =
            k == 0 ? *first : method_quality(run, DIFFUSE_METHOD_DDPM, 0, samples, data);
        double floor = data_floor(run->recipe.data, (uint64_t)k, data);
        add_draw(&c.ddpm, &ddpm, w);
        c.floor_rms += w * floor * floor;
        c.data_precision += w * ddpm.floor.precision;
        if (k == 0)
            c.noise = ddpm.noise;
        toy2d_quality ddim = method_quality(run, DIFFUSE_METHOD_DDIM, 50, samples, data);
        add_draw(&c.ddim, &ddim, w);
        toy2d_quality dpmpp = method_quality(run, DIFFUSE_METHOD_DPMPP_2M, 20, samples, data);
        add_draw(&c.dpmpp, &dpmpp, w);
    }
    c.floor_rms = sqrt(c.floor_rms);
    run->recipe.seed = training_seed;
    return c;
}

/* The issue's bar on the means, for the true means: an energy distance
 * within 1.5× DDPM-1000's, or inside the data-vs-data floor where DDPM-1000
 * is (max(1.5 DDPM, floor); 1.5 max(DDPM, floor) would let a sampler past
 * the floor), and a precision at most 0.02 below DDPM-1000's. A fast
 * sampler's ED spreads over draws (± 0.0006–0.0013 for the mean of 8, as
 * much as the floor), so the suite fails it only when its mean lies more
 * than two standard errors past the bar; a miss within them is printed. */
static void check_issue_bar(const char *name, diffuse_toy2d kind, const method_means *fast,
                            const comparison *c, int draws)
{
    double bar = fmax(QUALITY_DISTANCE_RATIO * c->ddpm.distance, c->floor_rms);
    double error = distance_error(fast, draws);
    if (fast->distance > bar)
        printf("%s on %s: mean energy distance %.5f over the bar %.5f, within %.5f (2 "
               "standard errors)\n",
               name, diffuse_toy2d_name(kind), fast->distance, bar, 2.0 * error);
    ck_assert_msg(fast->distance <= bar + 2.0 * error,
                  "%s: mean energy distance %.5f > %.5f = max(%.1f × DDPM-1000's %.5f, "
                  "floor %.5f) + 2 standard errors",
                  name, fast->distance, bar + 2.0 * error, QUALITY_DISTANCE_RATIO,
                  c->ddpm.distance, c->floor_rms);
    ck_assert_msg(fast->precision >= c->ddpm.precision - QUALITY_PRECISION_DROP,
                  "%s: mean precision %.4f is more than %.2f below DDPM-1000's %.4f", name,
                  fast->precision, QUALITY_PRECISION_DROP, c->ddpm.precision);
}

/* Fast mode (one draw, whose noise the issue's bar does not allow for):
 * DDPM-1000's own bar, 1/20 of what noise scores, and precision within the
 * demo's verdict tolerance of DDPM-1000's. */
static void check_one_draw_bar(const char *name, diffuse_toy2d kind, const method_means *fast,
                               const comparison *c, int draws)
{
    (void)kind;
    (void)draws;
    double bar = QUALITY_MAX_RATIO * c->noise;
    ck_assert_msg(fast->distance <= bar, "%s samples too far from the data: %g > %g", name,
                  fast->distance, bar);
    ck_assert_msg(fast->precision >= c->ddpm.precision - TOY2D_KNN_TOLERANCE,
                  "%s precision %.3f is more than %.2f below DDPM-1000's %.3f", name,
                  fast->precision, TOY2D_KNN_TOLERANCE, c->ddpm.precision);
}

static void check_fast_samplers(toy2d_run *run, const toy2d_quality *first, float *samples,
                                float *data)
{
    int draws = quality_draws();
    comparison c = compare_methods(run, first, draws, samples, data);
    printf("%s, mean of %d draws: energy distance DDPM-1000 %.5f, DDIM-50 %.5f, "
           "DPM-Solver++-20 %.5f, data vs data (rms) %.5f; precision %.4f, %.4f, %.4f "
           "(data %.4f)\n",
           diffuse_toy2d_name(run->recipe.data), draws, c.ddpm.distance, c.ddim.distance,
           c.dpmpp.distance, c.floor_rms, c.ddpm.precision, c.ddim.precision, c.dpmpp.precision,
           c.data_precision);
    void (*check)(const char *, diffuse_toy2d, const method_means *, const comparison *, int) =
        draws > 1 ? check_issue_bar : check_one_draw_bar;
    check("DDIM-50", run->recipe.data, &c.ddim, &c, draws);
    check("DPM-Solver++-20", run->recipe.data, &c.dpmpp, &c, draws);
}

static void check_distribution(diffuse_toy2d kind)
{
    toy2d_run run;
    toy2d_recipe recipe = toy2d_default_recipe(kind, toy2d_default_steps(kind), 1, 1);
    ck_assert_int_eq(toy2d_train(&recipe, &run), 0);
    float *samples = malloc(QUALITY_SAMPLES * 2 * sizeof(float));
    float *data = malloc(QUALITY_SAMPLES * 2 * sizeof(float));
    float *blob = malloc(QUALITY_SAMPLES * 2 * sizeof(float));
    ck_assert(samples && data && blob);
    ck_assert_int_eq(toy2d_sample(&run, QUALITY_SAMPLES, samples), 0);
    toy2d_quality quality;
    ck_assert_int_eq(toy2d_measure(&run, samples, QUALITY_SAMPLES, data, &quality), 0);

    matched_gaussian(data, QUALITY_SAMPLES, blob);
    double blob_distance;
    ck_assert_int_eq(
        diffuse_energy_distance(blob, QUALITY_SAMPLES, data, QUALITY_SAMPLES, 2, &blob_distance),
        DIFFUSE_OK);
    printf("%s: energy distance samples %.5f, moment-matched blob %.5f, noise %.5f "
           "(samples/noise = 1/%.1f, blob/noise = 1/%.1f); k-NN precision %.3f recall %.3f "
           "(fresh data %.3f %.3f)\n",
           diffuse_toy2d_name(kind), quality.samples, blob_distance, quality.noise,
           quality.noise / quality.samples, quality.noise / blob_distance, quality.knn.precision,
           quality.knn.recall, quality.floor.precision, quality.floor.recall);
    ck_assert_msg(quality.samples <= QUALITY_MAX_RATIO * quality.noise,
                  "samples too far from the data: %g > %g", quality.samples,
                  QUALITY_MAX_RATIO * quality.noise);
    ck_assert_msg(blob_distance > QUALITY_MAX_RATIO * quality.noise,
                  "the threshold does not separate a moment-matched blob (%g)", blob_distance);
    check_fast_samplers(&run, &quality, samples, data);
    free(samples);
    free(data);
    free(blob);
    toy2d_run_free(&run);
}

START_TEST(swiss_roll_is_learnt)
{
    check_distribution(DIFFUSE_TOY2D_SWISS_ROLL);
}
END_TEST

START_TEST(two_moons_are_learnt)
{
    check_distribution(DIFFUSE_TOY2D_TWO_MOONS);
}
END_TEST

START_TEST(eight_gaussians_are_learnt)
{
    check_distribution(DIFFUSE_TOY2D_EIGHT_GAUSSIANS);
}
END_TEST

/* The demo's verdict (k-NN precision and recall against fresh data) sees
 * what the energy distance averages away: checkerboard points blurred into
 * the gaps pass the energy-distance threshold above but not the verdict,
 * while a second set of fresh data passes both. No training needed. */
START_TEST(knn_verdict_sees_fine_structure)
{
    enum { n = QUALITY_SAMPLES };
    toy2d_run run = {.recipe = toy2d_default_recipe(DIFFUSE_TOY2D_CHECKERBOARD, 1, 1, 1)};
    float *fresh = malloc(n * 2 * sizeof(float)), *blurred = malloc(n * 2 * sizeof(float));
    float *data = malloc(n * 2 * sizeof(float));
    ck_assert(fresh && blurred && data);
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_CHECKERBOARD, 99, 0, n, fresh),
                     DIFFUSE_OK);
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, 5, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, blurred, 2 * n), DIFFUSE_OK);
    diffuse_rng_free(rng);
    for (size_t i = 0; i < 2 * n; i++)
        blurred[i] = fresh[i] + 0.15f * blurred[i];
    toy2d_quality same, blur;
    ck_assert_int_eq(toy2d_measure(&run, fresh, n, data, &same), 0);
    ck_assert_int_eq(toy2d_measure(&run, blurred, n, data, &blur), 0);
    printf("checkerboard: fresh data precision %.3f recall %.3f, blurred %.3f %.3f "
           "(floor %.3f %.3f); energy distance blurred %.5f, noise %.5f\n",
           same.knn.precision, same.knn.recall, blur.knn.precision, blur.knn.recall,
           blur.floor.precision, blur.floor.recall, blur.samples, blur.noise);
    ck_assert(toy2d_matches_data(&same));
    ck_assert(!toy2d_matches_data(&blur));
    ck_assert(blur.samples <= QUALITY_MAX_RATIO * blur.noise);
    free(fresh);
    free(blurred);
    free(data);
}
END_TEST

static Suite *quality_suite(void)
{
    Suite *suite = suite_create("quality");
    TCase *tc = tcase_create("toy2d");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, swiss_roll_is_learnt);
    tcase_add_test(tc, two_moons_are_learnt);
    tcase_add_test(tc, eight_gaussians_are_learnt);
    tcase_add_test(tc, knn_verdict_sees_fine_structure);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(quality_suite());
}
