/* `diffuse sample`: samples of a saved model as CSV, NPY or a PNG grid. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "flags.h"
#include "image_grid.h"
#include "npy.h"
#include "progress.h"

enum { F_LOAD, F_N, F_OUT, F_FORMAT, F_COLUMNS, F_QUIET, F_COUNT };

static const flag sample_flags[F_COUNT] = {
    [F_LOAD] = {"load", "FILE", "the model: a checkpoint of diffuse train (required)"},
    [F_N] = {"n", "N", "number of samples (default 16)"},
    [F_OUT] = {"out", "FILE", "where to write them (default -: standard output)"},
    [F_FORMAT] = {"format", "csv|npy|png", "default: from --out's extension, else csv"},
    [F_COLUMNS] = {"columns", "N", "images a row of the PNG grid (default: about sqrt(n))"},
    [F_QUIET] = {"quiet", NULL, "no progress lines on stderr"},
};

static const option_group *const sample_groups[] = {&GROUP_SAMPLER};

static const command_flags sample_spec = {
    "sample",
    "diffuse sample --load FILE [--n N] [--out FILE] [--method ddpm|ddim|dpmpp] [options]",
    "Draws samples from a model saved by diffuse train, with the checkpoint's schedule.\n"
    "CSV: one sample a line; NPY: float32 (n, dim), or (n, C, H, W) for an image model;\n"
    "PNG: a grid of the images (image models only). Sampler options (below) map one to\n"
    "one onto the library's typed options.",
    sample_flags,
    F_COUNT,
    sample_groups,
    1,
    NULL,
};

enum { OUT_CSV, OUT_NPY, OUT_PNG };

typedef struct sample_run {
    parsed_flags flags;
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_sampler *sampler;
    size_t n, dim;
    int64_t image[3]; /* C, H, W of an image model; 0 otherwise */
    int format;
    progress bar;
    float *samples;
} sample_run;

static int choose_format(sample_run *r)
{
    static const char *const names[] = {"csv", "npy", "png"};
    const char *out = r->flags.given[F_OUT] ? r->flags.given[F_OUT] : "-";
    const char *text = r->flags.given[F_FORMAT], *dot = strrchr(out, '.');
    if (text == NULL)
        text = dot && (strcmp(dot, ".npy") == 0 || strcmp(dot, ".png") == 0) ? dot + 1 : "csv";
    for (r->format = 0; r->format < 3 && strcmp(names[r->format], text) != 0; r->format++)
        ;
    if (r->format == 3)
        return flags_error(&sample_spec, "--format: \"%s\" is not csv, npy or png", text);
    if (r->format == OUT_PNG && r->image[2] == 0)
        return flags_error(&sample_spec, "PNG output needs an image model (--arch unet)");
    if (r->format == OUT_PNG && strcmp(out, "-") == 0)
        return flags_error(&sample_spec, "PNG output needs --out FILE.png");
    return 0;
}

/* The model and, for a U-Net, its image shape. */
static int load_model(sample_run *r)
{
    const char *path = r->flags.given[F_LOAD];
    if (path == NULL)
        return flags_error(&sample_spec, "--load FILE is required (see diffuse sample --help)");
    const diffuse_model_config *config = NULL;
    diffuse_architecture arch = DIFFUSE_ARCH_MLP;
    if (diffuse_model_load(path, &r->model, &r->schedule) != DIFFUSE_OK ||
        diffuse_model_dim(r->model, &r->dim) != DIFFUSE_OK ||
        diffuse_model_get_config(r->model, &config) != DIFFUSE_OK ||
        diffuse_model_architecture(r->model, &arch) != DIFFUSE_OK)
        return flags_error(&sample_spec, "%s", diffuse_last_error());
    static const diffuse_model_option shape[] = {
        DIFFUSE_MODEL_IMAGE_CHANNELS, DIFFUSE_MODEL_IMAGE_HEIGHT, DIFFUSE_MODEL_IMAGE_WIDTH};
    for (int k = 0; k < 3 && arch == DIFFUSE_ARCH_UNET; k++)
        diffuse_model_config_get_int(config, shape[k], &r->image[k]);
    return 0;
}

