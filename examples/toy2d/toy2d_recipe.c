/* The toy2d demo's training recipe (see toy2d_recipe.h). */
#include "toy2d_recipe.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Fresh data for measuring comes from a seed the training never uses. */
#define TOY2D_EVALUATION_SEED_OFFSET 1000003u

uint64_t toy2d_default_steps(diffuse_toy2d data)
{
    return data == DIFFUSE_TOY2D_EIGHT_GAUSSIANS ? TOY2D_EIGHT_GAUSSIANS_STEPS
                                                 : TOY2D_DEFAULT_STEPS;
}

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

/* Where DPM-Solver++'s list ends: the last entry of DDIM-50's trailing
 * list, t = T/50 − 1 (σ = 0.076 for the demo's schedule). */
#define TOY2D_DPMPP_END_DIVISOR 50

/* λ_t = ½ log(ᾱ_t/(1 − ᾱ_t)), ᾱ kept above 0 (a zero-terminal-SNR schedule). */
static double log_snr(double alpha_bar)
{
    double a = fmax(alpha_bar, 1e-12);
    return 0.5 * log(a / (1.0 - a));
}

/* DPM-Solver++'s list: `count` entries uniform in λ (Lu et al. 2022's
 * "logSNR" steps, which even out its exponential integrator's local error,
 * a function of h = Δλ) from t = T − 1 to t = T/50 − 1, each the t whose λ
 * is nearest, repeats dropped. Why not trailing: its 20 entries end at
 * t = 49 (σ = 0.17), above the 8 Gaussians' spread (0.106), where the last
 * step's x̂_0 = E[x_0 | x_49] shrinks every mode and blends neighbours
 * (precision 0.028 below DDPM-1000's; this list: within 0.01,
 * docs/performance.md). */
static diffuse_status dpmpp_list(diffuse_sampler *sampler, const diffuse_schedule *schedule,
                                 size_t count)
{
    size_t steps = 0;
    diffuse_status status = diffuse_schedule_steps(schedule, &steps);
    double *alpha_bar = status == DIFFUSE_OK ? malloc(steps * sizeof(double)) : NULL;
    int32_t *list = alpha_bar != NULL ? malloc(count * sizeof(int32_t)) : NULL;
    if (status == DIFFUSE_OK && list == NULL)
        status = DIFFUSE_ERROR_NO_MEMORY;
    if (status == DIFFUSE_OK)
        status = diffuse_schedule_get_table(schedule, DIFFUSE_TABLE_ALPHA_BAR, alpha_bar, steps);
    size_t kept = 0, last = steps / TOY2D_DPMPP_END_DIVISOR;
    last = last > 0 ? last - 1 : 0;
    for (size_t i = 0; i < count && status == DIFFUSE_OK; i++) {
        double from = log_snr(alpha_bar[steps - 1]), to = log_snr(alpha_bar[last]);
        double target = count > 1 ? from + (to - from) * (double)i / (double)(count - 1) : from;
        size_t nearest = last;
        for (size_t t = last; t < steps; t++)
            if (fabs(log_snr(alpha_bar[t]) - target) < fabs(log_snr(alpha_bar[nearest]) - target))
                nearest = t;
        if (kept == 0 || (int32_t)nearest < list[kept - 1])
            list[kept++] = (int32_t)nearest;
    }
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_timesteps(sampler, list, kept);
    free(alpha_bar);
    free(list);
    return status;
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
        /* trailing: the list starts at T − 1, where x ~ N(0, I) fits
         * (DPM-Solver++ then gets its own list, dpmpp_list) */
        {DIFFUSE_SAMPLER_SPACING, DIFFUSE_SPACING_TRAILING},
        {DIFFUSE_SAMPLER_STEPS, r->sample_steps},
        {DIFFUSE_SAMPLER_GUIDANCE_T_MAX, r->guidance_t_max},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0] && status == DIFFUSE_OK; i++)
        status = diffuse_sampler_set_int(sampler, settings[i].option, settings[i].value);
    if (status == DIFFUSE_OK && r->sample_method == DIFFUSE_METHOD_DPMPP_2M && r->sample_steps > 0)
        status = dpmpp_list(sampler, run->schedule, (size_t)r->sample_steps);
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

