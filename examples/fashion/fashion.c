/* fashion: train a U-Net ε-network on Fashion-MNIST (the IDX files of
 * Debian's dataset-fashion-mnist), with EMA weights, periodic atomic
 * checkpoints, --resume, and a PNG grid of samples.
 *
 *     fashion [--quick] [--steps N] [--stop-at N] [--batch N] [--threads N]
 *             [--seed N] [--base N] [--levels N] [--res-blocks N]
 *             [--attention MASK] [--heads N] [--groups N] [--dropout Q]
 *             [--lr R] [--ema D] [--warmup N] [--log-every N]
 *             [--checkpoint FILE] [--checkpoint-every N] [--resume FILE]
 *             [--grid FILE.png] [--grid-every N] [--grid-columns N]
 *             [--sampler ddpm|ddim|dpmpp] [--sample-steps N] [--clip C]
 *             [--samples N] [--samples-out FILE.npy] [--data DIR]
 *             [--classes] [--label-dropout P] [--guidance W] [--labels-out FILE.npy]
 *
 * The defaults fit a 2-core CPU (see examples/fashion/README.md for the
 * figures); --quick is a smaller, shorter preset (its values can still be
 * overridden by the options after it). --resume continues a checkpoint
 * bit-exactly up to --steps (the total; give the same as the first run):
 * the model, optimizer and trainer options are the checkpoint's, and so is
 * the learning-rate schedule. --stop-at N stops after step N as an
 * interruption would (the checkpoint is written there).
 * --clip C clips the sampler's x̂_0 to [−C, C] (default 1, the pixels'
 * range; 0: off). --samples N writes N samples to --samples-out as float32 (N, 1, 28, 28)
 * for bench/fashion_quality.py; with --resume and --steps at the
 * checkpoint's step it only samples (grid and .npy).
 * --classes trains a class-conditional U-Net on the ten garment labels,
 * with --label-dropout P of the rows (default 0.1) trained as the null
 * class, and samples with classifier-free guidance at scale --guidance W
 * (default 3; 1: plain conditional, 0: unconditional): the grid has one row
 * per class, sample i of --samples is of class i mod 10 (the classes in
 * --labels-out). A resumed checkpoint brings its own classes. */
#include <diffuse/diffuse.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fashion_run.h"
#include "sampler_names.h"

/* Fashion-MNIST's labels: T-shirt/top, trouser, pullover, dress, coat,
 * sandal, shirt, sneaker, bag, ankle boot. */
#define FASHION_CLASSES 10

typedef enum option_kind { OPT_U64, OPT_I64, OPT_DOUBLE, OPT_TEXT, OPT_SAMPLER } option_kind;

typedef struct option_spec {
    const char *name;
    option_kind kind;
    void *target;
    double min, max; /* numeric bounds */
} option_spec;

static fashion_config default_config(void)
{
    /* One library thread per core: the library splits rows across them. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return (fashion_config){
        .data_dir = "/usr/share/datasets/fashion-mnist",
        .steps = 2500,
        .seed = 1,
        .threads = cores < 1 ? 1 : cores > 8 ? 8 : (int)cores,
        .batch_size = 32,
        .base_channels = 32,
        .levels = 2,
        .res_blocks = 1,
        .attention_levels = 2, /* bit 1: 14×14, the lowest resolution at two levels */
        .heads = 4,
        .groups = 8,
        .learning_rate = 1e-3,
        .ema_decay = 0.995,
        .warmup_steps = 100,
        .log_every = 50,
        .checkpoint_every = 250,
        .checkpoint = "fashion.ckpt",
        .grid = "fashion.png",
        .grid_every = 500,
        .grid_columns = 8,
        .sampler = DIFFUSE_METHOD_DPMPP_2M,
        .sample_steps = 20,
        .clip = 1.0,
        .samples_out = "fashion_samples.npy",
        .labels_out = "fashion_labels.npy",
        .label_dropout = 0.1,
        .guidance = 3.0,
    };
}

/* --quick: a visibly structured grid in a few minutes. The EMA is shorter
 * than the default run's: without a warm-up, d^steps of the EMA is still the
 * random initialisation (0.995^300 = 22 %, a grid of noise), 0.98^500 < 1e-4. */
static void apply_quick(fashion_config *c)
{
    c->steps = 500;
    c->base_channels = 16;
    c->attention_levels = 0;
    c->learning_rate = 2e-3;
    c->ema_decay = 0.98;
    c->warmup_steps = 30;
    c->log_every = 50;
    c->checkpoint_every = 0;
    c->grid_every = 0;
}

static void usage(FILE *stream)
{
    fprintf(stream,
            "usage: fashion [--quick] [--steps N] [--stop-at N] [--batch N] [--threads N]\n"
            "               [--seed N] [--base N] [--levels N] [--res-blocks N]\n"
            "               [--attention MASK] [--heads N] [--groups N] [--dropout Q]\n"
            "               [--lr R] [--ema D] [--warmup N] [--log-every N]\n"
            "               [--checkpoint FILE] [--checkpoint-every N] [--resume FILE]\n"
            "               [--grid FILE.png] [--grid-every N] [--grid-columns N]\n"
            "               [--sampler ddpm|ddim|dpmpp] [--sample-steps N] [--clip C]\n"
            "               [--samples N] [--samples-out FILE.npy] [--data DIR]\n"
            "               [--classes] [--label-dropout P] [--guidance W] [--labels-out FILE.npy]\n");
}

