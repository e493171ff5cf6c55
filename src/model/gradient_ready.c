/* Reports of finished gradient groups (see gradient_ready.h). */
#include "model/gradient_ready.h"

#include <stdint.h>
#include <stdlib.h>

void gradient_ready_init(gradient_ready *ready, gradient_ready_fn fn, void *user)
{
    *ready = (gradient_ready){.fn = fn, .user = user};
}

void gradient_ready_release(gradient_ready *ready)
{
    free(ready->offsets);
    free(ready->counts);
    gradient_ready_init(ready, ready->fn, ready->user);
}

void gradient_ready_start(gradient_ready *ready, const gradient_team *team, size_t workers)
{
    ready->team = workers > 1 ? team : NULL;
    ready->last_worker = workers > 0 ? workers - 1 : 0;
    ready->opened = ready->reported = 0;
    ready->stopped = false;
}

/* Reports groups [reported, final) to the listener, in order. */
static void report_up_to(gradient_ready *ready, size_t final)
{
    while (!ready->stopped && ready->reported < final) {
        size_t g = ready->reported++;
        ready->stopped = ready->fn(ready->user, ready->offsets[g], ready->counts[g]) != 0;
    }
}

/* The groups the last worker has closed: all opened ones with one worker
 * (worker 0 reports after its own close); in a team, that worker's count
 * (SIZE_MAX once it left, clamped to what worker 0 recorded). */
static size_t groups_final(const gradient_ready *ready)
{
    if (ready->team == NULL)
        return ready->opened;
    size_t closed = gradient_team_closed(ready->team, ready->last_worker);
    return closed < ready->opened ? closed : ready->opened;
}

/* Room for one more group; false (and no more reports) when it cannot
 * be had. Grows only in the first steps: then the count is known. */
static bool reserve_group(gradient_ready *ready)
{
    if (ready->opened < ready->capacity)
        return true;
    size_t capacity = ready->capacity ? 2 * ready->capacity : 64;
    size_t *offsets = realloc(ready->offsets, capacity * sizeof *offsets);
    if (offsets != NULL)
        ready->offsets = offsets;
    size_t *counts = offsets != NULL ? realloc(ready->counts, capacity * sizeof *counts) : NULL;
    if (counts == NULL)
        return false;
    ready->counts = counts;
    ready->capacity = capacity;
    return true;
}

void gradient_ready_opened(gradient_ready *ready, size_t offset, size_t count)
{
    if (ready->stopped)
        return;
    if (!reserve_group(ready)) {
        ready->stopped = true;
        return;
    }
    /* what became final meanwhile: groups_final counts only the groups
     * before this one, which is not counted as opened yet */
    report_up_to(ready, groups_final(ready));
    ready->offsets[ready->opened] = offset;
    ready->counts[ready->opened] = count;
    ready->opened++;
}

void gradient_ready_closed(gradient_ready *ready)
{
    report_up_to(ready, groups_final(ready));
}

void gradient_ready_finish(gradient_ready *ready)
{
    report_up_to(ready, ready->opened);
}
