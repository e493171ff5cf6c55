/* The toy2d demo's training recipe (see toy2d_recipe.h). */
#include "toy2d_recipe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Fresh data for measuring comes from a seed the training never uses. */
#define TOY2D_EVALUATION_SEED_OFFSET 1000003u

toy2d_recipe toy2d_default_recipe(diffuse_toy2d data, uint64_t steps, uint64_t seed, int threads)
{
    return (toy2d_recipe){
        .data = data,
        .steps = steps,
        .seed = seed,
        .threads = threads,
        .timesteps = 1000,
        .batch_size = 256,
        .width = 128,
        .layers = 3,
        .learning_rate = 2e-3,
        .ema_decay = 0.995,
    };
}

/* The data callback: consecutive points of the built-in distribution (and
 * their classes), so a run is reproducible from the seed alone. */
static int fill_batch(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                      char *message, size_t message_size)
{
    (void)dim;
    toy2d_run *run = user;
    if (diffuse_toy2d_sample_labeled(run->recipe.data, run->recipe.seed, run->data_cursor,
                                     capacity, x, labels) != DIFFUSE_OK) {
        snprintf(message, message_size, "toy2d data: %s", diffuse_last_error());
        return -1;
    }
    run->data_cursor += capacity;
    return (int)capacity;
}

typedef struct progress_state {
    uint64_t total;
} progress_state;

static int print_progress(void *user, uint64_t step, double loss, double steps_per_second)
{
    const progress_state *p = user;
    double eta = steps_per_second > 0 ? (double)(p->total - step) / steps_per_second : 0.0;
    printf("step %6" PRIu64 "/%" PRIu64 "  mse %.4f  %6.0f it/s  ETA %4.1fs\n", step, p->total,
           loss, steps_per_second, eta);
    fflush(stdout);
    return 0;
}

static diffuse_status build_model(const toy2d_recipe *r, toy2d_run *run)
{
    diffuse_model_config *config = NULL;
    diffuse_status status = diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, r->width);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, r->layers);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, (int64_t)r->seed);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_CLASSES, (int64_t)r->classes);
    if (status == DIFFUSE_OK)
        status = diffuse_model_create(&run->model, config);
    diffuse_model_config_free(config);
    return status;
}

static diffuse_status build_optimizer(const toy2d_recipe *r, toy2d_run *run)
{
    diffuse_status status =
        diffuse_optimizer_create(&run->optimizer, DIFFUSE_OPTIMIZER_ADAMW, run->model);
    diffuse_optimizer *opt = run->optimizer;
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE,
                                              r->learning_rate);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.0);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, r->ema_decay);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_WARMUP_STEPS, 100);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS,
                                           (int64_t)r->steps);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE,
                                              r->learning_rate * 0.05);
    return status;
}

static diffuse_status build_trainer(const toy2d_recipe *r, toy2d_run *run)
{
    diffuse_status status =
        diffuse_trainer_create(&run->trainer, run->model, run->schedule, run->optimizer);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_BATCH_SIZE,
                                         (int64_t)r->batch_size);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_SEED, (int64_t)r->seed);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_THREADS, r->threads);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_data(run->trainer, fill_batch, run);
    if (status == DIFFUSE_OK && r->classes > 0)
        status = diffuse_trainer_set_double(run->trainer, DIFFUSE_TRAINER_LABEL_DROPOUT,
                                            r->label_dropout);
    return status;
}

