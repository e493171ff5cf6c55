/*
 * libdiffuse — training (Algorithm 1 of Ho et al. 2020).
 *
 * One training step:
 *   x_0 ~ data                      (rows filled by the user's data callback)
 *   t   ~ Uniform{0, …, T−1}         (per row)
 *   ε   ~ N(0, I)
 *   x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε       (forward unit)
 *   L   = 1/(n·d) Σ_i w_i Σ_j (target_ij − f_θ(x_t, t)_ij)²
 *         the mean over the batch's n rows AND their d elements (PyTorch's
 *         mse_loss), i.e. the per-row ‖target − f_θ‖² divided by d;
 *         target = ε, x_0, or v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (the model's
 *         prediction kind); w_i = 1, or with MIN_SNR_GAMMA = γ > 0 the
 *         min-SNR-γ weight of row i (Hang et al. 2023), SNR = ᾱ_t/(1−ᾱ_t):
 *             ε: min(SNR, γ)/SNR   x_0: min(SNR, γ)   v: min(SNR, γ)/(SNR + 1)
 *         (each the weight that makes the loss min(SNR, γ)‖x_0 − x̂_0‖²;
 *         finite at SNR = 0 and ∞: ε 1 and 0, x_0 0 and γ, v 0 and 0)
 *   θ  ← optimizer step on ∇_θ L
 * Every loss the trainer reports (step, step_batch, train, the progress
 * callback) is this per-element mean L of one batch (weighted, when the
 * weights are on).
 *
 * Randomness: t and ε of step k come from the Philox streams (seed, 2k) and
 * (seed, 2k+1), k = the optimizer's step count. Same seed, same data, same
 * thread count ⇒ bit-identical weights; a run restored from a checkpoint
 * continues bit-exactly.
 *
 * Ownership: the trainer borrows the model and the optimizer (they must
 * outlive it and must not be used by another thread while it runs) and keeps
 * its own copy of the schedule. The batch buffers belong to the trainer.
 */
#ifndef DIFFUSE_TRAIN_H
#define DIFFUSE_TRAIN_H

#include "diffuse/common.h"
#include "diffuse/model.h"
#include "diffuse/optim.h"
#include "diffuse/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_trainer diffuse_trainer;

/* The data-loading callback. Fill up to `capacity` rows of `dim` floats into
 * `x` (row-major; the buffer belongs to the trainer and is valid only during
 * the call). `labels` has room for `capacity` class labels, all 0 when the
 * callback starts; the trainer passes those of the rows returned to the
 * model (diffuse_model_call.labels), which ignores them if it has no
 * classes. For a model with K classes each must be in [0, K): another
 * value fails the step with DIFFUSE_ERROR_OUT_OF_RANGE naming the row
 * (weights unchanged). Return the number of rows written (1..capacity; fewer than
 * capacity trains on a smaller batch), 0 at the end of an epoch (the trainer
 * then asks once more; a second 0 in a row is an error), or a negative value
 * on error, after optionally writing a NUL-terminated message into `message`
 * (`message_size` bytes), which becomes the trainer's last error. */
typedef int (*diffuse_data_fn)(void *user, float *x, int32_t *labels, size_t capacity,
                               size_t dim, char *message, size_t message_size);

/* Progress callback, called every `interval` steps by diffuse_trainer_train
 * and after its last step. Return 0 to continue, non-zero to stop (the call
 * then returns DIFFUSE_ERROR_CANCELLED; completed steps are kept). */
typedef int (*diffuse_train_progress_fn)(void *user, uint64_t step, double loss,
                                         double steps_per_second);

/* Both callbacks run while the trainer is busy ("Callbacks and re-entry" in
 * diffuse/common.h): from inside them, a call that changes or runs the
 * trainer (diffuse_trainer_step_batch, set_int, set_data …) returns
 * DIFFUSE_ERROR_STATE, and diffuse_trainer_free stops the call in progress
 * (DIFFUSE_ERROR_CANCELLED when a step or a progress report remained) and
 * frees the trainer when it returns. Its model may be used (e.g. sampled
 * from a progress callback), or saved with diffuse_trainer_save. */

