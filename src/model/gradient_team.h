/* Several workers adding their gradients into one buffer, in a fixed order
 * (internal).
 *
 * A data-parallel training step splits the batch's rows over k workers, and
 * the gradient is the sum of their parts: dW = Σ_workers dYᵀ·X over each
 * worker's rows. Giving every worker its own gradient buffer and summing the
 * buffers after the join costs a parameter-sized buffer per extra worker
 * (4.35 MB at width 512) and a serial pass over all of them. Instead, the
 * workers of a team accumulate straight into the shared buffer, one tensor
 * group at a time (a layer's weight and bias), in worker order: worker i
 * opens group g only after worker i − 1 has closed it. Each element thus
 * receives the same additions in the same order on every run, so the result
 * depends on the data and k only, like the separate-buffer sum it replaces
 * (g_0 + g_1 + … , each part computed by accumulating onto the sum so far).
 *
 * Worker i waits only for worker i − 1, never for a later one, so a team can
 * run on parallel_run (parallel.h), which may run the tasks that have no
 * thread of their own after task 0, in increasing order: the one waited for
 * is then either finished or running on a thread. Every worker calls
 * gradient_team_leave when its task ends, however it ends, so no successor
 * waits for a group that will never be closed.
 *
 * Every worker must open the same groups in the same order; worker 0 zeroes
 * the buffer before its first group. */
#ifndef DIFFUSE_SRC_GRADIENT_TEAM_H
#define DIFFUSE_SRC_GRADIENT_TEAM_H

#include <stddef.h>

#include "util/error.h"

typedef struct gradient_team gradient_team;

/* A team of `workers` (≥ 1) adding into `grads` (borrowed; it must
 * outlive the team). DIFFUSE_ERROR_NO_MEMORY (message in `error`)
 * otherwise; *out = NULL then. */
diffuse_status gradient_team_create(diffuse_error *error, gradient_team **out, size_t workers,
                                    float *grads);

/* NULL is a no-op. */
void gradient_team_free(gradient_team *team);

/* Starts a step: all groups unopened. Call it before the workers run. */
void gradient_team_start(gradient_team *team);

/* Worker `worker`'s next group, starting `offset` floats into the buffer:
 * waits until the previous worker has closed that group (or left), then
 * returns where to accumulate. */
float *gradient_team_open(gradient_team *team, size_t worker, size_t offset);

/* Worker `worker` has finished accumulating its open group. */
void gradient_team_close(gradient_team *team, size_t worker);

/* How many groups worker `worker` has closed in this step (SIZE_MAX once
 * it left); acquire: what it added to them is visible to the caller. */
size_t gradient_team_closed(const gradient_team *team, size_t worker);

/* Worker `worker` opens no more groups in this step (its task is ending);
 * returns once the previous worker has left too, so workers leave in order. */
void gradient_team_leave(gradient_team *team, size_t worker);

#endif
