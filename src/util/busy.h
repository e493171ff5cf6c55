/* The re-entrancy guard of every handle that calls user code (internal).
 *
 * The rule it implements is stated once, in include/diffuse/common.h
 * ("Callbacks and re-entry"): while a call that may run user code (a data,
 * progress or prediction callback) is in progress on a handle, the handle is
 * busy; a call that would change or run it fails with DIFFUSE_ERROR_STATE,
 * reading it still works, and its free function only marks it, the handle
 * being freed when the call in progress returns.
 *
 * A public function that changes or runs a busy-guarded handle starts with
 * busy_enter and ends with busy_leave (then frees the handle if that says
 * so); its free function asks busy_defer_free first; the places that call
 * out to the user ask busy_check_alive (or busy_freed) after each callback,
 * so that a call whose handle was freed by its callback stops there. Handles are
 * used by one thread at a time, so the flags need no atomics. */
#ifndef DIFFUSE_SRC_BUSY_H
#define DIFFUSE_SRC_BUSY_H

#include <stdbool.h>

#include "util/error.h"

typedef struct busy_state {
    bool busy;          /* a call that may run user code is in progress */
    bool free_pending;  /* the free function was called meanwhile */
} busy_state;

/* DIFFUSE_ERROR_STATE, its message in `error` naming `handle` ("sampler")
 * and `call` (e.g. "diffuse_sampler_set_int"), when the handle is busy or
 * being freed; for calls that change a handle without calling out. */
diffuse_status busy_check(const busy_state *b, diffuse_error *error, const char *handle,
                          const char *call);

/* busy_check, then marks the handle busy for `call`. */
diffuse_status busy_enter(busy_state *b, diffuse_error *error, const char *handle,
                          const char *call);

/* Ends the call busy_enter began; true when the handle's free function was
 * called meanwhile and the caller must free the handle now. */
bool busy_leave(busy_state *b);

/* For a free function: true when the handle is busy, in which case the free
 * is recorded and must not happen now. */
bool busy_defer_free(busy_state *b);

/* Whether the handle's free function was called during the call in
 * progress (a loop that calls out then stops). */
bool busy_freed(const busy_state *b);

/* After a callback returned: DIFFUSE_ERROR_CANCELLED (message in
 * `error`) when a callback has freed the handle, so the call stops. */
diffuse_status busy_check_alive(const busy_state *b, diffuse_error *error, const char *handle);

#endif
