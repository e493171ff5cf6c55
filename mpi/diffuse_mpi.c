/* libdiffuse_mpi: the trainer's peer callback (diffuse/train.h, "Peers")
 * over MPI, weight broadcast, state check and rank-0 checkpoints (see
 * include/diffuse/mpi.h). Only libdiffuse's public API is used. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffuse/checkpoint.h"
#include "diffuse/mpi.h"
#include "gradient_buckets.h"

enum { MESSAGE_SIZE = 256 }; /* a failing rank's message, as broadcast */

struct diffuse_mpi {
    char error[512];
    MPI_Comm comm; /* our duplicate, errors returned */
    int rank, size;
    diffuse_trainer *trainer;
    size_t param_count;
    gradient_buckets *buckets; /* the gradient sum (gradient_buckets.h) */
    double *values;            /* a row count or squared error per rank */
};

static diffuse_status fail(diffuse_mpi *mpi, diffuse_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(mpi->error, sizeof mpi->error, fmt, args);
    va_end(args);
    return status;
}

/* A failed MPI call as DIFFUSE_ERROR_CALLBACK, with MPI's own text. */
static diffuse_status mpi_failed(diffuse_mpi *mpi, int code, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return fail(mpi, DIFFUSE_ERROR_CALLBACK, "%s failed: %s", call, text);
}

