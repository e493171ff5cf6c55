/* The likelihood bound (diffuse_model_nll, src/sample/nll.c): L_T against
 * its closed form; on Gaussian data with the exact ε-predictor (a callback
 * model, test_sampler_oracle.h) the continuous bound approaches the data's
 * entropy; the terms' bookkeeping (per-sample and mean, total = sum,
 * seeds); learned variances at their ends equal the fixed ones; the
 * discretised decoder on grid data; argument errors. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_sampler_oracle.h"
#include "test_support.h"

#define LN2 0.69314718055994530942
#define PI 3.14159265358979323846

/* n rows of N(ORACLE_MEAN, ORACLE_STD²) data, the oracle's distribution. */
static float *gaussian_data(size_t n, uint64_t seed)
{
    float *x = malloc(n * DIM * sizeof *x);
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, seed, 0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, x, n * DIM), DIFFUSE_OK);
    for (size_t i = 0; i < n * DIM; i++)
        x[i] = (float)(ORACLE_MEAN + ORACLE_STD * x[i]);
    diffuse_rng_free(rng);
    return x;
}

static diffuse_nll_terms nll(diffuse_model *model, const diffuse_schedule *s, const float *x0,
                             size_t n, int variance, int decoder, diffuse_nll_terms *per_sample)
{
    diffuse_nll_request request = DIFFUSE_NLL_REQUEST_INIT;
    request.n = n;
    request.x0 = x0;
    request.variance = variance;
    request.decoder = decoder;
    request.seed = 5;
    request.per_sample = per_sample;
    diffuse_nll_terms mean;
    ck_assert_int_eq(diffuse_model_nll(model, s, &request, &mean), DIFFUSE_OK);
    return mean;
}

/* L_T = ½ Σ_j (ᾱ x_j² + (1−ᾱ) − 1 − log(1−ᾱ)) / (d ln 2), ᾱ = ᾱ_{T−1};
 * total = the sum of the terms; the mean is the mean of the rows. */
START_TEST(prior_term_is_closed_form)
{
    oracle o = {0};
    o.schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_COSINE, 200, 0);
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    enum { N = 8 };
    float *x0 = gaussian_data(N, 1);
    diffuse_nll_terms rows[N];
    diffuse_nll_terms mean = nll(model, o.schedule, x0, N, DIFFUSE_VARIANCE_BETA,
                                 DIFFUSE_DECODER_CONTINUOUS, rows);
    double a;
    ck_assert_int_eq(diffuse_schedule_value(o.schedule, DIFFUSE_TABLE_ALPHA_BAR, 199, &a),
                     DIFFUSE_OK);
    double sums[4] = {0};
    for (size_t i = 0; i < N; i++) {
        double nats = 0.0;
        for (size_t j = 0; j < DIM; j++) {
            double x = x0[i * DIM + j];
            nats += 0.5 * (a * x * x + (1.0 - a) - 1.0 - log(1.0 - a));
        }
        double expected = nats / (DIM * LN2);
        ck_assert_msg(fabs(rows[i].prior - expected) <= 1e-12 * fmax(1e-3, expected),
                      "row %zu: L_T %.17g, closed form %.17g", i, rows[i].prior, expected);
        ck_assert_double_eq_tol(rows[i].total,
                                rows[i].prior + rows[i].diffusion + rows[i].decoder, 1e-12);
        sums[0] += rows[i].prior / N;
        sums[1] += rows[i].diffusion / N;
        sums[2] += rows[i].decoder / N;
        sums[3] += rows[i].total / N;
    }
    ck_assert_double_eq_tol(mean.prior, sums[0], 1e-12);
    ck_assert_double_eq_tol(mean.diffusion, sums[1], 1e-12);
    ck_assert_double_eq_tol(mean.decoder, sums[2], 1e-12);
    ck_assert_double_eq_tol(mean.total, sums[3], 1e-12);
    free(x0);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* With the exact ε-predictor of N(μ, s²) data on the T = 1000 linear
 * schedule and σ² = β, the continuous bound per row minus the row's exact
 * −log₂ N(x_0; μ, s²)/d (the gap, the sum of the reverse kernels' KLs:
 * ≥ 0 in expectation) is below GAP_TOLERANCE bits/dim, and the mean bound is
 * the entropy ½ log₂(2πe s²) within that and 4 standard errors. */
