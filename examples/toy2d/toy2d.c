/* toy2d: train a DDPM on a built-in 2-D distribution, sample from it, and
 * draw data and samples side by side into a PNG.
 *
 *     toy2d [--data swiss_roll|two_moons|8gaussians|checkerboard] [--steps N]
 *           [--samples N] [--seed N] [--threads N] [--out FILE.png] [--save FILE]
 *           [--sampler ddpm|ddim|dpmpp] [--sample-steps N] [--classes]
 *           [--guidance-t-max M] [--nll]
 *
 * --steps counts training steps (default 6000, 18000 for 8gaussians);
 * --sample-steps the sampler's timesteps (trailing spacing, uniform in λ for
 * dpmpp; default: all 1000 for ddpm, 50 for ddim, 20 for dpmpp).
 *
 * --threads defaults to the number of cores (at most 8); 0 leaves threading
 * to OpenBLAS.
 *
 * It prints a progress line while training, then the energy distance of the
 * samples to fresh data (0 is a perfect match) next to that of pure noise,
 * and a verdict from the samples' k-NN precision and recall, which see fine
 * structure the energy distance averages away (the checkerboard's blobs
 * bridging its squares), next to what fresh data scores.
 * --nll also prints the model's negative log-likelihood bound on 500 fresh
 * data points (diffuse_model_nll, continuous decoder: the data are not on a
 * pixel grid, so it bounds a differential entropy and can be negative), in
 * bits/dim, with its terms L_T, Σ L_{t−1} and L_0.
 *
 * --classes trains class-conditionally on 8 Gaussians (the mode is the
 * class; label dropout 0.1 for classifier-free guidance), then samples 250
 * points of each class at guidance scales w = 1, 2, 4, 8 (w = 1: plain
 * conditional), prints how many land within 3σ of their own mode's centre
 * and draws them coloured by class; --guidance-t-max M guides only the
 * steps with t < M (DIFFUSE_SAMPLER_GUIDANCE_T_MAX). */
#include <diffuse/diffuse.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler_names.h"
#include "scatter_plot.h"
#include "toy2d_classes.h"
#include "toy2d_recipe.h"

typedef struct options {
    diffuse_toy2d data;
    uint64_t steps;
    size_t samples;
    uint64_t seed;
    int threads;
    const char *out;
    const char *save;
    diffuse_sample_method sampler;
    uint64_t sample_steps; /* 0: the method's default */
    int classes;           /* --classes */
    uint64_t guidance_t_max; /* --guidance-t-max: guide only at t < it; 0: always */
    int nll;               /* print the likelihood bound */
} options;

static void usage(FILE *stream)
{
    fprintf(stream,
            "usage: toy2d [--data swiss_roll|two_moons|8gaussians|checkerboard]\n"
            "             [--steps N] [--samples N] [--seed N] [--threads N]\n"
            "             [--out FILE.png] [--save CHECKPOINT]\n"
            "             [--sampler ddpm|ddim|dpmpp] [--sample-steps N] [--classes]\n"
            "             [--guidance-t-max M] [--nll]\n");
}

