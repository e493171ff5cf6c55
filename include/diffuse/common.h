/*
 * libdiffuse — common definitions: export macro, versions, status codes, errors.
 *
 * Conventions that hold for the whole library (read once):
 *
 *  - Every public function returns a diffuse_status (or a plain value for
 *    getters that cannot fail) and validates all of its arguments.
 *  - Handles are opaque. A constructor returns a status and hands the handle
 *    back through an out-parameter, which is set to NULL on failure.
 *    Every diffuse_*_free(NULL) is a no-op.
 *  - Arrays passed in are borrowed for the duration of the call only. Memory
 *    the library allocates for the caller always has a matching free function.
 *  - Threads: a handle is used by one thread at a time; different handles are
 *    independent. Callbacks are set per handle and carry a `void *user`.
 *  - Errors: when a call fails, a human-readable message describing the
 *    failure is stored (a) in the handle the call was made on, readable with
 *    diffuse_<handle>_last_error(), and (b) in a thread-local slot readable
 *    with diffuse_last_error(). Both stay valid until the next failing call on
 *    that handle (resp. in that thread). Calls that fail without a handle
 *    (constructors, NULL handles) only have (b).
 *  - Callbacks and re-entry: while a call on a handle may run user code (a
 *    trainer's data and progress callbacks, a sampler's progress callback, a
 *    callback model's prediction function) the handle is BUSY, and so is the
 *    model a sampler is running. From inside a callback, functions that only
 *    read a busy handle (getters, last_error, saving a checkpoint) work;
 *    every function that would change or run it (setters, set_params, a
 *    step, a run, a prediction) fails with DIFFUSE_ERROR_STATE and changes
 *    nothing. Its free function does not free it at once: the call in
 *    progress stops at the next callback or at the end (returning
 *    DIFFUSE_ERROR_CANCELLED where it stopped early, with the message in
 *    diffuse_last_error()), and the handle is freed when that call returns;
 *    it must not be used after that. Other handles may be used freely.
 *  - Timesteps are 0-based everywhere: t = 0 .. T-1, where t = 0 is the least
 *    noisy step (the paper's t = 1) and t = T-1 the noisiest (the paper's T).
 */
#ifndef DIFFUSE_COMMON_H
#define DIFFUSE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DIFFUSE_BUILDING_LIBRARY) && defined(__GNUC__)
#define DIFFUSE_API __attribute__((visibility("default")))
#else
#define DIFFUSE_API
#endif

/* ---- Versions --------------------------------------------------------- */

#define DIFFUSE_VERSION_MAJOR 0
#define DIFFUSE_VERSION_MINOR 2
#define DIFFUSE_VERSION_PATCH 0
#define DIFFUSE_VERSION_NUMBER \
    (DIFFUSE_VERSION_MAJOR * 10000 + DIFFUSE_VERSION_MINOR * 100 + DIFFUSE_VERSION_PATCH)
#define DIFFUSE_VERSION_STRING "0.2.0"

/* The version of the library actually loaded at run time (compare with
 * DIFFUSE_VERSION_NUMBER to detect a header/library mismatch). Thread-safe. */
DIFFUSE_API unsigned diffuse_version_number(void);
/* "MAJOR.MINOR.PATCH", static storage. Thread-safe. */
DIFFUSE_API const char *diffuse_version_string(void);

/* ---- Status codes ----------------------------------------------------- */

