/* The model handle: construction, parameters, layout, prediction (see
 * include/diffuse/model.h; the architectures live in src/nn/). */
#include "model/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_config.h"
#include "model/architecture.h"
#include "model/callback.h"
#include "util/blas_threads.h"
#include "util/log.h"

/* The handle is heap-allocated and used by one thread at a time, so a
 * failure of a const getter may still be recorded in it. */
static diffuse_error *model_error(const diffuse_model *m)
{
    return m != NULL ? (diffuse_error *)&m->error : NULL;
}

static diffuse_status check_model(const diffuse_model *m)
{
    return diffuse_check_pointer(NULL, m, "model");
}

/* Checks the model, then the output pointer of a getter. */
static diffuse_status check_getter(const diffuse_model *m, const void *out, const char *what)
{
    diffuse_status status = check_model(m);
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(model_error(m), out, what);
    return status;
}

void model_zero_grads(diffuse_model *m)
{
    if (m->param_count > 0)
        memset(m->grads, 0, m->param_count * sizeof *m->grads);
}

diffuse_status model_ensure_ema(diffuse_model *m)
{
    if (m->ema != NULL)
        return DIFFUSE_OK;
    if (m->param_count == 0)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_UNSUPPORTED,
                            "a model without parameters has no moving average");
    m->ema = malloc(m->param_count * sizeof *m->ema);
    if (m->ema == NULL)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu averaged parameters", m->param_count);
    memcpy(m->ema, m->params, m->param_count * sizeof *m->ema);
    return DIFFUSE_OK;
}

/* The fields that follow from the configuration (an architecture's build
 * reads them with m->config). */
static void take_config_fields(diffuse_model *m, const diffuse_model_config *config)
{
    m->dim = config->dim;
    m->prediction = (int)model_config_int(config, DIFFUSE_MODEL_PREDICTION);
    /* Callback configurations have no such option: their function writes out only. */
    m->learns_variance = config->architecture != DIFFUSE_ARCH_CALLBACK &&
                         model_config_int(config, DIFFUSE_MODEL_LEARN_VARIANCE) != 0;
    m->out_dim = m->learns_variance ? 2 * m->dim : m->dim;
}

/* A model with an owned copy of `config` and nothing else yet. */
static diffuse_status new_model(diffuse_model **out, const diffuse_model_config *config)
{
    diffuse_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a model");
    diffuse_status status = diffuse_model_config_copy(&m->config, config);
    if (status != DIFFUSE_OK) {
        free(m);
        return status;
    }
    take_config_fields(m, config);
    *out = m;
    return DIFFUSE_OK;
}

diffuse_status model_describe_layout(const diffuse_model_config *config, model_tensor **tensors,
                                     size_t *count, diffuse_error *error)
{
    const nn_architecture *architecture = nn_architecture_find((int)config->architecture);
    /* A model that build describes but nothing allocates parameters for;
     * build only reads the configuration, so borrowing it is safe. */
    diffuse_model probe;
    memset(&probe, 0, sizeof probe);
    probe.config = (diffuse_model_config *)config;
    take_config_fields(&probe, config);
    diffuse_status status = architecture->build(&probe);
    if (status != DIFFUSE_OK)
        return diffuse_fail(error, status, "%s", probe.error.message);
    probe.ops->destroy(probe.arch);
    *tensors = probe.tensors;
    *count = probe.tensor_count;
    return DIFFUSE_OK;
}

static diffuse_status allocate_params(diffuse_model *m)
{
    m->params = calloc(m->param_count, sizeof *m->params);
    m->grads = calloc(m->param_count, sizeof *m->grads);
    if (m->params == NULL || m->grads == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu parameters and their gradients",
                            m->param_count);
    return DIFFUSE_OK;
}

/* Passes diffuse_model_warning's advice, if any, to the log function, so
 * that a program which installed one (the Python binding does) sees it
 * without asking. */
static void warn_about_config(const diffuse_model *m)
{
    char advice[256];
    if (diffuse_model_warning(m, advice, sizeof advice) != 0)
        log_warning("diffuse_model_create: %s", advice);
}

DIFFUSE_API diffuse_status diffuse_model_create(diffuse_model **out,
                                                const diffuse_model_config *config)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    status = diffuse_check_pointer(NULL, config, "config");
    if (status != DIFFUSE_OK)
        return status;
    const nn_architecture *architecture = nn_architecture_find((int)config->architecture);
    if (architecture->build == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "%s models are created with their own constructor "
                            "(diffuse_model_create_%s)",
                            architecture->name, architecture->name);
    diffuse_model *m = NULL;
    status = new_model(&m, config);
    if (status != DIFFUSE_OK)
        return status;
    status = architecture->build(m);
    if (status == DIFFUSE_OK)
        status = allocate_params(m);
    if (status != DIFFUSE_OK) {
        diffuse_model_free(m); /* the thread's slot keeps the message */
        return status;
    }
    architecture->init_params(m);
    warn_about_config(m);
    *out = m;
    return DIFFUSE_OK;
}

