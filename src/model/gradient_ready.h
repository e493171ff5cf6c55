/* Telling a listener which parts of the gradient buffer a training step's
 * backward has finished (internal), so that a transport can send them
 * while backward still computes the rest: the overlap of data-parallel
 * training (docs/design.md, "Training on many processes").
 *
 * Backward adds each tensor group (a layer's weight and bias, contiguous in
 * the buffer) once per worker, in a fixed order (model_grads_open). A
 * group is final when the run's last worker has closed it: with one
 * worker, at that worker's close; in a gradient team, when worker k − 1
 * closes it (the others closed it before, gradient_team.h). The listener is
 * called on the calling thread only, where MPI without thread support
 * allows calls: worker 0 (the calling thread) records the groups as it
 * opens them and, at each of its own opens and closes, reports the groups
 * the last worker has closed since; gradient_ready_finish reports the rest
 * after the join. Each group is reported at most once, in the order
 * backward opens them. Reports are hints: when a group cannot be recorded
 * (out of memory) or the listener asks to stop, the step reports no more. */
#ifndef DIFFUSE_SRC_GRADIENT_READY_H
#define DIFFUSE_SRC_GRADIENT_READY_H

#include <stdbool.h>
#include <stddef.h>

#include "model/gradient_team.h"

/* grads[offset … offset + count) is final; nonzero: report no more this step. */
typedef int (*gradient_ready_fn)(void *user, size_t offset, size_t count);

typedef struct gradient_ready {
    gradient_ready_fn fn;
    void *user;
    const gradient_team *team; /* NULL: one worker */
    size_t last_worker;        /* the team's worker whose close makes a group final */
    size_t *offsets, *counts;  /* the step's groups in opening order */
    size_t capacity, opened, reported;
    bool stopped;              /* no more reports this step */
} gradient_ready;

/* A reporter to `fn` that has recorded nothing; allocates nothing. */
void gradient_ready_init(gradient_ready *ready, gradient_ready_fn fn, void *user);
void gradient_ready_release(gradient_ready *ready);

/* Starts a step run by `workers` workers, in `team` (NULL for one worker). */
void gradient_ready_start(gradient_ready *ready, const gradient_team *team, size_t workers);

/* Worker 0 opens the group grads[offset … offset + count) (records it and
 * reports what became final meanwhile). */
void gradient_ready_opened(gradient_ready *ready, size_t offset, size_t count);

/* Worker 0 closed its open group: reports the groups now final. */
void gradient_ready_closed(gradient_ready *ready);

/* After the join: reports every recorded group not reported yet. */
void gradient_ready_finish(gradient_ready *ready);

#endif
