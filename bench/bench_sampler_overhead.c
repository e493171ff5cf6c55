/* The sampling methods' own cost per step against one network evaluation
 * (docs/performance.md, "Per-step overhead").
 *
 * A run's step is one model call f_θ(x_t, t) over the N rows and one step of
 * the method (x̂_0 and ε̂ from f, the update, DDPM's noise draw z, the
 * finiteness checks). The public step API (diffuse_sampler_step) is that
 * second part alone, so with a fixed model output and x_t this program
 * times, on the benchmark's MLP (bench_model.h) and N rows, one thread:
 *   - the network: diffuse_model_predict over the N rows at one t;
 *   - each method: diffuse_sampler_step over its whole trailing-spaced list
 *     (DDPM 1,000 entries, DDIM 50, DPM-Solver++ 2M 20), per entry;
 * each repeat measures all of them in turn (so that a disturbance hits
 * them alike) and the medians over the repeats give
 *   overhead = step time / network evaluation time.
 * Usage: bench_sampler_overhead [--width H] [--samples N] [--repeats R]
 * (defaults 128, 2000, 15). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"
#include "bench_model.h"
#include "diffuse/model.h"
#include "diffuse/sampler.h"
#include "diffuse/schedule.h"

#define MAX_REPEATS 101
#define EVALUATIONS_PER_REPEAT 50 /* network calls timed together (~0.1 s at H = 128) */
#define TIMESTEPS 1000

static const long methods[] = {DIFFUSE_METHOD_DDPM, DIFFUSE_METHOD_DDIM, DIFFUSE_METHOD_DPMPP_2M};
#define METHODS (sizeof methods / sizeof methods[0])

typedef struct overhead_setup {
    size_t n;
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_sampler *samplers[METHODS];
    int32_t *lists[METHODS];
    size_t counts[METHODS];
    float *x_t, *x_prev, *output; /* n × 2 each */
    int32_t *t;                   /* n copies of one timestep */
} overhead_setup;

static int fail(const char *what, diffuse_status status)
{
    fprintf(stderr, "bench_sampler_overhead: %s failed: %s (%s)\n", what, diffuse_last_error(),
            diffuse_status_name(status));
    return 1;
}

static void setup_free(overhead_setup *s)
{
    for (size_t m = 0; m < METHODS; m++) {
        diffuse_sampler_free(s->samplers[m]);
        free(s->lists[m]);
    }
    diffuse_model_free(s->model);
    diffuse_schedule_free(s->schedule);
    free(s->x_t);
    free(s->x_prev);
    free(s->output);
    free(s->t);
}

/* The method's sampler and its list (DIFFUSE_SAMPLER_STEPS by method). */
static diffuse_status build_method(overhead_setup *s, size_t m)
{
    diffuse_status status = diffuse_sampler_create(&s->samplers[m], s->model, s->schedule);
    if (status == DIFFUSE_OK)
        status = bench_sampler_configure(s->samplers[m], methods[m],
                                         bench_default_steps(methods[m]), 1);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_timesteps(s->samplers[m], NULL, 0, &s->counts[m]);
    if (status == DIFFUSE_OK && (s->lists[m] = malloc(s->counts[m] * sizeof(int32_t))) == NULL)
        status = DIFFUSE_ERROR_NO_MEMORY;
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_timesteps(s->samplers[m], s->lists[m], s->counts[m],
                                           &s->counts[m]);
    return status;
}

/* x_t ~ N(0, I) and the network's output on it at t = T/2: the values every
 * step reads (a step's cost does not depend on them). */
static diffuse_status predict(overhead_setup *s)
{
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = s->n;
    call.x_t = s->x_t;
    call.t = s->t;
    call.out = s->output;
    return diffuse_model_predict(s->model, &call);
}

