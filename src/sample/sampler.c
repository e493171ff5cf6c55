/* The sampling loop (see include/diffuse/sampler.h): rows split over the
 * workers, each chunk walked down the timestep list, one model call and
 * one list_step (method.h: DDPM ddpm.c, DDIM ddim.c, DPM-Solver++ dpmpp.c)
 * per entry; diffuse_sampler_step is list_step on the caller's buffers. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diffuse/sampler.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/model_schedule.h"
#include "util/busy.h"
#include "util/option_table.h"
#include "model/workers.h"
#include "util/philox.h"
#include "core/prediction.h"
#include "core/schedule.h"
#include "sample/method.h"
#include "sample/timesteps.h"

enum { SAMPLER_OPTION_COUNT = 19, SAMPLER_MAX_THREADS = 1024, SAMPLER_MAX_STEPS = 1000000 };

static const option_spec sampler_specs[SAMPLER_OPTION_COUNT] = {
    [DIFFUSE_SAMPLER_VARIANCE] = {"variance", false, DIFFUSE_VARIANCE_BETA,
                                  DIFFUSE_VARIANCE_LEARNED, DIFFUSE_VARIANCE_BETA},
    [DIFFUSE_SAMPLER_CLIP_X0] = {"clip_x0", true, 0, 1e30, 0},
    [DIFFUSE_SAMPLER_USE_EMA] = {"use_ema", false, 0, 1, 0},
    [DIFFUSE_SAMPLER_SEED] = {"seed", false, 0, 9007199254740991.0 /* 2^53 − 1 */, 0},
    [DIFFUSE_SAMPLER_THREADS] = {"threads", false, 0, SAMPLER_MAX_THREADS, 1},
    [DIFFUSE_SAMPLER_CHUNK_ROWS] = {"chunk_rows", false, 1, 1048576, 4096},
    [DIFFUSE_SAMPLER_METHOD] = {"method", false, DIFFUSE_METHOD_DDPM, DIFFUSE_METHOD_DPMPP_2M,
                                DIFFUSE_METHOD_DDPM},
    [DIFFUSE_SAMPLER_STEPS] = {"steps", false, 0, SAMPLER_MAX_STEPS, 0},
    [DIFFUSE_SAMPLER_SPACING] = {"spacing", false, DIFFUSE_SPACING_LEADING,
                                 DIFFUSE_SPACING_KARRAS, DIFFUSE_SPACING_LEADING},
    [DIFFUSE_SAMPLER_ETA] = {"eta", true, 0, 1, 0},
    [DIFFUSE_SAMPLER_FINAL_ALPHA_ONE] = {"final_alpha_one", false, 0, 1, 1},
    [DIFFUSE_SAMPLER_LOWER_ORDER_FINAL] = {"lower_order_final", false, 0, 1, 1},
    [DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE] = {"threshold_percentile", true, 0, 1, 0},
    [DIFFUSE_SAMPLER_THRESHOLD_MAX] = {"threshold_max", true, 1, 1e30, 1},
    [DIFFUSE_SAMPLER_LABEL] = {"label", false, -1, INT32_MAX, -1},
    [DIFFUSE_SAMPLER_GUIDANCE_SCALE] = {"guidance_scale", true, 0, 1000, 1},
    [DIFFUSE_SAMPLER_GUIDANCE_RESCALE] = {"guidance_rescale", true, 0, 1, 0},
    [DIFFUSE_SAMPLER_CLASSIFIER_SCALE] = {"classifier_scale", true, 0, 1e6, 1},
    [DIFFUSE_SAMPLER_GUIDANCE_T_MAX] = {"guidance_t_max", false, 0, INT32_MAX, 0},
};

static const sample_method *const sample_methods[] = {
    [DIFFUSE_METHOD_DDPM] = &sample_method_ddpm,
    [DIFFUSE_METHOD_DDIM] = &sample_method_ddim,
    [DIFFUSE_METHOD_DPMPP_2M] = &sample_method_dpmpp_2m,
};

static const option_table sampler_options = {"sampler", sampler_specs, SAMPLER_OPTION_COUNT};

/* Per-chunk scratch of a worker (or of the step API): the network output
 * (and its variance output), the derived x̂_0 and ε̂, the processed ones,
 * the noise, one row to sort, the t's, and the method's state (rows·d
 * floats each, but sort: d); for a conditional run, the labels (2·rows: the
 * classes, then the null class) and, when it is guided, the 2·rows input
 * and outputs of the model call and the classifier's gradient
 * (guided_capacity rows). */
