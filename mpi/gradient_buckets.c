/* Bucketed, ordered gradient sums over MPI (see gradient_buckets.h). */
#include "gradient_buckets.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* grads[start, start + count), chunk r of it: counts[r] floats at displs[r]. */
typedef struct bucket {
    size_t start, count;
    size_t pending;     /* floats of it not final yet in this step */
    float *data;        /* what is summed in place: grads + start, or the scratch */
    int *plan;          /* counts, displs, chunk_counts, chunk_displs: [size] each */
    int *counts, *displs;
    int *chunk_counts, *chunk_displs; /* counts[rank] floats from each rank, in rank order */
    float *chunks;      /* size × counts[rank]: chunk `rank` of every rank's bucket */
    MPI_Request scatter, gather;
} bucket;

struct gradient_buckets {
    MPI_Comm scatter_comm, gather_comm; /* one per kind of collective, each in bucket order */
    int rank, size;
    size_t floats;      /* B, the last bucket may be shorter */
    bucket *buckets;
    size_t count;
    size_t next_scatter, next_gather; /* buckets [next_…, count) have started that stage */
    float *scratch;     /* one bucket, for a rank without gradients */
};

static diffuse_status fail(char *error, size_t size, diffuse_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(error, size, fmt, args);
    va_end(args);
    return status;
}

/* Chunk r of bucket b: count/size floats, one more for r < count % size. */
static diffuse_status plan_bucket(gradient_buckets *g, bucket *b)
{
    size_t n = (size_t)g->size, base = b->count / n, extra = b->count % n;
    size_t mine = base + ((size_t)g->rank < extra);
    b->plan = malloc(4 * n * sizeof *b->plan);
    b->chunks = malloc(n * (mine > 0 ? mine : 1) * sizeof *b->chunks);
    if (b->plan == NULL || b->chunks == NULL)
        return DIFFUSE_ERROR_NO_MEMORY;
    b->counts = b->plan;
    b->displs = b->plan + n;
    b->chunk_counts = b->plan + 2 * n;
    b->chunk_displs = b->plan + 3 * n;
    size_t at = 0;
    for (size_t r = 0; r < n; r++) {
        b->counts[r] = (int)(base + (r < extra));
        b->displs[r] = (int)at;
        at += (size_t)b->counts[r];
        b->chunk_counts[r] = (int)mine;
        b->chunk_displs[r] = (int)(r * mine);
    }
    b->scatter = b->gather = MPI_REQUEST_NULL;
    return DIFFUSE_OK;
}

static diffuse_status plan_buckets(gradient_buckets *g, size_t param_count, char *error,
                                   size_t error_size)
{
    g->count = param_count == 0 ? 0 : (param_count + g->floats - 1) / g->floats;
    g->buckets = calloc(g->count ? g->count : 1, sizeof *g->buckets);
    g->scratch = malloc((g->floats ? g->floats : 1) * sizeof *g->scratch);
    if (g->buckets == NULL || g->scratch == NULL)
        return fail(error, error_size, DIFFUSE_ERROR_NO_MEMORY,
                    "cannot allocate %zu gradient buckets", g->count);
    for (size_t k = 0; k < g->count; k++) {
        bucket *b = &g->buckets[k];
        b->start = k * g->floats;
        b->count = b->start + g->floats <= param_count ? g->floats : param_count - b->start;
        if (plan_bucket(g, b) != DIFFUSE_OK)
            return fail(error, error_size, DIFFUSE_ERROR_NO_MEMORY,
                        "cannot allocate the reduction buffers of %zu buckets", g->count);
    }
    return DIFFUSE_OK;
}

