/* libdiffuse side of the U-Net benchmark (bench/unet_compare.py runs it
 * next to bench/bench_unet_torch.py; docs/performance.md has the table).
 *
 * One process, one configuration, one JSON object on stdout:
 *   conv      the 3×3 convolution C → C at H×W (default 64 channels at
 *             28×28, a batch of --conv-batch images) forward and backward
 *             (weights + input) on one thread, in GFLOP/s (2·C·9C·H·W
 *             flops per image and direction), next to the sgemm peak of
 *             the same thread measured in the same run: one sgemm of the
 *             convolution's own shape [C, 9C]·[9C, H·W] and a 1024³ one;
 *   train     U-Net training steps/s (AdamW, batch --batch, --threads row
 *             threads) through the public API, per repeat;
 *   sample    DDIM over --sample-steps trailing timesteps for --samples
 *             images, per repeat, as model evaluations (image-steps) per
 *             second and as images/s of a T = 1000 run (÷ 1000);
 *   peak RSS  of the process (KiB).
 * Every repeat's figure is printed; the driver quotes medians. */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_cli.h"
#include "diffuse/diffuse.h"
#include "nn/conv2d.h"

#define MAX_REPEATS 32

void openblas_set_num_threads(int threads);
char *openblas_get_corename(void);

typedef struct options {
    long batch, samples, sample_steps, threads, repeats, train_steps;
    long base, levels, res_blocks, attention, conv_channels, conv_side, conv_batch;
} options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.batch = 64, .samples = 64, .sample_steps = 10, .threads = 2, .repeats = 5,
                   .train_steps = 3, .base = 32, .levels = 3, .res_blocks = 2, .attention = 4,
                   .conv_channels = 64, .conv_side = 28, .conv_batch = 16};
    struct {
        const char *name;
        long *target, min, max;
    } flags[] = {
        {"--batch", &o->batch, 1, 4096},        {"--samples", &o->samples, 1, 4096},
        {"--sample-steps", &o->sample_steps, 1, 1000},
        {"--threads", &o->threads, 1, 64},      {"--repeats", &o->repeats, 1, MAX_REPEATS},
        {"--train-steps", &o->train_steps, 1, 1000},
        {"--base", &o->base, 2, 1024},          {"--levels", &o->levels, 1, 5},
        {"--res-blocks", &o->res_blocks, 1, 16}, {"--attention", &o->attention, 0, 31},
        {"--conv-channels", &o->conv_channels, 1, 1024},
        {"--conv-side", &o->conv_side, 2, 1024}, {"--conv-batch", &o->conv_batch, 1, 1024},
    };
    for (int i = 1; i < argc; i += 2) {
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[f].name) != 0)
            f++;
        if (f == sizeof flags / sizeof flags[0] || i + 1 >= argc ||
            bench_parse_long(argv[i + 1], flags[f].min, flags[f].max, flags[f].target) != 0) {
            fprintf(stderr, "bench_unet: bad option %s (see the comment at the top)\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

static float *uniform(size_t count, unsigned seed)
{
    float *data = malloc(count * sizeof *data);
    srand(seed);
    for (size_t i = 0; data != NULL && i < count; i++)
        data[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return data;
}

static void print_list(const char *name, const double *values, long count)
{
    printf("\"%s\": [", name);
    for (long i = 0; i < count; i++)
        printf("%s%.4g", i ? ", " : "", values[i]);
    printf("], ");
}

/* ---- conv against sgemm (one thread) ------------------------------------ */

typedef struct conv_bench {
    nn_conv_shape shape;
    size_t n;
    float *x, *w, *b, *y, *columns, *dx, *dw, *db;
} conv_bench;

static double time_conv(conv_bench *c, int direction)
{
    double start = bench_now_seconds();
    if (direction == 0)
        nn_conv2d_forward(c->y, c->columns, c->x, c->w, c->b, c->n, &c->shape, false);
    else {
        nn_conv2d_backward_params(c->dw, c->db, c->columns, c->y, c->x, c->n, &c->shape);
        nn_conv2d_backward_input(c->dx, c->columns, c->y, c->w, c->n, &c->shape);
    }
    return bench_now_seconds() - start;
}

static double time_sgemm(int m, int n, int k, const float *a, const float *b, float *c)
{
    double start = bench_now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c,
                n);
    return bench_now_seconds() - start;
}

static void conv_part(const options *o)
{
    size_t ch = (size_t)o->conv_channels, side = (size_t)o->conv_side, n = (size_t)o->conv_batch;
    size_t p = side * side, k = 9 * ch;
    conv_bench c = {{ch, ch, side, side, 3, 1}, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    c.x = uniform(n * ch * p, 1);
    c.w = uniform(ch * k, 2);
    c.b = uniform(ch, 3);
    c.y = uniform(n * ch * p, 4);
    c.dx = uniform(n * ch * p, 5);
    c.dw = uniform(ch * k, 6);
    c.db = uniform(ch, 7);
    c.columns = uniform(nn_conv_columns_floats(&c.shape) + 1, 8);
    float *big = uniform(3 * 1024 * 1024, 9);
    double forward[MAX_REPEATS], backward[MAX_REPEATS], gemm[MAX_REPEATS], square[MAX_REPEATS];
    double flops = 2.0 * (double)(ch * k * p) * (double)n;
    openblas_set_num_threads(1);
    time_conv(&c, 0); /* warm-up */
    for (long r = 0; r < o->repeats; r++) {
        forward[r] = flops / time_conv(&c, 0) * 1e-9;
        backward[r] = 2.0 * flops / time_conv(&c, 1) * 1e-9;
        gemm[r] = flops / (double)n / time_sgemm((int)ch, (int)p, (int)k, c.w, c.columns, c.y) *
                  1e-9;
        square[r] = 2.0 * 1024.0 * 1024.0 * 1024.0 /
                    time_sgemm(1024, 1024, 1024, big, big + 1024 * 1024, big + 2 * 1024 * 1024) *
                    1e-9;
    }
    printf("\"conv\": {\"channels\": %zu, \"side\": %zu, \"batch\": %zu, ", ch, side, n);
    print_list("forward_gflops", forward, o->repeats);
    print_list("backward_gflops", backward, o->repeats);
    print_list("sgemm_same_shape_gflops", gemm, o->repeats);
    print_list("sgemm_1024_gflops", square, o->repeats);
    printf("\"threads\": 1}, ");
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.dx), free(c.dw), free(c.db);
    free(c.columns), free(big);
}

/* ---- the U-Net through the public API ----------------------------------- */

static int check(diffuse_status status, const char *what)
{
    if (status != DIFFUSE_OK)
        fprintf(stderr, "bench_unet: %s: %s\n", what, diffuse_last_error());
    return status != DIFFUSE_OK;
}

static diffuse_model *build_model(const options *o)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    const struct {
        diffuse_model_option option;
        long value;
    } settings[] = {{DIFFUSE_MODEL_BASE_CHANNELS, o->base}, {DIFFUSE_MODEL_LEVELS, o->levels},
                    {DIFFUSE_MODEL_RES_BLOCKS, o->res_blocks},
                    {DIFFUSE_MODEL_ATTENTION_LEVELS, o->attention}};
    int failed = check(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 784), "config");
    for (size_t i = 0; !failed && i < sizeof settings / sizeof settings[0]; i++)
        failed = check(diffuse_model_config_set_int(config, settings[i].option, settings[i].value),
                       "option");
    if (!failed)
        failed = check(diffuse_model_create(&model, config), "model");
    diffuse_model_config_free(config);
    return model;
}

