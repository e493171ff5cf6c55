/* Philox4x32-10 and the public generator: known answers, an independent
 * reference, split invariance, distribution tests, state and bad input. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/philox.h"
#include "reference/rng_reference.h"
#include "test_support.h"

#define N_CASES (sizeof rng_reference_cases / sizeof rng_reference_cases[0])
#define SENTINEL (-7.0f)

/* ---- (1) Published known answers ---------------------------------------- */

/* Random123 kat_vectors, the "philox4x32 10" lines: counter, key -> output. */
typedef struct known_answer {
    uint32_t counter[4];
    uint32_t key[2];
    uint32_t expected[4];
} known_answer;

static const known_answer known_answers[] = {
    {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u}, {0x00000000u, 0x00000000u},
     {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

START_TEST(philox_matches_random123_known_answers)
{
    const known_answer *k = &known_answers[_i];
    uint32_t out[4];
    philox4x32_10(k->counter, k->key, out);
    for (int j = 0; j < 4; j++)
        ck_assert_msg(out[j] == k->expected[j], "vector %d word %d: %08x, expected %08x", _i,
                      j, out[j], k->expected[j]);
}
END_TEST

START_TEST(philox_output_may_alias_counter)
{
    const known_answer *k = &known_answers[2];
    uint32_t x[4];
    memcpy(x, k->counter, sizeof x);
    philox4x32_10(x, k->key, x);
    ck_assert_int_eq(memcmp(x, k->expected, sizeof x), 0);
}
END_TEST

/* ---- (2) Independent Python reference ----------------------------------- */

START_TEST(words_follow_the_documented_counter_layout)
{
    const rng_reference_case *c = &rng_reference_cases[_i];
    for (int i = 0; i < RNG_REFERENCE_COUNT; i++) {
        uint64_t p = c->first + (uint64_t)i, b = p / 4;
        uint32_t counter[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)c->stream,
                               (uint32_t)(c->stream >> 32)};
        uint32_t key[2] = {(uint32_t)c->seed, (uint32_t)(c->seed >> 32)};
        uint32_t words[4];
        philox4x32_10(counter, key, words);
        ck_assert_msg(words[p % 4] == c->words[i], "case %d value %d: %08x, expected %08x", _i,
                      i, words[p % 4], c->words[i]);
    }
}
END_TEST

START_TEST(uniforms_match_reference_exactly)
{
    const rng_reference_case *c = &rng_reference_cases[_i];
    float out[RNG_REFERENCE_COUNT];
    philox_uniform(c->seed, c->stream, c->first, out, RNG_REFERENCE_COUNT);
    for (int i = 0; i < RNG_REFERENCE_COUNT; i++)
        ck_assert_msg((double)out[i] == c->uniform[i], "case %d value %d: %.9g, expected %.17g",
                      _i, i, (double)out[i], c->uniform[i]);
}
END_TEST

START_TEST(normals_match_reference)
{
    const rng_reference_case *c = &rng_reference_cases[_i];
    float out[RNG_REFERENCE_COUNT];
    philox_normal(c->seed, c->stream, c->first, out, RNG_REFERENCE_COUNT);
    /* Float rounding is <= 2^-24 relative; the rest allows libm differences. */
    for (int i = 0; i < RNG_REFERENCE_COUNT; i++)
        ck_assert_close(out[i], c->normal[i], 1e-6, 1e-12);
}
END_TEST

START_TEST(handle_draws_match_reference)
{
    const rng_reference_case *c = &rng_reference_cases[_i];
    diffuse_rng *rng = NULL;
    float u[RNG_REFERENCE_COUNT], z[RNG_REFERENCE_COUNT];
    ck_assert_int_eq(diffuse_rng_create(&rng, c->seed, c->stream), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_set_position(rng, c->first), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_uniform(rng, u, RNG_REFERENCE_COUNT), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_set_position(rng, c->first), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, z, RNG_REFERENCE_COUNT), DIFFUSE_OK);
    for (int i = 0; i < RNG_REFERENCE_COUNT; i++) {
        ck_assert_msg((double)u[i] == c->uniform[i], "case %d uniform %d", _i, i);
        ck_assert_close(z[i], c->normal[i], 1e-6, 1e-12);
    }
    diffuse_rng_free(rng);
}
END_TEST

/* ---- (3) Split invariance and the shared position ----------------------- */

