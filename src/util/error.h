/* Error reporting shared by every unit.
 *
 * Each handle embeds a diffuse_error. A failing function records its message
 * with diffuse_fail(&handle->error, status, fmt, ...) and returns the status;
 * the message is also copied to the calling thread's slot read by
 * diffuse_last_error(). Functions without a handle pass NULL as the first
 * argument. */
#ifndef DIFFUSE_SRC_ERROR_H
#define DIFFUSE_SRC_ERROR_H

#include <stdbool.h>

#include "diffuse/common.h"

#define DIFFUSE_ERROR_MESSAGE_SIZE 512

typedef struct diffuse_error {
    char message[DIFFUSE_ERROR_MESSAGE_SIZE];
} diffuse_error;

#if defined(__GNUC__)
#define DIFFUSE_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define DIFFUSE_PRINTF(fmt_index, first_arg)
#endif

/* Records "message" in `error` (if not NULL) and in the thread's slot;
 * returns `status` so callers can write `return diffuse_fail(...)`. */
diffuse_status diffuse_fail(diffuse_error *error, diffuse_status status, const char *fmt, ...)
    DIFFUSE_PRINTF(3, 4);

/* The message stored in `error`, or a fixed text when `error` is NULL. */
const char *diffuse_error_message(const diffuse_error *error);

/* Argument checks used at the top of public functions. Each returns
 * DIFFUSE_OK or records the failure and returns its status. `what` names the
 * argument in the message, e.g. "x0". */
diffuse_status diffuse_check_pointer(diffuse_error *error, const void *p, const char *what);
diffuse_status diffuse_check_finite_floats(diffuse_error *error, const float *x, size_t n,
                                           const char *what);
diffuse_status diffuse_check_finite_double(diffuse_error *error, double x, const char *what);

/* INVALID_ARGUMENT when the output [out, out + out_bytes) shares a byte
 * with the input [in, in + in_bytes), except, with `same_ok`, when both
 * start at the same address (an in-place call). The names are those of the
 * arguments, for the message. */
diffuse_status diffuse_check_overlap(diffuse_error *error, const void *out, size_t out_bytes,
                                     const char *out_name, const void *in, size_t in_bytes,
                                     const char *in_name, bool same_ok);

/* n * d without overflow, or DIFFUSE_ERROR_INVALID_ARGUMENT when either is 0
 * or the product (in floats) exceeds what can be allocated. */
diffuse_status diffuse_check_matrix_size(diffuse_error *error, size_t n, size_t d,
                                         size_t *count);

#endif
