/* Re-entrancy guard (see busy.h and "Callbacks and re-entry" in
 * include/diffuse/common.h). */
#include "util/busy.h"

diffuse_status busy_check(const busy_state *b, diffuse_error *error, const char *handle,
                          const char *call)
{
    if (b->free_pending)
        return diffuse_fail(error, DIFFUSE_ERROR_STATE,
                            "%s: this %s was freed by a callback of the call in progress", call,
                            handle);
    if (b->busy)
        return diffuse_fail(error, DIFFUSE_ERROR_STATE,
                            "%s: this %s is busy: a call that runs it is in progress and has "
                            "called back into the library (re-entering a busy handle from a "
                            "callback is not allowed; see diffuse/common.h)",
                            call, handle);
    return DIFFUSE_OK;
}

diffuse_status busy_enter(busy_state *b, diffuse_error *error, const char *handle,
                          const char *call)
{
    diffuse_status status = busy_check(b, error, handle, call);
    if (status == DIFFUSE_OK)
        b->busy = true;
    return status;
}

bool busy_leave(busy_state *b)
{
    b->busy = false;
    return b->free_pending;
}

bool busy_defer_free(busy_state *b)
{
    if (b->busy)
        b->free_pending = true;
    return b->busy;
}

bool busy_freed(const busy_state *b)
{
    return b->free_pending;
}

diffuse_status busy_check_alive(const busy_state *b, diffuse_error *error, const char *handle)
{
    if (b->free_pending)
        return diffuse_fail(error, DIFFUSE_ERROR_CANCELLED,
                            "the %s was freed by one of its callbacks: the call stops here and "
                            "the %s is freed when it returns",
                            handle, handle);
    return DIFFUSE_OK;
}
