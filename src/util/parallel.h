/* Fork-join over a few tasks with a persistent set of threads (internal).
 *
 * A pool belongs to one handle (a trainer or a sampler) and is used by one
 * thread at a time, like the handle; there is no global state. Its helper
 * threads sleep on a condition variable between runs, so a run costs a
 * wake-up (microseconds), not a thread creation, which matters for training
 * steps of about a millisecond.
 *
 * parallel_run runs task(context, i) for i = 0 … count−1: task 0 on the
 * calling thread, task i ≥ 1 on helper thread i (1-based), and returns when
 * all have finished; statuses[i] receives task i's status. A task without a
 * helper thread (count above the pool's size + 1, or a thread that could not
 * be started) runs on the calling thread after task 0, so results never
 * depend on how many threads actually exist. Tasks therefore must never wait
 * for one another; they may signal one another (e.g. a stop flag). */
#ifndef DIFFUSE_SRC_PARALLEL_H
#define DIFFUSE_SRC_PARALLEL_H

#include <stddef.h>

#include "util/error.h"

typedef struct parallel_pool parallel_pool;

typedef diffuse_status (*parallel_task)(void *context, size_t index);

/* A pool of up to `threads` helper threads (tasks 1 … threads of a run).
 * Threads that cannot be started are left out (their tasks run on the
 * calling thread). DIFFUSE_ERROR_NO_MEMORY (message in the thread's slot)
 * when the pool itself cannot be allocated; *out = NULL then. */
diffuse_status parallel_pool_create(parallel_pool **out, size_t threads);

/* Stops and joins the helper threads. NULL is a no-op. */
void parallel_pool_free(parallel_pool *pool);

/* See the top of this file. count ≥ 1; statuses has count entries. */
void parallel_run(parallel_pool *pool, size_t count, parallel_task task, void *context,
                  diffuse_status *statuses);

#endif