#define GAP_TOLERANCE 0.01
START_TEST(exact_model_bound_approaches_entropy)
{
    oracle o = {0};
    o.schedule = linear_schedule(1000);
    diffuse_model *model = oracle_model(&o, (diffuse_prediction)_i);
    enum { N = 2000 };
    float *x0 = gaussian_data(N, 2);
    diffuse_nll_terms *rows = malloc(N * sizeof *rows);
    diffuse_nll_terms mean = nll(model, o.schedule, x0, N, DIFFUSE_VARIANCE_BETA,
                                 DIFFUSE_DECODER_CONTINUOUS, rows);
    double entropy = 0.5 * log(2.0 * PI * exp(1.0) * ORACLE_STD * ORACLE_STD) / LN2;
    double gap = 0.0, sum = 0.0, sum_sq = 0.0;
    for (size_t i = 0; i < N; i++) {
        double nats = 0.0;
        for (size_t j = 0; j < DIM; j++) {
            double z = (x0[i * DIM + j] - ORACLE_MEAN) / ORACLE_STD;
            nats += 0.5 * z * z + 0.5 * log(2.0 * PI * ORACLE_STD * ORACLE_STD);
        }
        gap += (rows[i].total - nats / (DIM * LN2)) / N;
        sum += rows[i].total;
        sum_sq += rows[i].total * rows[i].total;
    }
    double sd = sqrt((sum_sq - sum * sum / N) / (N - 1)), se = sd / sqrt((double)N);
    if (getenv("DIFFUSE_TEST_VERBOSE"))
        fprintf(stderr, "kind %d: bound %.5f (prior %.2e diffusion %.5f decoder %.5f), "
                "entropy %.5f, gap %.5f, se %.5f bits/dim\n", (int)_i, mean.total, mean.prior,
                mean.diffusion, mean.decoder, entropy, gap, se);
    ck_assert_msg(gap > -GAP_TOLERANCE && gap < GAP_TOLERANCE, "gap %.5f bits/dim", gap);
    ck_assert_msg(fabs(mean.total - entropy) < GAP_TOLERANCE + 4.0 * se,
                  "bound %.5f, entropy %.5f (se %.5f)", mean.total, entropy, se);
    free(rows);
    free(x0);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* Same seed, same result; another seed, other noise. */
START_TEST(seeded_and_deterministic)
{
    oracle o = {0};
    o.schedule = linear_schedule(100);
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_V);
    float *x0 = gaussian_data(4, 3);
    diffuse_nll_request request = DIFFUSE_NLL_REQUEST_INIT;
    request.n = 4;
    request.x0 = x0;
    request.decoder = DIFFUSE_DECODER_CONTINUOUS;
    diffuse_nll_terms a, b, c;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &request, &a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &request, &b), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    request.seed = 1;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &request, &c), DIFFUSE_OK);
    ck_assert(c.diffusion != a.diffusion);
    ck_assert_double_eq(c.prior, a.prior);
    free(x0);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* A learned-variance MLP whose variance output is constant v: LEARNED with
 * v = 1 is BETA, with v = −1 POSTERIOR (learned range ends). Discretised
 * decoder on grid data: every term finite, L_0 ≥ 0. */
