/* Ancestral DDPM sampling: Algorithm 2 of Ho et al. 2020 (see
 * include/diffuse/sampler.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "diffuse/sampler.h"
#include "model.h"
#include "option_table.h"
#include "philox.h"
#include "posterior.h"
#include "schedule.h"

enum { SAMPLER_OPTION_COUNT = 6 };

static const option_spec sampler_specs[SAMPLER_OPTION_COUNT] = {
    [DIFFUSE_SAMPLER_VARIANCE] = {"variance", false, DIFFUSE_VARIANCE_BETA,
                                  DIFFUSE_VARIANCE_POSTERIOR, DIFFUSE_VARIANCE_BETA},
    [DIFFUSE_SAMPLER_CLIP_X0] = {"clip_x0", true, 0, 1e30, 0},
    [DIFFUSE_SAMPLER_USE_EMA] = {"use_ema", false, 0, 1, 0},
    [DIFFUSE_SAMPLER_SEED] = {"seed", false, 0, 9007199254740991.0 /* 2^53 − 1 */, 0},
    [DIFFUSE_SAMPLER_THREADS] = {"threads", false, 0, 1024, 0},
    [DIFFUSE_SAMPLER_CHUNK_ROWS] = {"chunk_rows", false, 1, 1048576, 4096},
};

static const option_table sampler_options = {"sampler", sampler_specs, SAMPLER_OPTION_COUNT};

/* Per-chunk scratch: the network output, x̂_0, the noise z and the t's. */
typedef struct chunk_buffers {
    size_t capacity; /* rows */
    float *prediction, *x0, *noise;
    int32_t *t;
} chunk_buffers;

struct diffuse_sampler {
    diffuse_error error;
    diffuse_model *model;
    diffuse_schedule *schedule; /* own copy */
    double options[SAMPLER_OPTION_COUNT];
    diffuse_sample_progress_fn progress_fn;
    void *progress_user;
    chunk_buffers chunk;
};

static void chunk_free(chunk_buffers *c)
{
    free(c->prediction);
    free(c->x0);
    free(c->noise);
    free(c->t);
    *c = (chunk_buffers){0};
}

static diffuse_status chunk_reserve(diffuse_sampler *s, size_t rows)
{
    chunk_buffers *c = &s->chunk;
    if (rows <= c->capacity)
        return DIFFUSE_OK;
    chunk_free(c);
    size_t values = rows * s->model->dim;
    c->prediction = malloc(values * sizeof(float));
    c->x0 = malloc(values * sizeof(float));
    c->noise = malloc(values * sizeof(float));
    c->t = malloc(rows * sizeof(int32_t));
    if (!c->prediction || !c->x0 || !c->noise || !c->t) {
        chunk_free(c);
        return diffuse_fail(&s->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate sampling buffers for %zu rows", rows);
    }
    c->capacity = rows;
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
    status = diffuse_schedule_clone(schedule, &s->schedule);
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
    chunk_free(&sampler->chunk);
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
static void mean_through_x0(diffuse_sampler *s, size_t rows, float *x)
{
    chunk_buffers *c = &s->chunk;
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

/* One reverse step x_t → x_{t−1} for the chunk of rows starting at `first`. */
static diffuse_status reverse_step(diffuse_sampler *s, const float *params, size_t first,
                                   size_t rows, size_t t, float *x)
{
    chunk_buffers *c = &s->chunk;
    diffuse_model *m = s->model;
    size_t count = rows * m->dim;
    for (size_t i = 0; i < rows; i++)
        c->t[i] = (int32_t)t;
    diffuse_status status = m->ops->predict(m, params, x, c->t, rows, c->prediction);
    if (status != DIFFUSE_OK)
        return diffuse_fail(&s->error, status, "%s", diffuse_model_last_error(m));

    /* μ_θ = (x_t − β_t/√(1−ᾱ_t) ε_θ) / √α_t: the paper's form, used for an
     * ε-model without clipping (it never forms x̂_0). */
    if (m->prediction == DIFFUSE_PREDICT_EPSILON && s->options[DIFFUSE_SAMPLER_CLIP_X0] == 0.0)
        posterior_model_mean_from_eps(s->schedule, rows, m->dim, c->t, x, c->prediction, x);
    else
        mean_through_x0(s, rows, x);

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
        (status = check_can_sample(sampler, &params)))
        return status;
    size_t chunk = (size_t)sampler->options[DIFFUSE_SAMPLER_CHUNK_ROWS];
    if (chunk > n)
        chunk = n;
    if ((status = chunk_reserve(sampler, chunk)))
        return status;
    int threads = (int)sampler->options[DIFFUSE_SAMPLER_THREADS];
    if (threads > 0)
        openblas_set_num_threads(threads);

    uint64_t seed = (uint64_t)sampler->options[DIFFUSE_SAMPLER_SEED];
    size_t steps = schedule_steps(sampler->schedule);
    uint64_t total = (uint64_t)((n + chunk - 1) / chunk) * steps, done = 0;
    for (size_t first = 0; first < n; first += chunk) {
        size_t rows = n - first < chunk ? n - first : chunk;
        float *x = out + first * m->dim;
        philox_normal(seed, 0, first * m->dim, x, rows * m->dim); /* x_{T−1} ~ N(0, I) */
        for (size_t t = steps; t-- > 0;) {
            if ((status = reverse_step(sampler, params, first, rows, t, x)))
                return status;
            done++;
            if (sampler->progress_fn != NULL &&
                sampler->progress_fn(sampler->progress_user, done, total) != 0)
                return diffuse_fail(&sampler->error, DIFFUSE_ERROR_CANCELLED,
                                    "sampling cancelled by the progress callback");
        }
    }
    return diffuse_check_finite_floats(&sampler->error, out, count, "samples");
}