static const nn_architecture *architecture_of(const diffuse_model *m)
{
    return nn_architecture_find((int)m->config->architecture);
}

bool model_can_replicate(const diffuse_model *m)
{
    return architecture_of(m)->build != NULL;
}

/* A new replica of `m`: its own architecture state (activations), error
 * slot and configuration; m's parameters; no gradient buffer (gradients go
 * through a team into m's, see model_grads_open). */
static diffuse_status create_replica(const diffuse_model *m, diffuse_model **out)
{
    diffuse_model *replica = NULL;
    diffuse_status status = new_model(&replica, m->config);
    if (status != DIFFUSE_OK)
        return status;
    replica->params = m->params;
    replica->shares_params = true;
    status = architecture_of(m)->build(replica);
    if (status != DIFFUSE_OK) {
        status = diffuse_fail(NULL, status, "%s", replica->error.message);
        diffuse_model_free(replica);
        return status;
    }
    *out = replica;
    return DIFFUSE_OK;
}

/* Grows m->replicas to hold `count` entries (new ones NULL). */
static diffuse_status reserve_replicas(diffuse_model *m, size_t count)
{
    if (count <= m->replica_count)
        return DIFFUSE_OK;
    diffuse_model **grown = realloc(m->replicas, count * sizeof *grown);
    if (grown == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu replicas",
                            count);
    for (size_t i = m->replica_count; i < count; i++)
        grown[i] = NULL;
    m->replicas = grown;
    m->replica_count = count;
    return DIFFUSE_OK;
}

diffuse_status model_replica(diffuse_model *m, size_t index, diffuse_model **out)
{
    *out = NULL;
    const nn_architecture *architecture = architecture_of(m);
    if (architecture->build == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_UNSUPPORTED,
                            "a %s model cannot be replicated for worker threads",
                            architecture->name);
    if (index == 0)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "worker 0 uses the model itself");
    diffuse_status status = reserve_replicas(m, index);
    if (status == DIFFUSE_OK && m->replicas[index - 1] == NULL)
        status = create_replica(m, &m->replicas[index - 1]);
    if (status == DIFFUSE_OK)
        *out = m->replicas[index - 1];
    return status;
}

void model_join_team(diffuse_model *m, gradient_team *team, size_t worker)
{
    m->team = team;
    m->team_worker = worker;
}

float *model_grads_open(diffuse_model *m, size_t offset, size_t count)
{
    if (m->ready != NULL)
        gradient_ready_opened(m->ready, offset, count);
    if (m->team == NULL)
        return m->grads + offset;
    return gradient_team_open(m->team, m->team_worker, offset);
}

void model_grads_close(diffuse_model *m)
{
    if (m->team != NULL)
        gradient_team_close(m->team, m->team_worker);
    if (m->ready != NULL)
        gradient_ready_closed(m->ready);
}

DIFFUSE_API diffuse_status diffuse_model_create_callback(diffuse_model **out, size_t dim,
                                                         diffuse_prediction prediction,
                                                         diffuse_predict_fn fn, void *user)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    if (fn == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "fn must not be NULL");
    diffuse_model_config *config;
    status = diffuse_model_config_create(&config, DIFFUSE_ARCH_CALLBACK, dim);
    if (status != DIFFUSE_OK)
        return status;
    status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, (int64_t)prediction);
    diffuse_model *m = NULL;
    if (status != DIFFUSE_OK) {
        status = diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown prediction kind %d",
                              (int)prediction);
    } else {
        status = new_model(&m, config);
    }
    diffuse_model_config_free(config);
    if (status != DIFFUSE_OK)
        return status;
    status = nn_callback_attach(m, fn, user);
    if (status != DIFFUSE_OK) {
        diffuse_model_free(m);
        return status;
    }
    *out = m;
    return DIFFUSE_OK;
}

static void model_destroy(diffuse_model *model)
{
    for (size_t i = 0; i < model->replica_count; i++)
        diffuse_model_free(model->replicas[i]);
    free(model->replicas);
    if (model->ops != NULL)
        model->ops->destroy(model->arch);
    diffuse_model_config_free(model->config);
    free(model->tensors);
    if (!model->shares_params)
        free(model->params);
    free(model->grads);
    free(model->ema);
    free(model->wide);
    diffuse_schedule_free(model->schedule);
    free(model);
}

/* ---- The busy guard ("Callbacks and re-entry" in diffuse/common.h) ------ */

DIFFUSE_API void diffuse_model_free(diffuse_model *model)
{
    if (model != NULL && !busy_defer_free(&model->busy))
        model_destroy(model);
}