static int parse_unsigned(const char *text, uint64_t max, uint64_t *value)
{
    char *end = NULL;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (text[0] == '-' || end == text || *end != '\0' || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

/* Steps of the sampler: the option, else 1000 / 50 / 20 by method. */
static int64_t sample_steps(const options *o)
{
    static const int64_t defaults[] = {[DIFFUSE_METHOD_DDPM] = 0, [DIFFUSE_METHOD_DDIM] = 50,
                                       [DIFFUSE_METHOD_DPMPP_2M] = 20};
    return o->sample_steps != 0 ? (int64_t)o->sample_steps : defaults[o->sampler];
}

static int parse_options(int argc, char **argv, options *o)
{
    /* One library thread per core: the library splits rows across them. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores < 1 ? 1 : cores > 8 ? 8 : (int)cores;
    *o = (options){DIFFUSE_TOY2D_SWISS_ROLL, 0, 2000, 1, threads, "toy2d.png",
                   NULL, DIFFUSE_METHOD_DDPM, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t number = 0;
        int ok = value != NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            exit(EXIT_SUCCESS);
        } else if (strcmp(flag, "--classes") == 0) {
            o->classes = 1;
            o->data = DIFFUSE_TOY2D_EIGHT_GAUSSIANS;
            continue;
        } else if (strcmp(flag, "--nll") == 0) {
            o->nll = 1;
            continue; /* a flag without a value */
        } else if (ok && strcmp(flag, "--data") == 0) {
            ok = diffuse_toy2d_from_name(value, &o->data) == DIFFUSE_OK;
        } else if (ok && strcmp(flag, "--steps") == 0) {
            ok = parse_unsigned(value, 100000000, &o->steps) == 0 && o->steps > 0;
        } else if (ok && strcmp(flag, "--samples") == 0) {
            ok = parse_unsigned(value, 1000000, &number) == 0 && number > 0;
            o->samples = (size_t)number;
        } else if (ok && strcmp(flag, "--seed") == 0) {
            ok = parse_unsigned(value, (1ull << 53) - 1, &o->seed) == 0;
        } else if (ok && strcmp(flag, "--threads") == 0) {
            ok = parse_unsigned(value, 1024, &number) == 0;
            o->threads = (int)number;
        } else if (ok && strcmp(flag, "--out") == 0) {
            o->out = value;
        } else if (ok && strcmp(flag, "--sampler") == 0) {
            int method = sampler_from_name(value);
            ok = method >= 0;
            o->sampler = ok ? (diffuse_sample_method)method : o->sampler;
        } else if (ok && strcmp(flag, "--sample-steps") == 0) {
            ok = parse_unsigned(value, 1000, &o->sample_steps) == 0;
        } else if (ok && strcmp(flag, "--guidance-t-max") == 0) {
            ok = parse_unsigned(value, INT32_MAX, &o->guidance_t_max) == 0;
        } else if (ok && strcmp(flag, "--save") == 0) {
            o->save = value;
        } else {
            ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "toy2d: bad or incomplete option %s%s%s\n", flag, value ? " " : "",
                    value ? value : "");
            usage(stderr);
            return -1;
        }
        i++;
    }
    if (o->classes && o->data != DIFFUSE_TOY2D_EIGHT_GAUSSIANS) {
        fprintf(stderr, "toy2d: --classes measures modes of 8gaussians only\n");
        return -1;
    }
    if (o->steps == 0) /* no --steps: the data set's default */
        o->steps = toy2d_default_steps(o->data);
    return 0;
}

/* Draws `path` with the data (left) and the samples (right). */
static int write_picture(const options *o, const float *data, const float *samples, size_t n)
{
    char title[128];
    snprintf(title, sizeof title, "libdiffuse: %s, %" PRIu64 " steps", diffuse_toy2d_name(o->data),
             o->steps);
    scatter_plot plot;
    png_writer_status status = scatter_plot_init(&plot, 2, 400, 4.5, title);
    if (status == PNG_WRITER_OK) {
        scatter_plot_points(&plot, 0, data, n, SCATTER_BLUE);
        scatter_plot_label(&plot, 0, "data");
        scatter_plot_points(&plot, 1, samples, n, SCATTER_ORANGE);
        scatter_plot_label(&plot, 1, "samples");
        status = scatter_plot_save(&plot, o->out);
        scatter_plot_free(&plot);
    }
    if (status != PNG_WRITER_OK) {
        fprintf(stderr, "toy2d: cannot write %s: %s\n", o->out, png_writer_status_string(status));
        return -1;
    }
    printf("wrote %s\n", o->out);
    return 0;
}

/* The energy distance sees the overall shape only; the verdict rests on
 * the k-NN precision and recall, which see fine structure, next to what
 * fresh data scores (toy2d_recipe.h). */
static void print_quality(const toy2d_quality *q)
{
    printf("energy distance to fresh data: samples %.5f, N(0,I) noise %.5f\n", q->samples,
           q->noise);
    printf("k-NN (k = %d) precision %.3f, recall %.3f; fresh data scores %.3f, %.3f\n",
           TOY2D_KNN_K, q->knn.precision, q->knn.recall, q->floor.precision, q->floor.recall);
    if (toy2d_matches_data(q))
        printf("verdict: samples match the data (both within %.2f of fresh data)\n",
               TOY2D_KNN_TOLERANCE);
    else
        printf("verdict: samples do NOT match the data yet (%s); train longer (--steps)\n",
               q->knn.precision < q->floor.precision - TOY2D_KNN_TOLERANCE
                   ? "samples fall outside it: lower precision"
                   : "parts of it are missed: lower recall");
}

