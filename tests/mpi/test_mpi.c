/* libdiffuse_mpi (diffuse/mpi.h), run under mpirun on N ranks with
 * CK_FORK=no: every test is collective, and a rank that fails an assertion
 * does so after the test's last collective call, so no rank waits forever
 * (ctest's timeout guards the rest). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <diffuse/checkpoint.h>
#include <diffuse/diffuse.h>
#include <diffuse/mpi.h>

/* BUCKET: small enough that the test models' gradients span several
 * buckets (the MLP's 5,410 floats: 2, the U-Net's 11,694: 3), so that the
 * exchange overlaps backward, and few enough that oversubscribed ranks,
 * which give their core away at every MPI_Test, stay quick. */
enum { ROWS = 4, STEPS = 100, BUCKET = 16384 };

/* Rows of step k of a data stream: global row j's element i is a hash of
 * (k, j, i) on [−1, 1), so a rank's shard is rows [first, first + rows) of
 * the one-process batch. `fail_at`: the step whose call fails (0: none);
 * `nan_at`: the step whose rows hold a NaN (0: none). */
typedef struct feed {
    uint64_t step, first, fail_at, nan_at;
} feed;

static float element(uint64_t k, uint64_t j, uint64_t i)
{
    uint64_t z = (k << 40 | j << 16 | i) + 0x9e3779b97f4a7c15u; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / 8388608.0 - 1.0);
}

static int feed_rows(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                     char *message, size_t message_size)
{
    (void)labels;
    feed *f = user;
    f->step++;
    if (f->step == f->fail_at) {
        snprintf(message, message_size, "disk on fire at step %llu", (unsigned long long)f->step);
        return -1;
    }
    for (size_t j = 0; j < capacity; j++)
        for (size_t i = 0; i < dim; i++)
            x[j * dim + i] = element(f->step, f->first + j, i);
    if (f->step == f->nan_at)
        x[dim / 2] = NAN;
    return (int)capacity;
}

static int rank_of(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static int size_of(void)
{
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/* The four handles of a run. */
typedef struct run {
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    feed feed;
} run;

static void set_int(diffuse_model_config *c, diffuse_model_option o, int64_t v)
{
    ck_assert_int_eq(diffuse_model_config_set_int(c, o, v), DIFFUSE_OK);
}

/* An MLP on 2-D points, or a small U-Net on 2×4×4 images. */
static diffuse_model *small_model(diffuse_architecture arch)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, arch, arch == DIFFUSE_ARCH_MLP ? 2 : 32),
                     DIFFUSE_OK);
    if (arch == DIFFUSE_ARCH_MLP) {
        set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 32);
        set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 2);
    } else {
        set_int(config, DIFFUSE_MODEL_IMAGE_CHANNELS, 2);
        set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, 4);
        set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, 4);
        set_int(config, DIFFUSE_MODEL_BASE_CHANNELS, 4);
        set_int(config, DIFFUSE_MODEL_LEVELS, 2);
        set_int(config, DIFFUSE_MODEL_LEVEL_MULT_0, 1);
        set_int(config, DIFFUSE_MODEL_LEVEL_MULT_1, 2);
        set_int(config, DIFFUSE_MODEL_RES_BLOCKS, 1);
        set_int(config, DIFFUSE_MODEL_ATTENTION_LEVELS, 2);
        set_int(config, DIFFUSE_MODEL_HEADS, 2);
        set_int(config, DIFFUSE_MODEL_GROUPS, 2);
    }
    /* another seed on each rank: attach must broadcast rank 0's weights */
    set_int(config, DIFFUSE_MODEL_SEED, 3 + rank_of());
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

/* A run of `rows` rows a step from global row `first` on (the trainer keeps
 * a pointer to r->feed). */