diffuse_status model_enter(diffuse_model *m, diffuse_error *error, const char *call)
{
    return busy_enter(&m->busy, error, "model", call);
}

void model_leave(diffuse_model *m)
{
    if (busy_leave(&m->busy))
        model_destroy(m);
}

DIFFUSE_API const char *diffuse_model_last_error(const diffuse_model *model)
{
    return diffuse_error_message(model != NULL ? &model->error : NULL);
}

DIFFUSE_API diffuse_status diffuse_model_dim(const diffuse_model *model, size_t *dim)
{
    diffuse_status status = check_getter(model, dim, "dim");
    if (status == DIFFUSE_OK)
        *dim = model->dim;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_architecture(const diffuse_model *model,
                                                      diffuse_architecture *arch)
{
    diffuse_status status = check_getter(model, arch, "arch");
    if (status == DIFFUSE_OK)
        *arch = model->config->architecture;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_prediction(const diffuse_model *model,
                                                    diffuse_prediction *prediction)
{
    diffuse_status status = check_getter(model, prediction, "prediction");
    if (status == DIFFUSE_OK)
        *prediction = (diffuse_prediction)model->prediction;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_param_count(const diffuse_model *model, size_t *count)
{
    diffuse_status status = check_getter(model, count, "count");
    if (status == DIFFUSE_OK)
        *count = model->param_count;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_get_config(const diffuse_model *model,
                                                    const diffuse_model_config **config)
{
    diffuse_status status = check_getter(model, config, "config");
    if (status == DIFFUSE_OK)
        *config = model->config;
    return status;
}

/* Arguments of the parameter copies: a model with parameters, a buffer,
 * and exactly param_count floats. */
static diffuse_status check_param_copy(const diffuse_model *m, const void *buffer, size_t count,
                                       const char *what)
{
    diffuse_status status = check_getter(m, buffer, what);
    if (status != DIFFUSE_OK)
        return status;
    if (m->param_count == 0)
        return diffuse_fail(model_error(m), DIFFUSE_ERROR_UNSUPPORTED,
                            "a callback model has no parameters");
    if (count != m->param_count)
        return diffuse_fail(model_error(m), DIFFUSE_ERROR_MISMATCH,
                            "%s holds %zu floats but the model has %zu parameters", what, count,
                            m->param_count);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_get_params(const diffuse_model *model, float *out,
                                                    size_t count)
{
    diffuse_status status = check_param_copy(model, out, count, "out");
    if (status == DIFFUSE_OK)
        memcpy(out, model->params, count * sizeof *out);
    return status;
}

/* Arguments of a parameter write: those of a copy, an idle model (a call
 * that runs it may be reading the parameters), finite values. */
static diffuse_status check_param_write(diffuse_model *m, const float *in, size_t count,
                                        const char *call)
{
    diffuse_status status = check_param_copy(m, in, count, "in");
    if (status == DIFFUSE_OK)
        status = busy_check(&m->busy, &m->error, "model", call);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(&m->error, in, count, "in");
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_set_params(diffuse_model *model, const float *in,
                                                    size_t count)
{
    diffuse_status status = check_param_write(model, in, count, "diffuse_model_set_params");
    if (status == DIFFUSE_OK)
        memcpy(model->params, in, count * sizeof *in);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_has_ema(const diffuse_model *model, int *has_ema)
{
    diffuse_status status = check_getter(model, has_ema, "has_ema");
    if (status == DIFFUSE_OK)
        *has_ema = model->ema != NULL;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_get_ema_params(const diffuse_model *model, float *out,
                                                        size_t count)
{
    diffuse_status status = check_param_copy(model, out, count, "out");
    if (status != DIFFUSE_OK)
        return status;
    if (model->ema == NULL)
        return diffuse_fail(model_error(model), DIFFUSE_ERROR_STATE,
                            "the model has no moving average yet");
    memcpy(out, model->ema, count * sizeof *out);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_set_ema_params(diffuse_model *model, const float *in,
                                                        size_t count)
{
    diffuse_status status = check_param_write(model, in, count, "diffuse_model_set_ema_params");
    if (status == DIFFUSE_OK)
        status = model_ensure_ema(model);
    if (status == DIFFUSE_OK)
        memcpy(model->ema, in, count * sizeof *in);
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_tensor_count(const diffuse_model *model, size_t *count)
{
    diffuse_status status = check_getter(model, count, "count");
    if (status == DIFFUSE_OK)
        *count = model->tensor_count;
    return status;
}

DIFFUSE_API diffuse_status diffuse_model_tensor_info(const diffuse_model *model, size_t index,
                                                     const char **name, size_t *offset,
                                                     size_t *rank, size_t shape[4])
{
    diffuse_status status = check_getter(model, name, "name");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(model_error(model), offset, "offset");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(model_error(model), rank, "rank");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(model_error(model), shape, "shape");
    if (status != DIFFUSE_OK)
        return status;
    if (index >= model->tensor_count)
        return diffuse_fail(model_error(model), DIFFUSE_ERROR_OUT_OF_RANGE,
                            "tensor index %zu is outside [0, %zu)", index, model->tensor_count);
    const model_tensor *tensor = &model->tensors[index];
    *name = tensor->name;
    *offset = tensor->offset;
    *rank = tensor->rank;
    memcpy(shape, tensor->shape, sizeof tensor->shape);
    return DIFFUSE_OK;
}

static diffuse_status check_timesteps(diffuse_error *error, const int32_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "t[%zu] = %d is negative (timesteps are 0-based)", i,
                                (int)t[i]);
    }
    return DIFFUSE_OK;
}

/* The arrays of a complete call: present, sized (count = n·dim values),
 * out apart from every input, t ≥ 0 and x_t finite. */
static diffuse_status check_call_arrays(diffuse_error *error, const diffuse_model *model,
                                        const diffuse_model_call *call, size_t *count)
{
    diffuse_status status;
    size_t n = call->n;
    if ((status = diffuse_check_pointer(error, call->t, "t")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(error, call->x_t, "x_t")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(error, call->out, "out")) != DIFFUSE_OK ||
        (status = diffuse_check_matrix_size(error, n, model->dim, count)) != DIFFUSE_OK)
        return status;
    if (n > (size_t)INT32_MAX)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "n = %zu rows is more than one call can take (%d)", n, INT32_MAX);
    if (call->out_variance != NULL && !model->learns_variance)
        return diffuse_fail(error, DIFFUSE_ERROR_UNSUPPORTED,
                            "out_variance must be NULL: this model does not learn its variance "
                            "(DIFFUSE_MODEL_LEARN_VARIANCE)");
    size_t bytes = *count * sizeof(float), rows = n * sizeof(int32_t);
    const float *out = call->out, *variance = call->out_variance;
    if (variance != NULL &&
        ((status = diffuse_check_overlap(error, variance, bytes, "out_variance", out, bytes,
                                         "out", false)) ||
         (status = diffuse_check_overlap(error, variance, bytes, "out_variance", call->x_t,
                                         bytes, "x_t", false)) ||
         (status = diffuse_check_overlap(error, variance, bytes, "out_variance", call->t, rows,
                                         "t", false))))
        return status;
    if ((status = diffuse_check_overlap(error, out, bytes, "out", call->x_t, bytes, "x_t",
                                        false)) ||
        (status = diffuse_check_overlap(error, out, bytes, "out", call->t, rows, "t", false)) ||
        (call->labels != NULL && (status = diffuse_check_overlap(error, out, bytes, "out",
                                                                 call->labels, rows, "labels",
                                                                 false))))
        return status;
    if ((status = check_timesteps(error, call->t, n)) != DIFFUSE_OK ||
        (status = model_check_labels(error, model_classes(model), model_classes(model) > 0
                                                                      ? call->labels
                                                                      : NULL,
                                     n, "labels")) != DIFFUSE_OK)
        return status;
    return diffuse_check_finite_floats(error, call->x_t, *count, "x_t");
}

static diffuse_status predict_checked(diffuse_model *model, const diffuse_model_call *call)
{
    diffuse_error *error = &model->error;
    diffuse_model_call full;
    diffuse_status status;
    size_t count;
    if ((status = model_call_read(error, call, &full)) != DIFFUSE_OK ||
        (status = check_call_arrays(error, model, &full, &count)) != DIFFUSE_OK)
        return status;
    /* A library network's GEMMs run on one OpenBLAS thread, so that the
     * bits never depend on OpenBLAS's threading (util/blas_threads.h). */
    int blas_threads = model_can_replicate(model) ? blas_threads_pin() : 1;
    status = model_run(model, model->params, &full, false);
    blas_threads_restore(blas_threads);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(error, full.out, count, "model output");
    if (status == DIFFUSE_OK && full.out_variance != NULL)
        status = diffuse_check_finite_floats(error, full.out_variance, count,
                                             "model variance output");
    return status;
}

/* The prediction inside the busy guard (a callback model's function may
 * re-enter or free its model). */
DIFFUSE_API diffuse_status diffuse_model_predict(diffuse_model *model,
                                                 const diffuse_model_call *call)
{
    diffuse_status status = check_model(model);
    if (status == DIFFUSE_OK)
        status = model_enter(model, &model->error, "diffuse_model_predict");
    if (status != DIFFUSE_OK)
        return status;
    status = predict_checked(model, call);
    model_leave(model);
    return status;
}
