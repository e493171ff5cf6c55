/* Timestep lists (internal): the t's a sampler visits, in order. */
#ifndef DIFFUSE_SRC_SAMPLE_TIMESTEPS_H
#define DIFFUSE_SRC_SAMPLE_TIMESTEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* list[i] = T − 1 − i for i < T: every step, as DDPM visits them. */
void timesteps_every_step(int32_t *list, size_t steps);

/* Checks a list for a schedule of T = `steps` steps: not empty, every entry
 * in [0, T), strictly decreasing (so no duplicates), ending at 0 (the last
 * step produces the sample), and, when `every_step`, exactly T−1, …, 0.
 * INVALID_ARGUMENT naming the first offending entry otherwise. */
diffuse_status timesteps_check(diffuse_error *error, const int32_t *list, size_t count,
                               size_t steps, bool every_step);

#endif
