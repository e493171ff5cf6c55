/* Concurrency: different handles used from different threads at once give
 * the same bits as the same work done one after the other. Each job builds
 * its own schedule, configuration, model, optimizer (with EMA), trainer,
 * sampler and generator, trains, samples, draws, computes q_sample, saves
 * a trainer checkpoint and loads it back; JOBS jobs run first sequentially,
 * then on JOBS threads at once (each job's sampler and trainer with two
 * worker threads of their own). CI also runs this suite under
 * ThreadSanitizer. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "test_support.h"

enum { JOBS = 6, DIM = 3, BATCH = 16, STEPS = 15, SAMPLES = 24, T = 40, DRAWS = SAMPLES * DIM };

typedef struct job {
    int index;
    const char *dir;
    uint64_t digest;
    int failed_line; /* 0: every call succeeded */
} job;

#define TRY(call)                                                                               \
    do {                                                                                        \
        if ((call) != DIFFUSE_OK && j->failed_line == 0)                                        \
            j->failed_line = __LINE__;                                                          \
    } while (0)

static void mix(job *j, const void *bytes, size_t size)
{
    j->digest = fnv1a(j->digest, bytes, size);
}

/* Train, then digest the parameters; the handles stay for the next parts. */
static void train(job *j, diffuse_test_handles *h)
{
    diffuse_model_config *config = NULL;
    TRY(diffuse_schedule_create(&h->schedule, DIFFUSE_SCHEDULE_COSINE, T));
    TRY(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM));
    TRY(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16));
    TRY(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, j->index));
    TRY(diffuse_model_create(&h->model, config));
    diffuse_model_config_free(config);
    TRY(diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model));
    TRY(diffuse_optimizer_set_double(h->optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9));
    TRY(diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer));
    TRY(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_SEED, j->index));
    TRY(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_THREADS, 2));
    float batch[BATCH * DIM];
    for (int step = 0; step < STEPS; step++) {
        for (size_t i = 0; i < BATCH * DIM; i++)
            batch[i] = (float)((i * 7 + (size_t)step * 3 + (size_t)j->index) % 11) / 5.0f - 1.0f;
        double loss = 0.0;
        TRY(diffuse_trainer_step_batch(h->trainer, BATCH, batch, &loss));
        mix(j, &loss, sizeof loss);
    }
}

static void sample_and_draw(job *j, diffuse_test_handles *h)
{
    float samples[SAMPLES * DIM], draws[DRAWS], x_t[SAMPLES * DIM];
    int32_t t[SAMPLES];
    diffuse_sampler *sampler = NULL;
    diffuse_rng *rng = NULL;
    TRY(diffuse_sampler_create(&sampler, h->model, h->schedule));
    TRY(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_USE_EMA, 1));
    TRY(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, 2));
    TRY(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, j->index));
    TRY(diffuse_sampler_run(sampler, SAMPLES, samples));
    TRY(diffuse_rng_create(&rng, (uint64_t)j->index, 3));
    TRY(diffuse_rng_normal(rng, draws, DRAWS));
    for (size_t i = 0; i < SAMPLES; i++)
        t[i] = (int32_t)((i + (size_t)j->index) % T);
    TRY(diffuse_q_sample(h->schedule, SAMPLES, DIM, t, samples, draws, x_t));
    mix(j, samples, sizeof samples);
    mix(j, x_t, sizeof x_t);
    diffuse_rng_free(rng);
    diffuse_sampler_free(sampler);
}

/* Save and load back: the loaded parameters must be the trained ones. */
static void checkpoint_round_trip(job *j, diffuse_test_handles *h)
{
    char path[320];
    snprintf(path, sizeof path, "%s/job%d.safetensors", j->dir, j->index);
    TRY(diffuse_trainer_save(h->trainer, path));
    diffuse_test_handles loaded = {NULL, NULL, NULL, NULL};
    TRY(diffuse_trainer_load(path, &loaded.model, &loaded.schedule, &loaded.optimizer,
                             &loaded.trainer));
    size_t count = 0;
    TRY(diffuse_model_param_count(h->model, &count));
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    if (a == NULL || b == NULL) {
        j->failed_line = __LINE__;
    } else {
        TRY(diffuse_model_get_params(h->model, a, count));
        TRY(diffuse_model_get_params(loaded.model, b, count));
        if (memcmp(a, b, count * sizeof *a) != 0 && j->failed_line == 0)
            j->failed_line = __LINE__;
        mix(j, b, count * sizeof *b);
    }
    free(a);
    free(b);
    diffuse_test_handles_free(&loaded);
}

static void *run_job(void *argument)
{
    job *j = argument;
    j->digest = FNV_OFFSET;
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    train(j, &h);
    if (j->failed_line == 0)
        sample_and_draw(j, &h);
    if (j->failed_line == 0)
        checkpoint_round_trip(j, &h);
    diffuse_test_handles_free(&h);
    return NULL;
}

START_TEST(threads_give_the_bits_of_sequential_use)
{
    char dir[256];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    job sequential[JOBS], parallel[JOBS];
    for (int i = 0; i < JOBS; i++) {
        sequential[i] = (job){i, dir, 0, 0};
        parallel[i] = (job){i, dir, 0, 0};
        run_job(&sequential[i]);
        ck_assert_msg(sequential[i].failed_line == 0, "job %d failed at line %d: %s", i,
                      sequential[i].failed_line, diffuse_last_error());
    }
    pthread_t threads[JOBS];
    for (int i = 0; i < JOBS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, run_job, &parallel[i]), 0);
    for (int i = 0; i < JOBS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < JOBS; i++) {
        ck_assert_msg(parallel[i].failed_line == 0, "threaded job %d failed at line %d", i,
                      parallel[i].failed_line);
        ck_assert_msg(parallel[i].digest == sequential[i].digest,
                      "job %d: 0x%016llx on a thread, 0x%016llx sequentially", i,
                      (unsigned long long)parallel[i].digest,
                      (unsigned long long)sequential[i].digest);
    }
    diffuse_test_remove_dir(dir);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *suite = suite_create("concurrency");
    TCase *tc = tcase_create("handles");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, threads_give_the_bits_of_sequential_use);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(concurrency_suite());
}