/* Values are fixed forever; new codes are only ever appended. */
typedef enum diffuse_status {
    DIFFUSE_OK = 0,
    DIFFUSE_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, zero/oversized size, unknown enum */
    DIFFUSE_ERROR_OUT_OF_RANGE = 2,     /* option value or index outside its bounds */
    DIFFUSE_ERROR_NO_MEMORY = 3,        /* allocation failed */
    DIFFUSE_ERROR_STATE = 4,            /* call not allowed in the handle's current state */
    DIFFUSE_ERROR_NUMERIC = 5,          /* NaN/Inf in input, or a non-finite result */
    DIFFUSE_ERROR_IO = 6,               /* a file could not be read or written */
    DIFFUSE_ERROR_FORMAT = 7,           /* a file is corrupt, truncated or not ours */
    DIFFUSE_ERROR_CALLBACK = 8,         /* a user callback reported failure */
    DIFFUSE_ERROR_CANCELLED = 9,        /* a progress callback asked to stop */
    DIFFUSE_ERROR_MISMATCH = 10,        /* handles, sizes or a file do not fit together */
    DIFFUSE_ERROR_UNSUPPORTED = 11      /* valid request this build/configuration cannot do */
} diffuse_status;

/* Options of a kind. Where a handle's options depend on its kind (schedule
 * kinds, model architectures), setting, getting or asking the bounds of an
 * option that exists but does not apply to that kind fails with
 * DIFFUSE_ERROR_UNSUPPORTED, for every handle; an option value that no
 * handle knows is DIFFUSE_ERROR_INVALID_ARGUMENT. The <handle>_option_count
 * and _option_info functions list the options that apply to a kind. */

/* ---- Option introspection --------------------------------------------- */

/* One option of a handle, as diffuse_<handle>_option_info reports it (the
 * schedule, model config, optimizer, trainer and sampler all have the same
 * pair of functions):
 *
 *   diffuse_<handle>_option_count([kind,] size_t *count)
 *   diffuse_<handle>_option_info([kind,] size_t index, diffuse_option_info *info)
 *
 * count is how many options apply (to `kind` where options depend on one);
 * for 0 ≤ index < count, option_info describes them in increasing option
 * value. Set info->size = sizeof(diffuse_option_info) before the call:
 * fields are only ever appended, and a library fills only what it knows.
 * Errors of _option_info: INVALID_ARGUMENT (info NULL, info->size smaller
 * than this version's struct, unknown kind), OUT_OF_RANGE (index ≥ count);
 * messages in the thread's diffuse_last_error(). Thread-safe. */
typedef struct diffuse_option_info {
    size_t size;          /* set by the caller: sizeof(diffuse_option_info) */
    int option;           /* the option's enum value, for the typed setters */
    const char *name;     /* "beta_start": static storage; checkpoints use it */
    int is_double;        /* 1: the _double setter/getter; 0: the _int ones */
    double min, max;      /* inclusive bounds (whole numbers for int options) */
    double default_value; /* the value a new handle (of that kind) starts with */
} diffuse_option_info;

/* Fixed English text for a status code ("unknown status" for other values).
 * Static storage; thread-safe. */
DIFFUSE_API const char *diffuse_status_string(int status);

/* Short symbolic name of a status code ("DIFFUSE_ERROR_IO"); static storage. */
DIFFUSE_API const char *diffuse_status_name(int status);

/* Message of the last failing call made by this thread ("" if none).
 * Valid until the next failing call in this thread. */
DIFFUSE_API const char *diffuse_last_error(void);

/* ---- Warnings ------------------------------------------------------- */

/* The library never prints. Where a call succeeds but the caller should
 * know something (a setting that will give poor results), it passes a
 * warning to the process's log function, if one is set. */
typedef enum diffuse_log_level {
    DIFFUSE_LOG_WARNING = 1
} diffuse_log_level;

/* Receives one warning: `message` (one line, no newline) is valid during the
 * call only. Called on the thread whose call raised the warning, possibly
 * from several threads at once; it must not call back into the handle whose
 * call raised it. */
typedef void (*diffuse_log_fn)(void *user, diffuse_log_level level, const char *message);

/* Sets the process-wide log function (NULL: warnings are dropped, the
 * default). A call in progress on another thread may still deliver one
 * warning to the previous function. Never fails; thread-safe. */
DIFFUSE_API void diffuse_set_log(diffuse_log_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_COMMON_H */
