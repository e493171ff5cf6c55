/* The sampler, checked against the exact ε-oracle of test_sampler_oracle.h
 * (a sampler driven by it must reproduce the data N(μ, s² I)), its timestep
 * lists, the step API, threads, progress and failures. The exact-score
 * moments of every method are test_sampler_exact.c. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sample/timesteps.h"
#include "test_sampler_oracle.h"
#include "test_support.h"

/* Samples n points and checks their per-coordinate mean and std. */
static void expect_oracle_distribution(diffuse_sampler *sampler, size_t n)
{
    float *x = malloc(n * DIM * sizeof(float));
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(diffuse_sampler_run(sampler, n, x), DIFFUSE_OK);
    double mean[DIM], cov[DIM * DIM];
    ck_assert_int_eq(diffuse_sample_moments(x, n, DIM, mean, cov), DIFFUSE_OK);
    for (size_t j = 0; j < DIM; j++) {
        ck_assert_close(mean[j], ORACLE_MEAN, 0.0, 0.03);
        ck_assert_close(sqrt(cov[j * DIM + j]), ORACLE_STD, 0.0, 0.03);
    }
    free(x);
}

/* The oracle of `prediction` on a linear schedule (with zero terminal SNR
 * or not), sampled without clipping and through x̂_0 and μ̃ with clipping
 * far outside the data. */
static void expect_oracle_with_and_without_clip(diffuse_prediction prediction,
                                                int zero_terminal_snr)
{
    oracle o = {.schedule = linear_schedule(1000)};
    ck_assert_int_eq(diffuse_schedule_set_int(o.schedule, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR,
                                              zero_terminal_snr),
                     DIFFUSE_OK);
    diffuse_model *model = oracle_model(&o, prediction);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);
    expect_oracle_distribution(sampler, 4000);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_CLIP_X0, 100.0),
                     DIFFUSE_OK);
    expect_oracle_distribution(sampler, 4000);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}

START_TEST(epsilon_oracle_reproduces_the_data)
{
    expect_oracle_with_and_without_clip(DIFFUSE_PREDICT_EPSILON, 0);
}
END_TEST

START_TEST(v_oracle_with_zero_terminal_snr)
{
    oracle o = {.schedule = linear_schedule(1000)};
    ck_assert_int_eq(diffuse_schedule_set_int(o.schedule, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                     DIFFUSE_OK);
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_V);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE,
                                             DIFFUSE_VARIANCE_POSTERIOR),
                     DIFFUSE_OK);
    expect_oracle_distribution(sampler, 4000);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);

    /* An ε-model cannot be sampled there: 1/√α_{T−1} is infinite. */
    model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);
    float x[DIM];
    ck_assert_int_eq(diffuse_sampler_run(sampler, 1, x), DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(sampler), "v-prediction"));
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* An x_0-network, also on a zero-terminal-SNR schedule (x̂_0 = f needs no
 * division there). */
START_TEST(x0_oracle_reproduces_the_data)
{
    expect_oracle_with_and_without_clip(DIFFUSE_PREDICT_X0, _i);
}
END_TEST

/* The spaced lists match diffusers' set_timesteps (values computed with
 * numpy: np.linspace(0, 999, 7).round()[::-1] rounds half to even), every
 * spacing over n = T is T−1 … 0, and the checks any list passes. */
