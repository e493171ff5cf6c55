/* Ancestral DDPM sampling: Algorithm 2 of Ho et al. 2020 (see
 * include/diffuse/sampler.h). */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "diffuse/sampler.h"
#include "model/model.h"
#include "util/option_table.h"
#include "util/parallel.h"
#include "util/philox.h"
#include "core/posterior.h"
#include "core/schedule.h"

enum { SAMPLER_OPTION_COUNT = 6, SAMPLER_MAX_THREADS = 1024 };

static const option_spec sampler_specs[SAMPLER_OPTION_COUNT] = {
    [DIFFUSE_SAMPLER_VARIANCE] = {"variance", false, DIFFUSE_VARIANCE_BETA,
                                  DIFFUSE_VARIANCE_POSTERIOR, DIFFUSE_VARIANCE_BETA},
    [DIFFUSE_SAMPLER_CLIP_X0] = {"clip_x0", true, 0, 1e30, 0},
    [DIFFUSE_SAMPLER_USE_EMA] = {"use_ema", false, 0, 1, 0},
    [DIFFUSE_SAMPLER_SEED] = {"seed", false, 0, 9007199254740991.0 /* 2^53 − 1 */, 0},
    [DIFFUSE_SAMPLER_THREADS] = {"threads", false, 0, SAMPLER_MAX_THREADS, 0},
    [DIFFUSE_SAMPLER_CHUNK_ROWS] = {"chunk_rows", false, 1, 1048576, 4096},
};

static const option_table sampler_options = {"sampler", sampler_specs, SAMPLER_OPTION_COUNT};

/* Per-chunk scratch: the network output, x̂_0, the noise z and the t's. */
typedef struct chunk_buffers {
    size_t capacity; /* rows */
    float *prediction, *x0, *noise;
    int32_t *t;
} chunk_buffers;

/* One worker's share of a run: rows [first, first + rows) of the output,
 * denoised chunk by chunk with its own model (the sampler's model for
 * worker 0, an owned replica for the others) and its own scratch. Workers
 * never touch the sampler's error slot; theirs is copied after the join. */
typedef struct sample_worker {
    diffuse_model *model;
    chunk_buffers chunk;
    diffuse_error error;
    size_t first, rows;
    bool stopped; /* gave up because another worker failed or was cancelled */
} sample_worker;

struct diffuse_sampler {
    diffuse_error error;
    diffuse_model *model;
    diffuse_schedule *schedule; /* own copy */
    double options[SAMPLER_OPTION_COUNT];
    diffuse_sample_progress_fn progress_fn;
    void *progress_user;
    sample_worker *workers;     /* worker_count ≥ 1 once a run has started */
    size_t worker_count;
    parallel_pool *pool;        /* worker_count − 1 threads; NULL for one worker */
};

static void chunk_free(chunk_buffers *c)
{
    free(c->prediction);
    free(c->x0);
    free(c->noise);
    free(c->t);
    *c = (chunk_buffers){0};
}

static diffuse_status chunk_reserve(sample_worker *w, size_t rows)
{
    chunk_buffers *c = &w->chunk;
    if (rows <= c->capacity)
        return DIFFUSE_OK;
    chunk_free(c);
    size_t values = rows * w->model->dim;
    c->prediction = malloc(values * sizeof(float));
    c->x0 = malloc(values * sizeof(float));
    c->noise = malloc(values * sizeof(float));
    c->t = malloc(rows * sizeof(int32_t));
    if (!c->prediction || !c->x0 || !c->noise || !c->t) {
        chunk_free(c);
        return diffuse_fail(&w->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate sampling buffers for %zu rows", rows);
    }
    c->capacity = rows;
    return DIFFUSE_OK;
}

static void workers_free(diffuse_sampler *s)
{
    parallel_pool_free(s->pool);
    s->pool = NULL;
    for (size_t i = 0; i < s->worker_count; i++)
        chunk_free(&s->workers[i].chunk);
    free(s->workers);
    s->workers = NULL;
    s->worker_count = 0;
}

/* Sets up `count` workers (replicas and a pool for count > 1); kept between
 * runs with the same count, so steady-state runs allocate nothing. */
static diffuse_status workers_prepare(diffuse_sampler *s, size_t count)
{
    if (s->worker_count == count)
        return DIFFUSE_OK;
    workers_free(s);
    s->workers = calloc(count, sizeof *s->workers);
    if (s->workers == NULL)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate %zu workers",
                            count);
    s->worker_count = count;
    s->workers[0].model = s->model;
    diffuse_status status = DIFFUSE_OK;
    for (size_t i = 1; i < count && status == DIFFUSE_OK; i++)
        status = model_replica(s->model, i, &s->workers[i].model);
    if (status == DIFFUSE_OK && count > 1)
        status = parallel_pool_create(&s->pool, count - 1);
    if (status != DIFFUSE_OK) {
        status = diffuse_fail(&s->error, status, "%s", diffuse_last_error());
        workers_free(s);
    }
    return status;
}