typedef struct chunk_buffers {
    size_t capacity; /* rows */
    float *prediction, *variance, *x0, *eps, *x0_processed, *eps_processed, *noise, *sort,
        *state;
    int32_t *t, *labels;
    size_t guided_capacity;
    float *pair_x, *pair_out, *pair_variance, *gradient;
    int32_t *pair_t;
} chunk_buffers;


struct diffuse_sampler {
    diffuse_error error;
    busy_state busy;            /* see "Callbacks and re-entry" in diffuse/common.h */
    diffuse_model *model;       /* NULL for a standalone sampler */
    size_t dim;
    diffuse_prediction prediction;
    diffuse_schedule *schedule; /* own copy */
    double options[SAMPLER_OPTION_COUNT];
    diffuse_sample_progress_fn progress_fn;
    void *progress_user;
    diffuse_classifier_fn classifier_fn;
    void *classifier_user;
    worker_set workers;         /* each worker's local: its chunk_buffers */
    int32_t *timesteps;         /* the list visited (room for T entries) */
    size_t timestep_count;
    bool user_list;             /* set by diffuse_sampler_set_timesteps */
    chunk_buffers step_buffers; /* diffuse_sampler_step's */
    size_t step_next;           /* the index continuing the last step; SIZE_MAX: none */
    size_t step_rows;           /* its n */
};

static void guided_free(chunk_buffers *c)
{
    free(c->pair_x);
    free(c->pair_out);
    free(c->pair_variance);
    free(c->gradient);
    free(c->pair_t);
    c->pair_x = c->pair_out = c->pair_variance = c->gradient = NULL;
    c->pair_t = NULL;
    c->guided_capacity = 0;
}

static void chunk_free(void *local)
{
    chunk_buffers *c = local;
    float **arrays[] = {&c->prediction, &c->variance, &c->x0, &c->eps, &c->x0_processed,
                        &c->eps_processed, &c->noise, &c->sort, &c->state};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        free(*arrays[i]);
    free(c->t);
    free(c->labels);
    guided_free(c);
    *c = (chunk_buffers){0};
}

/* Buffers for chunks of up to `rows` rows of d floats, kept while large
 * enough, so steady-state runs allocate nothing. */
static diffuse_status chunk_reserve(chunk_buffers *c, diffuse_error *error, size_t rows,
                                    size_t d)
{
    if (rows <= c->capacity)
        return DIFFUSE_OK;
    chunk_free(c);
    float **arrays[] = {&c->prediction, &c->variance, &c->x0, &c->eps, &c->x0_processed,
                        &c->eps_processed, &c->noise, &c->state};
    bool ok = true;
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        ok = (*arrays[i] = malloc(rows * d * sizeof(float))) != NULL && ok;
    c->sort = malloc(d * sizeof(float));
    c->t = malloc(rows * sizeof(int32_t));
    c->labels = malloc(2 * rows * sizeof(int32_t));
    if (!ok || !c->sort || !c->t || !c->labels) {
        chunk_free(c);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate sampling buffers for %zu rows", rows);
    }
    c->capacity = rows;
    return DIFFUSE_OK;
}

/* The buffers of a guided chunk of up to `rows` rows (after chunk_reserve). */
static diffuse_status guided_reserve(chunk_buffers *c, diffuse_error *error, size_t rows,
                                     size_t d)
{
    if (rows <= c->guided_capacity)
        return DIFFUSE_OK;
    guided_free(c);
    c->pair_x = malloc(2 * rows * d * sizeof(float));
    c->pair_out = malloc(2 * rows * d * sizeof(float));
    c->pair_variance = malloc(2 * rows * d * sizeof(float));
    c->gradient = malloc(rows * d * sizeof(float));
    c->pair_t = malloc(2 * rows * sizeof(int32_t));
    if (!c->pair_x || !c->pair_out || !c->pair_variance || !c->gradient || !c->pair_t) {
        guided_free(c);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate guidance buffers for %zu rows", rows);
    }
    c->guided_capacity = rows;
    return DIFFUSE_OK;
}

/* The list STEPS and SPACING describe (STEPS = 0: T entries); forgets the
 * step API's history, which belonged to the previous list. */
static void respace(diffuse_sampler *s)
{
    size_t steps = schedule_steps(s->schedule);
    size_t count = (size_t)s->options[DIFFUSE_SAMPLER_STEPS];
    count = count == 0 ? steps : count;
    diffuse_spacing spacing = (diffuse_spacing)s->options[DIFFUSE_SAMPLER_SPACING];
    if (spacing == DIFFUSE_SPACING_KARRAS)
        count = timesteps_karras(s->timesteps, count,
                                 schedule_column(s->schedule, DIFFUSE_TABLE_ALPHA_BAR), steps);
    else
        timesteps_spaced(s->timesteps, count, steps, spacing);
    s->timestep_count = count;
    s->user_list = false;
    s->step_next = SIZE_MAX;
}