START_TEST(learned_variance_ends_are_the_fixed_ones)
{
    diffuse_schedule *s = linear_schedule(100);
    diffuse_model_config *config;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_LEARN_VARIANCE, 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    size_t count = 0, tensors = 0, weight, bias, rank, shape[4];
    const char *name;
    ck_assert_int_eq(diffuse_model_param_count(model, &count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_count(model, &tensors), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_info(model, tensors - 2, &name, &weight, &rank, shape),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_info(model, tensors - 1, &name, &bias, &rank, shape),
                     DIFFUSE_OK);
    float *params = malloc(count * sizeof *params);
    ck_assert_int_eq(diffuse_model_get_params(model, params, count), DIFFUSE_OK);
    memset(params + weight + DIM * 16, 0, DIM * 16 * sizeof *params);
    enum { N = 6 };
    float x0[N * DIM];
    for (size_t j = 0; j < N * DIM; j++)
        x0[j] = (float)((double)((j * 53) % 256) / 127.5 - 1.0);
    float ends[2] = {1.0f, -1.0f};
    int fixed[2] = {DIFFUSE_VARIANCE_BETA, DIFFUSE_VARIANCE_POSTERIOR};
    for (int k = 0; k < 2; k++) {
        for (size_t j = DIM; j < 2 * DIM; j++)
            params[bias + j] = ends[k];
        ck_assert_int_eq(diffuse_model_set_params(model, params, count), DIFFUSE_OK);
        diffuse_nll_terms learned = nll(model, s, x0, N, DIFFUSE_VARIANCE_LEARNED,
                                        DIFFUSE_DECODER_DISCRETE, NULL);
        diffuse_nll_terms reference = nll(model, s, x0, N, fixed[k], DIFFUSE_DECODER_DISCRETE,
                                          NULL);
        ck_assert(isfinite(learned.total) && learned.decoder >= 0.0);
        ck_assert_double_eq_tol(learned.diffusion, reference.diffusion,
                                1e-9 * fabs(reference.diffusion));
        ck_assert_double_eq_tol(learned.decoder, reference.decoder,
                                1e-9 * fabs(reference.decoder));
    }
    free(params);
    diffuse_model_config_free(config);
    diffuse_model_free(model);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(argument_errors)
{
    oracle o = {0};
    o.schedule = linear_schedule(50);
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    float x0[DIM] = {0.5f, -0.5f};
    diffuse_nll_request request = DIFFUSE_NLL_REQUEST_INIT;
    request.n = 1;
    request.x0 = x0;
    diffuse_nll_terms mean;
    ck_assert_int_eq(diffuse_model_nll(NULL, o.schedule, &request, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_nll(model, NULL, &request, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, NULL, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &request, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_nll_request bad = request;
    bad.size = 8;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    bad = request;
    bad.n = 0;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    bad = request;
    bad.variance = DIFFUSE_VARIANCE_LEARNED;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(model), "LEARNED"));
    bad = request;
    bad.decoder = 7;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    bad = request;
    bad.use_ema = 1;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean), DIFFUSE_ERROR_STATE);
    float nan_row[DIM] = {NAN, 0.0f};
    bad = request;
    bad.x0 = nan_row;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &bad, &mean), DIFFUSE_ERROR_NUMERIC);
    /* an ε-model on a zero-terminal-SNR schedule */
    diffuse_schedule *zero = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 50, 1);
    ck_assert_int_eq(diffuse_model_nll(model, zero, &request, &mean), DIFFUSE_ERROR_UNSUPPORTED);
    /* a failing callback */
    o.fail = 1;
    ck_assert_int_eq(diffuse_model_nll(model, o.schedule, &request, &mean),
                     DIFFUSE_ERROR_CALLBACK);
    diffuse_schedule_free(zero);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("likelihood");
    TCase *terms = tcase_create("terms");
    tcase_add_test(terms, prior_term_is_closed_form);
    tcase_add_loop_test(terms, exact_model_bound_approaches_entropy, 0, 3);
    tcase_add_test(terms, seeded_and_deterministic);
    tcase_add_test(terms, learned_variance_ends_are_the_fixed_ones);
    tcase_add_test(terms, argument_errors);
    suite_add_tcase(suite, terms);
    return diffuse_test_run(suite);
}
