/* A fixed workload whose results' digests a test compares across processes
 * started under different OpenBLAS threading and CPU affinity
 * (test_reproducibility.c): a prediction on 1,000 rows, 30 training steps
 * and a 400-row sampling run, each with the handles' default THREADS and
 * with THREADS = 2. Prints one "name digest" line per result, and "restored"
 * lines saying whether OpenBLAS's thread count was put back after each call.
 * Exit status 0 when every call succeeded. */
#include <cblas.h>
#include <diffuse/diffuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "digest.h"
#include "test_handles.h"

enum { DIM = 12, PREDICT_ROWS = 1000, BATCH = 256, STEPS = 30, SAMPLES = 400, T = 100 };

/* Deterministic inputs: a row pattern that no kernel special-cases. */
static void fill(float *x, size_t count, uint64_t salt)
{
    for (size_t i = 0; i < count; i++)
        x[i] = (float)((double)((i * 37 + salt * 11) % 101) / 50.0 - 1.0);
}

static int report(const char *name, const void *bytes, size_t size, int blas_before)
{
    printf("%s 0x%016llx\n", name, (unsigned long long)fnv1a(FNV_OFFSET, bytes, size));
    printf("%s restored %d\n", name, openblas_get_num_threads() == blas_before);
    return 0;
}

static int predict(diffuse_model *model)
{
    static float x[PREDICT_ROWS * DIM], out[PREDICT_ROWS * DIM];
    static int32_t t[PREDICT_ROWS];
    fill(x, PREDICT_ROWS * DIM, 1);
    for (size_t i = 0; i < PREDICT_ROWS; i++)
        t[i] = (int32_t)(i * 13 % T);
    int blas = openblas_get_num_threads();
    if (diffuse_test_predict(model, PREDICT_ROWS, t, x, out) != DIFFUSE_OK)
        return 1;
    return report("predict", out, sizeof out, blas);
}

static int train(diffuse_model *model, const diffuse_schedule *schedule, int threads,
                 const char *name)
{
    static float batch[BATCH * DIM];
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    int failed = diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model) ||
                 diffuse_trainer_create(&trainer, model, schedule, optimizer) ||
                 (threads > 0 && diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_THREADS,
                                                         threads));
    int blas = openblas_get_num_threads();
    for (uint64_t step = 0; step < STEPS && !failed; step++) {
        fill(batch, BATCH * DIM, step);
        failed = diffuse_trainer_step_batch(trainer, BATCH, batch, NULL) != DIFFUSE_OK;
    }
    size_t count = 0;
    float *params = NULL;
    failed = failed || diffuse_model_param_count(model, &count) ||
             (params = malloc(count * sizeof *params)) == NULL ||
             diffuse_model_get_params(model, params, count);
    if (!failed)
        report(name, params, count * sizeof *params, blas);
    free(params);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    return failed;
}

static int sample(diffuse_model *model, const diffuse_schedule *schedule, int threads,
                  const char *name)
{
    static float out[SAMPLES * DIM];
    diffuse_sampler *sampler = NULL;
    int blas = openblas_get_num_threads();
    int failed = diffuse_sampler_create(&sampler, model, schedule) ||
                 (threads > 0 && diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS,
                                                         threads)) ||
                 diffuse_sampler_run(sampler, SAMPLES, out);
    if (!failed)
        report(name, out, sizeof out, blas);
    diffuse_sampler_free(sampler);
    return failed;
}

int main(void)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_schedule *schedule = NULL;
    int failed = diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM) ||
                 diffuse_model_create(&model, config) ||
                 diffuse_schedule_create(&schedule, DIFFUSE_SCHEDULE_COSINE, T) ||
                 predict(model) || train(model, schedule, 0, "train") ||
                 sample(model, schedule, 0, "sample") ||
                 train(model, schedule, 2, "train_threads2") ||
                 sample(model, schedule, 2, "sample_threads2");
    diffuse_schedule_free(schedule);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    if (failed)
        fprintf(stderr, "repro_digest: a call failed: %s\n", diffuse_last_error());
    return failed;
}
