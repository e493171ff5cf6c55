/* The training process test_crash.c kills: resumes from the trainer
 * checkpoint at PATH if there is one (else starts afresh), then runs steps up
 * to STEPS, saving the checkpoint at PATH after every step, so that a kill
 * lands in a step or in a save. Each step's batch depends only on the step
 * number, as a resumable data stream must. At the end it prints the digest of
 * the parameters and their moving average.
 * Usage: crash_train PATH STEPS. Exit status 0 on success. */
#include <diffuse/diffuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "digest.h"
#include "test_handles.h"

enum { DIM = 2, BATCH = 32 };

static void batch_for_step(uint64_t step, float *x)
{
    for (size_t i = 0; i < BATCH * DIM; i++)
        x[i] = (float)((double)((step * 131 + i * 17) % 97) / 48.0 - 1.0);
}

static diffuse_status fresh(diffuse_test_handles *h)
{
    diffuse_model_config *config = NULL;
    diffuse_status status = diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM);
    if (!status)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 32);
    if (!status)
        status = diffuse_model_create(&h->model, config);
    diffuse_model_config_free(config);
    if (!status)
        status = diffuse_schedule_create(&h->schedule, DIFFUSE_SCHEDULE_COSINE, 100);
    if (!status)
        status = diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model);
    if (!status)
        status = diffuse_optimizer_set_double(h->optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9);
    if (!status)
        status = diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer);
    if (!status)
        status = diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_SEED, 7);
    return status;
}

static int print_digest(diffuse_model *model)
{
    size_t count;
    if (diffuse_model_param_count(model, &count))
        return 1;
    int has_ema = 0; /* none before the first step */
    float *values = malloc(2 * count * sizeof *values);
    int failed = values == NULL || diffuse_model_get_params(model, values, count) ||
                 diffuse_model_has_ema(model, &has_ema) ||
                 (has_ema && diffuse_model_get_ema_params(model, values + count, count));
    size_t bytes = (has_ema ? 2 : 1) * count * sizeof *values;
    if (!failed)
        printf("digest 0x%016llx\n", (unsigned long long)fnv1a(FNV_OFFSET, values, bytes));
    free(values);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *path = argv[1];
    uint64_t steps = strtoull(argv[2], NULL, 10), done = 0;
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    diffuse_status status = access(path, F_OK) == 0
                                ? diffuse_trainer_load(path, &h.model, &h.schedule,
                                                       &h.optimizer, &h.trainer)
                                : fresh(&h);
    if (!status)
        status = diffuse_trainer_step_count(h.trainer, &done);
    float batch[BATCH * DIM];
    for (uint64_t step = done; step < steps && !status; step++) {
        batch_for_step(step, batch);
        status = diffuse_trainer_step_batch(h.trainer, BATCH, batch, NULL);
        if (!status)
            status = diffuse_trainer_save(h.trainer, path);
    }
    int failed = status != DIFFUSE_OK || print_digest(h.model);
    if (status)
        fprintf(stderr, "crash_train: %s\n", diffuse_last_error());
    diffuse_test_handles_free(&h);
    return failed;
}