static int train_part(const options *o, diffuse_model *model, diffuse_schedule *schedule)
{
    diffuse_optimizer *opt = NULL;
    diffuse_trainer *trainer = NULL;
    float *x = uniform((size_t)o->batch * 784, 11);
    double rates[MAX_REPEATS];
    int failed = check(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAMW, model), "opt") ||
                 check(diffuse_trainer_create(&trainer, model, schedule, opt), "trainer") ||
                 check(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_THREADS, o->threads), "k");
    for (long r = -1; !failed && r < o->repeats; r++) { /* r = −1: warm-up */
        double start = bench_now_seconds();
        for (long s = 0; !failed && s < o->train_steps; s++)
            failed = check(diffuse_trainer_step_batch(trainer, (size_t)o->batch, x, NULL), "step");
        if (r >= 0)
            rates[r] = (double)o->train_steps / (bench_now_seconds() - start);
    }
    if (!failed)
        print_list("train_steps_per_s", rates, o->repeats);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(opt);
    free(x);
    return failed;
}

static int sample_part(const options *o, diffuse_model *model, diffuse_schedule *schedule)
{
    diffuse_sampler *sampler = NULL;
    float *out = malloc((size_t)o->samples * 784 * sizeof *out);
    double rates[MAX_REPEATS];
    int failed = out == NULL || check(diffuse_sampler_create(&sampler, model, schedule), "sampler");
    const struct {
        diffuse_sampler_option option;
        long value;
    } settings[] = {{DIFFUSE_SAMPLER_THREADS, o->threads},
                    {DIFFUSE_SAMPLER_METHOD, DIFFUSE_METHOD_DDIM},
                    {DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING},
                    {DIFFUSE_SAMPLER_STEPS, o->sample_steps}};
    for (size_t i = 0; !failed && i < sizeof settings / sizeof settings[0]; i++)
        failed = check(diffuse_sampler_set_int(sampler, settings[i].option, settings[i].value),
                       "sampler option");
    for (long r = -1; !failed && r < o->repeats; r++) {
        double start = bench_now_seconds();
        failed = check(diffuse_sampler_run(sampler, (size_t)o->samples, out), "sample");
        if (r >= 0)
            rates[r] = (double)(o->samples * o->sample_steps) / (bench_now_seconds() - start);
    }
    if (!failed)
        print_list("sample_image_steps_per_s", rates, o->repeats);
    diffuse_sampler_free(sampler);
    free(out);
    return failed;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    printf("{\"side\": \"libdiffuse\", \"corename\": \"%s\", \"threads\": %ld, \"batch\": %ld, ",
           openblas_get_corename(), o.threads, o.batch);
    conv_part(&o);
    diffuse_schedule *schedule = NULL;
    diffuse_model *model = build_model(&o);
    int failed = model == NULL ||
                 check(diffuse_schedule_create(&schedule, DIFFUSE_SCHEDULE_LINEAR, 1000), "sched") ||
                 train_part(&o, model, schedule) || sample_part(&o, model, schedule);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("\"peak_rss_kib\": %ld}\n", usage.ru_maxrss);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
    return failed;
}
