/* Sampling methods (internal): one reverse update over a timestep list.
 *
 * The sampler (sampler.c) owns the loop: for each chunk of rows it draws
 * x ~ N(0, I), then for each entry t_i of its timestep list (timesteps.h)
 * asks the model for f_θ(x, t_i), reads it as estimates x̂_0 and ε̂
 * (core/prediction.h) and calls the method's step, which replaces x = x_t
 * by x_{t_prev}, t_prev = t_{i+1} (the next list entry, never t − T/n), or
 * by the final sample after the last entry. A method is the step plus the
 * per-worker state it needs, sized once for the largest chunk (history for
 * a multistep solver: previous x̂_0 per row), so a run allocates nothing
 * per step. Adding a method: a file with its step and state size, a row in
 * sampler.c's method table (docs/design.md). */
#ifndef DIFFUSE_SRC_SAMPLE_METHOD_H
#define DIFFUSE_SRC_SAMPLE_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/prediction.h"
#include "diffuse/schedule.h"

/* One step of one chunk, as the loop hands it to the method. */
typedef struct sample_step {
    const diffuse_schedule *schedule;
    const double *options;  /* the sampler's, indexed by diffuse_sampler_option */
    size_t t;               /* x holds x_t */
    int64_t t_prev;         /* the next list entry; −1 after the last */
    size_t index, count;    /* t = list[index] of a list of `count` entries */
    size_t rows, d;         /* the chunk: rows × d floats */
    size_t first_row;       /* global index of the chunk's first row (noise streams) */
    const int32_t *t_rows;  /* t repeated for each row (the row kernels take one per row) */
} sample_step;

typedef struct sample_method {
    const char *name;
    /* The update assumes t_prev = t − 1: the list must be T−1, T−2, …, 0. */
    bool every_step;
    /* Floats of per-worker state for chunks of up to `rows` rows. */
    size_t (*state_floats)(size_t rows, size_t d);
    /* x ← x_{t_prev} (or the sample after the last entry) from x = x_t and
     * the estimate of this step; `state` is the worker's, kept between the
     * steps of a chunk (step->index = 0 starts a chunk). x is also the
     * estimate's x_t: ask for x̂_0 and ε̂ before writing x. */
    void (*step)(const sample_step *step, float *state, prediction_estimate *estimate, float *x);
} sample_method;

/* Ancestral sampling, Algorithm 2 of Ho et al. 2020 (ddpm.c). */
extern const sample_method sample_method_ddpm;

#endif
