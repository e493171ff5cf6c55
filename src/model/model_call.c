/* The model call's size rule (see "The model call" in
 * include/diffuse/model.h). */
#include "model/model.h"

#include "model/model_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/struct_size.h"

/* The size of the first struct (0.2): nothing smaller was ever valid. */
#define MODEL_CALL_FIRST_SIZE sizeof(diffuse_model_call)

diffuse_status model_call_read(diffuse_error *error, const diffuse_model_call *call,
                               diffuse_model_call *full)
{
    diffuse_status status = diffuse_check_pointer(error, call, "call");
    if (status != DIFFUSE_OK)
        return status;
    return struct_size_read(error, call, MODEL_CALL_FIRST_SIZE, full, sizeof *full,
                            "diffuse_model_call", "DIFFUSE_MODEL_CALL_INIT");
}

/* m->wide with room for `rows` rows of 2·dim floats. */
static diffuse_status reserve_wide(diffuse_model *m, size_t rows)
{
    if (rows <= m->wide_rows)
        return DIFFUSE_OK;
    float *grown = realloc(m->wide, rows * m->out_dim * sizeof *grown);
    if (grown == NULL)
        return diffuse_fail(&m->error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu rows of a learned-variance output", rows);
    m->wide = grown;
    m->wide_rows = rows;
    return DIFFUSE_OK;
}

size_t model_classes(const diffuse_model *m)
{
    if (m->config->architecture == DIFFUSE_ARCH_CALLBACK)
        return 0;
    return (size_t)model_config_int(m->config, DIFFUSE_MODEL_CLASSES);
}

diffuse_status model_check_labels(diffuse_error *error, size_t classes, const int32_t *labels,
                                  size_t n, const char *what)
{
    for (size_t i = 0; labels != NULL && i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= classes)
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "%s[%zu] = %d is outside [0, %zu): the model has %zu classes",
                                what, i, (int)labels[i], classes, classes);
    return DIFFUSE_OK;
}

diffuse_status model_labels_take(diffuse_error *error, size_t classes, const int32_t *labels,
                                 size_t n, int32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t label = labels != NULL ? labels[i] : (int32_t)classes;
        if (label < 0 || (size_t)label > classes)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "labels[%zu] = %d is outside [0, %zu]", i, (int)label, classes);
        out[i] = label;
    }
    return DIFFUSE_OK;
}

diffuse_status model_run(diffuse_model *m, const float *params, const diffuse_model_call *call,
                         bool training)
{
    if (!m->learns_variance)
        return training ? m->ops->forward(m, call) : m->ops->predict(m, params, call);
    diffuse_status status = reserve_wide(m, call->n);
    if (status != DIFFUSE_OK)
        return status;
    diffuse_model_call wide = *call;
    wide.out = m->wide;
    wide.out_variance = NULL;
    status = training ? m->ops->forward(m, &wide) : m->ops->predict(m, params, &wide);
    if (status != DIFFUSE_OK)
        return status;
    size_t d = m->dim;
    for (size_t i = 0; i < call->n; i++) { /* row i = [f_i | v_i] */
        memcpy(call->out + i * d, m->wide + 2 * i * d, d * sizeof *call->out);
        if (call->out_variance != NULL)
            memcpy(call->out_variance + i * d, m->wide + (2 * i + 1) * d,
                   d * sizeof *call->out_variance);
    }
    return DIFFUSE_OK;
}

diffuse_status model_run_backward(diffuse_model *m, const float *d_out, const float *d_variance,
                                  size_t n)
{
    if (!m->learns_variance)
        return m->ops->backward(m, d_out, n);
    diffuse_status status = reserve_wide(m, n);
    if (status != DIFFUSE_OK)
        return status;
    size_t d = m->dim;
    for (size_t i = 0; i < n; i++) {
        memcpy(m->wide + 2 * i * d, d_out + i * d, d * sizeof *m->wide);
        if (d_variance != NULL)
            memcpy(m->wide + (2 * i + 1) * d, d_variance + i * d, d * sizeof *m->wide);
        else
            memset(m->wide + (2 * i + 1) * d, 0, d * sizeof *m->wide);
    }
    return m->ops->backward(m, m->wide, n);
}
