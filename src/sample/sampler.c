/* The sampling loop (see include/diffuse/sampler.h): rows split over the
 * workers, each chunk walked down the timestep list, one model call and
 * one method step (method.h; DDPM ancestral, ddpm.c) per entry. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "diffuse/sampler.h"
#include "model/model.h"
#include "model/model_schedule.h"
#include "util/busy.h"
#include "util/option_table.h"
#include "model/workers.h"
#include "util/philox.h"
#include "core/prediction.h"
#include "core/schedule.h"
#include "sample/method.h"
#include "sample/timesteps.h"

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

/* Per-chunk scratch of a worker: the network output, the derived x̂_0
 * and ε̂, the t's, and the method's state. */
typedef struct chunk_buffers {
    size_t capacity; /* rows */
    float *prediction, *x0, *eps, *state;
    int32_t *t;
} chunk_buffers;


struct diffuse_sampler {
    diffuse_error error;
    busy_state busy;            /* see "Callbacks and re-entry" in diffuse/common.h */
    diffuse_model *model;
    diffuse_schedule *schedule; /* own copy */
    double options[SAMPLER_OPTION_COUNT];
    diffuse_sample_progress_fn progress_fn;
    void *progress_user;
    worker_set workers;         /* each worker's local: its chunk_buffers */
    const sample_method *method;
    int32_t *timesteps;         /* the list visited, T−1 … 0 for DDPM */
    size_t timestep_count;
};

static void chunk_free(void *local)
{
    chunk_buffers *c = local;
    free(c->prediction);
    free(c->x0);
    free(c->eps);
    free(c->state);
    free(c->t);
    *c = (chunk_buffers){0};
}

/* Buffers for chunks of up to `rows` rows, kept while large enough, so
 * steady-state runs allocate nothing. */
static diffuse_status chunk_reserve(worker *w, const sample_method *method, size_t rows)
{
    chunk_buffers *c = w->local;
    if (rows <= c->capacity)
        return DIFFUSE_OK;
    chunk_free(c);
    size_t values = rows * w->model->dim;
    size_t state = method->state_floats(rows, w->model->dim);
    c->prediction = malloc(values * sizeof(float));
    c->x0 = malloc(values * sizeof(float));
    c->eps = malloc(values * sizeof(float));
    c->state = malloc((state > 0 ? state : 1) * sizeof(float));
    c->t = malloc(rows * sizeof(int32_t));
    if (!c->prediction || !c->x0 || !c->eps || !c->state || !c->t) {
        chunk_free(c);
        return diffuse_fail(&w->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate sampling buffers for %zu rows", rows);
    }
    c->capacity = rows;
    return DIFFUSE_OK;
}

/* The method and its timestep list: DDPM over every step, T−1 … 0. */
static diffuse_status set_up_method(diffuse_sampler *s)
{
    size_t steps = schedule_steps(s->schedule);
    s->method = &sample_method_ddpm;
    s->timesteps = malloc(steps * sizeof *s->timesteps);
    if (s->timesteps == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate a timestep list of %zu entries", steps);
    timesteps_every_step(s->timesteps, steps);
    s->timestep_count = steps;
    return DIFFUSE_OK;
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
    if ((status = model_schedule_check(model, NULL, schedule, "sampling"))) {
        diffuse_sampler_free(s);
        return status;
    }
    workers_init(&s->workers, sizeof(chunk_buffers), chunk_free);
    option_defaults(&sampler_options, s->options);
    if ((status = set_up_method(s)) != DIFFUSE_OK) {
        diffuse_sampler_free(s);
        return status;
    }
    *out = s;
    return DIFFUSE_OK;
}

static void sampler_destroy(diffuse_sampler *sampler)
{
    workers_release(&sampler->workers);
    free(sampler->timesteps);
    diffuse_schedule_free(sampler->schedule);
    free(sampler);
}

/* ---- The busy guard ("Callbacks and re-entry" in diffuse/common.h) ------ */

DIFFUSE_API void diffuse_sampler_free(diffuse_sampler *sampler)
{
    if (sampler != NULL && !busy_defer_free(&sampler->busy))
        sampler_destroy(sampler);
}

/* The start of a call that changes the sampler (`enter` false: it must be
 * idle) or runs it (`enter`: the sampler, and the model it lends to its
 * workers and to the progress callback meanwhile, become busy). */
static diffuse_status sampler_guard(diffuse_sampler *s, const char *call, bool enter)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "sampler");
    if (status == DIFFUSE_OK && !enter)
        return busy_check(&s->busy, &s->error, "sampler", call);
    if (status == DIFFUSE_OK)
        status = busy_enter(&s->busy, &s->error, "sampler", call);
    if (status != DIFFUSE_OK)
        return status;
    status = model_enter(s->model, &s->error, call);
    if (status != DIFFUSE_OK)
        busy_leave(&s->busy); /* no callback ran: nothing to free */
    return status;
}

