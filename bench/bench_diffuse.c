/* libdiffuse side of the benchmark (see docs/performance.md).
 *
 * One process measures one configuration, so that its peak RSS belongs to
 * that configuration alone: training steps/s (Adam, lr 1e-3, DDPM loss on
 * ε, T timesteps) and sampling samples/s — DDPM ancestral (σ² = β) over all
 * T steps by default, or --sampler ddim|dpmpp (and ddpm respaced) over
 * --sampler-steps trailing-spaced timesteps — through the public API only. The result is one JSON object on stdout; bench/compare.py
 * runs this program and bench/bench_torch.py side by side and builds the
 * table.
 *
 * Timing: each training repeat runs whole steps until at least
 * --train-seconds have passed, after --warmup steps that are not timed; each
 * sampling repeat is one complete run (N samples × T steps). Every repeat's
 * rate is printed; the driver quotes medians.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_cli.h"
#include "bench_model.h"
#include "diffuse/model.h"
#include "diffuse/optim.h"
#include "diffuse/sampler.h"
#include "diffuse/schedule.h"
#include "diffuse/toy2d.h"
#include "diffuse/train.h"

#define BENCH_MAX_REPEATS 64
#define BENCH_DATA_ROWS 65536 /* pre-generated training points, cycled through */

typedef struct bench_options {
    long width, layers, embed, batch, timesteps, samples, threads;
    long warmup, train_repeats, sample_repeats;
    long sampler, sampler_steps; /* diffuse_sample_method; 0: T (ddpm), 50 (ddim), 20 (dpmpp) */
    double train_seconds;
} bench_options;

typedef struct bench_results {
    double train_rate[BENCH_MAX_REPEATS]; /* steps/s per repeat */
    long train_steps[BENCH_MAX_REPEATS];
    double sample_rate[BENCH_MAX_REPEATS]; /* samples/s per repeat */
    double sample_seconds[BENCH_MAX_REPEATS];
    double last_loss;
    double sample_mean[BENCH_DIM], sample_std[BENCH_DIM];
} bench_results;

static long peak_rss_kib(void)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1;
    return usage.ru_maxrss; /* Linux: KiB */
}

static int fail(const char *what, diffuse_status status)
{
    fprintf(stderr, "bench_diffuse: %s failed: %s (%s)\n", what, diffuse_last_error(),
            diffuse_status_name(status));
    return 1;
}

/* ---- Command line ---------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_diffuse [--width H] [--layers L] [--embed E] [--batch B]\n"
            "                     [--timesteps T] [--samples N] [--threads K]\n"
            "                     [--warmup STEPS] [--train-seconds S] [--train-repeats R]\n"
            "                     [--sample-repeats R] [--sampler ddpm|ddim|dpmpp]\n"
            "                     [--sampler-steps S]\n"
            "Defaults: H 128, L 3, E 64, B 256, T 1000, N 2000, K 1, warmup 20, 1.0 s,\n"
            "5 training repeats, 3 sampling repeats, ddpm over all T steps (S: T for\n"
            "ddpm, 50 for ddim, 20 for dpmpp; trailing spacing). A repeat count of 0\n"
            "skips that part.\n");
}

static int parse_double(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max))
        return -1;
    *out = value;
    return 0;
}

typedef struct long_flag {
    const char *name;
    long *target;
    long min, max;
} long_flag;

static int parse_options(int argc, char **argv, bench_options *o)
{
    *o = (bench_options){.width = 128, .layers = 3, .embed = 64, .batch = 256,
                         .timesteps = 1000, .samples = 2000, .threads = 1, .warmup = 20,
                         .train_repeats = 5, .sample_repeats = 3, .train_seconds = 1.0};
    const long_flag flags[] = {
        {"--width", &o->width, 1, 65536},       {"--layers", &o->layers, 0, 256},
        {"--embed", &o->embed, 2, 65536},       {"--batch", &o->batch, 1, BENCH_DATA_ROWS},
        {"--timesteps", &o->timesteps, 1, 1000000}, {"--samples", &o->samples, 1, 10000000},
        {"--threads", &o->threads, 1, 1024},    {"--warmup", &o->warmup, 0, 1000000},
        {"--train-repeats", &o->train_repeats, 0, BENCH_MAX_REPEATS},
        {"--sample-repeats", &o->sample_repeats, 0, BENCH_MAX_REPEATS},
        {"--sampler-steps", &o->sampler_steps, 0, 1000000},
    };
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            usage();
            return -1;
        }
        int known = 0;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            if (strcmp(argv[i], flags[f].name) != 0)
                continue;
            known = 1;
            if (bench_parse_long(argv[i + 1], flags[f].min, flags[f].max, flags[f].target) != 0) {
                fprintf(stderr, "bench_diffuse: bad value for %s: %s\n", argv[i], argv[i + 1]);
                return -1;
            }
        }
        if (strcmp(argv[i], "--train-seconds") == 0) {
            known = 1;
            if (parse_double(argv[i + 1], 0.0, 3600.0, &o->train_seconds) != 0) {
                fprintf(stderr, "bench_diffuse: bad value for %s: %s\n", argv[i], argv[i + 1]);
                return -1;
            }
        }
        if (strcmp(argv[i], "--sampler") == 0) {
            known = 1;
            if (bench_parse_method(argv[i + 1], &o->sampler) != 0) {
                fprintf(stderr, "bench_diffuse: bad value for %s: %s\n", argv[i], argv[i + 1]);
                return -1;
            }
        }
        if (!known) {
            usage();
            return -1;
        }
    }
    if (o->sampler_steps == 0)
        o->sampler_steps = bench_default_steps(o->sampler);
    return 0;
}

/* ---- Setup ------------------------------------------------------------------- */

