/* The Fashion-MNIST example's training run (see fashion_run.h). */
#include "fashion_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_grid.h"

/* The grid's and the .npy file's samples come from seeds the training
 * never uses. */
#define FASHION_GRID_SEED_OFFSET 7919u
#define FASHION_SAMPLES_SEED_OFFSET 104729u

static int report(diffuse_status status, const char *what, const char *message)
{
    if (status == DIFFUSE_OK)
        return 0;
    fprintf(stderr, "fashion: %s failed: %s (%s)\n", what, message, diffuse_status_name(status));
    return -1;
}

static diffuse_status load_images(const fashion_config *c, fashion_run *run)
{
    /* The labels are loaded whatever the model: a model without classes
     * ignores them, and a resumed checkpoint decides which it is. */
    char images[4096], labels[4096];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", c->data_dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", c->data_dir);
    diffuse_status status = diffuse_images_load_idx(&run->images, images, labels);
    if (status == DIFFUSE_OK)
        status = diffuse_images_set_shuffle(run->images, 1, c->seed);
    if (status == DIFFUSE_OK)
        status = diffuse_images_shape(run->images, NULL, &run->channels, &run->height,
                                      &run->width, NULL);
    return status;
}

static diffuse_status build_model(const fashion_config *c, fashion_run *run)
{
    diffuse_model_config *config = NULL;
    size_t dim = run->channels * run->height * run->width;
    diffuse_status status = diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, dim);
    const struct {
        diffuse_model_option option;
        int64_t value;
    } settings[] = {
        {DIFFUSE_MODEL_IMAGE_CHANNELS, (int64_t)run->channels},
        {DIFFUSE_MODEL_IMAGE_HEIGHT, (int64_t)run->height},
        {DIFFUSE_MODEL_IMAGE_WIDTH, (int64_t)run->width},
        {DIFFUSE_MODEL_BASE_CHANNELS, c->base_channels},
        {DIFFUSE_MODEL_LEVELS, c->levels},
        {DIFFUSE_MODEL_RES_BLOCKS, c->res_blocks},
        {DIFFUSE_MODEL_ATTENTION_LEVELS, c->attention_levels},
        {DIFFUSE_MODEL_HEADS, c->heads},
        {DIFFUSE_MODEL_GROUPS, c->groups},
        {DIFFUSE_MODEL_SEED, (int64_t)c->seed},
        {DIFFUSE_MODEL_CLASSES, c->classes},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0] && status == DIFFUSE_OK; i++)
        status = diffuse_model_config_set_int(config, settings[i].option, settings[i].value);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_double(config, DIFFUSE_MODEL_DROPOUT, c->dropout);
    if (status == DIFFUSE_OK)
        status = diffuse_model_create(&run->model, config);
    diffuse_model_config_free(config);
    return status;
}

/* AdamW with a linear warm-up and a cosine decay to 10 % over the run. */
static diffuse_status build_optimizer(const fashion_config *c, fashion_run *run)
{
    diffuse_status status =
        diffuse_optimizer_create(&run->optimizer, DIFFUSE_OPTIMIZER_ADAMW, run->model);
    diffuse_optimizer *opt = run->optimizer;
    const struct {
        diffuse_optimizer_option option;
        double value;
    } reals[] = {
        {DIFFUSE_OPTIMIZER_LEARNING_RATE, c->learning_rate},
        {DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.0},
        {DIFFUSE_OPTIMIZER_EMA_DECAY, c->ema_decay},
        {DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, c->learning_rate * 0.1},
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0] && status == DIFFUSE_OK; i++)
        status = diffuse_optimizer_set_double(opt, reals[i].option, reals[i].value);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_WARMUP_STEPS,
                                           (int64_t)c->warmup_steps);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, (int64_t)c->steps);
    return status;
}

