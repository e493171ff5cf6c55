/* Worker sets (see workers.h). */
#include "model/workers.h"

#include "util/blas_threads.h"

#include <stdlib.h>
#include <string.h>

void workers_init(worker_set *set, size_t local_size, void (*local_free)(void *local))
{
    *set = (worker_set){.local_size = local_size, .local_free = local_free};
}

void workers_release(worker_set *set)
{
    parallel_pool_free(set->pool);
    gradient_team_free(set->team);
    for (size_t i = 0; i < set->count; i++) {
        if (set->local_free != NULL)
            set->local_free(set->workers[i].local);
    }
    if (set->count > 0)
        free(set->workers[0].local); /* one block for every worker's local */
    free(set->workers);
    free(set->statuses);
    workers_init(set, set->local_size, set->local_free);
}

/* The records, statuses and locals of `count` workers, worker i ≥ 1 with
 * the model's replica i. */
static diffuse_status create_workers(worker_set *set, diffuse_model *model, size_t count)
{
    set->workers = calloc(count, sizeof *set->workers);
    set->statuses = calloc(count, sizeof *set->statuses);
    unsigned char *locals = calloc(count, set->local_size > 0 ? set->local_size : 1);
    if (set->workers == NULL || set->statuses == NULL || locals == NULL) {
        free(locals);
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate %zu workers", count);
    }
    set->count = count;
    for (size_t i = 0; i < count; i++)
        set->workers[i].local = locals + i * set->local_size;
    set->workers[0].model = model;
    diffuse_status status = DIFFUSE_OK;
    for (size_t i = 1; i < count && status == DIFFUSE_OK; i++)
        status = model_replica(model, i, &set->workers[i].model);
    return status;
}

diffuse_status workers_prepare(worker_set *set, diffuse_error *error, diffuse_model *model,
                               size_t threads, bool with_team)
{
    size_t count = threads > 1 && model_can_replicate(model) ? threads : 1;
    if (set->count != count)
        workers_release(set);
    /* A callback model runs the caller's code, whose threading is the caller's. */
    set->pin_blas = threads > 0 && model_can_replicate(model);
    if (set->count == count)
        return DIFFUSE_OK;
    diffuse_status status = create_workers(set, model, count);
    if (status == DIFFUSE_OK && count > 1 && with_team)
        status = gradient_team_create(NULL, &set->team, count, model->grads);
    if (status == DIFFUSE_OK && count > 1)
        status = parallel_pool_create(&set->pool, count - 1);
    if (status != DIFFUSE_OK) {
        status = diffuse_fail(error, status, "%s", diffuse_last_error());
        workers_release(set);
    }
    return status;
}

void workers_split(worker_set *set, size_t rows)
{
    size_t count = set->count < rows ? set->count : rows, first = 0;
    set->active = count;
    for (size_t i = 0; i < count; i++) {
        worker *w = &set->workers[i];
        w->first = first;
        w->rows = rows / count + (i < rows % count);
        w->stopped = false;
        first += w->rows;
    }
}

/* A team member's task: however it ends, the worker leaves the team, so
 * the next one never waits for it in vain. */
typedef struct team_run {
    worker_set *set;
    parallel_task task;
    void *context;
} team_run;

static diffuse_status team_task(void *context, size_t index)
{
    const team_run *run = context;
    diffuse_status status = run->task(run->context, index);
    gradient_team_leave(run->set->team, index);
    return status;
}

static void run_active(worker_set *set, parallel_task task, void *context)
{
    if (set->active == 1) {
        set->statuses[0] = task(context, 0);
        return;
    }
    if (set->team == NULL) {
        parallel_run(set->pool, set->active, task, context, set->statuses);
        return;
    }
    team_run run = {set, task, context};
    gradient_team_start(set->team);
    for (size_t i = 0; i < set->active; i++)
        model_join_team(set->workers[i].model, set->team, i);
    parallel_run(set->pool, set->active, team_task, &run, set->statuses);
    for (size_t i = 0; i < set->active; i++)
        model_join_team(set->workers[i].model, NULL, 0);
}

void workers_run(worker_set *set, parallel_task task, void *context)
{
    int blas_threads = set->pin_blas ? blas_threads_pin() : 1;
    run_active(set, task, context);
    blas_threads_restore(blas_threads);
}

diffuse_status workers_first_failure(const worker_set *set, diffuse_error *error)
{
    for (size_t i = 0; i < set->active; i++) {
        const worker *w = &set->workers[i];
        if (set->statuses[i] != DIFFUSE_OK && !w->stopped)
            return diffuse_fail(error, set->statuses[i], "%s", w->error.message);
    }
    return DIFFUSE_OK;
}