typedef struct bench_setup {
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_sampler *sampler;
    float *data;    /* BENCH_DATA_ROWS × 2 training points */
    float *samples; /* samples × 2 */
} bench_setup;

static void setup_free(bench_setup *s)
{
    diffuse_sampler_free(s->sampler);
    diffuse_trainer_free(s->trainer);
    diffuse_optimizer_free(s->optimizer);
    diffuse_model_free(s->model);
    diffuse_schedule_free(s->schedule);
    free(s->data);
    free(s->samples);
}

/* Adam with the library defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8, no
 * weight decay, clipping or EMA — the same as torch.optim.Adam(lr=1e-3). */
static diffuse_status build_trainer(const bench_options *o, bench_setup *s)
{
    diffuse_status status =
        diffuse_optimizer_create(&s->optimizer, DIFFUSE_OPTIMIZER_ADAM, s->model);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(s->optimizer, DIFFUSE_OPTIMIZER_LEARNING_RATE, 1e-3);
    if (status == DIFFUSE_OK)
        status = diffuse_optimizer_set_double(s->optimizer, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.0);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_create(&s->trainer, s->model, s->schedule, s->optimizer);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(s->trainer, DIFFUSE_TRAINER_BATCH_SIZE, o->batch);
    if (status == DIFFUSE_OK)
        status = diffuse_trainer_set_int(s->trainer, DIFFUSE_TRAINER_THREADS, o->threads);
    return status;
}

static diffuse_status build_sampler(const bench_options *o, bench_setup *s)
{
    diffuse_status status = diffuse_sampler_create(&s->sampler, s->model, s->schedule);
    if (status == DIFFUSE_OK)
        status = bench_sampler_configure(s->sampler, o->sampler, o->sampler_steps, o->threads);
    return status;
}

static int setup_create(const bench_options *o, bench_setup *s)
{
    *s = (bench_setup){0};
    s->data = malloc(sizeof(float) * BENCH_DATA_ROWS * BENCH_DIM);
    s->samples = malloc(sizeof(float) * (size_t)o->samples * BENCH_DIM);
    if (s->data == NULL || s->samples == NULL) {
        fprintf(stderr, "bench_diffuse: out of memory\n");
        return 1;
    }
    diffuse_status status =
        diffuse_toy2d_sample(DIFFUSE_TOY2D_SWISS_ROLL, 1, 0, BENCH_DATA_ROWS, s->data);
    if (status != DIFFUSE_OK)
        return fail("diffuse_toy2d_sample", status);
    status = diffuse_schedule_create(&s->schedule, DIFFUSE_SCHEDULE_LINEAR, (size_t)o->timesteps);
    if (status != DIFFUSE_OK)
        return fail("diffuse_schedule_create", status);
    status = bench_mlp_create(o->width, o->layers, o->embed, &s->model);
    if (status != DIFFUSE_OK)
        return fail("building the model", status);
    status = build_trainer(o, s);
    if (status != DIFFUSE_OK)
        return fail("building the trainer", status);
    status = build_sampler(o, s);
    if (status != DIFFUSE_OK)
        return fail("building the sampler", status);
    return 0;
}

/* ---- Measurements ---------------------------------------------------------- */

/* One training step on the next `batch` pre-generated points. */
static diffuse_status train_step(const bench_options *o, bench_setup *s, size_t *cursor,
                                 double *loss)
{
    size_t batch = (size_t)o->batch;
    if (*cursor + batch > BENCH_DATA_ROWS)
        *cursor = 0;
    diffuse_status status =
        diffuse_trainer_step_batch(s->trainer, batch, s->data + *cursor * BENCH_DIM, loss);
    *cursor += batch;
    return status;
}