typedef diffuse_status (*rng_draw)(diffuse_rng *, float *, size_t);
typedef void (*philox_fill)(uint64_t, uint64_t, uint64_t, float *, size_t);

static void check_handle_split(rng_draw draw)
{
    diffuse_rng *a = NULL, *b = NULL;
    float whole[32], parts[32];
    ck_assert_int_eq(diffuse_rng_create(&a, 2024, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_create(&b, 2024, 3), DIFFUSE_OK);
    ck_assert_int_eq(draw(a, whole, 32), DIFFUSE_OK);
    ck_assert_int_eq(draw(b, parts, 7), DIFFUSE_OK);
    ck_assert_int_eq(draw(b, parts + 7, 9), DIFFUSE_OK);
    ck_assert_int_eq(draw(b, parts + 16, 16), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(whole, parts, sizeof whole), 0);
    diffuse_rng_free(a);
    diffuse_rng_free(b);
}

START_TEST(handle_split_draws_equal_one_draw)
{
    check_handle_split(diffuse_rng_uniform);
    check_handle_split(diffuse_rng_normal);
}
END_TEST

/* Every way to cut 37 values from an unaligned start into two draws. */
static void check_every_split(philox_fill fill)
{
    float whole[37], parts[37];
    for (uint64_t first = 0; first < 4; first++) {
        fill(99, 5, first, whole, 37);
        for (size_t cut = 1; cut < 37; cut++) {
            fill(99, 5, first, parts, cut);
            fill(99, 5, first + cut, parts + cut, 37 - cut);
            ck_assert_msg(memcmp(whole, parts, sizeof whole) == 0, "first %d cut %zu",
                          (int)first, cut);
        }
    }
}

START_TEST(philox_fill_is_split_invariant)
{
    check_every_split(philox_uniform);
    check_every_split(philox_normal);
}
END_TEST

START_TEST(fill_writes_exactly_n_values)
{
    float buffer[12];
    for (size_t n = 1; n <= 9; n++) {
        for (int i = 0; i < 12; i++)
            buffer[i] = SENTINEL;
        philox_normal(1, 2, 3, buffer + 1, n);
        ck_assert(buffer[0] == SENTINEL);
        for (size_t i = n + 1; i < 12; i++)
            ck_assert(buffer[i] == SENTINEL);
    }
}
END_TEST

START_TEST(uniform_and_normal_share_the_position)
{
    diffuse_rng *rng = NULL;
    float u[5], z[7], expected_u[5], expected_z[7];
    uint64_t seed, stream, position;
    ck_assert_int_eq(diffuse_rng_create(&rng, 11, 22), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_uniform(rng, u, 5), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(rng, z, 7), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, &position), DIFFUSE_OK);
    ck_assert_uint_eq(position, 12);
    philox_uniform(11, 22, 0, expected_u, 5);
    philox_normal(11, 22, 5, expected_z, 7);
    ck_assert_int_eq(memcmp(u, expected_u, sizeof u), 0);
    ck_assert_int_eq(memcmp(z, expected_z, sizeof z), 0);
    diffuse_rng_free(rng);
}
END_TEST

/* The batched, vectorised path (64 blocks at a time) gives the bits of the
 * one-block transform, block by block (lanes and the scalar remainder of
 * the vector loop compute the same thing). */
START_TEST(batched_normals_equal_block_by_block)
{
    enum { BLOCKS = 1000 };
    static float batched[4 * BLOCKS];
    const uint32_t key[2] = {0x89ABCDEFu, 0x01234567u};
    philox_normal(UINT64_C(0x0123456789ABCDEF), 9, 0, batched, 4 * BLOCKS);
    for (uint32_t b = 0; b < BLOCKS; b++) {
        uint32_t words[4];
        float z[4];
        philox4x32_10((const uint32_t[4]){b, 0, 9, 0}, key, words);
        philox_normals_from_words(words, z);
        ck_assert_msg(memcmp(z, &batched[4 * b], sizeof z) == 0, "block %u differs", b);
    }
}
END_TEST

/* The transform's own ln, cos and sin against libm's formula in double:
 * at most one float ulp apart, and equal almost always (box_muller.h). */