static diffuse_status build_trainer(const fashion_config *c, fashion_run *run)
{
    diffuse_status status =
        diffuse_trainer_create(&run->trainer, run->model, run->schedule, run->optimizer);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_BATCH_SIZE, c->batch_size);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_SEED, (int64_t)c->seed);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(run->trainer, DIFFUSE_TRAINER_THREADS, c->threads);
    /* Classifier-free guidance needs the null class trained too. */
    if (status == DIFFUSE_OK && c->classes > 0)
        status = diffuse_trainer_set_double(run->trainer, DIFFUSE_TRAINER_LABEL_DROPOUT,
                                            c->label_dropout);
    return status;
}

static diffuse_status build_fresh(const fashion_config *c, fashion_run *run)
{
    diffuse_status status =
        diffuse_schedule_create(&run->schedule, DIFFUSE_SCHEDULE_LINEAR, 1000);
    if (status == DIFFUSE_OK)
        status = build_model(c, run);
    if (status == DIFFUSE_OK)
        status = build_optimizer(c, run);
    if (status == DIFFUSE_OK)
        status = build_trainer(c, run);
    return status;
}

/* The data source's position after `steps` steps of `batch` rows: a batch
 * never crosses an epoch's end, so an epoch of `count` images takes
 * ⌈count/batch⌉ steps, the last one short. */
static uint64_t position_after(uint64_t steps, uint64_t batch, uint64_t count)
{
    uint64_t per_epoch = (count + batch - 1) / batch;
    return steps / per_epoch * count + steps % per_epoch * batch;
}

/* The four handles as the checkpoint left them (batch size, seed, threads
 * and every optimizer option included) and the data where its step left
 * them, so that the run continues bit-exactly. */
static diffuse_status resume(fashion_run *run)
{
    diffuse_status status = diffuse_trainer_load(run->config->resume, &run->model,
                                                 &run->schedule, &run->optimizer, &run->trainer);
    uint64_t steps = 0;
    int64_t batch = 0;
    size_t count = 0;
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_step_count(run->trainer, &steps);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_get_int(run->trainer, DIFFUSE_TRAINER_BATCH_SIZE, &batch);
    if (status == DIFFUSE_OK)
        status = diffuse_images_shape(run->images, &count, NULL, NULL, NULL, NULL);
    if (status == DIFFUSE_OK)
        status = diffuse_images_seek(run->images, position_after(steps, (uint64_t)batch, count));
    if (status == DIFFUSE_OK)
        printf("resumed %s at step %" PRIu64 "\n", run->config->resume, steps);
    return status;
}

static diffuse_status model_classes(fashion_run *run)
{
    const diffuse_model_config *config = NULL;
    diffuse_status status = diffuse_model_get_config(run->model, &config);
    return status ? status : diffuse_model_config_get_int(config, DIFFUSE_MODEL_CLASSES,
                                                          &run->classes);
}

int fashion_open(const fashion_config *config, fashion_run *run)
{
    *run = (fashion_run){.config = config};
    diffuse_status status = load_images(config, run);
    if (status != DIFFUSE_OK) {
        report(status, "loading the data", diffuse_last_error());
        fashion_close(run);
        return -1;
    }
    status = config->resume != NULL ? resume(run) : build_fresh(config, run);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_data(run->trainer, diffuse_images_data, run->images);
    if (status == DIFFUSE_OK)
        status = model_classes(run);
    if (report(status, "building the model", diffuse_last_error()) != 0) {
        fashion_close(run);
        return -1;
    }
    return 0;
}

static int print_progress(void *user, uint64_t step, double loss, double steps_per_second)
{
    const fashion_run *run = user;
    double eta = steps_per_second > 0 ? (double)(run->config->steps - step) / steps_per_second
                                      : 0.0;
    printf("step %7" PRIu64 "/%" PRIu64 "  mse %.4f  %6.2f it/s  ETA %5.0fs\n", step,
           run->config->steps, loss, steps_per_second, eta);
    fflush(stdout);
    return 0;
}