static double squared_distance(const float *a, const float *b)
{
    double dx = (double)a[0] - b[0], dy = (double)a[1] - b[1];
    return dx * dx + dy * dy;
}

/* radius2[i] = squared distance of point i of x (n × 2) to its k-th
 * nearest other point; the k smallest are kept sorted by insertion. */
static void knn_radii(const float *x, size_t n, double *radius2)
{
    for (size_t i = 0; i < n; i++) {
        double nearest[TOY2D_KNN_K];
        for (size_t j = 0; j < TOY2D_KNN_K; j++)
            nearest[j] = INFINITY;
        for (size_t j = 0; j < n; j++) {
            double d = j == i ? INFINITY : squared_distance(&x[2 * i], &x[2 * j]);
            for (size_t slot = TOY2D_KNN_K; slot > 0 && d < nearest[slot - 1]; slot--) {
                if (slot < TOY2D_KNN_K)
                    nearest[slot] = nearest[slot - 1];
                nearest[slot - 1] = d;
            }
        }
        radius2[i] = nearest[TOY2D_KNN_K - 1];
    }
}

/* The share of the points of a (n × 2) inside some ball of b (centres b,
 * squared radii b_radius2). */
static double share_covered(const float *a, const float *b, const double *b_radius2, size_t n)
{
    size_t covered = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < n && squared_distance(&a[2 * i], &b[2 * j]) > b_radius2[j])
            j++;
        covered += j < n;
    }
    return (double)covered / (double)n;
}

/* k-NN precision and recall of s against d (both n × 2); radius2 holds 2n
 * doubles of scratch. */
static toy2d_coverage knn_coverage(const float *s, const float *d, size_t n, double *radius2)
{
    knn_radii(d, n, radius2);
    knn_radii(s, n, radius2 + n);
    return (toy2d_coverage){share_covered(s, d, radius2, n), share_covered(d, s, radius2 + n, n)};
}

int toy2d_matches_data(const toy2d_quality *quality)
{
    return quality->knn.precision >= quality->floor.precision - TOY2D_KNN_TOLERANCE &&
           quality->knn.recall >= quality->floor.recall - TOY2D_KNN_TOLERANCE;
}

int toy2d_measure(const toy2d_run *run, const float *samples, size_t n, float *data_out,
                  toy2d_quality *quality)
{
    uint64_t seed = run->recipe.seed + TOY2D_EVALUATION_SEED_OFFSET;
    float *noise = malloc(n * 2 * sizeof(float));
    float *more_data = malloc(n * 2 * sizeof(float));
    double *radius2 = malloc(n * 2 * sizeof(double));
    diffuse_rng *rng = NULL;
    int allocated = noise != NULL && more_data != NULL && radius2 != NULL;
    diffuse_status status = allocated ? DIFFUSE_OK : DIFFUSE_ERROR_NO_MEMORY;
    if (status == DIFFUSE_OK)
        status = diffuse_toy2d_sample(run->recipe.data, seed, 0, n, data_out);
    if (status == DIFFUSE_OK)
        status = diffuse_toy2d_sample(run->recipe.data, seed, n, n, more_data);
    if (status == DIFFUSE_OK)
        status = diffuse_rng_create(&rng, seed, 1);
    if (status == DIFFUSE_OK)
        status = diffuse_rng_normal(rng, noise, n * 2);
    if (status == DIFFUSE_OK)
        status = diffuse_energy_distance(samples, n, data_out, n, 2, &quality->samples);
    if (status == DIFFUSE_OK)
        status = diffuse_energy_distance(noise, n, data_out, n, 2, &quality->noise);
    if (status == DIFFUSE_OK) {
        quality->knn = knn_coverage(samples, data_out, n, radius2);
        quality->floor = knn_coverage(more_data, data_out, n, radius2);
    }
    if (status != DIFFUSE_OK)
        fprintf(stderr, "toy2d: measuring failed: %s\n", diffuse_last_error());
    diffuse_rng_free(rng);
    free(noise);
    free(more_data);
    free(radius2);
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
