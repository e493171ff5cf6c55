/* Error messages: per handle and per thread (see error.h). */
#include "util/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char thread_message[DIFFUSE_ERROR_MESSAGE_SIZE];

/* Formatted into a local buffer first: an argument may be the thread's own
 * message (passing a lower layer's diffuse_last_error() on), which
 * vsnprintf must not read while it writes there. */
diffuse_status diffuse_fail(diffuse_error *error, diffuse_status status, const char *fmt, ...)
{
    char message[DIFFUSE_ERROR_MESSAGE_SIZE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    memcpy(thread_message, message, sizeof message);
    if (error != NULL)
        memcpy(error->message, message, sizeof message);
    return status;
}

const char *diffuse_error_message(const diffuse_error *error)
{
    return error != NULL ? error->message : "invalid handle (NULL)";
}

DIFFUSE_API const char *diffuse_last_error(void)
{
    return thread_message;
}

diffuse_status diffuse_check_pointer(diffuse_error *error, const void *p, const char *what)
{
    if (p == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "%s must not be NULL", what);
    return DIFFUSE_OK;
}

diffuse_status diffuse_check_finite_floats(diffuse_error *error, const float *x, size_t n,
                                           const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC,
                                "%s[%zu] is not finite (%g)", what, i, (double)x[i]);
    }
    return DIFFUSE_OK;
}

diffuse_status diffuse_check_finite_double(diffuse_error *error, double x, const char *what)
{
    if (!isfinite(x))
        return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC, "%s is not finite (%g)", what, x);
    return DIFFUSE_OK;
}

diffuse_status diffuse_check_overlap(diffuse_error *error, const void *out, size_t out_bytes,
                                     const char *out_name, const void *in, size_t in_bytes,
                                     const char *in_name, bool same_ok)
{
    uintptr_t o = (uintptr_t)out, i = (uintptr_t)in;
    bool shared = o < i + in_bytes && i < o + out_bytes;
    if (!shared || (same_ok && o == i))
        return DIFFUSE_OK;
    return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                        same_ok ? "%s partially overlaps %s (it must be the same array or not "
                                  "overlap it)"
                                : "%s must not overlap %s",
                        out_name, in_name);
}

/* Largest element count we accept for one array: keeps byte sizes far from
 * SIZE_MAX so that later arithmetic (n * d * sizeof(float) * k) cannot wrap. */
#define DIFFUSE_MAX_ELEMENTS ((size_t)1 << 40)

diffuse_status diffuse_check_matrix_size(diffuse_error *error, size_t n, size_t d,
                                         size_t *count)
{
    if (n == 0 || d == 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "sizes must be positive (n = %zu, d = %zu)", n, d);
    if (n > DIFFUSE_MAX_ELEMENTS / d)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "size n * d = %zu * %zu is too large", n, d);
    *count = n * d;
    return DIFFUSE_OK;
}