int fashion_sample(fashion_run *run, size_t n, uint64_t seed, const int32_t *labels, float *out)
{
    const fashion_config *c = run->config;
    diffuse_sampler *sampler = NULL;
    diffuse_status status = diffuse_sampler_create(&sampler, run->model, run->schedule);
    const struct {
        diffuse_sampler_option option;
        int64_t value;
    } settings[] = {
        {DIFFUSE_SAMPLER_USE_EMA, 1},
        {DIFFUSE_SAMPLER_SEED, (int64_t)seed},
        {DIFFUSE_SAMPLER_THREADS, c->threads},
        {DIFFUSE_SAMPLER_METHOD, c->sampler},
        /* trailing: the list starts at T − 1, where x ~ N(0, I) fits */
        {DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING},
        {DIFFUSE_SAMPLER_STEPS, c->sample_steps},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0] && status == DIFFUSE_OK; i++)
        status = diffuse_sampler_set_int(sampler, settings[i].option, settings[i].value);
    /* x̂_0 clipped to the data's range [−1, 1] (improved-diffusion's clip_denoised) */
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_CLIP_X0, c->clip);
    if (status == DIFFUSE_OK && labels != NULL)
        status = diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, c->guidance);
    if (status == DIFFUSE_OK)
        status = labels != NULL ? diffuse_sampler_run_labels(sampler, n, labels, out)
                                : diffuse_sampler_run(sampler, n, out);
    int failed = report(status, "sampling",
                        sampler != NULL ? diffuse_sampler_last_error(sampler)
                                        : diffuse_last_error());
    diffuse_sampler_free(sampler);
    return failed;
}

/* Sample i's class for a class-conditional model: `labels[i] = i / per_class`
 * gives rows of one class in a grid of per_class columns, `i % K` (per_class
 * 0) a balanced set. NULL (nothing to do) for an unconditional model or
 * when out of memory (then *failed is set). */
static int32_t *sample_labels(const fashion_run *run, size_t n, size_t per_class, int *failed)
{
    if (run->classes == 0)
        return NULL;
    int32_t *labels = malloc(n * sizeof *labels);
    *failed = labels == NULL;
    for (size_t i = 0; labels != NULL && i < n; i++)
        labels[i] = (int32_t)(per_class ? i / per_class : i % (size_t)run->classes);
    return labels;
}

/* A square grid of unconditional samples, or one row per class. */
static int write_grid(fashion_run *run)
{
    const fashion_config *c = run->config;
    size_t columns = (size_t)c->grid_columns;
    size_t n = columns * (run->classes > 0 ? (size_t)run->classes : columns);
    size_t dim = run->channels * run->height * run->width;
    float *samples = malloc(n * dim * sizeof *samples);
    int failed = samples == NULL;
    int32_t *labels = failed ? NULL : sample_labels(run, n, columns, &failed);
    failed = failed ||
             fashion_sample(run, n, c->seed + FASHION_GRID_SEED_OFFSET, labels, samples) != 0;
    if (!failed) {
        png_writer_status status = image_grid_write(c->grid, samples, n, run->channels,
                                                    run->height, run->width, columns, 2);
        failed = status != PNG_WRITER_OK;
        if (failed)
            fprintf(stderr, "fashion: cannot write %s: %s\n", c->grid,
                    png_writer_status_string(status));
        else
            printf("wrote %s\n", c->grid);
    }
    free(labels);
    free(samples);
    return failed ? -1 : 0;
}

static int save_checkpoint(fashion_run *run)
{
    const char *path = run->config->checkpoint;
    if (report(diffuse_trainer_save(run->trainer, path), "saving the checkpoint",
               diffuse_trainer_last_error(run->trainer)) != 0)
        return -1;
    printf("saved %s\n", path);
    return 0;
}

/* The next step ≥ `step` at which something is due: a multiple of
 * `every` (never when 0), or the end. */
static uint64_t next_due(uint64_t step, uint64_t every, uint64_t end)
{
    if (every == 0)
        return end;
    uint64_t due = (step / every + 1) * every;
    return due < end ? due : end;
}

static int segment_end_work(fashion_run *run, uint64_t step, uint64_t end)
{
    const fashion_config *c = run->config;
    int at_end = step == end;
    if (c->checkpoint != NULL &&
        (at_end || (c->checkpoint_every != 0 && step % c->checkpoint_every == 0)) &&
        save_checkpoint(run) != 0)
        return -1;
    if (c->grid != NULL && (at_end || (c->grid_every != 0 && step % c->grid_every == 0)))
        return write_grid(run);
    return 0;
}

