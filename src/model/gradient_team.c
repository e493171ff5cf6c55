/* Ordered accumulation of the workers' gradients (see gradient_team.h). */
#include "model/gradient_team.h"

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* A cache line per worker, so that one worker's counter moving does not
 * slow down the others' reads. */
#define TEAM_CACHE_LINE 64

typedef struct team_worker {
    alignas(TEAM_CACHE_LINE) atomic_size_t closed; /* groups closed; SIZE_MAX: left */
    size_t opened;                                 /* groups opened (its own thread only) */
} team_worker;

struct gradient_team {
    float *grads;
    size_t count;
    team_worker *workers;
};

/* Polls between yields: a group of the previous worker usually closes
 * within microseconds, and yielding at once would give the core away on a
 * busy machine for much longer than that. */
#define TEAM_SPINS_BEFORE_YIELD 256

diffuse_status gradient_team_create(diffuse_error *error, gradient_team **out, size_t workers,
                                    float *grads)
{
    *out = NULL;
    gradient_team *team = calloc(1, sizeof *team);
    /* aligned_alloc wants a multiple of the alignment: sizeof is one. */
    team_worker *array = aligned_alloc(TEAM_CACHE_LINE, workers * sizeof *array);
    if (team == NULL || array == NULL) {
        free(team);
        free(array);
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a team of %zu workers", workers);
    }
    for (size_t i = 0; i < workers; i++) {
        atomic_init(&array[i].closed, 0);
        array[i].opened = 0;
    }
    team->grads = grads;
    team->count = workers;
    team->workers = array;
    *out = team;
    return DIFFUSE_OK;
}

void gradient_team_free(gradient_team *team)
{
    if (team == NULL)
        return;
    free(team->workers);
    free(team);
}

void gradient_team_start(gradient_team *team)
{
    for (size_t i = 0; i < team->count; i++) {
        atomic_store_explicit(&team->workers[i].closed, 0, memory_order_relaxed);
        team->workers[i].opened = 0;
    }
    /* The workers are started after this (parallel_run's mutex orders it). */
}

/* Waits until worker `worker` − 1 has closed more than `groups` groups
 * (acquire: its additions so far are then visible here). */
static void wait_for_previous(gradient_team *team, size_t worker, size_t groups)
{
    if (worker == 0)
        return;
    const atomic_size_t *previous = &team->workers[worker - 1].closed;
    for (unsigned spins = 0; atomic_load_explicit(previous, memory_order_acquire) <= groups;
         spins++) {
        if (spins >= TEAM_SPINS_BEFORE_YIELD) {
            sched_yield();
            spins = 0;
        }
    }
}

float *gradient_team_open(gradient_team *team, size_t worker, size_t offset)
{
    wait_for_previous(team, worker, team->workers[worker].opened++);
    return team->grads + offset;
}

void gradient_team_close(gradient_team *team, size_t worker)
{
    team_worker *self = &team->workers[worker];
    /* release: our additions are visible to the next worker before it opens */
    atomic_store_explicit(&self->closed, self->opened, memory_order_release);
}

size_t gradient_team_closed(const gradient_team *team, size_t worker)
{
    return atomic_load_explicit(&team->workers[worker].closed, memory_order_acquire);
}

void gradient_team_leave(gradient_team *team, size_t worker)
{
    /* Only after the previous worker has left: a worker that stops early
     * (its loss was not finite) must not let the next one overtake a
     * worker still adding before it. */
    wait_for_previous(team, worker, SIZE_MAX - 1);
    atomic_store_explicit(&team->workers[worker].closed, SIZE_MAX, memory_order_release);
}