static int setup_create(long width, size_t n, overhead_setup *s)
{
    *s = (overhead_setup){.n = n};
    s->x_t = malloc(n * BENCH_DIM * sizeof(float));
    s->x_prev = malloc(n * BENCH_DIM * sizeof(float));
    s->output = malloc(n * BENCH_DIM * sizeof(float));
    s->t = malloc(n * sizeof(int32_t));
    if (s->x_t == NULL || s->x_prev == NULL || s->output == NULL || s->t == NULL)
        return fail("allocating", DIFFUSE_ERROR_NO_MEMORY);
    for (size_t i = 0; i < n; i++)
        s->t[i] = TIMESTEPS / 2;
    diffuse_status status = diffuse_schedule_create(&s->schedule, DIFFUSE_SCHEDULE_LINEAR,
                                                    TIMESTEPS);
    if (status == DIFFUSE_OK)
        status = bench_mlp_create(width, 3, 64, &s->model);
    for (size_t m = 0; m < METHODS && status == DIFFUSE_OK; m++)
        status = build_method(s, m);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_initial_noise(s->samplers[0], n, s->x_t);
    if (status == DIFFUSE_OK)
        status = predict(s);
    return status == DIFFUSE_OK ? 0 : fail("setting up", status);
}

/* Seconds per network evaluation over EVALUATIONS_PER_REPEAT calls. */
static int time_network(overhead_setup *s, double *seconds)
{
    double start = bench_now_seconds();
    for (int i = 0; i < EVALUATIONS_PER_REPEAT; i++) {
        diffuse_status status = predict(s);
        if (status != DIFFUSE_OK)
            return fail("diffuse_model_predict", status);
    }
    *seconds = (bench_now_seconds() - start) / EVALUATIONS_PER_REPEAT;
    return 0;
}

/* Seconds per step of method m over its whole list, in order (so that
 * DPM-Solver++ takes its second-order steps). */
static int time_method(overhead_setup *s, size_t m, double *seconds)
{
    double start = bench_now_seconds();
    for (size_t i = 0; i < s->counts[m]; i++) {
        diffuse_status status = diffuse_sampler_step(s->samplers[m], s->n, s->lists[m][i],
                                                     s->output, s->x_t, s->x_prev, NULL);
        if (status != DIFFUSE_OK)
            return fail("diffuse_sampler_step", status);
    }
    *seconds = (bench_now_seconds() - start) / (double)s->counts[m];
    return 0;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, long count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

static int parse_options(int argc, char **argv, long *width, long *samples, long *repeats)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        long *target = strcmp(argv[i], "--width") == 0     ? width
                       : strcmp(argv[i], "--samples") == 0 ? samples
                       : strcmp(argv[i], "--repeats") == 0 ? repeats
                                                           : NULL;
        long max = target == repeats ? MAX_REPEATS : 1000000;
        if (target == NULL || bench_parse_long(argv[i + 1], 1, max, target) != 0)
            return -1;
    }
    return argc % 2 == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    long width = 128, samples = 2000, repeats = 15;
    if (parse_options(argc, argv, &width, &samples, &repeats) != 0) {
        fprintf(stderr, "usage: bench_sampler_overhead [--width H] [--samples N] "
                        "[--repeats R (at most %d)]\n",
                MAX_REPEATS);
        return 2;
    }
    overhead_setup s;
    static double network[MAX_REPEATS], step[METHODS][MAX_REPEATS];
    int rc = setup_create(width, (size_t)samples, &s);
    for (long r = 0; r < repeats && rc == 0; r++) {
        rc = time_network(&s, &network[r]);
        for (size_t m = 0; m < METHODS && rc == 0; m++)
            rc = time_method(&s, m, &step[m][r]);
    }
    if (rc == 0) {
        double evaluation = median(network, repeats);
        printf("width %ld, N %ld, one thread, medians of %ld repeats: network evaluation "
               "%.1f µs\n| method | entries | step µs | step / network evaluation |\n"
               "|---|---:|---:|---:|\n",
               width, samples, repeats, 1e6 * evaluation);
        for (size_t m = 0; m < METHODS; m++) {
            double per_step = median(step[m], repeats);
            printf("| %s | %zu | %.2f | %.2f%% |\n", bench_method_name(methods[m]), s.counts[m],
                   1e6 * per_step, 100.0 * per_step / evaluation);
        }
    }
    setup_free(&s);
    return rc;
}