int fashion_train(fashion_run *run)
{
    const fashion_config *c = run->config;
    uint64_t step = 0;
    diffuse_status status = diffuse_trainer_step_count(run->trainer, &step);
    if (status == DIFFUSE_OK && c->log_every > 0)
        status = diffuse_trainer_set_progress(run->trainer, print_progress, run, c->log_every);
    if (report(status, "setting up training", diffuse_trainer_last_error(run->trainer)) != 0)
        return -1;
    uint64_t end = c->stop_at != 0 && c->stop_at < c->steps ? c->stop_at : c->steps;
    if (step >= end && c->grid != NULL) /* nothing to train: only the grid */
        return write_grid(run);
    while (step < end) {
        uint64_t until = next_due(step, c->checkpoint_every, end);
        until = next_due(step, c->grid_every, until);
        status = diffuse_trainer_train(run->trainer, until - step, NULL);
        if (report(status, "training", diffuse_trainer_last_error(run->trainer)) != 0)
            return -1;
        step = until;
        if (segment_end_work(run, step, end) != 0)
            return -1;
    }
    return 0;
}

/* NumPy's .npy format, version 1.0: magic, a little-endian header length,
 * then a Python dict literal padded with spaces to a multiple of 64 bytes
 * and ended by '\n'; the raw little-endian data follow. `descr` is '<f4'
 * or '<i4' (4-byte elements), `shape` the tuple's inside, e.g. "3, 1, 28, 28". */
static int write_npy(const char *path, const char *descr, const char *shape, const void *data,
                     size_t count)
{
    char header[192];
    int length = snprintf(header, sizeof header,
                          "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr,
                          shape);
    size_t total = (10 + (size_t)length + 1 + 63) / 64 * 64, padded = total - 10;
    memset(header + length, ' ', padded - 1 - (size_t)length);
    header[padded - 1] = '\n';
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                (unsigned char)(padded & 0xff), (unsigned char)(padded >> 8)};
    FILE *file = fopen(path, "wb");
    int ok = file != NULL && fwrite(prefix, 1, sizeof prefix, file) == sizeof prefix &&
             fwrite(header, 1, padded, file) == padded && fwrite(data, 4, count, file) == count;
    if (file != NULL && fclose(file) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "fashion: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static int write_sample_files(const fashion_run *run, size_t n, const float *samples,
                              const int32_t *labels)
{
    const fashion_config *c = run->config;
    char shape[96];
    snprintf(shape, sizeof shape, "%zu, %zu, %zu, %zu", n, run->channels, run->height,
             run->width);
    if (write_npy(c->samples_out, "<f4", shape, samples,
                  n * run->channels * run->height * run->width) != 0)
        return -1;
    snprintf(shape, sizeof shape, "%zu,", n);
    return labels != NULL ? write_npy(c->labels_out, "<i4", shape, labels, n) : 0;
}

int fashion_write_samples(fashion_run *run)
{
    const fashion_config *c = run->config;
    size_t n = (size_t)c->samples, dim = run->channels * run->height * run->width;
    float *samples = malloc(n * dim * sizeof *samples);
    int failed = samples == NULL;
    int32_t *labels = failed ? NULL : sample_labels(run, n, 0, &failed);
    failed = failed ||
             fashion_sample(run, n, c->seed + FASHION_SAMPLES_SEED_OFFSET, labels, samples) != 0 ||
             write_sample_files(run, n, samples, labels) != 0;
    if (!failed)
        printf("wrote %" PRIu64 " samples to %s%s%s\n", c->samples, c->samples_out,
               labels != NULL ? ", their classes to " : "", labels != NULL ? c->labels_out : "");
    free(labels);
    free(samples);
    return failed ? -1 : 0;
}

void fashion_close(fashion_run *run)
{
    diffuse_trainer_free(run->trainer);
    diffuse_optimizer_free(run->optimizer);
    diffuse_model_free(run->model);
    diffuse_schedule_free(run->schedule);
    diffuse_images_free(run->images);
    *run = (fashion_run){.config = run->config};
}
