/*
 * libdiffuse — sampling: DDPM (ancestral, Ho et al. 2020), DDIM (Song et
 * al. 2021) and DPM-Solver++ 2M (Lu et al. 2022), over a timestep list.
 *
 * A run draws x ~ N(0, I) and walks a timestep list t_0 > t_1 > … > t_{n−1}
 * (DIFFUSE_SAMPLER_STEPS entries spaced by DIFFUSE_SAMPLER_SPACING, or the
 * caller's list, diffuse_sampler_set_timesteps): at each t_i one model call
 * f_θ(x, t_i), read as estimates x̂_0 and ε̂ (diffuse_prediction), and one
 * step of the method (DIFFUSE_SAMPLER_METHOD) from x_{t_i} to x_{t_{i+1}},
 * the next list entry (never t − T/n); after the last entry the step gives
 * the sample. With ᾱ = ᾱ_{t_i}, ᾱ' = ᾱ_{t_{i+1}} (ᾱ' of the last step: 1,
 * or ᾱ_0 for DDIM/DPM-Solver++ with FINAL_ALPHA_ONE = 0):
 *
 *   DDPM   x' = μ + σ z, respaced as improved-diffusion does: β' = 1 − ᾱ/ᾱ',
 *          β̃' = (1−ᾱ')/(1−ᾱ) β', μ = √ᾱ' β'/(1−ᾱ) x̂_0 + √(1−β') (1−ᾱ')/(1−ᾱ) x_t
 *          (for an unclipped ε-model the paper's (x_t − β'/√(1−ᾱ) ε̂)/√(1−β')),
 *          σ² = β', β̃' or learned, exp(f log β' + (1 − f) log β̃'), f = (v + 1)/2
 *          (VARIANCE; improved-diffusion's learned range over the respaced
 *          chain); no noise after the last entry. Over every step
 *          (T−1, …, 0) this is Algorithm 2 exactly.
 *   DDIM   x' = √ᾱ' x̂_0 + √(1 − ᾱ' − σ²) ε̂ + σ z,
 *          σ = η √((1−ᾱ')/(1−ᾱ)) √(1 − ᾱ/ᾱ')  (ETA; η = 0: deterministic).
 *   DPM-Solver++ 2M (x_0 form; α = √ᾱ, s = √(1−ᾱ), λ = log(α/s), h = λ' − λ):
 *          x' = (s'/s) x_t − α'(e^{−h} − 1) D, D = x̂_0 at the first step
 *          (and the last, see LOWER_ORDER_FINAL), else
 *          D = (1 + 1/(2r)) x̂_0 − 1/(2r) x̂_0^{prev}, r = (λ − λ^{prev})/h.
 *
 * x̂_0 may be clipped to [−c, c] (CLIP_X0) or dynamically thresholded
 * (Saharia et al. 2022: per row s = max(1, min(quantile_p |x̂_0|, s_max)),
 * x̂_0 ← clip(x̂_0, −s, s)/s); ε̂ is then re-derived from the processed
 * x̂_0, ε̂ = (x_t − √ᾱ x̂_0)/√(1−ᾱ).
 *
 * The same step is public (diffuse_sampler_step): a caller running its own
 * network (any framework) gets the list (diffuse_sampler_timesteps), and
 * calls step(model_output, t, x_t) → x_{t_prev} (and x̂_0) on its buffers;
 * diffuse_sampler_run is that step in a loop over the model's calls.
 *
 * An ε-prediction model cannot be sampled from a schedule rescaled to zero
 * terminal SNR (ᾱ_{T−1} = 0 makes x̂_0 infinite): that returns
 * DIFFUSE_ERROR_UNSUPPORTED; use a v-prediction model there.
 *
 * Randomness: x_{t_0} of row i comes from the Philox stream (seed, 0) at
 * values i·d … i·d+d−1, and z at step t from stream (seed, t+1) likewise, so
 * the noise never depends on how rows are split into chunks or on threads.
 * Same seed, model, n, chunk size and thread count (THREADS ≥ 1) ⇒ the same
 * bits; with another chunk size or thread count the network's sgemm calls
 * may round differently in the last bit (OpenBLAS picks kernels by matrix
 * size, so a row's output depends on how many rows share its call) — the
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
    DIFFUSE_VARIANCE_POSTERIOR = 1, /* σ_t² = β̃_t (the choice for a deterministic x_0) */
    DIFFUSE_VARIANCE_LEARNED = 2    /* σ_t² = exp(f log β_t + (1 − f) log β̃_t), f = (v + 1)/2,
                                     * v the model's variance output (a model with
                                     * DIFFUSE_MODEL_LEARN_VARIANCE; respaced: β', β̃') */
} diffuse_variance;