START_TEST(normals_agree_with_libm_box_muller)
{
    enum { PAIRS = 50000 };
    size_t equal = 0;
    uint64_t state = 88172645463325252u;
    for (size_t i = 0; i < PAIRS; i++) {
        uint32_t words[4];
        for (int k = 0; k < 4; k++) { /* xorshift64: any words will do */
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            words[k] = (uint32_t)(state >> 32);
        }
        float z[4];
        philox_normals_from_words(words, z);
        for (int k = 0; k < 4; k += 2) {
            double r = sqrt(-2.0 * log(((double)words[k] + 0.5) * 0x1p-32));
            double angle = 6.283185307179586 * (((double)words[k + 1] + 0.5) * 0x1p-32);
            float expected[2] = {(float)(r * cos(angle)), (float)(r * sin(angle))};
            for (int j = 0; j < 2; j++) {
                ck_assert_float_le(fabsf(z[k + j] - expected[j]),
                                   nextafterf(fabsf(expected[j]), INFINITY) -
                                       fabsf(expected[j]));
                equal += z[k + j] == expected[j];
            }
        }
    }
    ck_assert_uint_ge(equal, 4 * PAIRS - 4);
}
END_TEST

/* ---- (4) Distributions -------------------------------------------------- */

#define N_SAMPLES 1000000

/* Five standard errors for n = 10^6 normals: mean 1/sqrt(n), variance
 * sqrt(2/n), skewness sqrt(6/n), excess kurtosis sqrt(24/n), lag-1
 * correlation 1/sqrt(n). */
#define TOL_MEAN 5.0e-3
#define TOL_VARIANCE 7.1e-3
#define TOL_SKEW 1.25e-2
#define TOL_KURTOSIS 2.5e-2
#define TOL_LAG1 5.0e-3
/* Kolmogorov–Smirnov at significance α = 0.001: reject when
 * sqrt(n)·D > sqrt(-ln(α/2) / 2) = 1.9495. */
#define KS_CRITICAL 1.9495

typedef struct sample_moments {
    double mean, variance, skew, kurtosis, lag1;
} sample_moments;

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* sqrt(n)·D, D = max_i max(F(x_(i)) - i/n, (i+1)/n - F(x_(i))) over the
 * sorted sample, F(x) = Φ(x) = erfc(-x/√2)/2. Sorts `z` in place. */
static double ks_scaled_statistic(float *z, size_t n)
{
    qsort(z, n, sizeof *z, compare_floats);
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        double f = 0.5 * erfc(-(double)z[i] / sqrt(2.0));
        double below = f - (double)i / (double)n, above = (double)(i + 1) / (double)n - f;
        d = fmax(d, fmax(below, above));
    }
    return sqrt((double)n) * d;
}

/* Central (population) moments and the lag-1 autocorrelation. */
static sample_moments moments(const float *z, size_t n)
{
    sample_moments s = {0};
    for (size_t i = 0; i < n; i++)
        s.mean += z[i];
    s.mean /= (double)n;
    double m2 = 0.0, m3 = 0.0, m4 = 0.0, c1 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = z[i] - s.mean, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
        if (i + 1 < n)
            c1 += d * (z[i + 1] - s.mean);
    }
    s.variance = m2 / (double)n;
    s.skew = (m3 / (double)n) / pow(s.variance, 1.5);
    s.kurtosis = (m4 / (double)n) / (s.variance * s.variance) - 3.0;
    s.lag1 = c1 / m2;
    return s;
}

/* Number of the five moment checks the sample fails (0 = fits N(0, 1)). */
static int failed_moment_checks(const sample_moments *s)
{
    return (fabs(s->mean) > TOL_MEAN) + (fabs(s->variance - 1.0) > TOL_VARIANCE) +
           (fabs(s->skew) > TOL_SKEW) + (fabs(s->kurtosis) > TOL_KURTOSIS) +
           (fabs(s->lag1) > TOL_LAG1);
}

static float *normal_sample(void)
{
    float *z = malloc(N_SAMPLES * sizeof *z);
    ck_assert_ptr_nonnull(z);
    philox_normal(12345, 0, 0, z, N_SAMPLES);
    return z;
}

START_TEST(normals_have_standard_moments_and_pass_ks)
{
    float *z = normal_sample();
    sample_moments s = moments(z, N_SAMPLES);
    ck_assert_msg(failed_moment_checks(&s) == 0, "mean %g variance %g skew %g kurtosis %g lag1 %g",
                  s.mean, s.variance, s.skew, s.kurtosis, s.lag1);
    double ks = ks_scaled_statistic(z, N_SAMPLES);
    ck_assert_msg(ks <= KS_CRITICAL, "sqrt(n)·D = %g", ks);
    free(z);
}
END_TEST