static int on_progress(void *user, uint64_t done, uint64_t total)
{
    sample_run *r = user;
    r->bar.target = total;
    progress_update(&r->bar, done, NAN);
    return progress_interrupted();
}

static int make_sampler(sample_run *r)
{
    uint64_t n = 16;
    if (flags_uint(&sample_spec, &r->flags, F_N, 1, 1u << 24, &n) != 0)
        return -1;
    r->n = (size_t)n;
    if (diffuse_sampler_create(&r->sampler, r->model, r->schedule) != DIFFUSE_OK)
        return flags_error(&sample_spec, "%s", diffuse_last_error());
    if (flags_apply(&sample_spec, &r->flags, &GROUP_SAMPLER, -1, r->sampler) != 0)
        return -1;
    if (diffuse_sampler_set_progress(r->sampler, on_progress, r) != DIFFUSE_OK)
        return flags_error(&sample_spec, "%s", diffuse_sampler_last_error(r->sampler));
    if (r->dim > SIZE_MAX / sizeof(float) / r->n ||
        (r->samples = malloc(r->n * r->dim * sizeof(float))) == NULL)
        return flags_error(&sample_spec, "out of memory for %zu samples of %zu values", r->n,
                           r->dim);
    return 0;
}

static int write_samples(const sample_run *r)
{
    const char *out = r->flags.given[F_OUT] ? r->flags.given[F_OUT] : "-";
    char error[512] = "";
    int status = 0;
    if (r->format == OUT_NPY) {
        size_t shape[4] = {r->n, r->dim};
        size_t rank = r->image[2] ? 4 : 2;
        for (size_t k = 0; k < 3 && r->image[2]; k++)
            shape[k + 1] = (size_t)r->image[k];
        status = npy_write(out, r->samples, rank, shape, error, sizeof error);
    } else if (r->format == OUT_PNG) {
        uint64_t columns = (uint64_t)ceil(sqrt((double)r->n));
        if (flags_uint(&sample_spec, &r->flags, F_COLUMNS, 1, 65535, &columns) != 0)
            return -1;
        png_writer_status written =
            image_grid_write(out, r->samples, r->n, (size_t)r->image[0], (size_t)r->image[1],
                             (size_t)r->image[2], (size_t)columns, 2);
        if (written != PNG_WRITER_OK)
            snprintf(error, sizeof error, "%s: %s", out, png_writer_status_string(written));
        status = written == PNG_WRITER_OK ? 0 : -1;
    } else {
        FILE *file = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
        status = file != NULL && csv_write(file, r->samples, r->n, r->dim) == 0 ? 0 : -1;
        if (file != NULL && (file == stdout ? fflush(file) : fclose(file)) != 0)
            status = -1;
        snprintf(error, sizeof error, "%s: cannot write", out);
    }
    return status == 0 ? 0 : flags_error(&sample_spec, "%s", error);
}

static int run_sampler(sample_run *r)
{
    progress_start(&r->bar, "sampling", 0, 1, r->flags.given[F_QUIET] != NULL);
    progress_catch_interrupts();
    diffuse_status status = diffuse_sampler_run(r->sampler, r->n, r->samples);
    progress_end(&r->bar);
    if (status == DIFFUSE_ERROR_CANCELLED && progress_interrupted()) {
        fprintf(stderr, "diffuse sample: interrupted, nothing written\n");
        return CLI_INTERRUPTED;
    }
    if (status != DIFFUSE_OK) {
        flags_error(&sample_spec, "%s", diffuse_sampler_last_error(r->sampler));
        return CLI_FAILED;
    }
    return write_samples(r) == 0 ? CLI_OK : CLI_FAILED;
}

int cli_sample(int argc, char **argv)
{
    sample_run r;
    memset(&r, 0, sizeof r);
    int parsed = flags_parse(&sample_spec, argc, argv, &r.flags);
    int status = parsed == 1 ? CLI_OK : CLI_USAGE;
    if (parsed == 0) {
        status = CLI_FAILED;
        if (load_model(&r) == 0 && choose_format(&r) == 0 && make_sampler(&r) == 0)
            status = run_sampler(&r);
    }
    free(r.samples);
    diffuse_sampler_free(r.sampler);
    diffuse_model_free(r.model);
    diffuse_schedule_free(r.schedule);
    flags_free(&r.flags);
    return status;
}