/* The end of a run sampler_guard(…, true) began: frees the model and the
 * sampler if a callback asked for it meanwhile; returns the run's status. */
static diffuse_status sampler_leave(diffuse_sampler *s, diffuse_status status)
{
    model_leave(s->model);
    if (busy_leave(&s->busy))
        sampler_destroy(s);
    return status;
}

DIFFUSE_API const char *diffuse_sampler_last_error(const diffuse_sampler *sampler)
{
    return diffuse_error_message(sampler != NULL ? &sampler->error : NULL);
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
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_int", false);
    if (status != DIFFUSE_OK)
        return status;
    return option_set_int(&sampler->error, &sampler_options, sampler->options, (int)option,
                          value);
}

DIFFUSE_API diffuse_status diffuse_sampler_set_double(diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double value)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_double", false);
    if (status != DIFFUSE_OK)
        return status;
    return option_set(&sampler->error, &sampler_options, sampler->options, (int)option, value,
                      true);
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
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_progress", false);
    if (status != DIFFUSE_OK)
        return status;
    sampler->progress_fn = fn;
    sampler->progress_user = user;
    return DIFFUSE_OK;
}

/* ---- One step of the list -------------------------------------------- */

/* Entry `index` of the list for the chunk of rows starting at global row
 * `first`: the model call at t = list[index], its output read as x̂_0 and
 * ε̂, the method's step. Reads the sampler, writes only the worker and x. */
static diffuse_status list_step(const diffuse_sampler *s, worker *w, const float *params,
                                size_t first, size_t rows, size_t index, float *x)
{
    chunk_buffers *c = w->local;
    diffuse_model *m = w->model;
    size_t t = (size_t)s->timesteps[index], count = s->timestep_count;
    for (size_t i = 0; i < rows; i++)
        c->t[i] = (int32_t)t;
    diffuse_status status =
        m->ops->predict(m, params, &MODEL_CALL(rows, x, c->t, NULL, c->prediction));
    if (status != DIFFUSE_OK)
        return diffuse_fail(&w->error, status, "%s", diffuse_model_last_error(m));
    prediction_estimate e;
    prediction_estimate_init(&e, s->schedule, (diffuse_prediction)m->prediction, rows, m->dim,
                             c->t, x, c->prediction, c->x0, c->eps);
    sample_step step = {.schedule = s->schedule, .options = s->options, .t = t,
                        .t_prev = index + 1 < count ? s->timesteps[index + 1] : -1,
                        .index = index, .count = count, .rows = rows, .d = m->dim,
                        .first_row = first, .t_rows = c->t};
    s->method->step(&step, c->state, &e, x);
    return DIFFUSE_OK;
}

static diffuse_status check_can_sample(diffuse_sampler *s, const float **params)
{
    diffuse_model *m = s->model;
    diffuse_status status =
        prediction_check_schedule(&s->error, (diffuse_prediction)m->prediction, s->schedule);
    if (status == DIFFUSE_OK)
        status = timesteps_check(&s->error, s->timesteps, s->timestep_count,
                                 schedule_steps(s->schedule), s->method->every_step);
    if (status != DIFFUSE_OK)
        return status;
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
 * worker 0); true when it asks to cancel, or has freed the sampler. */