typedef enum diffuse_sampler_option {
    DIFFUSE_SAMPLER_VARIANCE = 0,   /* int, diffuse_variance; default BETA */
    DIFFUSE_SAMPLER_CLIP_X0 = 1,    /* double, clip x̂_0 to [−c, c]; 0 (default) = off */
    DIFFUSE_SAMPLER_USE_EMA = 2,    /* int 0/1, sample with the EMA weights; default 0 */
    DIFFUSE_SAMPLER_SEED = 3,       /* int, default 0 */
    DIFFUSE_SAMPLER_THREADS = 4,    /* int, worker threads; default 1, 0..1024 (below) */
    DIFFUSE_SAMPLER_CHUNK_ROWS = 5, /* int, rows denoised together; default 4096 */
    DIFFUSE_SAMPLER_METHOD = 6,     /* int, diffuse_sample_method; default DDPM */
    DIFFUSE_SAMPLER_STEPS = 7,      /* int, list entries, 0 (default) = T, at most T */
    DIFFUSE_SAMPLER_SPACING = 8,    /* int, diffuse_spacing; default LEADING */
    DIFFUSE_SAMPLER_ETA = 9,        /* double in [0, 1], DDIM's η; default 0 */
    DIFFUSE_SAMPLER_FINAL_ALPHA_ONE = 10,   /* int 0/1, DDIM/DPM-Solver++: ᾱ' of the
                                             * last step is 1 (default) or ᾱ_0
                                             * (diffusers' set_alpha_to_one) */
    DIFFUSE_SAMPLER_LOWER_ORDER_FINAL = 11, /* int 0/1, DPM-Solver++: first order at
                                             * the last step of lists under 15
                                             * entries (default 1); with final ᾱ
                                             * = 1 the last step is always first
                                             * order */
    DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE = 12, /* double in [0, 1]: p of dynamic
                                                * thresholding; 0 (default) = off;
                                                * excludes CLIP_X0 */
    DIFFUSE_SAMPLER_THRESHOLD_MAX = 13, /* double ≥ 1, its s_max; default 1 */
    /* Conditioning ("Conditional sampling" below): */
    DIFFUSE_SAMPLER_LABEL = 14,            /* int, the class of every sample of a run;
                                            * −1 (default) = none: unconditional */
    DIFFUSE_SAMPLER_GUIDANCE_SCALE = 15,   /* double w in [0, 1000], default 1: plain
                                            * conditional sampling */
    DIFFUSE_SAMPLER_GUIDANCE_RESCALE = 16, /* double φ in [0, 1], default 0 (off) */
    DIFFUSE_SAMPLER_CLASSIFIER_SCALE = 17, /* double s in [0, 1e6], default 1 */
    DIFFUSE_SAMPLER_GUIDANCE_T_MAX = 18    /* int m ≥ 0: classifier-free guidance only
                                            * at steps with t < m; 0 (default) =
                                            * every step */
} diffuse_sampler_option;

