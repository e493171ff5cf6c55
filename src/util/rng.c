/* The public generator handle: a (seed, stream, position) triple over the
 * Philox streams of philox.c. */
#include "diffuse/rng.h"

#include <stdlib.h>

#include "util/error.h"
#include "util/philox.h"

struct diffuse_rng {
    diffuse_error error;
    uint64_t seed;
    uint64_t stream;
    uint64_t position; /* index of the next value drawn */
};

typedef void (*stream_fill)(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                            size_t n);

DIFFUSE_API diffuse_status diffuse_rng_create(diffuse_rng **out, uint64_t seed, uint64_t stream)
{
    if (out == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    diffuse_rng *rng = calloc(1, sizeof *rng);
    if (rng == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate a generator");
    rng->seed = seed;
    rng->stream = stream;
    rng->position = 0;
    *out = rng;
    return DIFFUSE_OK;
}

DIFFUSE_API void diffuse_rng_free(diffuse_rng *rng)
{
    free(rng);
}

DIFFUSE_API const char *diffuse_rng_last_error(const diffuse_rng *rng)
{
    return diffuse_error_message(rng != NULL ? &rng->error : NULL);
}

/* Checks a draw of n values and, if valid, fills out and advances the
 * position; the position stays within 0 .. 2^64 - 1. */
static diffuse_status draw(diffuse_rng *rng, float *out, size_t n, stream_fill fill)
{
    if (rng == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "rng must not be NULL");
    diffuse_status status = diffuse_check_pointer(&rng->error, out, "out");
    size_t count = 0;
    if (status == DIFFUSE_OK)
        status = diffuse_check_matrix_size(&rng->error, n, 1, &count);
    if (status != DIFFUSE_OK)
        return status;
    if ((uint64_t)count > UINT64_MAX - rng->position)
        return diffuse_fail(&rng->error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "drawing %zu values at position %llu runs past the end of the "
                            "stream (2^64 - 1)",
                            count, (unsigned long long)rng->position);
    fill(rng->seed, rng->stream, rng->position, out, count);
    rng->position += count;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_rng_uniform(diffuse_rng *rng, float *out, size_t n)
{
    return draw(rng, out, n, philox_uniform);
}

DIFFUSE_API diffuse_status diffuse_rng_normal(diffuse_rng *rng, float *out, size_t n)
{
    return draw(rng, out, n, philox_normal);
}

DIFFUSE_API diffuse_status diffuse_rng_get_state(const diffuse_rng *rng, uint64_t *seed,
                                                 uint64_t *stream, uint64_t *position)
{
    if (rng == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "rng must not be NULL");
    /* The message slot is not part of the generator's logical state, so a
     * read-only query may still record why it failed. */
    diffuse_error *error = (diffuse_error *)&rng->error;
    diffuse_status status = diffuse_check_pointer(error, seed, "seed");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error, stream, "stream");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error, position, "position");
    if (status != DIFFUSE_OK)
        return status;
    *seed = rng->seed;
    *stream = rng->stream;
    *position = rng->position;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_rng_set_position(diffuse_rng *rng, uint64_t position)
{
    if (rng == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "rng must not be NULL");
    rng->position = position;
    return DIFFUSE_OK;
}