static void make_run(run *r, diffuse_architecture arch, size_t rows, uint64_t first)
{
    *r = (run){.model = small_model(arch), .feed = {0, first, 0, 0}};
    ck_assert_int_eq(diffuse_schedule_create(&r->schedule, DIFFUSE_SCHEDULE_LINEAR, 100),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&r->optimizer, DIFFUSE_OPTIMIZER_ADAMW, r->model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_double(r->optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9),
                     DIFFUSE_OK);
    /* Biases ahead of a GroupNorm have a zero gradient in exact arithmetic;
     * with Adam's default ε = 1e-8 their rounding noise becomes ±lr steps,
     * whose signs any other summation order (more threads too) flips. ε =
     * 1e-6 keeps such noise small, and leaves real gradients' steps as they are. */
    ck_assert_int_eq(diffuse_optimizer_set_double(r->optimizer, DIFFUSE_OPTIMIZER_EPSILON, 1e-6),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&r->trainer, r->model, r->schedule, r->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, (int64_t)rows),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_SEED, 11), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_data(r->trainer, feed_rows, &r->feed), DIFFUSE_OK);
}

static void free_run(run *r)
{
    diffuse_trainer_free(r->trainer);
    diffuse_optimizer_free(r->optimizer);
    diffuse_schedule_free(r->schedule);
    diffuse_model_free(r->model);
}

/* The model's weights (`ema`: EMA weights), malloc'd; *count their number. */
static float *weights(const diffuse_model *m, int ema, size_t *count)
{
    ck_assert_int_eq(diffuse_model_param_count(m, count), DIFFUSE_OK);
    float *w = malloc(*count * sizeof *w);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq((ema ? diffuse_model_get_ema_params : diffuse_model_get_params)(m, w, *count),
                     DIFFUSE_OK);
    return w;
}

/* ‖a − b‖ / ‖b‖ over the weights (`ema`: the EMA weights). */
static double relative_difference(const diffuse_model *a, const diffuse_model *b, int ema)
{
    size_t n;
    float *x = weights(a, ema, &n), *y = weights(b, ema, &n);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        norm += (double)y[i] * y[i];
    }
    free(x);
    free(y);
    return sqrt(diff / norm);
}

/* diffuse_mpi_attach, then buckets of `bucket` bytes. */
static diffuse_mpi *attach(run *r, size_t bucket)
{
    diffuse_mpi *mpi;
    ck_assert_int_eq(diffuse_mpi_attach(&mpi, r->trainer, r->model, MPI_COMM_WORLD), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_mpi_set_bucket_size(mpi, bucket), DIFFUSE_OK);
    return mpi;
}

/* N ranks of ROWS rows for STEPS steps against one process of N·ROWS rows
 * (on rank 0), to 1e-6 relative in the weights and the EMA weights. */
static void check_matches_one_process(diffuse_architecture arch)
{
    int rank = rank_of(), size = size_of();
    run r;
    make_run(&r, arch, ROWS, (uint64_t)rank * ROWS);
    diffuse_mpi *mpi = attach(&r, BUCKET);
    double started = MPI_Wtime();
    int status = diffuse_trainer_train(r.trainer, STEPS, NULL);
    double seconds = MPI_Wtime() - started;
    int state = diffuse_mpi_check_state(mpi);
    double rel[2] = {0.0, 0.0};
    if (rank == 0) { /* the reference: rank 0's initial weights, all rows in one process */
        run one;
        make_run(&one, arch, (size_t)size * ROWS, 0);
        ck_assert_int_eq(diffuse_trainer_train(one.trainer, STEPS, NULL), DIFFUSE_OK);
        rel[0] = relative_difference(r.model, one.model, 0);
        rel[1] = relative_difference(r.model, one.model, 1);
        free_run(&one);
    }
    MPI_Bcast(rel, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s on %d ranks: weights %.3g, EMA %.3g relative to one process (%.1f s)\n",
               arch == DIFFUSE_ARCH_MLP ? "MLP" : "U-Net", size, rel[0], rel[1], seconds);
    diffuse_mpi_free(mpi);
    free_run(&r);
    ck_assert_int_eq(status, DIFFUSE_OK);
    ck_assert_int_eq(state, DIFFUSE_OK);
    ck_assert_msg(rel[0] < 1e-6, "weights differ by %g relative", rel[0]);
    ck_assert_msg(rel[1] < 1e-6, "EMA weights differ by %g relative", rel[1]);
}