typedef enum diffuse_sample_method {
    DIFFUSE_METHOD_DDPM = 0,      /* ancestral, respaced on a shorter list */
    DIFFUSE_METHOD_DDIM = 1,      /* η ∈ [0, 1] */
    DIFFUSE_METHOD_DPMPP_2M = 2   /* DPM-Solver++ 2M, multistep */
} diffuse_sample_method;

/* How DIFFUSE_SAMPLER_STEPS entries are spread over [0, T) (diffusers'
 * timestep_spacing), i = 0 … n−1 (round: half to even):
 *   LEADING   (n − 1 − i) · ⌊T/n⌋               ends at 0
 *   TRAILING  round(T − i·T/n) − 1              starts at T − 1
 *   LINSPACE  round((n − 1 − i)(T − 1)/(n − 1)) both ends
 *   KARRAS    the t (rounded) whose σ = √((1−ᾱ)/ᾱ) is Karras et al. 2022's
 *             σ_i = (σ_max^{1/7} + i/(n−1)(σ_min^{1/7} − σ_max^{1/7}))^7,
 *             log σ interpolated linearly in t (diffusers' use_karras_sigmas;
 *             unlike diffusers the steps then use the σ of the rounded t,
 *             and entries that round alike are kept once, so the list may
 *             be shorter than n)
 * The first three are T−1, …, 0 for n = T. */
typedef enum diffuse_spacing {
    DIFFUSE_SPACING_LEADING = 0,
    DIFFUSE_SPACING_TRAILING = 1,
    DIFFUSE_SPACING_LINSPACE = 2,
    DIFFUSE_SPACING_KARRAS = 3
} diffuse_spacing;

/* DIFFUSE_SAMPLER_THREADS = k:
 *   1  (default) one thread (the caller's);
 *   k > 1 the n rows are split into k contiguous parts (at most one per
 *      row), each denoised through all T steps, chunk by chunk, by its own
 *      thread (the calling one and k−1 the sampler keeps until it is freed
 *      or k changes). A 2-thread run of 64 rows is thus bit-identical to a
 *      1-thread run with 32-row chunks. Each thread has its own chunk
 *      buffers and network activations (kept by the model, shared with its
 *      trainer, until it is freed): memory O(n·d + k·chunk·width). Callback
 *      models are always sampled on the calling thread only (their function
 *      is never called from another thread), whatever k is;
 *   0  the calling thread, with OpenBLAS's own threads doing the matrix
 *      products (OPENBLAS_NUM_THREADS, the CPU affinity): the bits then
 *      depend on how many threads OpenBLAS runs.
 * For k ≥ 1 the run's matrix products use OpenBLAS on one thread
 * (process-wide in Debian's OpenBLAS; the caller's setting is restored
 * before the call returns), so the bits depend only on the seed, the
 * model, n, CHUNK_ROWS and k — not on OpenBLAS's threading or the CPU
 * affinity. */

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