START_TEST(timestep_lists_are_validated)
{
    struct {
        diffuse_spacing spacing;
        size_t count, steps;
        int32_t expected[10];
    } spaced[] = {
        {DIFFUSE_SPACING_LEADING, 10, 1000, {900, 800, 700, 600, 500, 400, 300, 200, 100, 0}},
        {DIFFUSE_SPACING_TRAILING, 10, 1000, {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}},
        {DIFFUSE_SPACING_LINSPACE, 10, 1000, {999, 888, 777, 666, 555, 444, 333, 222, 111, 0}},
        {DIFFUSE_SPACING_LINSPACE, 7, 1000, {999, 832, 666, 500, 333, 166, 0}},
        {DIFFUSE_SPACING_LEADING, 3, 10, {6, 3, 0}},
        {DIFFUSE_SPACING_TRAILING, 3, 10, {9, 6, 2}},
        {DIFFUSE_SPACING_LINSPACE, 1, 10, {0}},
        {DIFFUSE_SPACING_LEADING, 5, 5, {4, 3, 2, 1, 0}},
        {DIFFUSE_SPACING_TRAILING, 5, 5, {4, 3, 2, 1, 0}},
        {DIFFUSE_SPACING_LINSPACE, 5, 5, {4, 3, 2, 1, 0}},
    };
    diffuse_error error = {0};
    for (size_t c = 0; c < sizeof spaced / sizeof spaced[0]; c++) {
        int32_t list[10];
        timesteps_spaced(list, spaced[c].count, spaced[c].steps, spaced[c].spacing);
        for (size_t i = 0; i < spaced[c].count; i++)
            ck_assert_msg(list[i] == spaced[c].expected[i], "case %zu entry %zu: %d, not %d", c,
                          i, (int)list[i], (int)spaced[c].expected[i]);
        ck_assert_int_eq(timesteps_check(&error, list, spaced[c].count, spaced[c].steps),
                         DIFFUSE_OK);
    }
    /* Karras on zero terminal SNR (sampler_reference.py's karras(20) on that
     * schedule): finite σ at ᾱ = 0, repeats dropped (18 of 20 left). */
    static const int32_t karras[] = {999, 998, 997, 996, 994, 991, 987, 979, 965,
                                     942, 903, 843, 753, 622, 423, 163, 27,  0};
    diffuse_schedule *zero_snr = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 1);
    diffuse_sampler *s = NULL;
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, zero_snr, 1, DIFFUSE_PREDICT_V), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_KARRAS),
                     0);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_STEPS, 20), 0);
    int32_t got[20];
    size_t count = 0;
    ck_assert_int_eq(diffuse_sampler_timesteps(s, got, 20, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, sizeof karras / sizeof karras[0]);
    ck_assert_mem_eq(got, karras, sizeof karras);
    diffuse_sampler_free(s);
    diffuse_schedule_free(zero_snr);
    struct {
        int32_t list[3];
        size_t count;
        const char *fragment;
    } bad[] = {
        {{0}, 0, "empty"},
        {{10, 4, 0}, 3, "outside [0, 10)"},
        {{9, -1, 0}, 3, "outside"},
        {{9, 9, 0}, 3, "duplicates"},
        {{4, 9, 0}, 3, "strictly decrease"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(timesteps_check(&error, bad[i].list, bad[i].count, 10),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(error.message, bad[i].fragment) != NULL, "case %zu: \"%s\"", i,
                      error.message);
    }
}
END_TEST

static void sample_with(diffuse_model *model, diffuse_schedule *schedule, int64_t seed,
                        int64_t chunk, size_t n, float *out)
{
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, seed), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, chunk),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, n, out), DIFFUSE_OK);
    diffuse_sampler_free(sampler);
}

START_TEST(seeded_and_independent_of_chunking)
{
    enum { N = 50 };
    oracle o = {.schedule = linear_schedule(50)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    float a[N * DIM], b[N * DIM], c[N * DIM];
    sample_with(model, o.schedule, 7, 4096, N, a);
    sample_with(model, o.schedule, 7, 7, N, b);
    sample_with(model, o.schedule, 8, 4096, N, c);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* ---- Threads ---------------------------------------------------------- */

/* An untrained MLP: its output is arbitrary but finite, and its sgemm
 * calls are what the threads split. */
static diffuse_model *small_mlp(void)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 32),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return model;
}

/* `method` over 10 trailing steps (DDPM: all 40), DDIM with η = 0.7. */
static void sample_threaded(diffuse_model *model, diffuse_schedule *schedule, int method,
                            int64_t threads, int64_t chunk, size_t n, float *out)
{
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_METHOD, method), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_ETA, 0.7), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS,
                                             method == DIFFUSE_METHOD_DDPM ? 0 : 10),
                     0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, threads),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, chunk),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, n, out), DIFFUSE_OK);
    /* A second run on the same handle reuses its workers. */
    float *again = malloc(n * DIM * sizeof(float));
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(diffuse_sampler_run(sampler, n, again), DIFFUSE_OK);
    ck_assert_mem_eq(out, again, n * DIM * sizeof(float));
    free(again);
    diffuse_sampler_free(sampler);
}

/* Two threads take rows 0-31 and 32-63: the same sgemm shapes as one
 * thread with 32-row chunks, and noise addressed by global row, so the
 * same bits; 3 threads (parts of 22, 21, 21 rows) agree to rounding. */