START_TEST(mlp_matches_one_process)
{
    check_matches_one_process(DIFFUSE_ARCH_MLP);
}
END_TEST

START_TEST(unet_matches_one_process)
{
    check_matches_one_process(DIFFUSE_ARCH_UNET);
}
END_TEST

/* The last rank fails at step 3 (`nan`: its batch holds a NaN, found after
 * the rows were shared, while the other ranks' backward sends buckets;
 * else its data callback fails): every rank's train call fails with its
 * message, after 2 steps, with equal states, and no rank hangs. */
static void check_failing_rank(int nan, size_t bucket)
{
    int rank = rank_of(), size = size_of(), last = rank == size - 1;
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, (uint64_t)rank * ROWS);
    (nan ? &r.feed.nan_at : &r.feed.fail_at)[0] = last ? 3 : 0;
    diffuse_mpi *mpi = attach(&r, bucket);
    int status = diffuse_trainer_train(r.trainer, 10, NULL);
    char message[600];
    snprintf(message, sizeof message, "%s", diffuse_trainer_last_error(r.trainer));
    uint64_t steps = 0;
    diffuse_trainer_step_count(r.trainer, &steps);
    int state = diffuse_mpi_check_state(mpi);
    int again = diffuse_trainer_step(r.trainer, NULL); /* the ranks are still in step */
    diffuse_mpi_free(mpi);
    free_run(&r);
    const char *expected = nan ? "batch x0" : "disk on fire at step 3";
    ck_assert_int_eq(status, nan && last ? DIFFUSE_ERROR_NUMERIC : DIFFUSE_ERROR_CALLBACK);
    ck_assert_msg(strstr(message, expected) != NULL, "rank %d: %s", rank, message);
    ck_assert_uint_eq(steps, 2);
    ck_assert_int_eq(state, DIFFUSE_OK);
    ck_assert_int_eq(again, DIFFUSE_OK);
}

START_TEST(failing_rank_is_reported_everywhere)
{
    check_failing_rank(0, 0);
    check_failing_rank(0, BUCKET);
}
END_TEST

START_TEST(rank_failing_during_backward_is_reported_everywhere)
{
    check_failing_rank(1, 0);
    check_failing_rank(1, BUCKET);
}
END_TEST

/* A sampler's progress callback that steps the trainer of the sampler's
 * model once: the model is busy, so that step has no gradient buffer. */
typedef struct busy_step {
    diffuse_trainer *trainer;
    int status, calls;
} busy_step;

static int step_while_sampling(void *user, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    busy_step *b = user;
    if (b->calls++ == 0)
        b->status = diffuse_trainer_step(b->trainer, NULL);
    return 0;
}

/* The last rank's step 3 runs while its model is busy (STATE, no gradient
 * buffer): it still takes part in every bucket, and every rank fails. */
START_TEST(rank_without_gradients_takes_part)
{
    int rank = rank_of(), last = rank == size_of() - 1;
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, (uint64_t)rank * ROWS);
    diffuse_mpi *mpi = attach(&r, BUCKET);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 2, NULL), DIFFUSE_OK);
    busy_step b = {r.trainer, DIFFUSE_OK, 0};
    if (last) {
        diffuse_sampler *sampler;
        float sample[2];
        ck_assert_int_eq(diffuse_sampler_create(&sampler, r.model, r.schedule), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_sampler_set_progress(sampler, step_while_sampling, &b),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_sampler_run(sampler, 1, sample), DIFFUSE_OK);
        diffuse_sampler_free(sampler);
    } else {
        b.status = diffuse_trainer_step(r.trainer, NULL);
    }
    char message[600];
    snprintf(message, sizeof message, "%s", diffuse_trainer_last_error(r.trainer));
    uint64_t steps = 0;
    diffuse_trainer_step_count(r.trainer, &steps);
    int state = diffuse_mpi_check_state(mpi);
    int again = diffuse_trainer_step(r.trainer, NULL);
    diffuse_mpi_free(mpi);
    free_run(&r);
    ck_assert_int_eq(b.status, last ? DIFFUSE_ERROR_STATE : DIFFUSE_ERROR_CALLBACK);
    ck_assert_msg(strstr(message, "busy") != NULL, "rank %d: %s", rank, message);
    ck_assert_uint_eq(steps, 2);
    ck_assert_int_eq(state, DIFFUSE_OK);
    ck_assert_int_eq(again, DIFFUSE_OK);
}
END_TEST