/* The same checks reject samples that are slightly off, so passing means
 * something: the moments catch a 1% wider, a 0.01-shifted and a
 * pair-duplicated sample; KS catches values rounded to multiples of 1/20,
 * whose moments still pass. */
START_TEST(distribution_checks_reject_broken_samples)
{
    float *z = normal_sample();
    float *broken = malloc(N_SAMPLES * sizeof *broken);
    ck_assert_ptr_nonnull(broken);
    for (int variant = 0; variant < 4; variant++) {
        for (size_t i = 0; i < N_SAMPLES; i++) {
            float x = z[i];
            switch (variant) {
            case 0: broken[i] = 1.01f * x; break;
            case 1: broken[i] = x + 0.01f; break;
            case 2: broken[i] = z[i & ~(size_t)1]; break;
            default: broken[i] = roundf(20.0f * x) / 20.0f; break;
            }
        }
        sample_moments s = moments(broken, N_SAMPLES);
        if (variant < 3) {
            ck_assert_msg(failed_moment_checks(&s) > 0, "broken variant %d passed", variant);
        } else {
            ck_assert_int_eq(failed_moment_checks(&s), 0);
            double ks = ks_scaled_statistic(broken, N_SAMPLES);
            ck_assert_msg(ks > KS_CRITICAL, "rounded sample passed KS: %g", ks);
        }
    }
    free(broken);
    free(z);
}
END_TEST

START_TEST(uniforms_stay_inside_the_open_interval)
{
    float *u = malloc(N_SAMPLES * sizeof *u);
    ck_assert_ptr_nonnull(u);
    philox_uniform(777, 1, 0, u, N_SAMPLES);
    double sum = 0.0;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        ck_assert_msg(u[i] > 0.0f && u[i] < 1.0f, "u[%zu] = %.9g", i, (double)u[i]);
        sum += u[i];
    }
    /* Standard error of the mean: sqrt(1/12/n) = 2.9e-4; allow five. */
    ck_assert_close(sum / N_SAMPLES, 0.5, 0.0, 1.45e-3);
    free(u);
}
END_TEST