int toy2d_train(const toy2d_recipe *recipe, toy2d_run *run)
{
    *run = (toy2d_run){.recipe = *recipe};
    progress_state progress = {recipe->steps};
    diffuse_status status =
        diffuse_schedule_create(&run->schedule, DIFFUSE_SCHEDULE_LINEAR, recipe->timesteps);
    if (status == DIFFUSE_OK)
        status = build_model(recipe, run);
    if (status == DIFFUSE_OK)
        status = build_optimizer(recipe, run);
    if (status == DIFFUSE_OK)
        status = build_trainer(recipe, run);
    if (status == DIFFUSE_OK && recipe->report_progress)
        status = diffuse_trainer_set_progress(run->trainer, print_progress, &progress,
                                              recipe->steps / 10 > 0 ? recipe->steps / 10 : 1);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_train(run->trainer, recipe->steps, NULL);
    if (status == DIFFUSE_OK && run->trainer != NULL)
        status = diffuse_trainer_set_progress(run->trainer, NULL, NULL, 1);
    if (status != DIFFUSE_OK) {
        fprintf(stderr, "toy2d: training failed: %s (%s)\n", diffuse_last_error(),
                diffuse_status_name(status));
        toy2d_run_free(run);
        return -1;
    }
    return 0;
}

int toy2d_sample(toy2d_run *run, size_t n, float *out)
{
    return toy2d_sample_classes(run, n, NULL, 1.0, out);
}

int toy2d_sample_classes(toy2d_run *run, size_t n, const int32_t *labels, double w, float *out)
{
    diffuse_sampler *sampler = NULL;
    const toy2d_recipe *r = &run->recipe;
    diffuse_status status = diffuse_sampler_create(&sampler, run->model, run->schedule);
    struct {
        diffuse_sampler_option option;
        int64_t value;
    } settings[] = {
        {DIFFUSE_SAMPLER_USE_EMA, 1},
        {DIFFUSE_SAMPLER_SEED, (int64_t)r->seed},
        {DIFFUSE_SAMPLER_THREADS, r->threads},
        {DIFFUSE_SAMPLER_METHOD, r->sample_method},
        /* trailing: the list starts at T − 1, where x ~ N(0, I) fits */
        {DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING},
        {DIFFUSE_SAMPLER_STEPS, r->sample_steps},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0] && status == DIFFUSE_OK; i++)
        status = diffuse_sampler_set_int(sampler, settings[i].option, settings[i].value);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, w);
    if (status == DIFFUSE_OK)
        status = labels != NULL ? diffuse_sampler_run_labels(sampler, n, labels, out)
                                : diffuse_sampler_run(sampler, n, out);
    if (status != DIFFUSE_OK)
        fprintf(stderr, "toy2d: sampling failed: %s\n",
                sampler != NULL ? diffuse_sampler_last_error(sampler) : diffuse_last_error());
    diffuse_sampler_free(sampler);
    return status == DIFFUSE_OK ? 0 : -1;
}

int toy2d_measure(const toy2d_run *run, const float *samples, size_t n, float *data_out,
                  toy2d_quality *quality)
{
    uint64_t seed = run->recipe.seed + TOY2D_EVALUATION_SEED_OFFSET;
    float *noise = malloc(n * 2 * sizeof(float));
    diffuse_rng *rng = NULL;
    diffuse_status status = noise != NULL ? DIFFUSE_OK : DIFFUSE_ERROR_NO_MEMORY;
    if (status == DIFFUSE_OK)
        status = diffuse_toy2d_sample(run->recipe.data, seed, 0, n, data_out);
    if (status == DIFFUSE_OK)
        status = diffuse_rng_create(&rng, seed, 1);
    if (status == DIFFUSE_OK)
        status = diffuse_rng_normal(rng, noise, n * 2);
    if (status == DIFFUSE_OK)
        status = diffuse_energy_distance(samples, n, data_out, n, 2, &quality->samples);
    if (status == DIFFUSE_OK)
        status = diffuse_energy_distance(noise, n, data_out, n, 2, &quality->noise);
    if (status != DIFFUSE_OK)
        fprintf(stderr, "toy2d: measuring failed: %s\n", diffuse_last_error());
    diffuse_rng_free(rng);
    free(noise);
    return status == DIFFUSE_OK ? 0 : -1;
}

void toy2d_run_free(toy2d_run *run)
{
    diffuse_trainer_free(run->trainer);
    diffuse_optimizer_free(run->optimizer);
    diffuse_model_free(run->model);
    diffuse_schedule_free(run->schedule);
    *run = (toy2d_run){.recipe = run->recipe};
}