DIFFUSE_API diffuse_status diffuse_sampler_create(diffuse_sampler **out, diffuse_model *model,
                                                  const diffuse_schedule *schedule)
{
    if (out == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, model, "model")) ||
        (status = diffuse_check_pointer(NULL, schedule, "schedule")))
        return status;
    diffuse_sampler *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate a sampler");
    status = diffuse_schedule_clone(&s->schedule, schedule);
    if (status != DIFFUSE_OK) {
        free(s);
        return status;
    }
    s->model = model;
    option_defaults(&sampler_options, s->options);
    *out = s;
    return DIFFUSE_OK;
}

DIFFUSE_API void diffuse_sampler_free(diffuse_sampler *sampler)
{
    if (sampler == NULL)
        return;
    workers_free(sampler);
    diffuse_schedule_free(sampler->schedule);
    free(sampler);
}

DIFFUSE_API const char *diffuse_sampler_last_error(const diffuse_sampler *sampler)
{
    return diffuse_error_message(sampler != NULL ? &sampler->error : NULL);
}

static diffuse_status set_option(diffuse_sampler *s, int option, double value, bool is_double)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "sampler");
    if (status != DIFFUSE_OK)
        return status;
    return option_set(&s->error, &sampler_options, s->options, option, value, is_double);
}

/* The checks of a getter before the option's: the handle, then `value`. */
static diffuse_status check_getter(const diffuse_sampler *s, const void *value)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "sampler");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, value, "value");
    return status;
}

/* Getters record a bad option in the handle, which a const handle still
 * owns (one thread at a time). */
static diffuse_error *error_of(const diffuse_sampler *s)
{
    return (diffuse_error *)&s->error;
}

DIFFUSE_API diffuse_status diffuse_sampler_set_int(diffuse_sampler *sampler,
                                                   diffuse_sampler_option option, int64_t value)
{
    return set_option(sampler, (int)option, (double)value, false);
}

DIFFUSE_API diffuse_status diffuse_sampler_set_double(diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double value)
{
    return set_option(sampler, (int)option, value, true);
}

DIFFUSE_API diffuse_status diffuse_sampler_get_int(const diffuse_sampler *sampler,
                                                   diffuse_sampler_option option, int64_t *value)
{
    diffuse_status status = check_getter(sampler, value);
    if (status == DIFFUSE_OK)
        status = option_get_int(error_of(sampler), &sampler_options, sampler->options,
                                (int)option, value);
    return status;
}

DIFFUSE_API diffuse_status diffuse_sampler_get_double(const diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double *value)
{
    diffuse_status status = check_getter(sampler, value);
    if (status == DIFFUSE_OK)
        status = option_get_double(error_of(sampler), &sampler_options, sampler->options,
                                   (int)option, value);
    return status;
}

DIFFUSE_API diffuse_status diffuse_sampler_int_bounds(diffuse_sampler_option option,
                                                      int64_t *min, int64_t *max)
{
    return option_int_bounds(NULL, &sampler_options, (int)option, min, max);
}

DIFFUSE_API diffuse_status diffuse_sampler_double_bounds(diffuse_sampler_option option,
                                                         double *min, double *max)
{
    return option_bounds(NULL, &sampler_options, (int)option, true, min, max);
}

DIFFUSE_API diffuse_status diffuse_sampler_option_count(size_t *count)
{
    return option_count(&sampler_options, OPTION_ALL, count);
}

DIFFUSE_API diffuse_status diffuse_sampler_option_info(size_t index, diffuse_option_info *info)
{
    return option_info(&sampler_options, OPTION_ALL, NULL, index, info);
}

DIFFUSE_API diffuse_status diffuse_sampler_set_progress(diffuse_sampler *sampler,
                                                        diffuse_sample_progress_fn fn, void *user)
{
    diffuse_status status = diffuse_check_pointer(NULL, sampler, "sampler");
    if (status != DIFFUSE_OK)
        return status;
    sampler->progress_fn = fn;
    sampler->progress_user = user;
    return DIFFUSE_OK;
}

/* ---- The reverse step ------------------------------------------------- */

/* x ← μ̃_t(x_t, x̂_0) with x̂_0 from the prediction (ε or v), optionally
 * clipped to [−clip, clip]. */
