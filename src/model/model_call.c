/* The model call's size rule (see "The model call" in
 * include/diffuse/model.h). */
#include "model/model.h"

#include "model/model_config.h"

#include <stdint.h>
#include <string.h>

/* The size of the first struct (0.2): nothing smaller was ever valid. */
#define MODEL_CALL_FIRST_SIZE sizeof(diffuse_model_call)

diffuse_status model_call_read(diffuse_error *error, const diffuse_model_call *call,
                               diffuse_model_call *full)
{
    diffuse_status status = diffuse_check_pointer(error, call, "call");
    if (status != DIFFUSE_OK)
        return status;
    if (call->size < MODEL_CALL_FIRST_SIZE)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "call->size = %zu is smaller than any diffuse_model_call (%zu); "
                            "initialise it with DIFFUSE_MODEL_CALL_INIT",
                            call->size, MODEL_CALL_FIRST_SIZE);
    /* A newer header's fields are fine as long as they ask for nothing. */
    const unsigned char *bytes = (const unsigned char *)call;
    for (size_t i = sizeof *full; i < call->size; i++) {
        if (bytes[i] != 0)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "call->size = %zu: byte %zu is set but this library knows "
                                "only the first %zu bytes of diffuse_model_call",
                                call->size, i, sizeof *full);
    }
    memset(full, 0, sizeof *full);
    memcpy(full, call, call->size < sizeof *full ? call->size : sizeof *full);
    full->size = sizeof *full;
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