static bool report_progress(sample_run *run, uint64_t done)
{
    const diffuse_sampler *s = run->sampler;
    run->reported = done;
    return s->progress_fn != NULL && (s->progress_fn(s->progress_user, done, run->total) != 0 ||
                                      busy_freed(&s->busy));
}

/* Worker `index`'s rows: each chunk from x ~ N(0, I) at the list's first
 * timestep down the list to the sample. */
static diffuse_status sample_part(void *context, size_t index)
{
    sample_run *run = context;
    const diffuse_sampler *s = run->sampler;
    worker *w = &s->workers.workers[index];
    size_t d = s->model->dim;
    uint64_t seed = (uint64_t)s->options[DIFFUSE_SAMPLER_SEED];
    diffuse_status status = chunk_reserve(w, s->method, chunk_rows_for(run, w->rows));
    for (size_t first = w->first; first < w->first + w->rows && status == DIFFUSE_OK;
         first += run->chunk_rows) {
        size_t rows = chunk_rows_for(run, w->first + w->rows - first);
        float *x = run->out + first * d;
        philox_normal(seed, 0, first * d, x, rows * d); /* x_{t_0} ~ N(0, I) */
        for (size_t i = 0; i < s->timestep_count && status == DIFFUSE_OK; i++) {
            if (atomic_load_explicit(&run->stop, memory_order_relaxed)) {
                w->stopped = true;
                return DIFFUSE_ERROR_CANCELLED;
            }
            status = list_step(s, w, run->params, first, rows, i, x);
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

/* The (chunk, step) units of the run's workers' parts. */
static uint64_t count_units(const diffuse_sampler *s, const sample_run *run)
{
    uint64_t total = 0, steps = s->timestep_count;
    for (size_t i = 0; i < s->workers.active; i++) {
        size_t rows = s->workers.workers[i].rows;
        total += (uint64_t)((rows + run->chunk_rows - 1) / run->chunk_rows) * steps;
    }
    return total;
}

/* The run's status: the first real failure in worker order, then a last
 * progress report if worker 0 finished before the others. */
static diffuse_status finish_run(diffuse_sampler *s, sample_run *run)
{
    diffuse_status status = workers_first_failure(&s->workers, &s->error);
    if (status != DIFFUSE_OK)
        return status;
    if (run->reported < run->total && report_progress(run, run->total))
        return diffuse_fail(&s->error, DIFFUSE_ERROR_CANCELLED,
                            "sampling cancelled by the progress callback");
    return DIFFUSE_OK;
}

static diffuse_status run_checked(diffuse_sampler *sampler, size_t n, float *out)
{
    diffuse_status status;
    diffuse_model *m = sampler->model;
    size_t count;
    const float *params = NULL;
    if ((status = diffuse_check_pointer(&sampler->error, out, "out")) ||
        (status = diffuse_check_matrix_size(&sampler->error, n, m->dim, &count)) ||
        (status = check_can_sample(sampler, &params)) ||
        (status = workers_prepare(&sampler->workers, &sampler->error, m,
                                  (size_t)sampler->options[DIFFUSE_SAMPLER_THREADS], false)))
        return status;
    sample_run run = {.sampler = sampler, .params = params, .out = out,
                      .chunk_rows = (size_t)sampler->options[DIFFUSE_SAMPLER_CHUNK_ROWS]};
    atomic_init(&run.done, 0);
    atomic_init(&run.stop, false);
    workers_split(&sampler->workers, n);
    run.total = count_units(sampler, &run);
    workers_run(&sampler->workers, sample_part, &run);
    if ((status = finish_run(sampler, &run)))
        return status;
    return diffuse_check_finite_floats(&sampler->error, out, count, "samples");
}

DIFFUSE_API diffuse_status diffuse_sampler_run(diffuse_sampler *sampler, size_t n, float *out)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_run", true);
    return status ? status : sampler_leave(sampler, run_checked(sampler, n, out));
}
