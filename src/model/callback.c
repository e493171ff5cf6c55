/* Callback models (see callback.h). */
#include "model/callback.h"

#include <stdlib.h>

typedef struct callback_state {
    diffuse_predict_fn fn;
    void *user;
} callback_state;

static diffuse_status callback_predict(diffuse_model *m, const float *params,
                                       const diffuse_model_call *call)
{
    (void)params; /* a callback model has none */
    const callback_state *state = m->arch;
    int result = state->fn(state->user, call, m->dim);
    diffuse_status alive = busy_check_alive(&m->busy, &m->error, "model");
    if (alive != DIFFUSE_OK)
        return alive;
    if (result != 0)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_CALLBACK,
                            "the prediction callback failed (returned %d)", result);
    /* The samplers trust a model's output; user code is checked here. */
    return diffuse_check_finite_floats(&m->error, call->out, call->n * m->dim,
                                       "callback output");
}

static void callback_destroy(void *arch)
{
    free(arch);
}

static const model_ops callback_ops = {
    .predict = callback_predict,
    .forward = NULL,
    .backward = NULL,
    .destroy = callback_destroy,
};

const nn_architecture nn_callback_architecture = {
    .id = DIFFUSE_ARCH_CALLBACK,
    .name = "callback",
    .build = NULL,
    .init_params = NULL,
};

diffuse_status nn_callback_attach(diffuse_model *m, diffuse_predict_fn fn, void *user)
{
    callback_state *state = malloc(sizeof *state);
    if (state == NULL)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a callback model");
    state->fn = fn;
    state->user = user;
    m->arch = state;
    m->ops = &callback_ops;
    return DIFFUSE_OK;
}