static void mean_through_x0(const diffuse_sampler *s, chunk_buffers *c, size_t rows, float *x)
{
    size_t d = s->model->dim;
    if (s->model->prediction == DIFFUSE_PREDICT_V)
        posterior_x0_from_v(s->schedule, rows, d, c->t, x, c->prediction, c->x0);
    else
        posterior_x0_from_eps(s->schedule, rows, d, c->t, x, c->prediction, c->x0);
    float clip = (float)s->options[DIFFUSE_SAMPLER_CLIP_X0];
    if (clip > 0.0f) {
        for (size_t i = 0; i < rows * d; i++)
            c->x0[i] = fminf(clip, fmaxf(-clip, c->x0[i]));
    }
    posterior_mean(s->schedule, rows, d, c->t, c->x0, x, x);
}

static float noise_scale(const diffuse_sampler *s, size_t t)
{
    diffuse_schedule_table table = s->options[DIFFUSE_SAMPLER_VARIANCE] == DIFFUSE_VARIANCE_BETA
                                       ? DIFFUSE_TABLE_BETA
                                       : DIFFUSE_TABLE_POSTERIOR_VARIANCE;
    return (float)sqrt(schedule_column(s->schedule, table)[t]);
}

/* One reverse step x_t → x_{t−1} for the chunk of rows starting at global
 * row `first`. Reads the sampler, writes only the worker and x. */
static diffuse_status reverse_step(const diffuse_sampler *s, sample_worker *w,
                                   const float *params, size_t first, size_t rows, size_t t,
                                   float *x)
{
    chunk_buffers *c = &w->chunk;
    diffuse_model *m = w->model;
    size_t count = rows * m->dim;
    for (size_t i = 0; i < rows; i++)
        c->t[i] = (int32_t)t;
    diffuse_status status = m->ops->predict(m, params, x, c->t, rows, c->prediction);
    if (status != DIFFUSE_OK)
        return diffuse_fail(&w->error, status, "%s", diffuse_model_last_error(m));

    /* μ_θ = (x_t − β_t/√(1−ᾱ_t) ε_θ) / √α_t: the paper's form, used for an
     * ε-model without clipping (it never forms x̂_0). */
    if (m->prediction == DIFFUSE_PREDICT_EPSILON && s->options[DIFFUSE_SAMPLER_CLIP_X0] == 0.0)
        posterior_model_mean_from_eps(s->schedule, rows, m->dim, c->t, x, c->prediction, x);
    else
        mean_through_x0(s, c, rows, x);

    if (t > 0) { /* no noise at the last step */
        uint64_t seed = (uint64_t)s->options[DIFFUSE_SAMPLER_SEED];
        philox_normal(seed, t + 1, first * m->dim, c->noise, count);
        float sigma = noise_scale(s, t);
        for (size_t i = 0; i < count; i++)
            x[i] += sigma * c->noise[i];
    }
    return DIFFUSE_OK;
}

static diffuse_status check_can_sample(diffuse_sampler *s, const float **params)
{
    diffuse_model *m = s->model;
    size_t steps = schedule_steps(s->schedule);
    double last_alpha = schedule_column(s->schedule, DIFFUSE_TABLE_ALPHA)[steps - 1];
    if (m->prediction == DIFFUSE_PREDICT_EPSILON && last_alpha <= 0.0)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_UNSUPPORTED,
                            "an epsilon-prediction model cannot be sampled from a schedule with "
                            "zero terminal SNR (alpha_T = 0); use v-prediction");
    if (s->options[DIFFUSE_SAMPLER_USE_EMA] != 0.0 && m->ema == NULL)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_STATE,
                            "use_ema is set but the model has no EMA weights");
    *params = s->options[DIFFUSE_SAMPLER_USE_EMA] != 0.0 ? m->ema : m->params;
    return DIFFUSE_OK;
}

/* ---- One run, split over the workers ---------------------------------- */

/* What the workers of one run share. `done` counts finished (chunk, step)
 * units of all workers; `stop` tells them all to give up. */
typedef struct sample_run {
    const diffuse_sampler *sampler;
    const float *params;
    float *out;
    size_t workers;     /* workers[0 … workers−1] take part */
    size_t chunk_rows;
    uint64_t total;
    uint64_t reported;  /* the last `done` given to the progress callback */
    atomic_uint_least64_t done;
    atomic_bool stop;
} sample_run;

static size_t chunk_rows_for(const sample_run *run, size_t rows)
{
    return run->chunk_rows < rows ? run->chunk_rows : rows;
}

/* Calls the user's progress callback (only ever from the calling thread:
 * worker 0); true when it asks to cancel. */
static bool report_progress(sample_run *run, uint64_t done)
{
    const diffuse_sampler *s = run->sampler;
    run->reported = done;
    return s->progress_fn != NULL && s->progress_fn(s->progress_user, done, run->total) != 0;
}