START_TEST(threads_split_rows_exactly)
{
    enum { N = 64 };
    diffuse_schedule *schedule = linear_schedule(40);
    diffuse_model *model = small_mlp();
    float one[N * DIM], two[N * DIM], three[N * DIM];
    sample_threaded(model, schedule, _i, 1, 32, N, one);
    sample_threaded(model, schedule, _i, 2, 4096, N, two);
    sample_threaded(model, schedule, _i, 3, 4096, N, three);
    ck_assert_mem_eq(one, two, sizeof one);
    for (size_t i = 0; i < N * DIM; i++)
        ck_assert_close(three[i], one[i], 1e-4, 1e-4);
    /* More threads than rows: one row each. */
    float few[2 * DIM];
    sample_threaded(model, schedule, _i, 8, 4096, 2, few);
    ck_assert_close(few[0], one[0], 1e-4, 1e-4);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

/* What a progress callback saw. */
typedef struct progress_log {
    pthread_t caller;
    int foreign_thread;
    int backwards;
    uint64_t calls, last, total, cancel_at;
} progress_log;

static int log_progress(void *user, uint64_t done, uint64_t total)
{
    progress_log *log = user;
    if (!pthread_equal(pthread_self(), log->caller))
        log->foreign_thread = 1;
    if (done < log->last)
        log->backwards = 1;
    log->calls++;
    log->last = done;
    log->total = total;
    return log->cancel_at != 0 && done >= log->cancel_at;
}

START_TEST(threaded_progress_and_cancel)
{
    enum { N = 64 };
    diffuse_schedule *schedule = linear_schedule(50);
    diffuse_model *model = small_mlp();
    diffuse_sampler *sampler = NULL;
    float x[N * DIM];
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, 16),
                     DIFFUSE_OK);
    progress_log log = {.caller = pthread_self()};
    ck_assert_int_eq(diffuse_sampler_set_progress(sampler, log_progress, &log), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, x), DIFFUSE_OK);
    ck_assert_int_eq(log.foreign_thread, 0);
    ck_assert_int_eq(log.backwards, 0);
    ck_assert_uint_eq(log.total, 4 * 50); /* 4 chunks of 16 rows × 50 steps */
    ck_assert_uint_eq(log.last, log.total);
    ck_assert_uint_ge(log.calls, 2 * 50);

    log = (progress_log){.caller = pthread_self(), .cancel_at = 10};
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, x), DIFFUSE_ERROR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(sampler), "cancelled"));
    ck_assert_uint_ge(log.last, 10);
    ck_assert_uint_lt(log.last, log.total);
    ck_assert_int_eq(log.foreign_thread, 0);
    /* ... and the handle still works afterwards. */
    ck_assert_int_eq(diffuse_sampler_set_progress(sampler, NULL, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, x), DIFFUSE_OK);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

/* A callback model is never called from another thread: THREADS > 1
 * samples it on the calling thread, with the same bits as THREADS = 0. */
START_TEST(callback_model_stays_on_the_calling_thread)
{
    enum { N = 40 };
    oracle o = {.schedule = linear_schedule(30)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    float serial[N * DIM], threaded[N * DIM];
    sample_threaded(model, o.schedule, DIFFUSE_METHOD_DDPM, 0, 4096, N, serial);
    sample_threaded(model, o.schedule, DIFFUSE_METHOD_DDPM, 4, 4096, N, threaded);
    ck_assert_mem_eq(serial, threaded, sizeof serial);
    ck_assert_int_eq(o.foreign_thread, 0);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

static int cancel_at_ten(void *user, uint64_t done, uint64_t total)
{
    (void)total;
    *(uint64_t *)user = done;
    return done >= 10;
}

START_TEST(failures_are_reported)
{
    oracle o = {.schedule = linear_schedule(100)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);
    float x[4 * DIM];

    uint64_t seen = 0;
    ck_assert_int_eq(diffuse_sampler_set_progress(sampler, cancel_at_ten, &seen), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, 4, x), DIFFUSE_ERROR_CANCELLED);
    ck_assert_uint_eq(seen, 10);
    ck_assert_int_eq(diffuse_sampler_set_progress(sampler, NULL, NULL), DIFFUSE_OK);

    o.fail = 1;
    ck_assert_int_eq(diffuse_sampler_run(sampler, 4, x), DIFFUSE_ERROR_CALLBACK);
    o.fail = 0;

    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_USE_EMA, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, 4, x), DIFFUSE_ERROR_STATE);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(sampler), "EMA"));
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* The step API and the list: validation with specific errors, the list's
 * life cycle (STEPS/SPACING vs a user list), the multistep history rule,
 * x̂_0 out, in place vs separate output, and a standalone sampler. */