/* The weights after 10 steps of the MLP on `threads` threads a rank, in
 * buckets of `bucket` bytes (malloc'd, *count floats). */
static float *weights_after(int threads, size_t bucket, size_t *count)
{
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, (uint64_t)rank_of() * ROWS);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_THREADS, threads),
                     DIFFUSE_OK);
    diffuse_mpi *mpi = attach(&r, bucket);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 10, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_mpi_check_state(mpi), DIFFUSE_OK);
    diffuse_mpi_free(mpi);
    float *w = weights(r.model, 0, count);
    free_run(&r);
    return w;
}

/* Every element is summed in rank order whatever the buckets, on one
 * thread a rank or a gradient team of two: the same bits. */
START_TEST(bucket_size_leaves_the_bits)
{
    for (int threads = 1; threads <= 2; threads++) {
        size_t n;
        float *whole = weights_after(threads, 0, &n);
        /* 250 floats: chunks of unequal sizes on 4 ranks, 22 buckets */
        const size_t sizes[] = {1000, BUCKET, DIFFUSE_MPI_DEFAULT_BUCKET_BYTES};
        for (int i = 0; i < 3; i++) {
            float *bucketed = weights_after(threads, sizes[i], &n);
            ck_assert_msg(memcmp(whole, bucketed, n * sizeof *whole) == 0,
                          "%d threads, buckets of %zu bytes: other bits", threads, sizes[i]);
            free(bucketed);
        }
        free(whole);
    }
}
END_TEST

/* A progress callback that tries to change the buckets mid-training. */
typedef struct resize {
    diffuse_mpi *mpi;
    int status;
} resize;

static int resize_while_training(void *user, uint64_t step, double loss, double rate)
{
    (void)step;
    (void)loss;
    (void)rate;
    resize *r = user;
    r->status = diffuse_mpi_set_bucket_size(r->mpi, 1024);
    return 0;
}

START_TEST(bucket_size_is_checked_on_every_rank)
{
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, 0);
    diffuse_mpi *mpi = attach(&r, BUCKET);
    ck_assert_int_eq(diffuse_mpi_set_bucket_size(NULL, BUCKET), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_mpi_set_bucket_size(mpi, 3), DIFFUSE_ERROR_INVALID_ARGUMENT);
    int mismatch = diffuse_mpi_set_bucket_size(mpi, rank_of() == size_of() - 1 ? 1024 : BUCKET);
    ck_assert_int_eq(mismatch, DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(diffuse_mpi_last_error(mpi), "rank 0's"));
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 2, NULL), DIFFUSE_OK); /* old buckets */
    resize during = {mpi, DIFFUSE_OK};
    ck_assert_int_eq(diffuse_trainer_set_progress(r.trainer, resize_while_training, &during, 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 1, NULL), DIFFUSE_OK);
    ck_assert_int_eq(during.status, DIFFUSE_ERROR_STATE); /* the trainer is busy */
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 1, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_mpi_check_state(mpi), DIFFUSE_OK);
    diffuse_mpi_free(mpi);
    free_run(&r);
}
END_TEST

