/* `diffuse train`: a model trained on CSV, NPY, IDX or built-in 2-D data,
 * saved as a resumable trainer checkpoint. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "dataset.h"
#include "flags.h"
#include "npy.h"
#include "progress.h"

enum {
    F_CSV,
    F_NPY,
    F_IDX,
    F_LABELS,
    F_TOY2D,
    F_NO_SHUFFLE,
    F_ARCH,
    F_SCHEDULE,
    F_TIMESTEPS,
    F_OPTIMIZER,
    F_STEPS,
    F_SAVE,
    F_SAVE_EVERY,
    F_RESUME,
    F_LOSS_LOG,
    F_QUIET,
    F_COUNT
};

static const flag train_flags[F_COUNT] = {
    [F_CSV] = {"csv", "FILE", "train on the rows of a CSV file (rules: diffuse(1))"},
    [F_NPY] = {"npy", "FILE",
               "train on an .npy array: float32/64, (n, d), (n, H, W) or (n, C, H, W)"},
    [F_IDX] = {"idx", "FILE", "train on an IDX image file (MNIST, Fashion-MNIST; gzip or raw)"},
    [F_LABELS] = {"labels", "FILE", "the IDX label file of --idx (for --model-classes)"},
    [F_TOY2D] = {"toy2d", "NAME",
                 "train on a built-in 2-D set: swiss_roll|two_moons|8gaussians|checkerboard"},
    [F_NO_SHUFFLE] = {"no-shuffle", NULL,
                      "serve file rows in file order (default: shuffled per epoch)"},
    [F_ARCH] = {"arch", "mlp|unet", "network (default unet for images, else mlp)"},
    [F_SCHEDULE] = {"schedule", "KIND", "linear|scaled_linear|cosine|sigmoid (default linear)"},
    [F_TIMESTEPS] = {"timesteps", "T", "diffusion steps of the schedule (default 1000)"},
    [F_OPTIMIZER] = {"optimizer", "adam|adamw", "optimizer (default adamw)"},
    [F_STEPS] = {"steps", "N",
                 "train until the step count is N (default 1000; with --resume: in all)"},
    [F_SAVE] = {"save", "FILE", "write a trainer checkpoint at the end (and on Ctrl-C)"},
    [F_SAVE_EVERY] = {"save-every", "N", "also write it every N steps (default 0: never)"},
    [F_RESUME] = {"resume", "FILE", "continue a trainer checkpoint bit-exactly (same data)"},
    [F_LOSS_LOG] = {"loss-log", "FILE",
                    "write step,loss of every step as CSV (appended on --resume)"},
    [F_QUIET] = {"quiet", NULL, "no progress lines on stderr"},
};

static const option_group *const train_groups[] = {&GROUP_TRAINER, &GROUP_MODEL, &GROUP_SCHEDULE,
                                                   &GROUP_OPTIMIZER};

static const command_flags train_spec = {
    "train",
    "diffuse train (--csv|--npy|--idx FILE | --toy2d NAME) [--steps N] [--save FILE] [options]",
    "Trains a DDPM noise-prediction network on the data and saves a trainer checkpoint\n"
    "(model, EMA, optimizer state, schedule, options): `diffuse sample --load` samples from\n"
    "it, `diffuse train --resume` continues it bit for bit, `diffuse info` shows it.\n"
    "Progress with an ETA goes to stderr; Ctrl-C stops after the current step and saves.\n"
    "Library options (below) map one to one onto the library's typed options; --batch\n"
    "abbreviates --batch-size.",
    train_flags,
    F_COUNT,
    train_groups,
    sizeof train_groups / sizeof train_groups[0],
    NULL,
};

typedef struct train_run {
    parsed_flags flags;
    dataset data;
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    uint64_t steps, save_every;
    const char *save;
    FILE *loss_log;
    progress bar;
    int save_failed;
} train_run;

static int library_error(const char *what, const char *message)
{
    return flags_error(&train_spec, "%s: %s", what, message);
}

/* ---- Data ------------------------------------------------------------------ */