typedef enum diffuse_trainer_option {
    DIFFUSE_TRAINER_BATCH_SIZE = 0, /* int, rows per step; default 256, 1..1048576 */
    DIFFUSE_TRAINER_SEED = 1,       /* int, seed of t and ε draws; default 0 */
    DIFFUSE_TRAINER_THREADS = 2,    /* int, worker threads per step; default 1, 0..1024 (below) */
    /* double p in [0, 1], default 0: classifier-free guidance's label
     * dropout (Ho & Salimans 2022). Each row's label is replaced by the null
     * class K (the model's extra embedding row, see DIFFUSE_MODEL_CLASSES)
     * with probability p, so that one network learns ε(x_t, t, y) and
     * ε(x_t, t, ∅); 0.1–0.2 is usual. Row i of step k drops when u < p, u
     * the Philox uniform value 1048576 + i of stream (seed, 2k): same seed,
     * same drops, also on resume. p > 0 on a model without classes is
     * DIFFUSE_ERROR_UNSUPPORTED. */
    DIFFUSE_TRAINER_LABEL_DROPOUT = 3,
    DIFFUSE_TRAINER_MIN_SNR_GAMMA = 4, /* double γ of min-SNR-γ weighting, [0, 1e6]; 0
                                        * (default) = off (every w_i = 1); 5 is the
                                        * paper's choice */
    DIFFUSE_TRAINER_VLB_WEIGHT = 5,    /* double λ of L_hybrid (below), [0, 1e6]; default
                                        * 0.001 (Nichol & Dhariwal 2021) */
    DIFFUSE_TRAINER_DECODER = 6        /* int, diffuse_decoder (diffuse/likelihood.h) of
                                        * L_vlb at t = 0; default DISCRETE */
} diffuse_trainer_option;

/* A model that learns its variance (DIFFUSE_MODEL_LEARN_VARIANCE; its
 * network outputs f and v per row) trains on L_hybrid (Nichol & Dhariwal
 * 2021, §3.1): for each row i at its t_i,
 *   L = 1/n Σ_i [ w_i/d ‖target_i − f_i‖² + λ T L_{t_i} ],
 * T L_t the one-sample estimate of L_vlb = Σ_t L_t (improved-diffusion's
 * vb · T/1000 with λ = 0.001), L_t in bits/dim: the Gaussian KL
 * KL(q(x_{t−1} | x_t, x_0) ‖ N(μ̃_t(x_t, x̂_0), σ_t²)) for t > 0, the decoder
 * −log p(x_0 | x_t) for t = 0 (diffuse/likelihood.h gives the terms), with
 * σ_t² = exp(f log β_t + (1 − f) log β̃_t), f = (v + 1)/2. The mean enters
 * L_vlb with a stop-gradient: L_vlb trains v only, the mean learns from the
 * first term alone. The reported loss is this L. */

/* DIFFUSE_TRAINER_THREADS = k:
 *   1  (default) everything runs on the calling thread;
 *   k > 1 the batch's rows are split into k contiguous parts (at most one
 *      per row); k threads (the calling one and k−1 the trainer keeps until
 *      it is freed or k changes) each run forward, loss and backward for
 *      their part, adding their gradients into the model's layer by layer
 *      in a fixed order (thread i after thread i − 1). Each extra thread
 *      costs its rows' activations only (no gradient buffer of its own);
 *      the model keeps the per-thread activation memory, shared with its
 *      sampler, until it is freed;
 *   0  the calling thread only, with OpenBLAS's own threads doing the
 *      matrix products (OPENBLAS_NUM_THREADS, the CPU affinity): useful for
 *      one large batch on many cores, but the bits then depend on how many
 *      threads OpenBLAS runs.
 * For k ≥ 1 a step's matrix products run with OpenBLAS set to one thread
 * (process-wide in Debian's OpenBLAS; the caller's setting is restored
 * before the call returns, and callbacks run inside that window), so the
 * same seed, data and k give the same bits whatever OpenBLAS's threading
 * or the CPU affinity; another k agrees to rounding (summation order, and
 * sgemm kernels chosen by matrix size). Callbacks (data, progress) are
 * always called on the calling thread. */

/* Creates a trainer for `model` (which must be trainable: not a callback
 * model) with `optimizer` (created for this model) and a copy of `schedule`.
 * Errors: INVALID_ARGUMENT (NULL), UNSUPPORTED (a callback model), MISMATCH
 * (an optimizer sized for another model), NO_MEMORY. *out = NULL on failure. */
DIFFUSE_API diffuse_status diffuse_trainer_create(diffuse_trainer **out, diffuse_model *model,
                                                  const diffuse_schedule *schedule,
                                                  diffuse_optimizer *optimizer);
/* Frees the trainer (not the model or optimizer). NULL is a no-op. From its
 * own callbacks: deferred until the call in progress returns (see above). */
DIFFUSE_API void diffuse_trainer_free(diffuse_trainer *trainer);
/* Message of the trainer's last failure (a failing data callback's own
 * message included); valid until its next failing call. */
