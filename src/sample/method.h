/* Sampling methods (internal): one reverse update over a timestep list.
 *
 * The sampler (sampler.c) owns the loop: for each chunk of rows it draws
 * x ~ N(0, I), then for each entry t_i of its timestep list (timesteps.h)
 * asks the model for f_θ(x, t_i), reads it as estimates x̂_0 and ε̂
 * (sample_estimate below, over core/prediction.h) and calls the method's
 * step, which writes x_{t_prev}, t_prev = t_{i+1} (the next list entry,
 * never t − T/n), or the final sample after the last entry. The public
 * diffuse_sampler_step is the same call on the caller's buffers. A method
 * is the step; its per-chunk state (rows·d floats, sized once for the
 * largest chunk: a multistep solver's previous x̂_0 per row) is kept between
 * the steps of a chunk, so a run allocates nothing per step. Adding a
 * method: a file with its step, a diffuse_sample_method value and a row in
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
    size_t t;               /* x_t is the input */
    int64_t t_prev;         /* the next list entry; −1 after the last */
    int64_t t_before;       /* the previous list entry; −1 at the first */
    size_t index, count;    /* t = list[index] of a list of `count` entries */
    bool history;           /* the state holds x̂_0 of entry index − 1 */
    size_t rows, d;         /* the chunk: rows × d floats */
    size_t first_row;       /* global index of the chunk's first row (noise streams) */
    const int32_t *t_rows;  /* t repeated for each row (the row kernels take one per row) */
    float *noise;           /* rows·d floats of scratch for z */
    const float *variance;  /* rows·d: the model's variance output v (VARIANCE = LEARNED),
                             * else NULL */
} sample_step;

/* The estimates of one step: the network's output read as x̂_0 and ε̂
 * (core/prediction.h), with x̂_0 clipped or dynamically thresholded as the
 * options say and ε̂ then re-derived from it. Each is computed when first
 * asked for and kept. */
typedef struct sample_estimate {
    prediction_estimate raw;
    const double *options;
    float *x0_buffer, *eps_buffer; /* rows·d: the processed x̂_0 and its ε̂ */
    float *sort_buffer;            /* d: one row's |x̂_0|, sorted */
    const float *x0, *eps;         /* NULL until asked for */
} sample_estimate;

/* Whether the options change x̂_0 (CLIP_X0 > 0 or THRESHOLD_PERCENTILE > 0). */
bool sample_processes_x0(const double *options);

/* x̂_0 as the step uses it: clipped to [−c, c], or thresholded per row
 *   s = max(1, min(quantile_p(|x̂_0|), s_max)),  x̂_0 ← clip(x̂_0, −s, s)/s
 * (Saharia et al. 2022; the quantile interpolates linearly, as
 * torch.quantile does), or the raw estimate. */
const float *sample_x0(sample_estimate *e);
/* ε̂ consistent with sample_x0: ε̂ = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t) after
 * processing, else the raw estimate. */
const float *sample_eps(sample_estimate *e);
/* Whether sample_eps is the network's output itself (an ε-network, no
 * processing): a method may then avoid the round trip through x̂_0. */
bool sample_eps_is_output(const sample_estimate *e);

/* ᾱ_t, with ᾱ = 1 for t = −1 (after the last entry: the data). */
double sample_alpha_bar(const sample_step *step, int64_t t);
/* ᾱ of the step's target for DDIM and DPM-Solver++: ᾱ_{t_prev}, or after the
 * last entry 1 or ᾱ_0 (DIFFUSE_SAMPLER_FINAL_ALPHA_ONE). */
double sample_alpha_bar_prev(const sample_step *step);

/* out = (float)(a·x + b·y), in double, over `count` floats (out may be x
 * or y). */
void sample_combine(size_t count, double a, const float *x, double b, const float *y,
                    float *out);
/* x += σ z with z of this step (Philox stream t + 1 at the chunk's offset,
 * so a row's noise never depends on the chunking); nothing when σ = 0. */
void sample_add_noise(const sample_step *step, float sigma, float *x);
/* x += σ_i z_i, z as above, with the learned range per element (v_i =
 * step->variance[i]): σ_i² = exp(f log β + (1 − f) log β̃), f = (v_i + 1)/2,
 * for the step's β and β̃ (both > 0). */
void sample_add_learned_noise(const sample_step *step, double beta, double posterior_variance,
                              float *x);

typedef struct sample_method {
    const char *name;
    /* x_prev ← x_{t_prev} (or the sample after the last entry) from
     * x_t = e->raw.x_t and the estimates; `state` (rows·d floats) is the
     * chunk's, kept between its steps. x_prev may be x_t: read the
     * estimates before writing x_prev. */
    void (*step)(const sample_step *step, float *state, sample_estimate *e, float *x_prev);
} sample_method;

/* Ancestral sampling, Algorithm 2 of Ho et al. 2020, respaced (ddpm.c). */
extern const sample_method sample_method_ddpm;
/* DDIM, Song et al. 2021 (ddim.c). */
extern const sample_method sample_method_ddim;
/* DPM-Solver++ 2M, Lu et al. 2022 (dpmpp.c). */
extern const sample_method sample_method_dpmpp_2m;

#endif
