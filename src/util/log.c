/* The process-wide log function. A mutex guards the (function, user) pair
 * so that a warning never sees one without the other; the function itself
 * is called outside the lock, so that it may log or set another function. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "diffuse/common.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static diffuse_log_fn log_fn;
static void *log_user;

DIFFUSE_API void diffuse_set_log(diffuse_log_fn fn, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

void log_warning(const char *format, ...)
{
    pthread_mutex_lock(&log_lock);
    diffuse_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_lock);
    if (fn == NULL)
        return;
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fn(user, DIFFUSE_LOG_WARNING, message);
}