DIFFUSE_API const char *diffuse_trainer_last_error(const diffuse_trainer *trainer);

/* Typed option access with bounds, as for every handle: unknown option →
 * DIFFUSE_ERROR_INVALID_ARGUMENT, value outside the bounds →
 * DIFFUSE_ERROR_OUT_OF_RANGE (never clamped). Options may change between
 * steps; a larger batch size grows the trainer's buffers. */
DIFFUSE_API diffuse_status diffuse_trainer_set_int(diffuse_trainer *trainer,
                                                   diffuse_trainer_option option, int64_t value);
DIFFUSE_API diffuse_status diffuse_trainer_get_int(const diffuse_trainer *trainer,
                                                   diffuse_trainer_option option, int64_t *value);
DIFFUSE_API diffuse_status diffuse_trainer_int_bounds(diffuse_trainer_option option,
                                                      int64_t *min, int64_t *max);
/* The same for the double options (LABEL_DROPOUT, MIN_SNR_GAMMA,
 * VLB_WEIGHT): the setter also fails with DIFFUSE_ERROR_NUMERIC on NaN/Inf;
 * the int functions on a double option and these on an int option are
 * DIFFUSE_ERROR_INVALID_ARGUMENT. */
DIFFUSE_API diffuse_status diffuse_trainer_set_double(diffuse_trainer *trainer,
                                                      diffuse_trainer_option option,
                                                      double value);
DIFFUSE_API diffuse_status diffuse_trainer_get_double(const diffuse_trainer *trainer,
                                                      diffuse_trainer_option option,
                                                      double *value);
DIFFUSE_API diffuse_status diffuse_trainer_double_bounds(diffuse_trainer_option option,
                                                         double *min, double *max);

/* The trainer's options, described as in diffuse/common.h (option, name,
 * type, bounds, default). Errors: INVALID_ARGUMENT (a pointer NULL,
 * info->size too small), OUT_OF_RANGE (index ≥ count). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_trainer_option_count(size_t *count);
DIFFUSE_API diffuse_status diffuse_trainer_option_info(size_t index, diffuse_option_info *info);

/* Sets (or with fn = NULL clears) the data callback. `user` is passed back
 * untouched and must stay valid while the callback is set. */
DIFFUSE_API diffuse_status diffuse_trainer_set_data(diffuse_trainer *trainer, diffuse_data_fn fn,
                                                    void *user);
/* Sets (or clears) the progress callback, called every `interval` ≥ 1 steps. */
DIFFUSE_API diffuse_status diffuse_trainer_set_progress(diffuse_trainer *trainer,
                                                        diffuse_train_progress_fn fn, void *user,
                                                        uint64_t interval);

/* ---- Peers: one step's batch split over several processes ------------
 *
 * Data-parallel training across processes (libdiffuse_mpi, diffuse/mpi.h,
 * implements this over MPI; any other transport can too) runs one trainer
 * per process on identical weights. Each step every process pulls its own
 * rows; the peer callback is then called twice, collectively (every process
 * calls it in the same order, whatever failed locally):
 *   DIFFUSE_PEER_BATCH      after the pull: in `rows` (0 if this process's
 *                           pull failed); out `first_row`, the rows of
 *                           lower-ranked processes, and `total_rows`, all of
 *                           them. The step's t and ε of row i come from
 *                           position first_row + i of the streams, and
 *                           L = Σ (output − target)² / (total_rows·d), so a
 *                           step of N processes equals (to rounding) one
 *                           process's step on their rows concatenated in
 *                           rank order;
 *   DIFFUSE_PEER_GRADIENTS  after backward: `grads` (grad_count floats, the
 *                           model's gradient buffer) and `squared_error`
 *                           in: this process's parts, out: their sums over
 *                           the processes; the sums must be bit-identical on
 *                           every process (then so are the optimizer
 *                           updates).
 * `failed` in: this process's step failed so far (its message in
 * `message`); out: some process's did, with that process's message in
 * `message` (`message_size` bytes, NUL-terminated). The callback returns 0
 * when the exchange took place, negative when it could not (message
 * written). Failures end the step with weights unchanged on every process:
 * the local status where this process failed, else DIFFUSE_ERROR_CALLBACK
 * with the peer's message. With peers set every step call (step,
 * step_batch, train) is collective: step_batch's x0 is this process's rows.
 *
 * A third phase, only with diffuse_trainer_set_peer_ready (below), lets a
 * transport send gradients while backward computes the rest:
 *   DIFFUSE_PEER_GRADIENTS_READY  during backward, on the thread that steps
 *                           the trainer: grads[ready_offset … ready_offset +
 *                           ready_count) (`grads`, `grad_count`: the whole
 *                           buffer) hold this process's final gradient;
 *                           backward never touches them again in this step,
 *                           so they may be sent and their sums written back
 *                           in place before the DIFFUSE_PEER_GRADIENTS call
 *                           returns. Ranges come in the order backward
 *                           finishes them (the same on every process), each
 *                           at most once; they are hints, not collective: a
 *                           process may report fewer (none when its step
 *                           failed before backward), and the
 *                           DIFFUSE_PEER_GRADIENTS call always follows with
 *                           the whole buffer. A negative return fails the
 *                           step on this process (its message in `message`)
 *                           and ends the step's READY calls; the failure is
 *                           then this process's at the GRADIENTS exchange. */
