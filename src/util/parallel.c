/* Fork-join with a persistent pool of pthreads (see parallel.h). */
#include "util/parallel.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct helper {
    parallel_pool *pool;
    size_t index; /* the task it runs: 1 … */
    pthread_t thread;
} helper;

struct parallel_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* a new run, or stop */
    pthread_cond_t finished; /* the last helper task of a run is done */
    size_t started;          /* helpers[0 … started−1] are running */
    helper *helpers;
    bool stopping;
    /* The current run, written under `lock` before `generation` moves on. */
    uint64_t generation;
    parallel_task task;
    void *context;
    diffuse_status *statuses;
    size_t helper_tasks;     /* tasks 1 … helper_tasks run on helpers */
    size_t pending;          /* helper tasks not finished yet */
};

/* Waits for each run, does its task if it has one, until the pool stops. */
static void *helper_main(void *argument)
{
    helper *self = argument;
    parallel_pool *pool = self->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stopping)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stopping)
            break;
        seen = pool->generation;
        if (self->index > pool->helper_tasks)
            continue;
        parallel_task task = pool->task;
        void *context = pool->context;
        diffuse_status *status = &pool->statuses[self->index];
        pthread_mutex_unlock(&pool->lock);
        *status = task(context, self->index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->finished);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

diffuse_status parallel_pool_create(parallel_pool **out, size_t threads)
{
    *out = NULL;
    parallel_pool *pool = calloc(1, sizeof *pool);
    helper *helpers = threads > 0 ? calloc(threads, sizeof *helpers) : NULL;
    if (pool == NULL || (threads > 0 && helpers == NULL)) {
        free(pool);
        free(helpers);
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu threads",
                            threads);
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->helpers = helpers;
    for (size_t i = 0; i < threads; i++) {
        helpers[i] = (helper){.pool = pool, .index = i + 1};
        if (pthread_create(&helpers[i].thread, NULL, helper_main, &helpers[i]) != 0)
            break; /* the remaining tasks run on the calling thread */
        pool->started++;
    }
    *out = pool;
    return DIFFUSE_OK;
}

void parallel_pool_free(parallel_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->started; i++)
        pthread_join(pool->helpers[i].thread, NULL);
    pthread_cond_destroy(&pool->finished);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->helpers);
    free(pool);
}

void parallel_run(parallel_pool *pool, size_t count, parallel_task task, void *context,
                  diffuse_status *statuses)
{
    size_t helper_tasks = count - 1 < pool->started ? count - 1 : pool->started;
    if (helper_tasks > 0) {
        pthread_mutex_lock(&pool->lock);
        pool->task = task;
        pool->context = context;
        pool->statuses = statuses;
        pool->helper_tasks = helper_tasks;
        pool->pending = helper_tasks;
        pool->generation++;
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    statuses[0] = task(context, 0);
    for (size_t i = helper_tasks + 1; i < count; i++)
        statuses[i] = task(context, i);
    if (helper_tasks > 0) {
        pthread_mutex_lock(&pool->lock);
        while (pool->pending > 0)
            pthread_cond_wait(&pool->finished, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}