diffuse_status gradient_buckets_create(gradient_buckets **out, MPI_Comm comm,
                                       size_t param_count, size_t bucket_floats, char *error,
                                       size_t error_size)
{
    *out = NULL;
    gradient_buckets *g = calloc(1, sizeof *g);
    if (g == NULL)
        return fail(error, error_size, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate the buckets");
    g->scatter_comm = g->gather_comm = MPI_COMM_NULL;
    g->floats = bucket_floats > 0 && bucket_floats < param_count ? bucket_floats : param_count;
    diffuse_status status = DIFFUSE_OK;
    if (MPI_Comm_dup(comm, &g->scatter_comm) != MPI_SUCCESS ||
        MPI_Comm_dup(comm, &g->gather_comm) != MPI_SUCCESS ||
        MPI_Comm_rank(comm, &g->rank) != MPI_SUCCESS ||
        MPI_Comm_size(comm, &g->size) != MPI_SUCCESS)
        status = fail(error, error_size, DIFFUSE_ERROR_CALLBACK,
                      "cannot duplicate the communicator for the gradient buckets");
    else if (param_count > INT_MAX)
        status = fail(error, error_size, DIFFUSE_ERROR_UNSUPPORTED,
                      "%zu parameters: too many for MPI's int counts", param_count);
    else
        status = plan_buckets(g, param_count, error, error_size);
    if (status != DIFFUSE_OK) {
        gradient_buckets_free(g);
        return status;
    }
    *out = g;
    return DIFFUSE_OK;
}

void gradient_buckets_free(gradient_buckets *g)
{
    if (g == NULL)
        return;
    if (g->scatter_comm != MPI_COMM_NULL)
        MPI_Comm_free(&g->scatter_comm);
    if (g->gather_comm != MPI_COMM_NULL)
        MPI_Comm_free(&g->gather_comm);
    for (size_t k = 0; g->buckets != NULL && k < g->count; k++) {
        free(g->buckets[k].plan);
        free(g->buckets[k].chunks);
    }
    free(g->buckets);
    free(g->scratch);
    free(g);
}

size_t gradient_buckets_count(const gradient_buckets *g)
{
    return g->count;
}

void gradient_buckets_begin_step(gradient_buckets *g)
{
    for (size_t k = 0; k < g->count; k++)
        g->buckets[k].pending = g->buckets[k].count;
    g->next_scatter = g->next_gather = g->count;
}

#define MPI_TRY(call_, name_)                                                                     \
    do {                                                                                           \
        int code_ = (call_);                                                                       \
        if (code_ != MPI_SUCCESS) {                                                                \
            *call = (name_);                                                                       \
            return code_;                                                                          \
        }                                                                                          \
    } while (0)

/* The next bucket's all-to-all, on `data` (its floats in grads, or the
 * scratch). */
static int start_scatter(gradient_buckets *g, float *data, const char **call)
{
    bucket *b = &g->buckets[--g->next_scatter];
    b->data = data;
    MPI_TRY(MPI_Ialltoallv(b->data, b->counts, b->displs, MPI_FLOAT, b->chunks, b->chunk_counts,
                           b->chunk_displs, MPI_FLOAT, g->scatter_comm, &b->scatter),
            "MPI_Ialltoallv");
    return MPI_SUCCESS;
}

/* Chunk `rank` of the bucket ← Σ_r chunk `rank` of rank r's, r = 0, 1, … */
static void sum_chunks(const gradient_buckets *g, bucket *b)
{
    size_t mine = (size_t)b->counts[g->rank];
    float *sum = b->data + b->displs[g->rank];
    memcpy(sum, b->chunks, mine * sizeof *sum);
    for (int r = 1; r < g->size; r++) {
        const float *part = b->chunks + (size_t)r * mine;
        for (size_t i = 0; i < mine; i++)
            sum[i] += part[i];
    }
}

/* Moves the started buckets on, in order: each whose all-to-all is done
 * (waited for when `wait`) is summed and its all-gather started; with
 * `wait`, the all-gathers are then waited for too. */
static int progress(gradient_buckets *g, int wait, const char **call)
{
    while (g->next_gather > g->next_scatter) {
        bucket *b = &g->buckets[g->next_gather - 1];
        int done = 1;
        if (wait)
            MPI_TRY(MPI_Wait(&b->scatter, MPI_STATUS_IGNORE), "MPI_Wait (all-to-all)");
        else
            MPI_TRY(MPI_Test(&b->scatter, &done, MPI_STATUS_IGNORE), "MPI_Test (all-to-all)");
        if (!done)
            break;
        sum_chunks(g, b);
        MPI_TRY(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b->data, b->counts, b->displs,
                                MPI_FLOAT, g->gather_comm, &b->gather),
                "MPI_Iallgatherv");
        g->next_gather--;
    }
    for (size_t k = g->next_gather; k < g->count; k++) {
        bucket *b = &g->buckets[k];
        int done;
        if (wait)
            MPI_TRY(MPI_Wait(&b->gather, MPI_STATUS_IGNORE), "MPI_Wait (all-gather)");
        else
            MPI_TRY(MPI_Test(&b->gather, &done, MPI_STATUS_IGNORE), "MPI_Test (all-gather)");
    }
    return MPI_SUCCESS;
}

int gradient_buckets_ready(gradient_buckets *g, float *grads, size_t offset, size_t count,
                           const char **call)
{
    size_t end = offset + count;
    if (g->count == 0)
        return MPI_SUCCESS;
    for (size_t k = offset / g->floats; k < g->count && g->buckets[k].start < end; k++) {
        bucket *b = &g->buckets[k];
        size_t lo = offset > b->start ? offset : b->start;
        size_t hi = end < b->start + b->count ? end : b->start + b->count;
        b->pending -= hi - lo < b->pending ? hi - lo : b->pending;
    }
    size_t unstarted = g->next_scatter;
    while (g->next_scatter > 0 && g->buckets[g->next_scatter - 1].pending == 0) {
        int code = start_scatter(g, grads + g->buckets[g->next_scatter - 1].start, call);
        if (code != MPI_SUCCESS)
            return code;
    }
    /* MPI moves the buckets in flight on inside MPI calls only; but an
     * oversubscribed rank gives its core away at every MPI_Test that finds
     * nothing to do, and a U-Net reports ~40 groups a step: test only when
     * a bucket has started. */
    return g->next_scatter < unstarted ? progress(g, 0, call) : MPI_SUCCESS;
}

int gradient_buckets_finish(gradient_buckets *g, float *grads, const char **call)
{
    while (g->next_scatter > 0) {
        float *data = grads != NULL ? grads + g->buckets[g->next_scatter - 1].start : g->scratch;
        int code = start_scatter(g, data, call);
        /* the scratch serves one bucket at a time */
        if (code == MPI_SUCCESS && grads == NULL)
            code = progress(g, 1, call);
        if (code != MPI_SUCCESS)
            return code;
    }
    return progress(g, 1, call);
}