START_TEST(extreme_words_map_inside_the_open_interval)
{
    ck_assert(philox_uniform_from_word(0u) == 0x1p-24f);
    ck_assert(philox_uniform_from_word(0xffffffffu) == 1.0f - 0x1p-24f);
    ck_assert(philox_uniform_from_word(0x7fffffffu) == 0.5f - 0x1p-24f);
    ck_assert(philox_uniform_from_word(0x80000000u) == 0.5f + 0x1p-24f);
    const uint32_t extremes[3][4] = {{0u, 0u, 0u, 0u},
                                     {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                     {0u, 0xffffffffu, 0xffffffffu, 0u}};
    for (int e = 0; e < 3; e++) {
        float z[4];
        philox_normals_from_words(extremes[e], z);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(isfinite(z[i]) && fabsf(z[i]) < 6.8f, "z = %g", (double)z[i]);
    }
}
END_TEST

/* ---- (5) State, streams and seeds --------------------------------------- */

START_TEST(saved_state_resumes_exactly)
{
    diffuse_rng *a = NULL, *b = NULL;
    float skip[10], expected[20], resumed[20];
    uint64_t seed, stream, position;
    ck_assert_int_eq(diffuse_rng_create(&a, UINT64_C(0xfeedface12345678), 9), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_get_state(a, &seed, &stream, &position), DIFFUSE_OK);
    ck_assert(seed == UINT64_C(0xfeedface12345678) && stream == 9 && position == 0);
    ck_assert_int_eq(diffuse_rng_uniform(a, skip, 10), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_get_state(a, &seed, &stream, &position), DIFFUSE_OK);
    ck_assert_uint_eq(position, 10);
    ck_assert_int_eq(diffuse_rng_normal(a, expected, 20), DIFFUSE_OK);

    ck_assert_int_eq(diffuse_rng_create(&b, seed, stream), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_set_position(b, position), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_normal(b, resumed, 20), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(expected, resumed, sizeof expected), 0);
    ck_assert_int_eq(diffuse_rng_get_state(b, &seed, &stream, &position), DIFFUSE_OK);
    ck_assert_uint_eq(position, 30);
    diffuse_rng_free(a);
    diffuse_rng_free(b);
}
END_TEST

/* Count of equal values among the first 64 of two streams. */
static int equal_values(uint64_t seed_a, uint64_t stream_a, uint64_t seed_b, uint64_t stream_b)
{
    float a[64], b[64];
    philox_uniform(seed_a, stream_a, 0, a, 64);
    philox_uniform(seed_b, stream_b, 0, b, 64);
    int equal = 0;
    for (int i = 0; i < 64; i++)
        equal += a[i] == b[i];
    return equal;
}

START_TEST(different_seeds_and_streams_differ)
{
    const uint64_t high = UINT64_C(1) << 32;
    /* Two unrelated streams agree on a 23-bit value with probability 2^-23. */
    ck_assert_int_eq(equal_values(5, 0, 5, 1), 0);
    ck_assert_int_eq(equal_values(5, 0, 6, 0), 0);
    ck_assert_int_eq(equal_values(5, 0, 5, high), 0);
    ck_assert_int_eq(equal_values(5, 0, 5 + high, 0), 0);
    ck_assert_int_eq(equal_values(0, 1, 1, 0), 0);
    ck_assert_int_eq(equal_values(5, 3, 5, 3), 64);
}
END_TEST

START_TEST(last_value_of_the_stream_is_reachable)
{
    diffuse_rng *rng = NULL;
    float out[3], expected[3];
    uint64_t seed, stream, position;
    ck_assert_int_eq(diffuse_rng_create(&rng, 1, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_set_position(rng, UINT64_MAX - 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_uniform(rng, out, 3), DIFFUSE_OK);
    philox_uniform(1, 2, UINT64_MAX - 3, expected, 3);
    ck_assert_int_eq(memcmp(out, expected, sizeof out), 0);
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, &position), DIFFUSE_OK);
    ck_assert(position == UINT64_MAX);
    diffuse_rng_free(rng);
}
END_TEST

/* ---- (6) Bad input ------------------------------------------------------ */

START_TEST(create_rejects_null_out)
{
    ck_assert_int_eq(diffuse_rng_create(NULL, 1, 2), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "out"));
}
END_TEST

START_TEST(free_and_last_error_accept_null)
{
    diffuse_rng_free(NULL);
    ck_assert_ptr_nonnull(diffuse_rng_last_error(NULL));
    ck_assert_str_ne(diffuse_rng_last_error(NULL), "");
}
END_TEST

START_TEST(fresh_handle_has_empty_error)
{
    diffuse_rng *rng = NULL;
    ck_assert_int_eq(diffuse_rng_create(&rng, 1, 2), DIFFUSE_OK);
    ck_assert_str_eq(diffuse_rng_last_error(rng), "");
    diffuse_rng_free(rng);
}
END_TEST

/* A failing draw leaves the buffer and the position untouched and explains
 * itself in the handle. */
static void check_draw_fails(rng_draw draw, diffuse_rng *rng, int null_out, size_t n,
                             diffuse_status expected, const char *message_part)
{
    uint64_t seed, stream, before, after;
    float buffer[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, &before), DIFFUSE_OK);
    ck_assert_int_eq(draw(rng, null_out ? NULL : buffer, n), expected);
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, &after), DIFFUSE_OK);
    ck_assert(before == after);
    for (int i = 0; i < 4; i++)
        ck_assert(buffer[i] == SENTINEL);
    ck_assert_msg(strstr(diffuse_rng_last_error(rng), message_part) != NULL, "message: %s",
                  diffuse_rng_last_error(rng));
}