/* Room for a list of T entries, filled as the default options say. */
static diffuse_status set_up_timesteps(diffuse_sampler *s)
{
    size_t steps = schedule_steps(s->schedule);
    s->timesteps = malloc(steps * sizeof *s->timesteps);
    if (s->timesteps == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate a timestep list of %zu entries", steps);
    respace(s);
    return DIFFUSE_OK;
}

static void sampler_destroy(diffuse_sampler *sampler);

/* The common end of the constructors, once s has its schedule, dim and
 * prediction: workers, options, the timestep list. */
static diffuse_status sampler_finish_create(diffuse_sampler **out, diffuse_sampler *s)
{
    workers_init(&s->workers, sizeof(chunk_buffers), chunk_free);
    option_defaults(&sampler_options, s->options);
    diffuse_status status = set_up_timesteps(s);
    if (status != DIFFUSE_OK) {
        sampler_destroy(s);
        return status;
    }
    *out = s;
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
        (status = diffuse_check_pointer(NULL, schedule, "schedule")) ||
        (status = model_schedule_check(model, NULL, schedule, "sampling")))
        return status;
    diffuse_sampler *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate a sampler");
    status = diffuse_schedule_clone(&s->schedule, schedule);
    if (status != DIFFUSE_OK) {
        free(s);
        return status;
    }
    schedule_warn_far_from_prior(s->schedule, "diffuse_sampler_create");
    s->model = model;
    s->dim = model->dim;
    s->prediction = (diffuse_prediction)model->prediction;
    return sampler_finish_create(out, s);
}