START_TEST(step_api_checks_and_history)
{
    oracle o = {.schedule = linear_schedule(10)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *s = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&s, model, o.schedule), DIFFUSE_OK);
    size_t count = 0;
    int32_t list[10];
    ck_assert_int_eq(diffuse_sampler_timesteps(s, NULL, 0, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 10);
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_STEPS, 11),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(s), "exceeds"));
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_STEPS, 4), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_timesteps(s, list, 3, &count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_timesteps(s, list, 10, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 4);
    ck_assert_int_eq(list[0], 6); /* leading: 6, 4, 2, 0 */
    ck_assert_int_eq(list[3], 0);
    int32_t bad[] = {9, 9, 2};
    ck_assert_int_eq(diffuse_sampler_set_timesteps(s, bad, 3), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(s), "duplicates"));
    ck_assert_int_eq(diffuse_sampler_set_timesteps(s, NULL, 3), DIFFUSE_ERROR_INVALID_ARGUMENT);
    int32_t mine[] = {9, 5, 2};
    ck_assert_int_eq(diffuse_sampler_set_timesteps(s, mine, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_timesteps(s, list, 10, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(list[2], 2);

    float x[2 * DIM], out[2 * DIM], prev[2 * DIM], x0[2 * DIM], again[2 * DIM];
    int32_t t[2] = {9, 9};
    ck_assert_int_eq(diffuse_sampler_initial_noise(s, 2, x), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_test_predict(model, 2, t, x, out), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 8, out, x, prev, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(s), "not in the"));
    ck_assert_int_eq(diffuse_sampler_step(s, 0, 9, out, x, prev, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, NULL, x, prev, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, out, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, prev, x + 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_step(NULL, 2, 9, out, x, prev, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    float nan_in[2 * DIM];
    memcpy(nan_in, out, sizeof out);
    nan_in[1] = NAN;
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, nan_in, x, prev, NULL),
                     DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_CLIP_X0, 1.0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE, 0.9),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, prev, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(s), "choose one"));
    ck_assert_int_eq(diffuse_sampler_run(s, 2, prev), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE, 0.0),
                     DIFFUSE_OK);

    /* x̂_0 out is the clipped one; in place equals a separate output. */
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, prev, x0), DIFFUSE_OK);
    for (size_t i = 0; i < 2 * DIM; i++)
        ck_assert(fabsf(x0[i]) <= 1.0f);
    memcpy(again, x, sizeof x);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, again, again, NULL), DIFFUSE_OK);
    ck_assert_mem_eq(again, prev, sizeof prev);

    /* DPM-Solver++: a step after the previous entry uses its x̂_0; the same
     * step after another n, or without a previous step, is first order. */
    ck_assert_int_eq(diffuse_sampler_set_int(s, DIFFUSE_SAMPLER_METHOD, DIFFUSE_METHOD_DPMPP_2M),
                     DIFFUSE_OK);
    float second[2 * DIM], first[2 * DIM];
    t[0] = t[1] = 5;
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, prev, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_test_predict(model, 2, t, prev, out), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 5, out, prev, second, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 5, out, prev, first, NULL), DIFFUSE_OK);
    ck_assert(memcmp(first, second, sizeof first) != 0);
    diffuse_sampler_free(s);

    /* Standalone: steps only. */
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, o.schedule, DIM, (diffuse_prediction)7),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, o.schedule, DIM, (diffuse_prediction)3),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    /* x0, the largest prediction value, was refused (found by fuzz_timesteps) */
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, o.schedule, DIM, DIFFUSE_PREDICT_X0),
                     DIFFUSE_OK);
    diffuse_sampler_free(s);
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, o.schedule, 0, DIFFUSE_PREDICT_V),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, NULL, DIM, DIFFUSE_PREDICT_V),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_create_standalone(&s, o.schedule, DIM,
                                                       DIFFUSE_PREDICT_EPSILON),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(s, 2, prev), DIFFUSE_ERROR_STATE);
    ck_assert_int_eq(diffuse_sampler_step(s, 2, 9, out, x, prev, NULL), DIFFUSE_OK);
    diffuse_sampler_free(s);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

/* From its own progress callback the sampler is busy: its step API and its
 * list cannot be used (STATE), and the run is unaffected. */
