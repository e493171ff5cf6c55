/* The negative log-likelihood bound in bits/dim (see
 * include/diffuse/likelihood.h): for every t, one model call over the rows
 * (in chunks) and the Gaussian terms of core/likelihood.h per element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diffuse/likelihood.h"
#include "diffuse/sampler.h"
#include "core/forward.h"
#include "core/likelihood.h"
#include "core/prediction.h"
#include "core/schedule.h"
#include "model/model.h"
#include "model/model_schedule.h"
#include "util/blas_threads.h"
#include "util/philox.h"
#include "util/struct_size.h"

/* Rows per model call: bounds the scratch, not the result. */
#define NLL_CHUNK_ROWS ((size_t)1024)
#define MAX_SEED 9007199254740991.0 /* 2^53 − 1 */

/* One chunk's scratch: ε, x_t, the outputs f and v, x̂_0, the t's. */
typedef struct nll_buffers {
    float *eps, *x_t, *out, *variance, *x0_hat;
    int32_t *t;
} nll_buffers;

/* What one evaluation reads. */
typedef struct nll_pass {
    diffuse_model *model;
    const diffuse_schedule *schedule;
    const diffuse_nll_request *request;
    const float *params;
    nll_buffers buffers;
} nll_pass;

static void buffers_free(nll_buffers *b)
{
    free(b->eps);
    free(b->x_t);
    free(b->out);
    free(b->variance);
    free(b->x0_hat);
    free(b->t);
}

static diffuse_status buffers_alloc(nll_buffers *b, diffuse_error *error, size_t rows, size_t d)
{
    size_t bytes = rows * d * sizeof(float);
    *b = (nll_buffers){malloc(bytes), malloc(bytes), malloc(bytes), malloc(bytes),
                       malloc(bytes), malloc(rows * sizeof(int32_t))};
    if (b->eps && b->x_t && b->out && b->variance && b->x0_hat && b->t)
        return DIFFUSE_OK;
    buffers_free(b);
    return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                        "out of memory for the likelihood of %zu rows", rows);
}

/* log σ_t² of element j for the request's variance (v: the variance output). */
static double reverse_logvar(const nll_pass *p, size_t t, const float *v, size_t j)
{
    const diffuse_schedule *s = p->schedule;
    switch (p->request->variance) {
    case DIFFUSE_VARIANCE_LEARNED:
        return likelihood_learned_logvar(s, t, v[j]);
    case DIFFUSE_VARIANCE_POSTERIOR:
        return schedule_column(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED)[t];
    default:
        return log(schedule_column(s, DIFFUSE_TABLE_BETA)[t]);
    }
}

/* Element j's L_{t−1} (t > 0) or L_0 (t = 0), in nats. */
static double element_nats(const nll_pass *p, size_t t, const float *x0, size_t j)
{
    const diffuse_schedule *s = p->schedule;
    const nll_buffers *b = &p->buffers;
    double c0 = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0)[t];
    double c1 = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT)[t];
    double logvar = reverse_logvar(p, t, b->variance, j);
    double model_mean = c0 * b->x0_hat[j] + c1 * b->x_t[j]; /* μ̃_t(x_t, x̂_0) */
    if (t == 0)
        return p->request->decoder == DIFFUSE_DECODER_CONTINUOUS
                   ? likelihood_continuous_nll(x0[j], model_mean, logvar)
                   : likelihood_discretized_nll(x0[j], model_mean, logvar);
    double true_mean = c0 * x0[j] + c1 * b->x_t[j]; /* μ̃_t(x_t, x_0) */
    double true_logvar = schedule_column(s, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED)[t];
    return likelihood_gaussian_kl(true_mean, true_logvar, model_mean, logvar);
}

/* L_T of row x0 (d values), nats: Σ_j KL(N(√ᾱ x_0j, 1−ᾱ) ‖ N(0, 1)), ᾱ = ᾱ_{T−1}. */
static double prior_nats(const diffuse_schedule *s, const float *x0, size_t d)
{
    double a = schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR)[schedule_steps(s) - 1];
    double sum = 0.0;
    for (size_t j = 0; j < d; j++)
        sum += likelihood_gaussian_kl(sqrt(a) * x0[j], log1p(-a), 0.0, 0.0);
    return sum;
}

/* Adds the terms at timestep t of rows first … first + rows − 1 to terms[]. */
static diffuse_status chunk_at(nll_pass *p, size_t t, size_t first, size_t rows,
                               diffuse_nll_terms *terms)
{
    diffuse_model *m = p->model;
    nll_buffers *b = &p->buffers;
    size_t d = m->dim;
    const float *x0 = p->request->x0 + first * d;
    for (size_t i = 0; i < rows; i++)
        b->t[i] = (int32_t)t;
    philox_normal(p->request->seed, t, first * d, b->eps, rows * d);
    forward_q_sample(p->schedule, rows, d, b->t, x0, b->eps, b->x_t);
    const int32_t *labels = p->request->labels ? p->request->labels + first : NULL;
    diffuse_model_call call = MODEL_CALL(rows, b->x_t, b->t, labels, b->out);
    call.out_variance = p->request->variance == DIFFUSE_VARIANCE_LEARNED ? b->variance : NULL;
    diffuse_status status = model_run(m, p->params, &call, false);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(&m->error, b->out, rows * d, "model output");
    if (status != DIFFUSE_OK)
        return status;
    prediction_estimate e;
    prediction_estimate_init(&e, p->schedule, (diffuse_prediction)m->prediction, rows, d, b->t,
                             b->x_t, b->out, b->x0_hat, NULL);
    const float *x0_hat = prediction_x0(&e);
    if (x0_hat != b->x0_hat)
        memcpy(b->x0_hat, x0_hat, rows * d * sizeof *x0_hat);
    double to_bits = 1.0 / ((double)d * LIKELIHOOD_LN2);
    for (size_t i = 0; i < rows; i++) {
        double nats = 0.0;
        for (size_t j = i * d; j < (i + 1) * d; j++)
            nats += element_nats(p, t, x0, j);
        double *term = t == 0 ? &terms[first + i].decoder : &terms[first + i].diffusion;
        *term += nats * to_bits;
    }
    return DIFFUSE_OK;
}