DIFFUSE_API diffuse_status diffuse_sampler_create_standalone(diffuse_sampler **out,
                                                             const diffuse_schedule *schedule,
                                                             size_t dim,
                                                             diffuse_prediction prediction)
{
    if (out == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    diffuse_status status = diffuse_check_pointer(NULL, schedule, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    if (dim == 0 || dim > DIFFUSE_MODEL_MAX_DIM)
        return diffuse_fail(NULL, DIFFUSE_ERROR_OUT_OF_RANGE, "dim %zu is outside [1, %zu]",
                            dim, (size_t)DIFFUSE_MODEL_MAX_DIM);
    if ((unsigned)prediction > DIFFUSE_PREDICT_X0)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown prediction %d",
                            (int)prediction);
    diffuse_sampler *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate a sampler");
    if ((status = diffuse_schedule_clone(&s->schedule, schedule)) != DIFFUSE_OK) {
        free(s);
        return status;
    }
    s->dim = dim;
    s->prediction = prediction;
    return sampler_finish_create(out, s);
}

static void sampler_destroy(diffuse_sampler *sampler)
{
    workers_release(&sampler->workers);
    chunk_free(&sampler->step_buffers);
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
    if (s->model == NULL) {
        busy_leave(&s->busy);
        return diffuse_fail(&s->error, DIFFUSE_ERROR_STATE,
                            "%s: this sampler has no model (diffuse_sampler_step only)", call);
    }
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

/* After option `option` was set (`before`: all options until then): STEPS
 * must not exceed T (else everything is as before); STEPS and SPACING
 * respace the list; any change ends the step API's history. */
static diffuse_status option_changed(diffuse_sampler *s, diffuse_sampler_option option,
                                     const double *before)
{
    size_t steps = schedule_steps(s->schedule);
    if (option == DIFFUSE_SAMPLER_STEPS && s->options[option] > (double)steps) {
        double asked = s->options[option];
        memcpy(s->options, before, sizeof s->options);
        return diffuse_fail(&s->error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "steps %.0f exceeds the schedule's %zu steps", asked, steps);
    }
    if (option == DIFFUSE_SAMPLER_STEPS || option == DIFFUSE_SAMPLER_SPACING)
        respace(s);
    s->step_next = SIZE_MAX;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_sampler_set_int(diffuse_sampler *sampler,
                                                   diffuse_sampler_option option, int64_t value)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_int", false);
    if (status != DIFFUSE_OK)
        return status;
    double before[SAMPLER_OPTION_COUNT];
    memcpy(before, sampler->options, sizeof before);
    status = option_set_int(&sampler->error, &sampler_options, sampler->options, (int)option,
                            value);
    return status ? status : option_changed(sampler, option, before);
}

DIFFUSE_API diffuse_status diffuse_sampler_set_double(diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double value)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_double", false);
    if (status != DIFFUSE_OK)
        return status;
    double before[SAMPLER_OPTION_COUNT];
    memcpy(before, sampler->options, sizeof before);
    status = option_set(&sampler->error, &sampler_options, sampler->options, (int)option, value,
                        true);
    return status ? status : option_changed(sampler, option, before);
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

DIFFUSE_API diffuse_status diffuse_sampler_set_classifier(diffuse_sampler *sampler,
                                                          diffuse_classifier_fn fn, void *user)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_classifier", false);
    if (status != DIFFUSE_OK)
        return status;
    sampler->classifier_fn = fn;
    sampler->classifier_user = user;
    return DIFFUSE_OK;
}

/* ---- One step of the list -------------------------------------------- */

/* c->t = t for each of `rows` rows (the model and the row kernels take one
 * t per row). */
static void fill_t(chunk_buffers *c, size_t rows, int32_t t)
{
    for (size_t i = 0; i < rows; i++)
        c->t[i] = t;
}

/* Entry `index` of the list for `rows` rows whose first is global row
 * `first` (its noise): the model's `output` at t = list[index] read as x̂_0
 * and ε̂, the method's step x_t → x_prev (x_prev may be x_t), and the x̂_0
 * it used into x0_out when not NULL. `history`: c->state holds x̂_0 of entry
 * index − 1 for these rows; c->t is filled (fill_t); `variance`: the
 * model's variance output (VARIANCE = LEARNED), else NULL. The run's loop
 * and diffuse_sampler_step both come here; it reads the sampler and writes
 * only c, x_prev and x0_out. */
static void list_step(const diffuse_sampler *s, chunk_buffers *c, size_t index, bool history,
                      size_t first, size_t rows, const float *output, const float *variance,
                      const float *x_t, float *x_prev, float *x0_out)
{
    size_t t = (size_t)s->timesteps[index], count = s->timestep_count, d = s->dim;
    sample_estimate e = {.options = s->options, .x0_buffer = c->x0_processed,
                         .eps_buffer = c->eps_processed, .sort_buffer = c->sort};
    prediction_estimate_init(&e.raw, s->schedule, s->prediction, rows, d, c->t, x_t, output,
                             c->x0, c->eps);
    sample_step step = {.schedule = s->schedule, .options = s->options, .t = t,
                        .t_prev = index + 1 < count ? s->timesteps[index + 1] : -1,
                        .t_before = index > 0 ? s->timesteps[index - 1] : -1,
                        .index = index, .count = count, .history = history && index > 0,
                        .rows = rows, .d = d, .first_row = first, .t_rows = c->t,
                        .noise = c->noise, .variance = variance};
    if (x0_out != NULL) /* before x_prev, which may be x_t, is written */
        memcpy(x0_out, sample_x0(&e), rows * d * sizeof *x0_out);
    sample_methods[(int)s->options[DIFFUSE_SAMPLER_METHOD]]->step(&step, c->state, &e, x_prev);
}

/* What both a run and a step need: a model output the schedule can be
 * sampled with, and not both kinds of x̂_0 processing. */
static diffuse_status check_method(diffuse_sampler *s)
{
    if (s->options[DIFFUSE_SAMPLER_CLIP_X0] > 0.0 &&
        s->options[DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE] > 0.0)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "clip_x0 and threshold_percentile are both set: choose one");
    return prediction_check_schedule(&s->error, s->prediction, s->schedule);
}

static bool learned_variance(const diffuse_sampler *s)
{
    return s->options[DIFFUSE_SAMPLER_VARIANCE] == DIFFUSE_VARIANCE_LEARNED;
}

static diffuse_status check_can_sample(diffuse_sampler *s, const float **params)
{
    diffuse_model *m = s->model;
    diffuse_status status = check_method(s);
    if (status != DIFFUSE_OK)
        return status;
    if (s->options[DIFFUSE_SAMPLER_USE_EMA] != 0.0 && m->ema == NULL)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_STATE,
                            "use_ema is set but the model has no EMA weights");
    if (learned_variance(s) && !m->learns_variance)
        return diffuse_fail(&s->error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "variance is LEARNED but the model does not learn its variance "
                            "(DIFFUSE_MODEL_LEARN_VARIANCE)");
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
    const int32_t *labels; /* one per sample, or NULL: `label` for all */
    int32_t label;
    bool conditional;      /* the model calls carry labels */
    bool guided;           /* GUIDANCE_SCALE ≠ 1: 2n-row calls */
    size_t classes;        /* K, the null class */
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

/* x_{t_0} ~ N(0, I) for rows first … first + rows − 1: Philox stream
 * (seed, 0) at value first·d on. */