/* Worker `index`'s rows: each chunk from x_{T−1} ~ N(0, I) to x_0. */
static diffuse_status sample_part(void *context, size_t index)
{
    sample_run *run = context;
    const diffuse_sampler *s = run->sampler;
    sample_worker *w = &s->workers[index];
    size_t d = s->model->dim, steps = schedule_steps(s->schedule);
    uint64_t seed = (uint64_t)s->options[DIFFUSE_SAMPLER_SEED];
    diffuse_status status = chunk_reserve(w, chunk_rows_for(run, w->rows));
    for (size_t first = w->first; first < w->first + w->rows && status == DIFFUSE_OK;
         first += run->chunk_rows) {
        size_t rows = chunk_rows_for(run, w->first + w->rows - first);
        float *x = run->out + first * d;
        philox_normal(seed, 0, first * d, x, rows * d); /* x_{T−1} ~ N(0, I) */
        for (size_t t = steps; t-- > 0 && status == DIFFUSE_OK;) {
            if (atomic_load_explicit(&run->stop, memory_order_relaxed)) {
                w->stopped = true;
                return DIFFUSE_ERROR_CANCELLED;
            }
            status = reverse_step(s, w, run->params, first, rows, t, x);
            uint64_t done = atomic_fetch_add(&run->done, 1) + 1;
            if (status == DIFFUSE_OK && index == 0 && report_progress(run, done))
                status = diffuse_fail(&w->error, DIFFUSE_ERROR_CANCELLED,
                                      "sampling cancelled by the progress callback");
        }
    }
    if (status != DIFFUSE_OK)
        atomic_store(&run->stop, true);
    return status;
}

/* Splits n rows into contiguous parts, one per worker of the run (the
 * first n % workers one row longer), and counts the (chunk, step) units. */
static void split_rows(diffuse_sampler *s, sample_run *run, size_t n)
{
    size_t first = 0, steps = schedule_steps(s->schedule), count = run->workers;
    run->total = 0;
    for (size_t i = 0; i < count; i++) {
        sample_worker *w = &s->workers[i];
        w->first = first;
        w->rows = n / count + (i < n % count);
        w->stopped = false;
        first += w->rows;
        run->total += (uint64_t)((w->rows + run->chunk_rows - 1) / run->chunk_rows) * steps;
    }
}

/* The workers' statuses as the run's: the first real failure in worker
 * order (a worker that only stopped because of another is skipped), then
 * a last progress report if worker 0 finished before the others. */
static diffuse_status finish_run(diffuse_sampler *s, sample_run *run,
                                 const diffuse_status *statuses)
{
    for (size_t i = 0; i < run->workers; i++) {
        if (statuses[i] != DIFFUSE_OK && !s->workers[i].stopped)
            return diffuse_fail(&s->error, statuses[i], "%s", s->workers[i].error.message);
    }
    if (run->reported < run->total && report_progress(run, run->total))
        return diffuse_fail(&s->error, DIFFUSE_ERROR_CANCELLED,
                            "sampling cancelled by the progress callback");
    return DIFFUSE_OK;
}

/* Workers the sampler keeps: THREADS for a model that can be replicated,
 * else one (a callback model's function is only ever called from the
 * calling thread). A run of n rows uses at most n of them. */
static size_t workers_wanted(const diffuse_sampler *s)
{
    size_t threads = (size_t)s->options[DIFFUSE_SAMPLER_THREADS];
    return threads > 1 && model_can_replicate(s->model) ? threads : 1;
}

DIFFUSE_API diffuse_status diffuse_sampler_run(diffuse_sampler *sampler, size_t n, float *out)
{
    diffuse_status status = diffuse_check_pointer(NULL, sampler, "sampler");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_model *m = sampler->model;
    size_t count;
    const float *params = NULL;
    if ((status = diffuse_check_pointer(&sampler->error, out, "out")) ||
        (status = diffuse_check_matrix_size(&sampler->error, n, m->dim, &count)) ||
        (status = check_can_sample(sampler, &params)) ||
        (status = workers_prepare(sampler, workers_wanted(sampler))))
        return status;
    /* THREADS ≥ 1: OpenBLAS runs single-threaded; the rows are the parallelism. */
    if (sampler->options[DIFFUSE_SAMPLER_THREADS] > 0)
        openblas_set_num_threads(1);
    sample_run run = {.sampler = sampler, .params = params, .out = out,
                      .workers = sampler->worker_count < n ? sampler->worker_count : n,
                      .chunk_rows = (size_t)sampler->options[DIFFUSE_SAMPLER_CHUNK_ROWS]};
    atomic_init(&run.done, 0);
    atomic_init(&run.stop, false);
    split_rows(sampler, &run, n);
    diffuse_status statuses[SAMPLER_MAX_THREADS];
    if (run.workers > 1)
        parallel_run(sampler->pool, run.workers, sample_part, &run, statuses);
    else
        statuses[0] = sample_part(&run, 0);
    if ((status = finish_run(sampler, &run, statuses)))
        return status;
    return diffuse_check_finite_floats(&sampler->error, out, count, "samples");
}