typedef struct step_probe {
    diffuse_sampler *sampler;
    diffuse_status step, list;
} step_probe;

static int probe_step(void *user, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    step_probe *p = user;
    float x[DIM] = {0}, out[DIM] = {0};
    int32_t list[1] = {0};
    p->step = diffuse_sampler_step(p->sampler, 1, 9, out, x, x, NULL);
    p->list = diffuse_sampler_set_timesteps(p->sampler, list, 1);
    return 0;
}

START_TEST(step_api_is_busy_during_a_run)
{
    oracle o = {.schedule = linear_schedule(10)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    step_probe p = {0};
    ck_assert_int_eq(diffuse_sampler_create(&p.sampler, model, o.schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_progress(p.sampler, probe_step, &p), DIFFUSE_OK);
    float x[2 * DIM];
    ck_assert_int_eq(diffuse_sampler_run(p.sampler, 2, x), DIFFUSE_OK);
    ck_assert_int_eq(p.step, DIFFUSE_ERROR_STATE);
    ck_assert_int_eq(p.list, DIFFUSE_ERROR_STATE);
    size_t count = 0;
    ck_assert_int_eq(diffuse_sampler_timesteps(p.sampler, NULL, 0, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 10);
    diffuse_sampler_free(p.sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

START_TEST(bad_arguments)
{
    oracle o = {.schedule = linear_schedule(10)};
    diffuse_model *model = oracle_model(&o, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *sampler = NULL;
    float x[DIM];
    int64_t i64 = 0, lo = 0, hi = 0;
    double f64 = 0, dlo = 0, dhi = 0;

    ck_assert_int_eq(diffuse_sampler_create(NULL, model, o.schedule),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, NULL, o.schedule),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(sampler);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, o.schedule), DIFFUSE_OK);

    ck_assert_int_eq(diffuse_sampler_run(NULL, 1, x), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_run(sampler, 0, x), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_run(sampler, 1, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_run(sampler, SIZE_MAX / 2, x),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE, 3),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, 0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CLIP_X0, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_CLIP_X0, -1.0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_CLIP_X0, NAN),
                     DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, (diffuse_sampler_option)99, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_set_int(NULL, DIFFUSE_SAMPLER_SEED, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_get_int(sampler, DIFFUSE_SAMPLER_SEED, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_get_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, &i64),
                     DIFFUSE_OK);
    ck_assert_int_eq(i64, 4096);
    ck_assert_int_eq(diffuse_sampler_get_double(sampler, DIFFUSE_SAMPLER_SEED, &f64),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_get_double(NULL, DIFFUSE_SAMPLER_CLIP_X0, &f64),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_int_bounds(DIFFUSE_SAMPLER_VARIANCE, &lo, &hi), DIFFUSE_OK);
    ck_assert_int_eq(hi, DIFFUSE_VARIANCE_LEARNED);
    ck_assert_int_eq(diffuse_sampler_int_bounds(DIFFUSE_SAMPLER_VARIANCE, NULL, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_double_bounds(DIFFUSE_SAMPLER_CLIP_X0, &dlo, &dhi),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_double_bounds(DIFFUSE_SAMPLER_CLIP_X0, &dlo, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_set_progress(NULL, NULL, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_str_ne(diffuse_sampler_last_error(NULL), "");
    diffuse_sampler_free(NULL);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(o.schedule);
}
END_TEST

static Suite *sampler_suite(void)
{
    Suite *suite = suite_create("sampler");
    TCase *tc = tcase_create("ddpm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, epsilon_oracle_reproduces_the_data);
    tcase_add_test(tc, v_oracle_with_zero_terminal_snr);
    tcase_add_loop_test(tc, x0_oracle_reproduces_the_data, 0, 2);
    tcase_add_test(tc, timestep_lists_are_validated);
    tcase_add_test(tc, seeded_and_independent_of_chunking);
    tcase_add_test(tc, failures_are_reported);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, step_api_checks_and_history);
    tcase_add_test(tc, step_api_is_busy_during_a_run);
    tcase_add_loop_test(tc, threads_split_rows_exactly, DIFFUSE_METHOD_DDPM,
                        DIFFUSE_METHOD_DPMPP_2M + 1);
    tcase_add_test(tc, threaded_progress_and_cancel);
    tcase_add_test(tc, callback_model_stays_on_the_calling_thread);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(sampler_suite());
}
