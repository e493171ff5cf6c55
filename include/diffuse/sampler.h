/*
 * libdiffuse — sampling (Algorithm 2 of Ho et al. 2020, "ancestral" DDPM).
 *
 *   x_{T−1} ~ N(0, I)
 *   for t = T−1, …, 0:
 *       x_{t−1} = μ_θ(x_t, t) + σ_t z,  z ~ N(0, I) for t > 0, z = 0 at t = 0
 *
 * with μ_θ = (x_t − β_t/√(1−ᾱ_t) ε_θ(x_t, t)) / √α_t for an ε-prediction
 * model. When x̂_0 is clipped, or the model predicts v, the mean is computed
 * as the posterior mean μ̃_t(x_t, x̂_0) with x̂_0 from the prediction (the two
 * forms are equal without clipping). σ_t² is β_t or β̃_t (an option).
 *
 * An ε-prediction model cannot be sampled from a schedule rescaled to zero
 * terminal SNR (α_{T−1} = 0 makes 1/√α_t infinite): that returns
 * DIFFUSE_ERROR_UNSUPPORTED; use a v-prediction model there.
 *
 * Randomness: x_{T−1} of row i comes from the Philox stream (seed, 0) at
 * values i·d … i·d+d−1, and z at step t from stream (seed, t+1) likewise, so
 * the noise never depends on how rows are split into chunks or on threads.
 * Same seed, model, n, chunk size and thread count ⇒ the same bits; with
 * another chunk size or thread count the network's sgemm calls may round
 * differently in the last bit (OpenBLAS picks kernels by matrix size) — the
 * only way either can change the result.
 *
 * Ownership: the sampler borrows the model (it must outlive the sampler and
 * must not be trained by another thread meanwhile) and copies the schedule.
 * Memory: O(n·d + threads·chunk·width); it does not grow with T.
 */
#ifndef DIFFUSE_SAMPLER_H
#define DIFFUSE_SAMPLER_H

#include "diffuse/common.h"
#include "diffuse/model.h"
#include "diffuse/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_sampler diffuse_sampler;

typedef enum diffuse_variance {
    DIFFUSE_VARIANCE_BETA = 0,     /* σ_t² = β_t (the paper's choice for x_0 ~ N(0, I)) */
    DIFFUSE_VARIANCE_POSTERIOR = 1 /* σ_t² = β̃_t (the choice for a deterministic x_0) */
} diffuse_variance;

typedef enum diffuse_sampler_option {
    DIFFUSE_SAMPLER_VARIANCE = 0,   /* int, diffuse_variance; default BETA */
    DIFFUSE_SAMPLER_CLIP_X0 = 1,    /* double, clip x̂_0 to [−c, c]; 0 (default) = off */
    DIFFUSE_SAMPLER_USE_EMA = 2,    /* int 0/1, sample with the EMA weights; default 0 */
    DIFFUSE_SAMPLER_SEED = 3,       /* int, default 0 */
    DIFFUSE_SAMPLER_THREADS = 4,    /* int, worker threads; default 0, 0..1024 (below) */
    DIFFUSE_SAMPLER_CHUNK_ROWS = 5  /* int, rows denoised together; default 4096 */
} diffuse_sampler_option;

/* DIFFUSE_SAMPLER_THREADS = k:
 *   0  (default) one thread (the caller's); OpenBLAS is left as it is;
 *   1  the same, but OpenBLAS is set to one thread;
 *   k > 1 the n rows are split into k contiguous parts (at most one per
 *      row), each denoised through all T steps, chunk by chunk, by its own
 *      thread (the calling one and k−1 the sampler keeps until it is freed
 *      or k changes), with OpenBLAS set to one thread. A 2-thread run of
 *      64 rows is thus bit-identical to a 1-thread run with 32-row chunks.
 *      Each thread has its own chunk buffers and network activations
 *      (kept by the model, shared with its trainer, until it is freed):
 *      memory O(n·d + k·chunk·width). Callback models are always sampled
 *      on the calling thread only (their function is never called from
 *      another thread), whatever k is.
 * For k ≥ 1 the sampler calls openblas_set_num_threads(1), which is
 * PROCESS-WIDE in the OpenBLAS builds Debian ships: it also affects other
 * code in the process that uses OpenBLAS, and stays so after the call. */