/* --save: the trainer's checkpoint (model, EMA, optimizer, step), if asked. */
static int save_checkpoint(const options *o, const toy2d_run *run)
{
    if (o->save == NULL)
        return 0;
    if (diffuse_trainer_save(run->trainer, o->save) != DIFFUSE_OK) {
        fprintf(stderr, "toy2d: %s\n", diffuse_trainer_last_error(run->trainer));
        return -1;
    }
    printf("saved %s\n", o->save);
    return 0;
}

/* --classes: the table of toy2d_class_report and its picture. */
static int class_demo(const options *o, toy2d_run *run)
{
    enum { PER_CLASS = 250, N = 8 * PER_CLASS };
    toy2d_class_row rows[TOY2D_CLASS_SCALES];
    float *samples = malloc(TOY2D_CLASS_SCALES * N * 2 * sizeof *samples);
    int32_t *labels = malloc(N * sizeof *labels);
    int failed = samples == NULL || labels == NULL ||
                 toy2d_class_report(run, PER_CLASS, rows, samples, labels) != 0;
    if (!failed) {
        printf("samples of class k (%d per class), guidance scale w (1 = plain conditional):\n"
               "    w   extra   within 3 sigma of mode k   nearest mode is k\n",
               PER_CLASS);
        for (size_t s = 0; s < TOY2D_CLASS_SCALES; s++)
            printf("  %3g   %5g   %23.1f%%   %16.1f%%\n", rows[s].w, rows[s].w - 1.0,
                   100.0 * rows[s].within_3_sigma, 100.0 * rows[s].nearest);
        failed = toy2d_class_picture(run, o->out, rows, samples, labels, PER_CLASS) != 0;
    }
    if (!failed)
        failed = save_checkpoint(o, run) != 0;
    free(samples);
    free(labels);
    toy2d_run_free(run);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The likelihood bound of the EMA model on fresh data, its terms printed. */
static int print_nll(const toy2d_run *run)
{
    enum { ROWS = 500 };
    float data[ROWS * 2];
    diffuse_nll_request request = DIFFUSE_NLL_REQUEST_INIT;
    request.n = ROWS;
    request.x0 = data;
    request.decoder = DIFFUSE_DECODER_CONTINUOUS;
    request.use_ema = 1;
    request.seed = run->recipe.seed;
    diffuse_nll_terms nll;
    diffuse_status status = diffuse_toy2d_sample(run->recipe.data, run->recipe.seed + 7, 0,
                                                 ROWS, data);
    if (status == DIFFUSE_OK)
        status = diffuse_model_nll(run->model, run->schedule, &request, &nll);
    if (status != DIFFUSE_OK) {
        fprintf(stderr, "toy2d: likelihood failed: %s\n", diffuse_last_error());
        return -1;
    }
    printf("NLL bound on %d fresh points: %.4f bits/dim (L_T %.2e, sum L_t-1 %.4f, "
           "L_0 %.4f)\n",
           ROWS, nll.total, nll.prior, nll.diffusion, nll.decoder);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0)
        return EXIT_FAILURE;

    toy2d_run run;
    toy2d_recipe recipe = toy2d_default_recipe(o.data, o.steps, o.seed, o.threads);
    recipe.report_progress = 1;
    recipe.sample_method = o.sampler;
    recipe.sample_steps = sample_steps(&o);
    if (o.classes) {
        recipe.classes = 8;
        recipe.label_dropout = 0.1;
        recipe.guidance_t_max = (int64_t)o.guidance_t_max;
    }
    if (toy2d_train(&recipe, &run) != 0)
        return EXIT_FAILURE;
    if (o.classes)
        return class_demo(&o, &run);

    int failed = 1;
    float *samples = malloc(o.samples * 2 * sizeof(float));
    float *data = malloc(o.samples * 2 * sizeof(float));
    toy2d_quality quality;
    if (samples && data && toy2d_sample(&run, o.samples, samples) == 0 &&
        toy2d_measure(&run, samples, o.samples, data, &quality) == 0) {
        print_quality(&quality);
        failed = write_picture(&o, data, samples, o.samples) != 0;
        if (!failed && o.nll)
            failed = print_nll(&run) != 0;
        if (!failed)
            failed = save_checkpoint(&o, &run) != 0;
    }
    free(samples);
    free(data);
    toy2d_run_free(&run);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