static void draw_start(const diffuse_sampler *s, size_t first, size_t rows, float *x)
{
    uint64_t seed = (uint64_t)s->options[DIFFUSE_SAMPLER_SEED];
    philox_normal(seed, 0, first * s->dim, x, rows * s->dim);
}

/* The chunk's labels: rows 0 … rows−1 the samples' classes, rows …
 * 2·rows − 1 the null class (the second half of a guided call). */
static void fill_labels(const sample_run *run, chunk_buffers *c, size_t first, size_t rows)
{
    for (size_t i = 0; i < rows; i++) {
        c->labels[i] = run->labels != NULL ? run->labels[first + i] : run->label;
        c->labels[rows + i] = (int32_t)run->classes;
    }
}

/* Classifier-free guidance: one model call over [x; x] with [y; ∅], then
 * f = f_∅ + w (f_c − f_∅) and the rescale (core/prediction.h); a learned
 * variance is the conditional rows' (as GLIDE guides only ε). */
static diffuse_status guided_prediction(const sample_run *run, diffuse_model *m,
                                        chunk_buffers *c, size_t rows, const float *x)
{
    const diffuse_sampler *s = run->sampler;
    size_t values = rows * s->dim;
    memcpy(c->pair_x, x, values * sizeof *x);
    memcpy(c->pair_x + values, x, values * sizeof *x);
    memcpy(c->pair_t, c->t, rows * sizeof *c->t);
    memcpy(c->pair_t + rows, c->t, rows * sizeof *c->t);
    diffuse_model_call call = MODEL_CALL(2 * rows, c->pair_x, c->pair_t, c->labels, c->pair_out);
    call.out_variance = learned_variance(s) ? c->pair_variance : NULL;
    diffuse_status status = model_run(m, run->params, &call, false);
    if (status == DIFFUSE_OK && call.out_variance != NULL)
        memcpy(c->variance, c->pair_variance, values * sizeof *c->variance);
    if (status == DIFFUSE_OK)
        prediction_guide(rows, s->dim, s->options[DIFFUSE_SAMPLER_GUIDANCE_SCALE],
                         s->options[DIFFUSE_SAMPLER_GUIDANCE_RESCALE], c->pair_out,
                         c->prediction);
    return status;
}

/* Classifier guidance: g = ∇_x log p(y | x_t, t) from the user's
 * classifier, then ε̂ ← ε̂ − √(1−ᾱ_t) s g on the output (core/prediction.h). */
static diffuse_status classifier_shift(const sample_run *run, worker *w, chunk_buffers *c,
                                       size_t rows, const float *x)
{
    const diffuse_sampler *s = run->sampler;
    char message[DIFFUSE_ERROR_MESSAGE_SIZE / 2] = "";
    int failed = s->classifier_fn(s->classifier_user, rows, s->dim, x, c->t, c->labels,
                                  c->gradient, message, sizeof message);
    message[sizeof message - 1] = '\0';
    if (busy_freed(&s->busy))
        return diffuse_fail(&w->error, DIFFUSE_ERROR_CANCELLED,
                            "the sampler was freed by its classifier");
    if (failed != 0)
        return diffuse_fail(&w->error, DIFFUSE_ERROR_CALLBACK,
                            "classifier failed at t = %d (returned %d): %s", (int)c->t[0],
                            failed, message[0] ? message : "no message");
    diffuse_status status =
        diffuse_check_finite_floats(&w->error, c->gradient, rows * s->dim, "classifier gradient");
    if (status == DIFFUSE_OK)
        prediction_shift_eps(s->schedule, s->prediction, rows, s->dim, c->t,
                             s->options[DIFFUSE_SAMPLER_CLASSIFIER_SCALE], c->gradient,
                             c->prediction);
    return status;
}

/* Whether classifier-free guidance applies at step t (every row of a chunk
 * is at the same t): GUIDANCE_T_MAX = m > 0 limits it to t < m. */
static bool guided_at(const sample_run *run, int32_t t)
{
    double t_max = run->sampler->options[DIFFUSE_SAMPLER_GUIDANCE_T_MAX];
    return run->guided && (t_max == 0 || t < t_max);
}

/* The (guided) model output for the chunk's rows x at c->t, into
 * c->prediction. */
static diffuse_status model_output(const sample_run *run, worker *w, chunk_buffers *c,
                                   size_t rows, const float *x)
{
    diffuse_model *m = w->model;
    const int32_t *labels = run->conditional ? c->labels : NULL;
    diffuse_model_call call = MODEL_CALL(rows, x, c->t, labels, c->prediction);
    call.out_variance = learned_variance(run->sampler) ? c->variance : NULL;
    diffuse_status status = guided_at(run, c->t[0]) ? guided_prediction(run, m, c, rows, x)
                                                     : model_run(m, run->params, &call, false);
    if (status != DIFFUSE_OK)
        return diffuse_fail(&w->error, status, "%s", diffuse_model_last_error(m));
    return run->sampler->classifier_fn != NULL ? classifier_shift(run, w, c, rows, x)
                                               : DIFFUSE_OK;
}