static int measure_training(const bench_options *o, bench_setup *s, bench_results *r)
{
    size_t cursor = 0;
    for (long i = 0; i < o->warmup; i++) {
        diffuse_status status = train_step(o, s, &cursor, &r->last_loss);
        if (status != DIFFUSE_OK)
            return fail("diffuse_trainer_step_batch", status);
    }
    for (long rep = 0; rep < o->train_repeats; rep++) {
        long steps = 0;
        double start = bench_now_seconds(), elapsed = 0.0;
        do {
            diffuse_status status = train_step(o, s, &cursor, &r->last_loss);
            if (status != DIFFUSE_OK)
                return fail("diffuse_trainer_step_batch", status);
            steps++;
            elapsed = bench_now_seconds() - start;
        } while (elapsed < o->train_seconds);
        r->train_steps[rep] = steps;
        r->train_rate[rep] = (double)steps / elapsed;
    }
    return 0;
}

/* Mean and standard deviation per coordinate: a check that the samples are
 * finite and of the right scale, printed with the timings. */
static void sample_moments(const float *x, size_t n, bench_results *r)
{
    for (size_t j = 0; j < BENCH_DIM; j++) {
        double sum = 0.0, sum_sq = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = x[i * BENCH_DIM + j];
            sum += v;
            sum_sq += v * v;
        }
        double mean = sum / (double)n;
        double var = sum_sq / (double)n - mean * mean;
        r->sample_mean[j] = mean;
        r->sample_std[j] = var > 0.0 ? sqrt(var) : 0.0;
    }
}

static int measure_sampling(const bench_options *o, bench_setup *s, bench_results *r)
{
    for (long rep = 0; rep < o->sample_repeats; rep++) {
        diffuse_status status = diffuse_sampler_set_int(s->sampler, DIFFUSE_SAMPLER_SEED, rep);
        if (status != DIFFUSE_OK)
            return fail("diffuse_sampler_set_int", status);
        double start = bench_now_seconds();
        status = diffuse_sampler_run(s->sampler, (size_t)o->samples, s->samples);
        double elapsed = bench_now_seconds() - start;
        if (status != DIFFUSE_OK)
            return fail("diffuse_sampler_run", status);
        r->sample_seconds[rep] = elapsed;
        r->sample_rate[rep] = (double)o->samples / elapsed;
    }
    if (o->sample_repeats > 0)
        sample_moments(s->samples, (size_t)o->samples, r);
    return 0;
}

/* ---- Output ---------------------------------------------------------------- */

static void print_array(const char *name, const double *values, long count)
{
    printf(", \"%s\": [", name);
    for (long i = 0; i < count; i++)
        printf("%s%.6g", i > 0 ? ", " : "", values[i]);
    printf("]");
}

static void print_results(const bench_options *o, const bench_setup *s, const bench_results *r)
{
    size_t params = 0;
    diffuse_model_param_count(s->model, &params);
    printf("{\"side\": \"libdiffuse\", \"version\": \"%s\", \"width\": %ld, \"layers\": %ld, "
           "\"embed\": %ld, \"batch\": %ld, \"timesteps\": %ld, \"samples\": %ld, "
           "\"threads\": %ld, \"params\": %zu, \"train_seconds\": %.3g, \"sampler\": \"%s\", "
           "\"sampler_steps\": %ld",
           diffuse_version_string(), o->width, o->layers, o->embed, o->batch, o->timesteps,
           o->samples, o->threads, params, o->train_seconds, bench_method_name(o->sampler),
           o->sampler_steps != 0 ? o->sampler_steps : o->timesteps);
    print_array("train_steps_per_s", r->train_rate, o->train_repeats);
    print_array("sample_samples_per_s", r->sample_rate, o->sample_repeats);
    print_array("sample_seconds", r->sample_seconds, o->sample_repeats);
    printf(", \"last_loss\": %.6g, \"sample_mean\": [%.4g, %.4g], \"sample_std\": [%.4g, %.4g]",
           r->last_loss, r->sample_mean[0], r->sample_mean[1], r->sample_std[0],
           r->sample_std[1]);
    printf(", \"peak_rss_kib\": %ld}\n", peak_rss_kib());
}

int main(int argc, char **argv)
{
    bench_options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    bench_setup s;
    bench_results r = {0};
    int rc = setup_create(&o, &s);
    if (rc == 0)
        rc = measure_training(&o, &s, &r);
    if (rc == 0)
        rc = measure_sampling(&o, &s, &r);
    if (rc == 0)
        print_results(&o, &s, &r);
    setup_free(&s);
    return rc;
}