/* ---- Conditional sampling --------------------------------------------------
 *
 * Labels: a run is conditional when it has a class per sample, either one
 * for all (DIFFUSE_SAMPLER_LABEL ≥ 0) or one each (diffuse_sampler_run_labels,
 * which takes precedence). Every model call of the run then carries the
 * labels; for a model with K classes each must be in [0, K)
 * (DIFFUSE_ERROR_OUT_OF_RANGE naming the first bad one, before anything is
 * written). A run without labels on a model with classes samples its null
 * class (unconditional). Labels on a model without classes need a
 * classifier (below); a callback model's function receives them.
 *
 * Classifier-free guidance (Ho & Salimans 2022), for a model trained with
 * DIFFUSE_TRAINER_LABEL_DROPOUT > 0: at each step
 *       ε̂ = ε̂_∅ + w (ε̂_c − ε̂_∅),     w = GUIDANCE_SCALE
 * with ε̂_c the prediction for the sample's class and ε̂_∅ for the null
 * class. CONVENTION: w = 1 is plain conditional sampling (the default, one
 * model call of n rows), w = 0 unconditional, w > 1 guided; the paper's
 * "guidance weight" w' (ε̂ = (1 + w') ε̂_c − w' ε̂_∅) is w − 1, so its w' = 0,
 * 1, 3, 7 are w = 1, 2, 4, 8 here (diffusers' guidance_scale is this w).
 * For w ≠ 1 each step makes ONE model call over 2n rows (the n rows with
 * their classes, then again with the null class), and needs a model with
 * classes (UNSUPPORTED otherwise) and labels (STATE otherwise). Guidance
 * rescale φ (Lin et al. 2023, for zero-terminal-SNR schedules) then
 * matches each row's spread to the conditional one:
 *       f ← φ f σ(f_c)/σ(f) + (1 − φ) f
 * on the model's output f (σ: the row's standard deviation; as diffusers'
 * rescale_noise_cfg). Both act on the output before the method reads it as
 * x̂_0 and ε̂, so every METHOD and prediction type gets them (ε̂, x̂_0 and v̂
 * are affine in f with label-free coefficients, so guiding f guides each).
 * Guidance in a limited interval (as Kynkäänniemi et al. 2024 limit it):
 * GUIDANCE_T_MAX = m > 0 guides only the steps with t < m; the steps above
 * take the conditional output f_c alone (one model call of n rows). At
 * high noise a trained network's ε̂_c − ε̂_∅ is least accurate and w
 * multiplies its error: on the 8 Gaussians (docs/guide.md §8) w = 8 puts
 * 93 % of the samples within 3σ of their mode guided at every step, 97 %
 * guided below t = 200 of 1000.
 *
 * Classifier guidance (Dhariwal & Nichol 2021): with a classifier set
 * (diffuse_sampler_set_classifier) each step asks it for
 * g = ∇_x log p(y | x_t, t) per row and shifts
 *       ε̂ ← ε̂ − √(1−ᾱ_t) s g,        s = CLASSIFIER_SCALE
 * (after any classifier-free guidance). For DDPM this moves the mean
 * μ = (x_t − β_t/√(1−ᾱ_t) ε̂)/√α_t by (β_t/√α_t) s g = s Σ g/√α_t with
 * Σ = β_t: the paper's μ + s Σ g up to the factor 1/√α_t = 1 + O(β_t); for
 * DDIM and DPM-Solver++ it is the paper's ε form (their Algorithm 2).
 * Rows at ᾱ_t = 0 (zero terminal SNR) are not shifted. It needs labels
 * (STATE otherwise). The classifier runs on the calling thread, so a run
 * with one uses one thread whatever THREADS says; it denoises into its own
 * buffer, so a failing classifier (non-zero return: DIFFUSE_ERROR_CALLBACK
 * with its message) or a non-finite gradient (DIFFUSE_ERROR_NUMERIC) leaves
 * `out` untouched.
 *
 * The step API (diffuse_sampler_step) takes a finished model output: a
 * caller running its own network combines the branches itself. */

/* The classifier of classifier guidance: write g[i·dim + j] =
 * ∂/∂x_t[i·dim + j] log p(labels[i] | x_t[i], t[i]) for the n rows and
 * return 0, or return non-zero after optionally writing a NUL-terminated
 * message into `message` (`message_size` bytes). The arrays are the
 * sampler's, valid during the call only. It runs while the sampler is busy
 * (as the progress callback). */
typedef int (*diffuse_classifier_fn)(void *user, size_t n, size_t dim, const float *x_t,
                                     const int32_t *t, const int32_t *labels, float *gradient,
                                     char *message, size_t message_size);