static int load_data(train_run *r)
{
    const char *const *given = r->flags.given;
    int sources = !!given[F_CSV] + !!given[F_NPY] + !!given[F_IDX] + !!given[F_TOY2D];
    if (sources != 1)
        return flags_error(&train_spec, "give exactly one of --csv, --npy, --idx, --toy2d "
                                        "(see diffuse train --help)");
    if (given[F_LABELS] && !given[F_IDX])
        return flags_error(&train_spec, "--labels goes with --idx");
    char error[512];
    int shuffle = given[F_NO_SHUFFLE] == NULL, status;
    if (given[F_IDX] || given[F_TOY2D]) {
        status = given[F_IDX] ? dataset_from_idx(&r->data, given[F_IDX], given[F_LABELS], shuffle,
                                                 error, sizeof error)
                              : dataset_from_toy2d(&r->data, given[F_TOY2D], error, sizeof error);
    } else {
        table rows;
        status = given[F_CSV] ? csv_read(given[F_CSV], &rows, error, sizeof error)
                              : npy_read(given[F_NPY], &rows, error, sizeof error);
        if (status == 0)
            status = dataset_from_table(&r->data, &rows, shuffle, error, sizeof error);
    }
    return status == 0 ? 0 : flags_error(&train_spec, "%s", error);
}

/* ---- A new model, or the checkpoint's --------------------------------------- */

/* The kind named by flag `which` (or `fallback` when it is absent); -1 after
 * printing the choices. */
static int choose_kind(const train_run *r, const option_group *group, int which, int fallback)
{
    const char *text = r->flags.given[which];
    int kind = text ? group_kind(group, text) : fallback;
    char choices[128];
    if (kind < 0)
        flags_error(&train_spec, "--%s: \"%s\" is not one of %s", train_flags[which].name, text,
                    group_kind_choices(group, choices, sizeof choices));
    return kind;
}

/* The model's configuration: the data's dimension (and image shape), then
 * the --model-* flags. */
static int build_model(train_run *r)
{
    const dataset *d = &r->data;
    int arch =
        choose_kind(r, &GROUP_MODEL, F_ARCH, d->width ? DIFFUSE_ARCH_UNET : DIFFUSE_ARCH_MLP);
    if (arch < 0)
        return -1;
    if (arch == DIFFUSE_ARCH_UNET && d->width == 0)
        return flags_error(&train_spec, "--arch unet needs images: --idx, or an .npy of shape "
                                        "(n, H, W) or (n, C, H, W)");
    diffuse_model_config *config = NULL;
    int ok = diffuse_model_config_create(&config, (diffuse_architecture)arch, d->dim) == DIFFUSE_OK;
    if (ok && arch == DIFFUSE_ARCH_UNET)
        ok = diffuse_model_config_set_int(config, DIFFUSE_MODEL_IMAGE_CHANNELS,
                                          (int64_t)d->channels) == DIFFUSE_OK &&
             diffuse_model_config_set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, (int64_t)d->height) ==
                 DIFFUSE_OK &&
             diffuse_model_config_set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, (int64_t)d->width) ==
                 DIFFUSE_OK;
    int status = ok ? 0 : library_error("model", diffuse_last_error());
    if (status == 0)
        status = flags_apply(&train_spec, &r->flags, &GROUP_MODEL, arch, config);
    if (status == 0 && diffuse_model_create(&r->model, config) != DIFFUSE_OK)
        status = library_error("model", diffuse_last_error());
    diffuse_model_config_free(config);
    return status;
}