/* Worker `index`'s rows: each chunk from x ~ N(0, I) at the list's first
 * timestep down the list to the sample. */
static diffuse_status sample_part(void *context, size_t index)
{
    sample_run *run = context;
    const diffuse_sampler *s = run->sampler;
    worker *w = &s->workers.workers[index];
    chunk_buffers *c = w->local;
    size_t d = s->dim, most = chunk_rows_for(run, w->rows);
    diffuse_status status = chunk_reserve(c, &w->error, most, d);
    if (status == DIFFUSE_OK && (run->guided || s->classifier_fn != NULL))
        status = guided_reserve(c, &w->error, most, d);
    for (size_t first = w->first; first < w->first + w->rows && status == DIFFUSE_OK;
         first += run->chunk_rows) {
        size_t rows = chunk_rows_for(run, w->first + w->rows - first);
        float *x = run->out + first * d;
        draw_start(s, first, rows, x);
        fill_labels(run, c, first, rows);
        for (size_t i = 0; i < s->timestep_count && status == DIFFUSE_OK; i++) {
            if (atomic_load_explicit(&run->stop, memory_order_relaxed)) {
                w->stopped = true;
                return DIFFUSE_ERROR_CANCELLED;
            }
            fill_t(c, rows, s->timesteps[i]);
            status = model_output(run, w, c, rows, x);
            if (status == DIFFUSE_OK)
                list_step(s, c, i, true, first, rows, c->prediction,
                          learned_variance(s) ? c->variance : NULL, x, x, NULL);
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

/* Labels of a run for the model `s` samples ("Conditional sampling" in
 * diffuse/sampler.h): consistent with the guidance options and the model's
 * classes; fills the run's conditioning fields. */
static diffuse_status check_conditioning(diffuse_sampler *s, const int32_t *labels, size_t n,
                                         sample_run *run)
{
    diffuse_error *e = &s->error;
    size_t classes = model_classes(s->model);
    int32_t label = (int32_t)s->options[DIFFUSE_SAMPLER_LABEL];
    double scale = s->options[DIFFUSE_SAMPLER_GUIDANCE_SCALE];
    bool conditional = labels != NULL || label >= 0, classifier = s->classifier_fn != NULL;
    bool callback = s->model->config->architecture == DIFFUSE_ARCH_CALLBACK;
    *run = (sample_run){.labels = labels, .label = label, .conditional = conditional,
                        .guided = scale != 1.0, .classes = classes};
    if (scale != 1.0 && classes == 0)
        return diffuse_fail(e, DIFFUSE_ERROR_UNSUPPORTED,
                            "guidance_scale %g needs a model with classes (classifier-free "
                            "guidance mixes in its null class); this model is unconditional",
                            scale);
    if ((scale != 1.0 || classifier) && !conditional)
        return diffuse_fail(e, DIFFUSE_ERROR_STATE,
                            "%s needs labels: set DIFFUSE_SAMPLER_LABEL or use "
                            "diffuse_sampler_run_labels",
                            classifier ? "classifier guidance" : "guidance_scale != 1");
    if (conditional && classes == 0 && !classifier && !callback)
        return diffuse_fail(e, DIFFUSE_ERROR_UNSUPPORTED,
                            "labels given but the model has no classes and no classifier is "
                            "set: nothing would use them");
    if (classes > 0)
        return labels != NULL ? model_check_labels(e, classes, labels, n, "labels")
                              : model_check_labels(e, classes, &label, label >= 0, "label");
    for (size_t i = 0; labels != NULL && i < n; i++)
        if (labels[i] < 0)
            return diffuse_fail(e, DIFFUSE_ERROR_OUT_OF_RANGE, "labels[%zu] = %d is negative",
                                i, (int)labels[i]);
    return DIFFUSE_OK;
}

/* The workers' run over run->out (n rows); one worker with a classifier,
 * which runs on the calling thread. */
static diffuse_status run_workers(diffuse_sampler *sampler, sample_run *run, size_t n)
{
    diffuse_status status;
    size_t threads = (size_t)sampler->options[DIFFUSE_SAMPLER_THREADS];
    if (sampler->classifier_fn != NULL && threads > 1)
        threads = 1;
    if ((status = workers_prepare(&sampler->workers, &sampler->error, sampler->model, threads,
                                  false)))
        return status;
    atomic_init(&run->done, 0);
    atomic_init(&run->stop, false);
    workers_split(&sampler->workers, n);
    run->total = count_units(sampler, run);
    workers_run(&sampler->workers, sample_part, run);
    return finish_run(sampler, run);
}

/* A run into `out` itself, or with a classifier into a buffer of its own,
 * copied to `out` only on success (a failing classifier leaves it
 * untouched). */
static diffuse_status run_checked(diffuse_sampler *sampler, size_t n, const int32_t *labels,
                                  float *out)
{
    diffuse_status status;
    diffuse_model *m = sampler->model;
    size_t count;
    const float *params = NULL;
    sample_run run;
    if ((status = diffuse_check_pointer(&sampler->error, out, "out")) ||
        (status = diffuse_check_matrix_size(&sampler->error, n, m->dim, &count)) ||
        (status = check_can_sample(sampler, &params)) ||
        (status = check_conditioning(sampler, labels, n, &run)))
        return status;
    run.sampler = sampler;
    run.params = params;
    run.chunk_rows = (size_t)sampler->options[DIFFUSE_SAMPLER_CHUNK_ROWS];
    run.out = sampler->classifier_fn != NULL ? malloc(count * sizeof *out) : out;
    if (run.out == NULL)
        return diffuse_fail(&sampler->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate %zu samples for classifier guidance", n);
    status = run_workers(sampler, &run, n);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(&sampler->error, run.out, count, "samples");
    if (run.out != out) {
        if (status == DIFFUSE_OK)
            memcpy(out, run.out, count * sizeof *out);
        free(run.out);
    }
    return status;
}

DIFFUSE_API diffuse_status diffuse_sampler_run(diffuse_sampler *sampler, size_t n, float *out)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_run", true);
    return status ? status : sampler_leave(sampler, run_checked(sampler, n, NULL, out));
}

DIFFUSE_API diffuse_status diffuse_sampler_run_labels(diffuse_sampler *sampler, size_t n,
                                                      const int32_t *labels, float *out)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_run_labels", true);
    if (status == DIFFUSE_OK &&
        (status = diffuse_check_pointer(&sampler->error, labels, "labels")) != DIFFUSE_OK)
        return sampler_leave(sampler, status);
    return status ? status : sampler_leave(sampler, run_checked(sampler, n, labels, out));
}

/* ---- The timestep list and the step API -------------------------------- */

DIFFUSE_API diffuse_status diffuse_sampler_set_timesteps(diffuse_sampler *sampler,
                                                         const int32_t *list, size_t count)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_set_timesteps", false);
    if (status != DIFFUSE_OK)
        return status;
    if (list == NULL && count == 0) {
        respace(sampler);
        return DIFFUSE_OK;
    }
    if ((status = diffuse_check_pointer(&sampler->error, list, "list")) ||
        (status = timesteps_check(&sampler->error, list, count,
                                  schedule_steps(sampler->schedule))))
        return status;
    /* Strictly decreasing in [0, T): count ≤ T, the room there is. */
    memcpy(sampler->timesteps, list, count * sizeof *list);
    sampler->timestep_count = count;
    sampler->user_list = true;
    sampler->step_next = SIZE_MAX;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_sampler_timesteps(const diffuse_sampler *sampler,
                                                     int32_t *list, size_t capacity,
                                                     size_t *count)
{
    diffuse_status status = diffuse_check_pointer(NULL, sampler, "sampler");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error_of(sampler), count, "count");
    if (status != DIFFUSE_OK)
        return status;
    if (list != NULL && capacity < sampler->timestep_count)
        return diffuse_fail(error_of(sampler), DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "capacity %zu is below the list's %zu entries", capacity,
                            sampler->timestep_count);
    *count = sampler->timestep_count;
    if (list != NULL)
        memcpy(list, sampler->timesteps, sampler->timestep_count * sizeof *list);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_sampler_initial_noise(diffuse_sampler *sampler, size_t n,
                                                         float *x)
{
    size_t count;
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_initial_noise", false);
    if (status == DIFFUSE_OK &&
        !(status = diffuse_check_pointer(&sampler->error, x, "x")) &&
        !(status = diffuse_check_matrix_size(&sampler->error, n, sampler->dim, &count)))
        draw_start(sampler, 0, n, x);
    return status;
}

/* The index of t in the list (INVALID_ARGUMENT when it is not there). */
static diffuse_status find_timestep(diffuse_sampler *s, int32_t t, size_t *index)
{
    for (size_t i = 0; i < s->timestep_count; i++)
        if (s->timesteps[i] == t) {
            *index = i;
            return DIFFUSE_OK;
        }
    return diffuse_fail(&s->error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                        "t = %d is not in the sampler's timestep list (%zu entries, %d … %d)",
                        (int)t, s->timestep_count, (int)s->timesteps[0],
                        (int)s->timesteps[s->timestep_count - 1]);
}

/* The arrays of a step: present, finite inputs, outputs overlapping
 * nothing (x_prev may be x_t itself). */
static diffuse_status check_step_arrays(diffuse_sampler *s, size_t count,
                                        const float *output, const float *x_t,
                                        const float *x_prev, const float *x0)
{
    diffuse_error *e = &s->error;
    size_t bytes = count * sizeof(float);
    diffuse_status status;
    if ((status = diffuse_check_pointer(e, output, "model_output")) ||
        (status = diffuse_check_pointer(e, x_t, "x_t")) ||
        (status = diffuse_check_pointer(e, x_prev, "x_prev")) ||
        (status = diffuse_check_finite_floats(e, output, count, "model_output")) ||
        (status = diffuse_check_finite_floats(e, x_t, count, "x_t")) ||
        (status = diffuse_check_overlap(e, x_prev, bytes, "x_prev", x_t, bytes, "x_t", true)) ||
        (status = diffuse_check_overlap(e, x_prev, bytes, "x_prev", output, bytes,
                                        "model_output", false)))
        return status;
    if (x0 == NULL)
        return DIFFUSE_OK;
    if ((status = diffuse_check_overlap(e, x0, bytes, "x0", x_t, bytes, "x_t", false)) ||
        (status = diffuse_check_overlap(e, x0, bytes, "x0", output, bytes, "model_output",
                                        false)))
        return status;
    return diffuse_check_overlap(e, x0, bytes, "x0", x_prev, bytes, "x_prev", false);
}

/* The variance output of a step: required with VARIANCE = LEARNED (and
 * then checked like the model output), ignored otherwise. */
static diffuse_status check_step_variance(diffuse_sampler *s, size_t count,
                                          const float *variance, const float *x_prev)
{
    diffuse_error *e = &s->error;
    size_t bytes = count * sizeof(float);
    diffuse_status status;
    if (!learned_variance(s))
        return DIFFUSE_OK;
    if (variance == NULL)
        return diffuse_fail(e, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "variance is LEARNED: the step needs the model's variance output "
                            "(diffuse_sampler_step_variance)");
    if ((status = diffuse_check_finite_floats(e, variance, count, "model_variance")))
        return status;
    return diffuse_check_overlap(e, x_prev, bytes, "x_prev", variance, bytes, "model_variance",
                                 false);
}

static diffuse_status step_checked(diffuse_sampler *sampler, size_t n, int32_t t,
                                   const float *model_output, const float *model_variance,
                                   const float *x_t, float *x_prev, float *x0)
{
    size_t count, index = 0;
    diffuse_status status;
    chunk_buffers *c = &sampler->step_buffers;
    if ((status = diffuse_check_matrix_size(&sampler->error, n, sampler->dim, &count)) ||
        (status = check_step_arrays(sampler, count, model_output, x_t, x_prev, x0)) ||
        (status = check_step_variance(sampler, count, model_variance, x_prev)) ||
        (status = find_timestep(sampler, t, &index)) || (status = check_method(sampler)) ||
        (status = chunk_reserve(c, &sampler->error, n, sampler->dim)))
        return status;
    bool history = index == sampler->step_next && n == sampler->step_rows;
    fill_t(c, n, t);
    list_step(sampler, c, index, history, 0, n, model_output,
              learned_variance(sampler) ? model_variance : NULL, x_t, x_prev, x0);
    sampler->step_next = index + 1;
    sampler->step_rows = n;
    return diffuse_check_finite_floats(&sampler->error, x_prev, count, "x_prev");
}

DIFFUSE_API diffuse_status diffuse_sampler_step(diffuse_sampler *sampler, size_t n, int32_t t,
                                                const float *model_output, const float *x_t,
                                                float *x_prev, float *x0)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_step", false);
    return status ? status : step_checked(sampler, n, t, model_output, NULL, x_t, x_prev, x0);
}

DIFFUSE_API diffuse_status diffuse_sampler_step_variance(diffuse_sampler *sampler, size_t n,
                                                         int32_t t, const float *model_output,
                                                         const float *model_variance,
                                                         const float *x_t, float *x_prev,
                                                         float *x0)
{
    diffuse_status status = sampler_guard(sampler, "diffuse_sampler_step_variance", false);
    return status ? status
                  : step_checked(sampler, n, t, model_output, model_variance, x_t, x_prev, x0);
}