/* Creates a sampler for `model` (borrowed; any model, callback models
 * included) and a copy of `schedule`. Options start at their defaults.
 * Sampling starts from x_T ~ N(0, I), which is right only when ᾱ_{T−1} ≈ 0:
 * for a schedule that ends at ᾱ_{T−1} > 0.01 (a short linear one: T = 50
 * ends at 0.60) it succeeds but passes a warning to the log function
 * (diffuse_set_log), since the samples are then biased towards 0 by about
 * √ᾱ_{T−1} of the data. Sample in fewer steps by respacing the timesteps of
 * a long schedule instead.
 *
 * MISMATCH: `schedule` is not the one the model was trained or loaded with
 * ("The schedule a model belongs to" in diffuse/checkpoint.h). */
DIFFUSE_API diffuse_status diffuse_sampler_create(diffuse_sampler **out, diffuse_model *model,
                                                  const diffuse_schedule *schedule);
/* Creates a sampler without a model, for the step API only (a network run
 * elsewhere): rows of `dim` floats, model outputs of kind `prediction`.
 * diffuse_sampler_run on it is DIFFUSE_ERROR_STATE. Errors: INVALID_ARGUMENT
 * (NULL out/schedule, unknown prediction), OUT_OF_RANGE (dim outside
 * [1, DIFFUSE_MODEL_MAX_DIM]), NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_sampler_create_standalone(diffuse_sampler **out,
                                                             const diffuse_schedule *schedule,
                                                             size_t dim,
                                                             diffuse_prediction prediction);
/* Frees the sampler (not the model). NULL is a no-op. From its own progress
 * callback: deferred until the run returns (see above). */
DIFFUSE_API void diffuse_sampler_free(diffuse_sampler *sampler);
/* Message of the sampler's last failure; valid until its next failing call. */
DIFFUSE_API const char *diffuse_sampler_last_error(const diffuse_sampler *sampler);

/* Typed option access. The setter of the wrong type for an option, or an
 * unknown option, is DIFFUSE_ERROR_INVALID_ARGUMENT; a value outside the
 * bounds is DIFFUSE_ERROR_OUT_OF_RANGE (never clamped); NaN/Inf is
 * DIFFUSE_ERROR_NUMERIC. Options may change between runs. STEPS above the
 * schedule's T is OUT_OF_RANGE. Setting STEPS or SPACING replaces a list
 * given to diffuse_sampler_set_timesteps by the spaced list. */
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

/* Sets (fn = NULL clears) the classifier of classifier guidance (above);
 * `user` is passed back and must stay valid while it is set. */
DIFFUSE_API diffuse_status diffuse_sampler_set_classifier(diffuse_sampler *sampler,
                                                          diffuse_classifier_fn fn, void *user);

/* Generates n samples into `out` (n × dim floats, caller-owned), of class
 * LABEL when it is set ("Conditional sampling" above). The run denoises in
 * place in `out`: after a failure or a cancellation its contents are
 * unspecified (argument errors leave it untouched; with a classifier set it
 * stays untouched on any failure). Errors: INVALID_ARGUMENT (NULL out,
 * CLIP_X0 and THRESHOLD_PERCENTILE both set), STATE (a standalone sampler,
 * use_ema without EMA weights, guidance or a classifier without labels),
 * UNSUPPORTED (ε-model on a zero terminal SNR schedule; GUIDANCE_SCALE ≠ 1
 * or LABEL on a model without classes and no classifier), OUT_OF_RANGE
 * (LABEL ≥ the model's classes), CALLBACK / NUMERIC (the classifier failed
 * or returned a non-finite gradient), the model's own failures. */
DIFFUSE_API diffuse_status diffuse_sampler_run(diffuse_sampler *sampler, size_t n, float *out);

/* diffuse_sampler_run with a class per sample: labels[i] (n int32,
 * borrowed for the call) is sample i's ("Conditional sampling" above).
 * Errors: those of run; INVALID_ARGUMENT (labels NULL); OUT_OF_RANGE (a
 * label outside [0, K), or negative); UNSUPPORTED (a model without classes
 * and no classifier, or GUIDANCE_SCALE ≠ 1 without classes). */
