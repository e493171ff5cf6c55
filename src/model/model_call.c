/* The model call's size rule (see "The model call" in
 * include/diffuse/model.h). */
#include "model/model.h"

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