static int build_schedule(train_run *r)
{
    int kind = choose_kind(r, &GROUP_SCHEDULE, F_SCHEDULE, DIFFUSE_SCHEDULE_LINEAR);
    uint64_t steps = 1000;
    if (kind < 0 ||
        flags_uint(&train_spec, &r->flags, F_TIMESTEPS, 1, DIFFUSE_SCHEDULE_MAX_STEPS, &steps) != 0)
        return -1;
    if (diffuse_schedule_create(&r->schedule, (diffuse_schedule_kind)kind, (size_t)steps) !=
        DIFFUSE_OK)
        return library_error("schedule", diffuse_last_error());
    return flags_apply(&train_spec, &r->flags, &GROUP_SCHEDULE, kind, r->schedule);
}

static int build_trainer(train_run *r)
{
    int kind = choose_kind(r, &GROUP_OPTIMIZER, F_OPTIMIZER, DIFFUSE_OPTIMIZER_ADAMW);
    if (kind < 0)
        return -1;
    if (diffuse_optimizer_create(&r->optimizer, (diffuse_optimizer_kind)kind, r->model) !=
        DIFFUSE_OK)
        return library_error("optimizer", diffuse_last_error());
    if (flags_apply(&train_spec, &r->flags, &GROUP_OPTIMIZER, kind, r->optimizer) != 0)
        return -1;
    if (diffuse_trainer_create(&r->trainer, r->model, r->schedule, r->optimizer) != DIFFUSE_OK)
        return library_error("trainer", diffuse_last_error());
    return 0;
}

/* --resume: the checkpoint fixes the model, schedule and optimizer. */
static int load_checkpoint(train_run *r)
{
    static const int fixed[] = {F_ARCH, F_SCHEDULE, F_TIMESTEPS, F_OPTIMIZER};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (r->flags.given[fixed[i]])
            return flags_error(&train_spec,
                               "--%s: --resume continues the checkpoint's model, "
                               "schedule and optimizer",
                               train_flags[fixed[i]].name);
    const option_group *groups[] = {&GROUP_MODEL, &GROUP_SCHEDULE, &GROUP_OPTIMIZER};
    for (size_t g = 0; g < 3; g++)
        if (flags_count(&r->flags, groups[g]) > 0)
            return flags_error(&train_spec,
                               "--%s* options: --resume continues the checkpoint's "
                               "%s",
                               groups[g]->prefix, groups[g]->title);
    if (diffuse_trainer_load(r->flags.given[F_RESUME], &r->model, &r->schedule, &r->optimizer,
                             &r->trainer) != DIFFUSE_OK)
        return flags_error(&train_spec, "%s", diffuse_last_error());
    return 0;
}

static int check_dimension(const train_run *r)
{
    size_t dim = 0;
    diffuse_model_dim(r->model, &dim);
    if (dim != r->data.dim)
        return flags_error(&train_spec, "the data has %zu values a row, the model %zu", r->data.dim,
                           dim);
    return 0;
}

/* ---- Training ----------------------------------------------------------------- */

static int save(train_run *r)
{
    if (diffuse_trainer_save(r->trainer, r->save) == DIFFUSE_OK)
        return 0;
    r->save_failed = 1;
    return library_error("save", diffuse_trainer_last_error(r->trainer));
}

/* Every step: the progress line, the loss log, periodic saves, Ctrl-C. */
static int on_step(void *user, uint64_t step, double loss, double steps_per_second)
{
    train_run *r = user;
    (void)steps_per_second;
    progress_update(&r->bar, step, loss);
    if (r->loss_log)
        fprintf(r->loss_log, "%" PRIu64 ",%.9g\n", step, loss);
    if (r->save && r->save_every && step % r->save_every == 0 && step < r->steps && save(r) != 0)
        return 1;
    return progress_interrupted();
}

static int open_loss_log(train_run *r, uint64_t first_step)
{
    const char *path = r->flags.given[F_LOSS_LOG];
    if (path == NULL)
        return 0;
    int append = first_step > 0;
    r->loss_log = fopen(path, append ? "a" : "w");
    if (r->loss_log == NULL)
        return flags_error(&train_spec, "--loss-log %s: cannot open", path);
    if (!append)
        fprintf(r->loss_log, "step,loss\n");
    return 0;
}

