/* Splitting rows over worker threads, each with its own copy of a model
 * (internal): what the trainer and the sampler share.
 *
 * A handle (trainer or sampler) keeps one worker_set. Worker 0 is the
 * calling thread with the handle's model; worker i ≥ 1 runs on a thread of
 * the set's pool with the model's replica i (model_replica). A run splits
 * its rows into contiguous parts, one per worker (at most one worker per
 * row), runs a task on each, and reports the first failure in worker order,
 * so that results and messages never depend on thread timing. In a
 * gradient team the workers' backward passes add into the model's
 * gradient buffer in worker order (gradient_team.h).
 *
 * The set also decides OpenBLAS's threading for a run: with a THREADS
 * option ≥ 1 the rows are the parallelism and the run's GEMMs use one
 * OpenBLAS thread (util/blas_threads.h), so that the bits depend on the
 * option alone; THREADS = 0 leaves OpenBLAS as it is. */
#ifndef DIFFUSE_SRC_WORKERS_H
#define DIFFUSE_SRC_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/gradient_team.h"
#include "model/model.h"
#include "util/error.h"
#include "util/parallel.h"

typedef struct worker {
    diffuse_model *model; /* the handle's model (worker 0) or a replica */
    size_t first, rows;   /* its part of the current run */
    diffuse_error error;  /* its failure; a worker never writes the handle's slot */
    bool stopped;         /* gave up because another worker failed: not a failure */
    void *local;          /* the handle's per-worker state (local_size bytes) */
} worker;

typedef struct worker_set {
    worker *workers;
    diffuse_status *statuses;
    size_t count;          /* workers kept (≥ 1 once prepared) */
    size_t active;         /* workers[0 … active−1] take part in the current run */
    parallel_pool *pool;   /* count − 1 threads; NULL for one worker */
    gradient_team *team;   /* NULL unless asked for and count > 1 */
    bool pin_blas;         /* run with OpenBLAS on one thread (THREADS ≥ 1) */
    size_t local_size;     /* bytes of each worker's `local`, zeroed when set up */
    void (*local_free)(void *local); /* releases what a `local` holds; may be NULL */
} worker_set;

/* An empty set whose workers will carry `local_size` bytes of state each,
 * released with local_free (may be NULL). Allocates nothing. */
void workers_init(worker_set *set, size_t local_size, void (*local_free)(void *local));

/* Releases the workers, their locals, the pool and the team; the set is
 * empty again (workers_prepare sets it up anew). */
void workers_release(worker_set *set);

/* Makes the set ready for a run of `model` with the handle's THREADS option
 * `threads`: max(threads, 1) workers where the model can be replicated, else
 * one (a callback model's function is only called from the calling thread);
 * kept between runs with the same count, so steady state allocates nothing.
 * A gradient team too when `with_team` (training). With threads ≥ 1, the
 * runs pin OpenBLAS to one thread. Failures (NO_MEMORY, a replica's) are
 * recorded in `error` and leave the set empty. */
diffuse_status workers_prepare(worker_set *set, diffuse_error *error, diffuse_model *model,
                               size_t threads, bool with_team);

/* Splits rows [0, rows) into `active` = min(count, rows) contiguous parts,
 * in order, the first rows % active one row longer; clears `stopped`. */
void workers_split(worker_set *set, size_t rows);

/* Runs task(context, i) for the active workers, i = 0 on the calling
 * thread; each task's status lands in statuses[i]. In a team, every worker
 * joins it for the run and leaves it however its task ends. OpenBLAS's
 * thread count is pinned for the run and restored after it. */
void workers_run(worker_set *set, parallel_task task, void *context);

/* The run's outcome: the first failure in worker order (a worker that only
 * stopped is skipped), recorded in `error` with that worker's message; OK
 * when every active worker succeeded. */
diffuse_status workers_first_failure(const worker_set *set, diffuse_error *error);

#endif