DIFFUSE_API diffuse_status diffuse_sampler_run_labels(diffuse_sampler *sampler, size_t n,
                                                      const int32_t *labels, float *out);

/* ---- Timestep list and the step API (diffusers' scheduler style) ---------
 *
 *   diffuse_sampler_initial_noise(s, n, x);              // x ~ N(0, I)
 *   diffuse_sampler_timesteps(s, NULL, 0, &count);       // then the list
 *   for each t of the list:
 *       out = your_network(x, t);                         // any framework
 *       diffuse_sampler_step(s, n, t, out, x, x, NULL);   // x ← x_{t_prev}
 *
 * reproduces diffuse_sampler_run(s, n, …) bit for bit (threads 0, chunk_rows
 * ≥ n) when `your_network` is the sampler's model. */

/* Uses `list` (count entries, copied) as the timestep list: every entry in
 * [0, T), strictly decreasing, no duplicates (INVALID_ARGUMENT naming the
 * first bad entry otherwise; the list in use is then unchanged). list NULL
 * with count 0 goes back to the list STEPS and SPACING describe. */
DIFFUSE_API diffuse_status diffuse_sampler_set_timesteps(diffuse_sampler *sampler,
                                                         const int32_t *list, size_t count);
/* The list in use: *count = its length, and its entries into `list`
 * (list NULL: the length only). Errors: INVALID_ARGUMENT (NULL sampler or
 * count; list not NULL with a capacity below the length, when nothing is
 * written and the message gives the length). */
DIFFUSE_API diffuse_status diffuse_sampler_timesteps(const diffuse_sampler *sampler,
                                                     int32_t *list, size_t capacity,
                                                     size_t *count);
/* x ~ N(0, I), n × dim floats, as a run draws its start (Philox stream
 * (seed, 0), row i at values i·d …). */
DIFFUSE_API diffuse_status diffuse_sampler_initial_noise(diffuse_sampler *sampler, size_t n,
                                                         float *x);
/* One step of the method at timestep t (an entry of the list): from the
 * model's output f_θ(x_t, t) (n × dim, of the sampler's prediction type) and
 * x_t (n × dim) writes x_{t_prev} into x_prev (n × dim; the sample after the
 * list's last entry) and, when x0 is not NULL, the x̂_0 the step used (after
 * clipping or thresholding) into x0. x_prev may be x_t itself (in place);
 * otherwise no two arrays may overlap. The noise of rows 0 … n−1 is that of
 * a run's rows 0 … n−1. A multistep method (DPM-Solver++) uses the previous
 * call's x̂_0 when this call is at the entry after the previous call's and
 * has the same n; any other call starts afresh (first order), so a loop can
 * also start part way down the list. Errors: INVALID_ARGUMENT (NULL arrays,
 * t not in the list, overlaps, clip and threshold both set), OUT_OF_RANGE
 * (n), NUMERIC (non-finite inputs or result), UNSUPPORTED (as for run),
 * STATE (during a run), NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_sampler_step(diffuse_sampler *sampler, size_t n, int32_t t,
                                                const float *model_output, const float *x_t,
                                                float *x_prev, float *x0);
/* diffuse_sampler_step for a network that learns its variance: also its
 * variance output v (n × dim, the second half of each 2·dim output row of
 * improved-diffusion's networks), which VARIANCE = LEARNED uses and the
 * other variances ignore. diffuse_sampler_step with VARIANCE = LEARNED is
 * INVALID_ARGUMENT. Errors as for diffuse_sampler_step; model_variance
 * must be finite and not overlap x_prev. */
DIFFUSE_API diffuse_status diffuse_sampler_step_variance(diffuse_sampler *sampler, size_t n,
                                                         int32_t t, const float *model_output,
                                                         const float *model_variance,
                                                         const float *x_t, float *x_prev,
                                                         float *x0);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_SAMPLER_H */