/* A rank whose weights drift is caught by the state check on every rank. */
START_TEST(state_check_catches_a_difference)
{
    int rank = rank_of();
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, (uint64_t)rank * ROWS);
    diffuse_mpi *mpi;
    ck_assert_int_eq(diffuse_mpi_attach(&mpi, r.trainer, r.model, MPI_COMM_WORLD), DIFFUSE_OK);
    int before = diffuse_mpi_check_state(mpi);
    if (rank == size_of() - 1) {
        size_t n;
        float *w = weights(r.model, 0, &n);
        w[n / 2] = nextafterf(w[n / 2], 1.0f);
        ck_assert_int_eq(diffuse_model_set_params(r.model, w, n), DIFFUSE_OK);
        free(w);
    }
    int after = diffuse_mpi_check_state(mpi);
    char message[600];
    snprintf(message, sizeof message, "%s", diffuse_mpi_last_error(mpi));
    diffuse_mpi_free(mpi);
    free_run(&r);
    ck_assert_int_eq(before, DIFFUSE_OK);
    ck_assert_int_eq(after, DIFFUSE_ERROR_MISMATCH);
    ck_assert_msg(strstr(message, "differs from rank 0") != NULL, "%s", message);
}
END_TEST

/* Rank 0's checkpoint after 5 steps, loaded on every rank, continues to the
 * bits of the run that never stopped. */
START_TEST(checkpoint_resumes_bit_exactly)
{
    int rank = rank_of();
    const char *path = "test_mpi_resume.safetensors";
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, (uint64_t)rank * ROWS);
    diffuse_mpi *mpi = attach(&r, BUCKET);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 5, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_mpi_save(mpi, path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 5, NULL), DIFFUSE_OK);
    diffuse_mpi_free(mpi);

    run back = {.feed = {5, (uint64_t)rank * ROWS, 0, 0}};
    ck_assert_int_eq(diffuse_trainer_load(path, &back.model, &back.schedule, &back.optimizer,
                                          &back.trainer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_data(back.trainer, feed_rows, &back.feed), DIFFUSE_OK);
    mpi = attach(&back, BUCKET);
    ck_assert_int_eq(diffuse_mpi_check_state(mpi), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(back.trainer, 5, NULL), DIFFUSE_OK);
    diffuse_mpi_free(mpi);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        unlink(path);
    size_t n;
    float *a = weights(r.model, 0, &n), *b = weights(back.model, 0, &n);
    int same = memcmp(a, b, n * sizeof *a) == 0;
    free(a);
    free(b);
    free_run(&back);
    free_run(&r);
    ck_assert_msg(same, "the resumed run's weights differ");
}
END_TEST

START_TEST(shard_and_arguments)
{
    run r;
    make_run(&r, DIFFUSE_ARCH_MLP, ROWS, 0);
    diffuse_mpi *mpi;
    ck_assert_int_eq(diffuse_mpi_attach(NULL, r.trainer, r.model, MPI_COMM_WORLD),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_mpi_attach(&mpi, r.trainer, r.model, MPI_COMM_WORLD), DIFFUSE_OK);
    int rank = -1, size = -1;
    ck_assert_int_eq(diffuse_mpi_shard(mpi, &rank, &size), DIFFUSE_OK);
    ck_assert_int_eq(rank, rank_of());
    ck_assert_int_eq(size, size_of());
    ck_assert_int_eq(diffuse_mpi_shard(mpi, NULL, &size), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_mpi_save(mpi, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_mpi_last_error(mpi), "path"));
    diffuse_mpi_free(mpi);
    diffuse_mpi_free(NULL);
    free_run(&r);
}
END_TEST

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    Suite *suite = suite_create("mpi");
    TCase *tc = tcase_create("data-parallel");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, shard_and_arguments);
    tcase_add_test(tc, mlp_matches_one_process);
    tcase_add_test(tc, unet_matches_one_process);
    tcase_add_test(tc, failing_rank_is_reported_everywhere);
    tcase_add_test(tc, rank_failing_during_backward_is_reported_everywhere);
    tcase_add_test(tc, rank_without_gradients_takes_part);
    tcase_add_test(tc, bucket_size_leaves_the_bits);
    tcase_add_test(tc, bucket_size_is_checked_on_every_rank);
    tcase_add_test(tc, state_check_catches_a_difference);
    tcase_add_test(tc, checkpoint_resumes_bit_exactly);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, rank_of() == 0 ? CK_NORMAL : CK_SILENT);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    /* a failure on any rank fails the run on every rank */
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