#define MPI_TRY(mpi, call)                                                                         \
    do {                                                                                           \
        int code_ = (call);                                                                        \
        if (code_ != MPI_SUCCESS)                                                                  \
            return mpi_failed((mpi), code_, #call);                                                \
    } while (0)

/* ---- Which rank failed, and its message on every rank -------------------- */

/* `local` is this rank's status (its message in `message`). *first = the
 * status of the lowest failing rank, the same on every rank, with its
 * message (prefixed "rank r: ") in `message`; OK when none failed. Returns
 * CALLBACK when MPI fails. No buffer is needed, so a rank that could not
 * allocate can still take part. */
static diffuse_status first_failure(diffuse_mpi *mpi, diffuse_status local, char *message,
                                    size_t size, diffuse_status *first)
{
    int root = local != DIFFUSE_OK ? mpi->rank : INT_MAX;
    *first = DIFFUSE_OK;
    MPI_TRY(mpi, MPI_Allreduce(MPI_IN_PLACE, &root, 1, MPI_INT, MPI_MIN, mpi->comm));
    if (root == INT_MAX)
        return DIFFUSE_OK;
    struct {
        int status;
        char text[MESSAGE_SIZE];
    } report = {(int)local, ""};
    if (mpi->rank == root) { /* truncated to what is broadcast */
        size_t length = strnlen(message, MESSAGE_SIZE - 1);
        memcpy(report.text, message, length);
        report.text[length] = '\0';
    }
    MPI_TRY(mpi, MPI_Bcast(&report, (int)sizeof report, MPI_BYTE, root, mpi->comm));
    report.text[MESSAGE_SIZE - 1] = '\0';
    snprintf(message, size, "rank %d: %s", root, report.text);
    *first = (diffuse_status)report.status;
    return DIFFUSE_OK;
}

/* The failure flags of a peer exchange: x->failed on any rank sets it on
 * every rank, with that rank's message. */
static diffuse_status agree_on_failure(diffuse_mpi *mpi, diffuse_peer_exchange *x)
{
    diffuse_status first, local = x->failed ? DIFFUSE_ERROR_CALLBACK : DIFFUSE_OK;
    diffuse_status status = first_failure(mpi, local, x->message, x->message_size, &first);
    x->failed = first != DIFFUSE_OK;
    return status;
}

/* ---- The two exchanges of a step ------------------------------------------ */

/* Every rank's `value`, gathered into mpi->values in rank order. */
static diffuse_status gather_values(diffuse_mpi *mpi, double value)
{
    MPI_TRY(mpi, MPI_Allgather(&value, 1, MPI_DOUBLE, mpi->values, 1, MPI_DOUBLE, mpi->comm));
    return DIFFUSE_OK;
}

/* first_row = Σ_{r < rank} rows_r, total_rows = Σ_r rows_r (row counts are
 * below 2^53, exact in a double). */
static diffuse_status exchange_rows(diffuse_mpi *mpi, diffuse_peer_exchange *x)
{
    diffuse_status status = gather_values(mpi, (double)x->rows);
    if (status != DIFFUSE_OK)
        return status;
    x->first_row = x->total_rows = 0;
    for (int r = 0; r < mpi->size; r++) {
        if (r == mpi->rank)
            x->first_row = x->total_rows;
        x->total_rows += (uint64_t)mpi->values[r];
    }
    return DIFFUSE_OK;
}

/* An MPI failure of the buckets (`code` from `call`) as the handle's. */
static diffuse_status buckets_status(diffuse_mpi *mpi, int code, const char *call)
{
    return code == MPI_SUCCESS ? DIFFUSE_OK : mpi_failed(mpi, code, call);
}

/* The step's batch: the failure flags first, so that no rank waits for
 * rows a failed rank will not send; the buckets start empty. */
static diffuse_status exchange_batch(diffuse_mpi *mpi, diffuse_peer_exchange *x)
{
    gradient_buckets_begin_step(mpi->buckets);
    diffuse_status status = agree_on_failure(mpi, x);
    if (status == DIFFUSE_OK && !x->failed)
        status = exchange_rows(mpi, x);
    return status;
}

/* g ← Σ_r g_r in rank order (gradient_buckets.h): the buckets not sent
 * during backward go now, and every rank takes part in all of them, even
 * one whose step failed (else the others would wait for it); then the
 * failure flags, and Σ_r squared_error_r in rank order. Traffic per rank is
 * 2(size−1)/size × the gradient, as a ring all-reduce. */
static diffuse_status exchange_gradients(diffuse_mpi *mpi, diffuse_peer_exchange *x)
{
    int usable = x->grads != NULL && x->grad_count == mpi->param_count;
    const char *call = "";
    int code = gradient_buckets_finish(mpi->buckets, usable ? x->grads : NULL, &call);
    diffuse_status status = buckets_status(mpi, code, call);
    if (status != DIFFUSE_OK)
        return status;
    if (!usable && !x->failed) {
        x->failed = 1;
        snprintf(x->message, x->message_size, "%zu gradients, attached for %zu", x->grad_count,
                 mpi->param_count);
    }
    if ((status = agree_on_failure(mpi, x)) != DIFFUSE_OK || x->failed)
        return status;
    if ((status = gather_values(mpi, x->squared_error)) != DIFFUSE_OK)
        return status;
    x->squared_error = 0.0;
    for (int r = 0; r < mpi->size; r++)
        x->squared_error += mpi->values[r];
    return DIFFUSE_OK;
}

/* A finished range of this rank's gradient: the buckets it completes start. */
static diffuse_status gradients_ready(diffuse_mpi *mpi, const diffuse_peer_exchange *x)
{
    const char *call = "";
    int code = gradient_buckets_ready(mpi->buckets, x->grads, x->ready_offset, x->ready_count,
                                      &call);
    return buckets_status(mpi, code, call);
}

/* The trainer's peer callback. */
static int peer_exchange(void *user, diffuse_peer_exchange *x)
{
    diffuse_mpi *mpi = user;
    diffuse_status status = x->phase == DIFFUSE_PEER_BATCH       ? exchange_batch(mpi, x)
                            : x->phase == DIFFUSE_PEER_GRADIENTS ? exchange_gradients(mpi, x)
                                                                 : gradients_ready(mpi, x);
    if (status == DIFFUSE_OK)
        return 0;
    snprintf(x->message, x->message_size, "%s", mpi->error);
    return -1;
}

/* ---- Set-up ----------------------------------------------------------------- */

static void release(diffuse_mpi *mpi)
{
    gradient_buckets_free(mpi->buckets);
    if (mpi->comm != MPI_COMM_NULL)
        MPI_Comm_free(&mpi->comm);
    free(mpi->values);
    free(mpi);
}

/* Every rank ends a collective call with the status of the lowest failing
 * rank (and its message), or OK. */
static diffuse_status agree(diffuse_mpi *mpi, diffuse_status local)
{
    char message[sizeof mpi->error];
    snprintf(message, sizeof message, "%s", local ? mpi->error : "");
    diffuse_status first, status = first_failure(mpi, local, message, sizeof message, &first);
    if (status != DIFFUSE_OK)
        return status;
    return first ? fail(mpi, first, "%s", message) : DIFFUSE_OK;
}

/* `local` with the model's message recorded, then agreed by every rank. */
static diffuse_status agree_model(diffuse_mpi *mpi, diffuse_status local,
                                  const diffuse_model *model)
{
    if (local != DIFFUSE_OK)
        fail(mpi, local, "%s", diffuse_model_last_error(model));
    return agree(mpi, local);
}

/* Rank 0's weights (`ema`: its EMA weights) into every rank's model. */
static diffuse_status broadcast_buffer(diffuse_mpi *mpi, diffuse_model *model, bool ema,
                                       float *weights)
{
    size_t count = mpi->param_count;
    diffuse_status status = DIFFUSE_OK;
    if (mpi->rank == 0)
        status = (ema ? diffuse_model_get_ema_params : diffuse_model_get_params)(model, weights,
                                                                                 count);
    if ((status = agree_model(mpi, status, model)))
        return status;
    MPI_TRY(mpi, MPI_Bcast(weights, (int)count, MPI_FLOAT, 0, mpi->comm));
    if (mpi->rank != 0)
        status = (ema ? diffuse_model_set_ema_params : diffuse_model_set_params)(model, weights,
                                                                                 count);
    return agree_model(mpi, status, model);
}

/* The weights, and the EMA weights if rank 0 has them. */
static diffuse_status broadcast_weights(diffuse_mpi *mpi, diffuse_model *model)
{
    float *weights = malloc(mpi->param_count * sizeof *weights);
    int has_ema = 0;
    diffuse_status status = weights != NULL ? diffuse_model_has_ema(model, &has_ema)
                                            : fail(mpi, DIFFUSE_ERROR_NO_MEMORY,
                                                   "cannot allocate %zu weights",
                                                   mpi->param_count);
    if ((status = agree(mpi, status)) == DIFFUSE_OK) {
        int code = MPI_Bcast(&has_ema, 1, MPI_INT, 0, mpi->comm);
        status = code ? mpi_failed(mpi, code, "MPI_Bcast (EMA flag)")
                      : broadcast_buffer(mpi, model, false, weights);
    }
    if (status == DIFFUSE_OK && has_ema)
        status = broadcast_buffer(mpi, model, true, weights);
    free(weights);
    return status;
}

/* Every rank's parameter count must be rank 0's. */
static diffuse_status check_counts(diffuse_mpi *mpi)
{
    unsigned long long mine = mpi->param_count, root = mine;
    MPI_TRY(mpi, MPI_Bcast(&root, 1, MPI_UNSIGNED_LONG_LONG, 0, mpi->comm));
    diffuse_status local = mine == root ? DIFFUSE_OK
                                        : fail(mpi, DIFFUSE_ERROR_MISMATCH,
                                               "the model has %llu parameters, rank 0's %llu",
                                               mine, root);
    return agree(mpi, local);
}

/* Collective: buckets of `bytes` (0: one bucket, no overlap) for the
 * model's gradient in place of the current ones, on every rank or on none;
 * the trainer reports finished ranges when there is more than one bucket
 * (STATE from inside a step). */
static diffuse_status plan_buckets(diffuse_mpi *mpi, size_t bytes)
{
    int before = mpi->buckets != NULL && gradient_buckets_count(mpi->buckets) > 1;
    gradient_buckets *fresh = NULL;
    diffuse_status status = agree(mpi, gradient_buckets_create(&fresh, mpi->comm, mpi->param_count,
                                                               bytes / sizeof(float), mpi->error,
                                                               sizeof mpi->error));
    if (status == DIFFUSE_OK) {
        diffuse_status local =
            diffuse_trainer_set_peer_ready(mpi->trainer, gradient_buckets_count(fresh) > 1);
        if (local != DIFFUSE_OK)
            fail(mpi, local, "%s", diffuse_trainer_last_error(mpi->trainer));
        status = agree(mpi, local);
    }
    if (status != DIFFUSE_OK) {
        diffuse_trainer_set_peer_ready(mpi->trainer, before);
        gradient_buckets_free(fresh);
        return status;
    }
    gradient_buckets_free(mpi->buckets);
    mpi->buckets = fresh;
    return DIFFUSE_OK;
}

/* The model's parameter count and a value per rank. */
static diffuse_status size_model(diffuse_mpi *mpi, const diffuse_model *model)
{
    diffuse_status status = diffuse_model_param_count(model, &mpi->param_count);
    if (status != DIFFUSE_OK)
        return fail(mpi, status, "%s", diffuse_model_last_error(model));
    mpi->values = malloc((size_t)mpi->size * sizeof *mpi->values);
    return mpi->values != NULL ? DIFFUSE_OK
                               : fail(mpi, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate %d values",
                                      mpi->size);
}

/* Duplicates `comm` with errors returned, not fatal. */
static diffuse_status open_comm(diffuse_mpi *mpi, MPI_Comm comm)
{
    MPI_TRY(mpi, MPI_Comm_dup(comm, &mpi->comm));
    MPI_TRY(mpi, MPI_Comm_set_errhandler(mpi->comm, MPI_ERRORS_RETURN));
    MPI_TRY(mpi, MPI_Comm_rank(mpi->comm, &mpi->rank));
    MPI_TRY(mpi, MPI_Comm_size(mpi->comm, &mpi->size));
    return DIFFUSE_OK;
}

/* The trainer on its own again. */
static void detach(diffuse_trainer *trainer)
{
    diffuse_trainer_set_peers(trainer, NULL, NULL);
    diffuse_trainer_set_peer_ready(trainer, 0);
}

DIFFUSE_API diffuse_status diffuse_mpi_attach(diffuse_mpi **out, diffuse_trainer *trainer,
                                              diffuse_model *model, MPI_Comm comm)
{
    if (out == NULL || trainer == NULL || model == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *out = NULL;
    diffuse_mpi *mpi = calloc(1, sizeof *mpi);
    if (mpi == NULL)
        return DIFFUSE_ERROR_NO_MEMORY;
    mpi->comm = MPI_COMM_NULL;
    mpi->trainer = trainer;
    diffuse_status status = open_comm(mpi, comm);
    if (status == DIFFUSE_OK && (status = agree(mpi, size_model(mpi, model))) == DIFFUSE_OK &&
        (status = check_counts(mpi)) == DIFFUSE_OK &&
        (status = broadcast_weights(mpi, model)) == DIFFUSE_OK)
        status = plan_buckets(mpi, DIFFUSE_MPI_DEFAULT_BUCKET_BYTES);
    if (status == DIFFUSE_OK) {
        status = diffuse_trainer_set_peers(trainer, peer_exchange, mpi);
        if (status != DIFFUSE_OK)
            fail(mpi, status, "%s", diffuse_trainer_last_error(trainer));
        status = agree(mpi, status);
    }
    if (status != DIFFUSE_OK) {
        detach(trainer);
        release(mpi);
        return status;
    }
    *out = mpi;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_mpi_set_bucket_size(diffuse_mpi *mpi, size_t bytes)
{
    if (mpi == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    unsigned long long mine = bytes, root = bytes;
    MPI_TRY(mpi, MPI_Bcast(&root, 1, MPI_UNSIGNED_LONG_LONG, 0, mpi->comm));
    diffuse_status status =
        bytes > 0 && bytes < sizeof(float)
            ? fail(mpi, DIFFUSE_ERROR_INVALID_ARGUMENT, "a bucket of %zu bytes holds no gradient",
                   bytes)
        : mine != root ? fail(mpi, DIFFUSE_ERROR_MISMATCH, "buckets of %llu bytes, rank 0's %llu",
                              mine, root)
                       : DIFFUSE_OK;
    if ((status = agree(mpi, status)) != DIFFUSE_OK)
        return status;
    return plan_buckets(mpi, bytes);
}

DIFFUSE_API void diffuse_mpi_free(diffuse_mpi *mpi)
{
    if (mpi == NULL)
        return;
    detach(mpi->trainer);
    release(mpi);
}

DIFFUSE_API const char *diffuse_mpi_last_error(const diffuse_mpi *mpi)
{
    return mpi != NULL ? mpi->error : "diffuse_mpi is NULL";
}

DIFFUSE_API diffuse_status diffuse_mpi_shard(const diffuse_mpi *mpi, int *rank, int *size)
{
    if (mpi == NULL || rank == NULL || size == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *rank = mpi->rank;
    *size = mpi->size;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_mpi_check_state(diffuse_mpi *mpi)
{
    if (mpi == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    uint64_t digest = 0;
    diffuse_status status = diffuse_trainer_state_digest(mpi->trainer, &digest);
    if ((status = agree(mpi, status)))
        return status;
    unsigned long long root = digest;
    MPI_TRY(mpi, MPI_Bcast(&root, 1, MPI_UNSIGNED_LONG_LONG, 0, mpi->comm));
    diffuse_status local =
        root == digest ? DIFFUSE_OK
                       : fail(mpi, DIFFUSE_ERROR_MISMATCH,
                              "training state digest %016llx differs from rank 0's %016llx",
                              (unsigned long long)digest, root);
    return agree(mpi, local);
}

DIFFUSE_API diffuse_status diffuse_mpi_save(diffuse_mpi *mpi, const char *path)
{
    if (mpi == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    diffuse_status status = path != NULL ? DIFFUSE_OK
                                         : fail(mpi, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                                "path must not be NULL");
    if (status == DIFFUSE_OK && mpi->rank == 0 &&
        (status = diffuse_trainer_save(mpi->trainer, path)) != DIFFUSE_OK)
        fail(mpi, status, "%s", diffuse_trainer_last_error(mpi->trainer));
    return agree(mpi, status);
}