/* Progress: called on the calling thread after each reverse step of each
 * chunk with the number of (chunk, step) units done and the total. Non-zero
 * return cancels the run (DIFFUSE_ERROR_CANCELLED; the output is then
 * incomplete). With THREADS > 1 it is called after each step of the calling
 * thread's own chunks with the units done by all threads (so `done` may skip
 * values; it never decreases), once more with done = total if it has not
 * seen that yet, and a cancel stops every thread at its next step. */
typedef int (*diffuse_sample_progress_fn)(void *user, uint64_t done, uint64_t total);
/* During a run the sampler and its model are busy ("Callbacks and re-entry"
 * in diffuse/common.h): from the progress callback (or a callback model's
 * function) a call that changes or runs either of them — set_int,
 * diffuse_sampler_run, diffuse_model_set_params, a training step of the model
 * — returns DIFFUSE_ERROR_STATE; diffuse_sampler_free cancels the run and
 * frees the sampler when diffuse_sampler_run returns. */

/* Creates a sampler for `model` (borrowed; any model, callback models
 * included) and a copy of `schedule`. Options start at their defaults.
 * MISMATCH: `schedule` is not the one the model was trained or loaded with
 * ("The schedule a model belongs to" in diffuse/checkpoint.h). */
DIFFUSE_API diffuse_status diffuse_sampler_create(diffuse_sampler **out, diffuse_model *model,
                                                  const diffuse_schedule *schedule);
/* Frees the sampler (not the model). NULL is a no-op. From its own progress
 * callback: deferred until the run returns (see above). */
DIFFUSE_API void diffuse_sampler_free(diffuse_sampler *sampler);
/* Message of the sampler's last failure; valid until its next failing call. */
DIFFUSE_API const char *diffuse_sampler_last_error(const diffuse_sampler *sampler);

/* Typed option access. The setter of the wrong type for an option, or an
 * unknown option, is DIFFUSE_ERROR_INVALID_ARGUMENT; a value outside the
 * bounds is DIFFUSE_ERROR_OUT_OF_RANGE (never clamped); NaN/Inf is
 * DIFFUSE_ERROR_NUMERIC. Options may change between runs. */
DIFFUSE_API diffuse_status diffuse_sampler_set_int(diffuse_sampler *sampler,
                                                   diffuse_sampler_option option, int64_t value);
DIFFUSE_API diffuse_status diffuse_sampler_get_int(const diffuse_sampler *sampler,
                                                   diffuse_sampler_option option, int64_t *value);
DIFFUSE_API diffuse_status diffuse_sampler_set_double(diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double value);
DIFFUSE_API diffuse_status diffuse_sampler_get_double(const diffuse_sampler *sampler,
                                                      diffuse_sampler_option option, double *value);
/* Inclusive bounds of an option (no handle needed). */
DIFFUSE_API diffuse_status diffuse_sampler_int_bounds(diffuse_sampler_option option,
                                                      int64_t *min, int64_t *max);
DIFFUSE_API diffuse_status diffuse_sampler_double_bounds(diffuse_sampler_option option,
                                                         double *min, double *max);

/* The sampler's options, described as in diffuse/common.h (option, name,
 * type, bounds, default). Errors: INVALID_ARGUMENT (a pointer NULL,
 * info->size too small), OUT_OF_RANGE (index ≥ count). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_sampler_option_count(size_t *count);
DIFFUSE_API diffuse_status diffuse_sampler_option_info(size_t index, diffuse_option_info *info);

/* Sets (fn = NULL clears) the progress callback; `user` is passed back. */
DIFFUSE_API diffuse_status diffuse_sampler_set_progress(diffuse_sampler *sampler,
                                                        diffuse_sample_progress_fn fn, void *user);

/* Generates n samples into `out` (n × dim floats, caller-owned). */
DIFFUSE_API diffuse_status diffuse_sampler_run(diffuse_sampler *sampler, size_t n, float *out);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_SAMPLER_H */
