/* The toy2d demo's training recipe, shared by the example program and the
 * end-to-end quality test (tests/test_quality.c), so that the test checks
 * exactly what the demo does. */
#ifndef EXAMPLES_TOY2D_RECIPE_H
#define EXAMPLES_TOY2D_RECIPE_H

#include <diffuse/diffuse.h>

#define TOY2D_DEFAULT_STEPS 6000
/* The 8 Gaussians train three times as long: their modes (σ = 0.106) are the
 * finest structure of the sets, and the deterministic samplers follow the
 * learned score between them without DDPM's noise to correct it; at 6,000
 * steps DDIM-50 loses 0.022 of k-NN precision to DDPM-1000, at 18,000 0.013
 * (docs/performance.md, "Why the 8 Gaussians miss"). */
#define TOY2D_EIGHT_GAUSSIANS_STEPS 18000

/* The demo's training steps for `data` (TOY2D_DEFAULT_STEPS or, for the 8
 * Gaussians, TOY2D_EIGHT_GAUSSIANS_STEPS). */
uint64_t toy2d_default_steps(diffuse_toy2d data);

typedef struct toy2d_recipe {
    diffuse_toy2d data;
    uint64_t steps;
    uint64_t seed;
    int threads;          /* 0: OpenBLAS default */
    int report_progress;  /* print a progress line to stdout */
    size_t timesteps;     /* T */
    size_t batch_size;
    int64_t width, layers;
    double learning_rate;
    double ema_decay;
    diffuse_sample_method sample_method; /* DDPM (default), DDIM or DPM-Solver++ 2M */
    int64_t sample_steps;  /* timestep list entries (toy2d_sample); 0: every step */
    size_t classes;        /* > 0: class-conditional on the data's classes (toy2d.h) */
    double label_dropout;  /* with classes: classifier-free guidance's label dropout */
    int64_t guidance_t_max; /* guide only at t < guidance_t_max; 0: every step */
} toy2d_recipe;

/* A trained (or training) demo: every handle it needs. */
typedef struct toy2d_run {
    toy2d_recipe recipe;
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    uint64_t data_cursor; /* index of the next data point the callback hands out */
} toy2d_run;

/* k-NN precision and recall (Kynkäänniemi et al. 2019) of a set S against
 * the data D, with k = TOY2D_KNN_K: precision is the share of S inside
 * some data point's ball (radius: its distance to its k-th nearest data
 * neighbour), recall the share of D inside some ball of S. Unlike the
 * energy distance they see fine structure: samples in the gaps of the data
 * lower the precision, missed parts of it the recall. */
#define TOY2D_KNN_K 3

typedef struct toy2d_coverage {
    double precision, recall;
} toy2d_coverage;

typedef struct toy2d_quality {
    double samples;          /* energy distance: samples vs fresh data */
    double noise;            /* energy distance: N(0, I) vs the same fresh data */
    toy2d_coverage knn;      /* samples vs fresh data */
    toy2d_coverage floor;    /* a second fresh data set vs the first: a perfect model */
} toy2d_quality;

/* Whether the samples' precision and recall are both within
 * TOY2D_KNN_TOLERANCE of the data-vs-data floor (at n = 2000 a share's
 * sampling spread is ~0.01, so 0.03 is about three of them). */
#define TOY2D_KNN_TOLERANCE 0.03
int toy2d_matches_data(const toy2d_quality *quality);

toy2d_recipe toy2d_default_recipe(diffuse_toy2d data, uint64_t steps, uint64_t seed, int threads);

/* Builds the handles and trains. Returns 0, or -1 after printing the
 * library's message to stderr (`run` is then already freed). */
int toy2d_train(const toy2d_recipe *recipe, toy2d_run *run);

/* n samples (n × 2 floats) from the EMA weights, with the recipe's method
 * over sample_steps timesteps (all T when 0): trailing-spaced for DDPM and
 * DDIM, uniform in λ for DPM-Solver++ (toy2d_recipe.c, dpmpp_list). */
int toy2d_sample(toy2d_run *run, size_t n, float *out);

/* The same for a class-conditional recipe: sample i of class labels[i]
 * with classifier-free guidance scale w (1: plain conditional). */
int toy2d_sample_classes(toy2d_run *run, size_t n, const int32_t *labels, double w, float *out);

/* Draws n fresh data points into data_out (n × 2) and measures how far the
 * samples and pure noise are from them, and the samples' k-NN precision and
 * recall next to those of n more fresh data points. */
int toy2d_measure(const toy2d_run *run, const float *samples, size_t n, float *data_out,
                  toy2d_quality *quality);

void toy2d_run_free(toy2d_run *run);

#endif