static void check_draw_rejects_bad_input(rng_draw draw)
{
    diffuse_rng *rng = NULL;
    float out[4];
    ck_assert_int_eq(diffuse_rng_create(&rng, 1, 2), DIFFUSE_OK);
    ck_assert_int_eq(draw(NULL, out, 4), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "rng"));
    check_draw_fails(draw, rng, 1, 4, DIFFUSE_ERROR_INVALID_ARGUMENT, "out");
    check_draw_fails(draw, rng, 0, 0, DIFFUSE_ERROR_INVALID_ARGUMENT, "positive");
    check_draw_fails(draw, rng, 0, ((size_t)1 << 40) + 1, DIFFUSE_ERROR_INVALID_ARGUMENT,
                     "too large");
    check_draw_fails(draw, rng, 0, SIZE_MAX, DIFFUSE_ERROR_INVALID_ARGUMENT, "too large");
    ck_assert_int_eq(diffuse_rng_set_position(rng, UINT64_MAX - 2), DIFFUSE_OK);
    check_draw_fails(draw, rng, 0, 3, DIFFUSE_ERROR_OUT_OF_RANGE, "end of the stream");
    ck_assert_int_eq(diffuse_rng_set_position(rng, UINT64_MAX), DIFFUSE_OK);
    check_draw_fails(draw, rng, 0, 1, DIFFUSE_ERROR_OUT_OF_RANGE, "end of the stream");
    diffuse_rng_free(rng);
}

START_TEST(draws_reject_bad_input)
{
    check_draw_rejects_bad_input(diffuse_rng_uniform);
    check_draw_rejects_bad_input(diffuse_rng_normal);
}
END_TEST

START_TEST(get_state_rejects_null_pointers)
{
    diffuse_rng *rng = NULL;
    uint64_t seed = 0, stream = 0, position = 0;
    ck_assert_int_eq(diffuse_rng_create(&rng, 1, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_get_state(NULL, &seed, &stream, &position),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_rng_get_state(rng, NULL, &stream, &position),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_rng_last_error(rng), "seed"));
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, NULL, &position),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_rng_last_error(rng), "stream"));
    ck_assert_int_eq(diffuse_rng_get_state(rng, &seed, &stream, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_rng_last_error(rng), "position"));
    diffuse_rng_free(rng);
}
END_TEST

START_TEST(set_position_rejects_null_rng)
{
    ck_assert_int_eq(diffuse_rng_set_position(NULL, 3), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "rng"));
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *suite = suite_create("rng");
    TCase *philox = tcase_create("philox");
    tcase_add_loop_test(philox, philox_matches_random123_known_answers, 0,
                        (int)(sizeof known_answers / sizeof known_answers[0]));
    tcase_add_test(philox, philox_output_may_alias_counter);
    tcase_add_loop_test(philox, words_follow_the_documented_counter_layout, 0, (int)N_CASES);
    tcase_add_loop_test(philox, uniforms_match_reference_exactly, 0, (int)N_CASES);
    tcase_add_loop_test(philox, normals_match_reference, 0, (int)N_CASES);
    tcase_add_loop_test(philox, handle_draws_match_reference, 0, (int)N_CASES);
    tcase_add_test(philox, batched_normals_equal_block_by_block);
    tcase_add_test(philox, normals_agree_with_libm_box_muller);
    suite_add_tcase(suite, philox);

    TCase *split = tcase_create("split");
    tcase_add_test(split, handle_split_draws_equal_one_draw);
    tcase_add_test(split, philox_fill_is_split_invariant);
    tcase_add_test(split, fill_writes_exactly_n_values);
    tcase_add_test(split, uniform_and_normal_share_the_position);
    suite_add_tcase(suite, split);

    TCase *stats = tcase_create("statistics");
    tcase_add_test(stats, normals_have_standard_moments_and_pass_ks);
    tcase_add_test(stats, distribution_checks_reject_broken_samples);
    tcase_add_test(stats, uniforms_stay_inside_the_open_interval);
    tcase_add_test(stats, extreme_words_map_inside_the_open_interval);
    suite_add_tcase(suite, stats);

    TCase *state = tcase_create("state");
    tcase_add_test(state, saved_state_resumes_exactly);
    tcase_add_test(state, different_seeds_and_streams_differ);
    tcase_add_test(state, last_value_of_the_stream_is_reachable);
    suite_add_tcase(suite, state);

    TCase *bad = tcase_create("bad_input");
    tcase_add_test(bad, create_rejects_null_out);
    tcase_add_test(bad, free_and_last_error_accept_null);
    tcase_add_test(bad, fresh_handle_has_empty_error);
    tcase_add_test(bad, draws_reject_bad_input);
    tcase_add_test(bad, get_state_rejects_null_pointers);
    tcase_add_test(bad, set_position_rejects_null_rng);
    suite_add_tcase(suite, bad);
    return suite;
}

int main(void)
{
    return diffuse_test_run(rng_suite());
}