/* Trains from the current step to --steps; returns the exit status. */
static int run_training(train_run *r)
{
    uint64_t first = 0;
    int64_t batch = 0, seed = 0;
    diffuse_trainer_step_count(r->trainer, &first);
    diffuse_trainer_get_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, &batch);
    diffuse_trainer_get_int(r->trainer, DIFFUSE_TRAINER_SEED, &seed);
    char error[512];
    if (dataset_attach(&r->data, r->trainer, (uint64_t)seed, first, (size_t)batch, error,
                       sizeof error) != 0) {
        library_error("data", error);
        return CLI_FAILED;
    }
    if (open_loss_log(r, first) != 0 ||
        diffuse_trainer_set_progress(r->trainer, on_step, r, 1) != DIFFUSE_OK)
        return CLI_FAILED;
    progress_start(&r->bar, "step", first, r->steps, r->flags.given[F_QUIET] != NULL);
    progress_catch_interrupts();
    double loss = NAN;
    diffuse_status status =
        first < r->steps ? diffuse_trainer_train(r->trainer, r->steps - first, &loss) : DIFFUSE_OK;
    progress_end(&r->bar);
    uint64_t reached = first;
    diffuse_trainer_step_count(r->trainer, &reached);
    int interrupted = status == DIFFUSE_ERROR_CANCELLED && progress_interrupted();
    if (status != DIFFUSE_OK && !interrupted) {
        if (!r->save_failed) /* which said why already */
            library_error("train", diffuse_trainer_last_error(r->trainer));
        return CLI_FAILED;
    }
    if (r->save && save(r) != 0)
        return CLI_FAILED;
    fprintf(stderr, "diffuse train: %s at step %" PRIu64 ", %s%s\n",
            interrupted ? "interrupted" : "done", reached,
            r->save ? "saved " : "not saved (no --save)", r->save ? r->save : "");
    return interrupted ? CLI_INTERRUPTED : CLI_OK;
}

static int prepare(train_run *r)
{
    r->steps = 1000;
    r->save = r->flags.given[F_SAVE];
    if (flags_uint(&train_spec, &r->flags, F_STEPS, 0, UINT64_MAX >> 2, &r->steps) != 0 ||
        flags_uint(&train_spec, &r->flags, F_SAVE_EVERY, 0, UINT64_MAX >> 2, &r->save_every) != 0)
        return -1;
    if (r->save_every && !r->save)
        return flags_error(&train_spec, "--save-every needs --save");
    if (load_data(r) != 0)
        return -1;
    int failed = r->flags.given[F_RESUME]
                     ? load_checkpoint(r) != 0
                     : build_model(r) != 0 || build_schedule(r) != 0 || build_trainer(r) != 0;
    if (failed || check_dimension(r) != 0)
        return -1;
    return flags_apply(&train_spec, &r->flags, &GROUP_TRAINER, -1, r->trainer);
}

int cli_train(int argc, char **argv)
{
    train_run r;
    memset(&r, 0, sizeof r);
    int parsed = flags_parse(&train_spec, argc, argv, &r.flags);
    int status = parsed == 1 ? CLI_OK : parsed < 0 ? CLI_USAGE : CLI_FAILED;
    if (parsed == 0 && prepare(&r) == 0)
        status = run_training(&r);
    if (r.loss_log && fclose(r.loss_log) != 0) {
        flags_error(&train_spec, "--loss-log: write error");
        status = CLI_FAILED;
    }
    diffuse_trainer_free(r.trainer);
    diffuse_optimizer_free(r.optimizer);
    diffuse_model_free(r.model);
    diffuse_schedule_free(r.schedule);
    dataset_free(&r.data);
    flags_free(&r.flags);
    return status;
}