/* Every row's terms into terms[0 … n−1] (zeroed by the caller). */
static diffuse_status evaluate(nll_pass *p, diffuse_nll_terms *terms)
{
    const diffuse_nll_request *r = p->request;
    size_t d = p->model->dim, steps = schedule_steps(p->schedule);
    diffuse_status status = DIFFUSE_OK;
    for (size_t t = steps; t-- > 0 && status == DIFFUSE_OK;)
        for (size_t first = 0; first < r->n && status == DIFFUSE_OK; first += NLL_CHUNK_ROWS)
            status = chunk_at(p, t, first, r->n - first < NLL_CHUNK_ROWS ? r->n - first
                                                                          : NLL_CHUNK_ROWS,
                              terms);
    for (size_t i = 0; i < r->n && status == DIFFUSE_OK; i++) {
        terms[i].prior = prior_nats(p->schedule, r->x0 + i * d, d) / ((double)d * LIKELIHOOD_LN2);
        terms[i].total = terms[i].prior + terms[i].diffusion + terms[i].decoder;
        if (!isfinite(terms[i].total))
            status = diffuse_fail(&p->model->error, DIFFUSE_ERROR_NUMERIC,
                                  "the bound of row %zu is not finite", i);
    }
    return status;
}

/* The request's fields: rows, variance, decoder, seed, EMA. */
static diffuse_status check_request(diffuse_model *m, const diffuse_nll_request *r,
                                    const float **params)
{
    diffuse_error *error = &m->error;
    size_t count;
    diffuse_status status;
    if ((status = diffuse_check_pointer(error, r->x0, "request->x0")) ||
        (status = diffuse_check_matrix_size(error, r->n, m->dim, &count)) ||
        (status = diffuse_check_finite_floats(error, r->x0, count, "request->x0")))
        return status;
    if (r->variance < DIFFUSE_VARIANCE_BETA || r->variance > DIFFUSE_VARIANCE_LEARNED)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "request->variance = %d is not a diffuse_variance", r->variance);
    if (r->variance == DIFFUSE_VARIANCE_LEARNED && !m->learns_variance)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "request->variance is LEARNED but the model does not learn its "
                            "variance (DIFFUSE_MODEL_LEARN_VARIANCE)");
    if (r->decoder != DIFFUSE_DECODER_DISCRETE && r->decoder != DIFFUSE_DECODER_CONTINUOUS)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "request->decoder = %d is not a diffuse_decoder", r->decoder);
    if ((double)r->seed > MAX_SEED)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "request->seed is above 2^53 - 1");
    if (r->use_ema && m->ema == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_STATE,
                            "request->use_ema is set but the model has no EMA weights");
    *params = r->use_ema ? m->ema : m->params;
    return DIFFUSE_OK;
}

static diffuse_status nll_checked(diffuse_model *m, const diffuse_schedule *schedule,
                                  const diffuse_nll_request *request, diffuse_nll_terms *mean)
{
    diffuse_error *error = &m->error;
    diffuse_nll_request r;
    diffuse_status status;
    nll_pass p = {.model = m, .schedule = schedule, .request = &r};
    if ((status = diffuse_check_pointer(error, schedule, "schedule")) ||
        (status = diffuse_check_pointer(error, mean, "mean")) ||
        (status = struct_size_read(error, request, sizeof(diffuse_nll_request), &r, sizeof r,
                                   "diffuse_nll_request", "DIFFUSE_NLL_REQUEST_INIT")) ||
        (status = check_request(m, &r, &p.params)) ||
        (status = model_schedule_check(m, error, schedule, "the likelihood")) ||
        (status = prediction_check_schedule(error, (diffuse_prediction)m->prediction, schedule)))
        return status;
    diffuse_nll_terms *terms = calloc(r.n, sizeof *terms);
    size_t chunk = r.n < NLL_CHUNK_ROWS ? r.n : NLL_CHUNK_ROWS;
    if (terms == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu rows", r.n);
    if ((status = buffers_alloc(&p.buffers, error, chunk, m->dim)) == DIFFUSE_OK) {
        int blas_threads = model_can_replicate(m) ? blas_threads_pin() : 1;
        status = evaluate(&p, terms);
        blas_threads_restore(blas_threads);
        buffers_free(&p.buffers);
    }
    if (status == DIFFUSE_OK) {
        *mean = (diffuse_nll_terms){0};
        for (size_t i = 0; i < r.n; i++) {
            mean->prior += terms[i].prior / (double)r.n;
            mean->diffusion += terms[i].diffusion / (double)r.n;
            mean->decoder += terms[i].decoder / (double)r.n;
            mean->total += terms[i].total / (double)r.n;
        }
        if (r.per_sample != NULL)
            memcpy(r.per_sample, terms, r.n * sizeof *terms);
    }
    free(terms);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_nll(diffuse_model *model,
                                             const diffuse_schedule *schedule,
                                             const diffuse_nll_request *request,
                                             diffuse_nll_terms *mean)
{
    diffuse_status status = diffuse_check_pointer(NULL, model, "model");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(&model->error, request, "request");
    if (status == DIFFUSE_OK)
        status = model_enter(model, &model->error, "diffuse_model_nll");
    if (status != DIFFUSE_OK)
        return status;
    status = nll_checked(model, schedule, request, mean);
    model_leave(model);
    return status;
}