static int parse_value(const option_spec *spec, const char *text)
{
    char *end = NULL;
    if (spec->kind == OPT_TEXT) {
        *(const char **)spec->target = text;
        return 0;
    }
    if (spec->kind == OPT_SAMPLER) {
        int method = sampler_from_name(text);
        if (method >= 0)
            *(diffuse_sample_method *)spec->target = (diffuse_sample_method)method;
        return method >= 0 ? 0 : -1;
    }
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !(value >= spec->min && value <= spec->max))
        return -1;
    if (spec->kind == OPT_DOUBLE)
        *(double *)spec->target = value;
    else if (value != (double)(int64_t)value)
        return -1;
    else if (spec->kind == OPT_U64)
        *(uint64_t *)spec->target = (uint64_t)value;
    else
        *(int64_t *)spec->target = (int64_t)value;
    return 0;
}

static int parse_options(int argc, char **argv, fashion_config *c, int64_t *threads)
{
    const option_spec specs[] = {
        {"--steps", OPT_U64, &c->steps, 1, 1e9},
        {"--stop-at", OPT_U64, &c->stop_at, 0, 1e9},
        {"--batch", OPT_I64, &c->batch_size, 1, 65536},
        {"--threads", OPT_I64, threads, 0, 1024},
        {"--seed", OPT_U64, &c->seed, 0, 9007199254740991.0},
        {"--base", OPT_I64, &c->base_channels, 2, 4096},
        {"--levels", OPT_I64, &c->levels, 1, 5},
        {"--res-blocks", OPT_I64, &c->res_blocks, 1, 16},
        {"--attention", OPT_I64, &c->attention_levels, 0, 31},
        {"--heads", OPT_I64, &c->heads, 1, 64},
        {"--groups", OPT_I64, &c->groups, 1, 1024},
        {"--dropout", OPT_DOUBLE, &c->dropout, 0, 0.99},
        {"--lr", OPT_DOUBLE, &c->learning_rate, 1e-8, 1},
        {"--ema", OPT_DOUBLE, &c->ema_decay, 0, 1},
        {"--warmup", OPT_U64, &c->warmup_steps, 0, 1e9},
        {"--log-every", OPT_U64, &c->log_every, 0, 1e9},
        {"--checkpoint", OPT_TEXT, &c->checkpoint, 0, 0},
        {"--checkpoint-every", OPT_U64, &c->checkpoint_every, 0, 1e9},
        {"--resume", OPT_TEXT, &c->resume, 0, 0},
        {"--grid", OPT_TEXT, &c->grid, 0, 0},
        {"--grid-every", OPT_U64, &c->grid_every, 0, 1e9},
        {"--grid-columns", OPT_I64, &c->grid_columns, 1, 64},
        {"--sampler", OPT_SAMPLER, &c->sampler, 0, 0},
        {"--sample-steps", OPT_I64, &c->sample_steps, 0, 1000},
        {"--clip", OPT_DOUBLE, &c->clip, 0, 1e6},
        {"--samples", OPT_U64, &c->samples, 0, 1e6},
        {"--samples-out", OPT_TEXT, &c->samples_out, 0, 0},
        {"--data", OPT_TEXT, &c->data_dir, 0, 0},
        {"--label-dropout", OPT_DOUBLE, &c->label_dropout, 0, 1},
        {"--guidance", OPT_DOUBLE, &c->guidance, 0, 1000},
        {"--labels-out", OPT_TEXT, &c->labels_out, 0, 0},
    };
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            exit(EXIT_SUCCESS);
        }
        if (strcmp(flag, "--quick") == 0)
            continue; /* applied before the others */
        if (strcmp(flag, "--classes") == 0) {
            c->classes = FASHION_CLASSES;
            continue;
        }
        size_t k = 0;
        while (k < sizeof specs / sizeof specs[0] && strcmp(flag, specs[k].name) != 0)
            k++;
        if (value == NULL || k == sizeof specs / sizeof specs[0] ||
            parse_value(&specs[k], value) != 0) {
            fprintf(stderr, "fashion: bad or incomplete option %s%s%s\n", flag,
                    value ? " " : "", value ? value : "");
            usage(stderr);
            return -1;
        }
        i++;
    }
    return 0;
}

static int configure(int argc, char **argv, fashion_config *c)
{
    *c = default_config();
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0)
            apply_quick(c);
    int64_t threads = c->threads;
    if (parse_options(argc, argv, c, &threads) != 0)
        return -1;
    c->threads = (int)threads;
    return 0;
}

int main(int argc, char **argv)
{
    fashion_config config;
    if (configure(argc, argv, &config) != 0)
        return EXIT_FAILURE;
    fashion_run run;
    if (fashion_open(&config, &run) != 0)
        return EXIT_FAILURE;
    int failed = fashion_train(&run) != 0;
    if (!failed && config.samples > 0)
        failed = fashion_write_samples(&run) != 0;
    fashion_close(&run);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