typedef enum diffuse_peer_phase {
    DIFFUSE_PEER_BATCH = 0,
    DIFFUSE_PEER_GRADIENTS = 1,
    DIFFUSE_PEER_GRADIENTS_READY = 2
} diffuse_peer_phase;

typedef struct diffuse_peer_exchange {
    size_t size; /* sizeof(diffuse_peer_exchange) of the library; grows at the end */
    diffuse_peer_phase phase;
    int failed;
    uint64_t rows, first_row, total_rows; /* DIFFUSE_PEER_BATCH */
    float *grads;                          /* DIFFUSE_PEER_GRADIENTS */
    size_t grad_count;
    double squared_error;
    char *message;
    size_t message_size;
    size_t ready_offset, ready_count;      /* DIFFUSE_PEER_GRADIENTS_READY */
} diffuse_peer_exchange;

typedef int (*diffuse_peer_fn)(void *user, diffuse_peer_exchange *exchange);

/* Sets (or with fn = NULL clears: one process again) the peer callback;
 * `user` is passed back untouched. Errors: INVALID_ARGUMENT (NULL trainer),
 * STATE (from inside a callback). */
DIFFUSE_API diffuse_status diffuse_trainer_set_peers(diffuse_trainer *trainer, diffuse_peer_fn fn,
                                                     void *user);
/* Whether the peer callback also hears DIFFUSE_PEER_GRADIENTS_READY
 * (`report` ≠ 0) or not (0, the default: a callback written for the two
 * other phases never sees a third). Errors: INVALID_ARGUMENT (NULL
 * trainer), STATE (from inside a callback). */
DIFFUSE_API diffuse_status diffuse_trainer_set_peer_ready(diffuse_trainer *trainer, int report);

/* A 64-bit digest of the training state that must agree between peers:
 * weights, EMA weights, optimizer moments and step, and the seed. Equal
 * states give equal digests; a difference in any bit almost surely changes
 * it. Errors: INVALID_ARGUMENT (a pointer NULL). */
DIFFUSE_API diffuse_status diffuse_trainer_state_digest(const diffuse_trainer *trainer,
                                                        uint64_t *digest);

/* One step on a batch pulled through the data callback. `loss` (may be
 * NULL) receives the batch loss. A non-finite batch, loss, gradient or update
 * (see diffuse/optim.h) returns DIFFUSE_ERROR_NUMERIC and leaves weights and
 * optimizer state exactly as they were; a failing callback returns
 * DIFFUSE_ERROR_CALLBACK. */
DIFFUSE_API diffuse_status diffuse_trainer_step(diffuse_trainer *trainer, double *loss);

/* One step on a caller-supplied batch of n rows x0 (n × dim, borrowed for
 * the call), without the data callback and without labels (a model with
 * classes then trains its null class on every row). */
DIFFUSE_API diffuse_status diffuse_trainer_step_batch(diffuse_trainer *trainer, size_t n,
                                                      const float *x0, double *loss);
/* The same with one class label per row (n int32, borrowed; NULL: as
 * step_batch), checked and dropped as the data callback's are (above). */
DIFFUSE_API diffuse_status diffuse_trainer_step_batch_labels(diffuse_trainer *trainer, size_t n,
                                                             const float *x0,
                                                             const int32_t *labels,
                                                             double *loss);

/* Runs `steps` steps through the data callback, reporting progress.
 * `last_loss` (may be NULL) receives the loss of the last completed step.
 * Stops at the first failing step and returns its status. */
DIFFUSE_API diffuse_status diffuse_trainer_train(diffuse_trainer *trainer, uint64_t steps,
                                                 double *last_loss);

/* Steps completed so far (the optimizer's step count). */
DIFFUSE_API diffuse_status diffuse_trainer_step_count(const diffuse_trainer *trainer,
                                                      uint64_t *steps);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_TRAIN_H */
