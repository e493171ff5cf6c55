/*
 * libdiffuse — the optimizer: Adam / AdamW with gradient clipping, a
 * learning-rate schedule (warm-up, then cosine or linear decay) and an
 * exponential moving average (EMA) of the weights.
 *
 * The trainer calls the optimizer once per training step; this header lets
 * the caller create it, choose its options and inspect its state.
 *
 * One step s = 0, 1, 2, … (s = the number of steps already taken) with the
 * gradient g of every parameter θ, in this order:
 *
 *   1. Global-norm clipping over ALL parameters (when CLIP_NORM = c > 0):
 *          ‖g‖₂ = sqrt(Σ g_i²)                 (accumulated in double, fixed order)
 *          g ← g · min(1, c / ‖g‖₂)
 *      A non-finite ‖g‖₂ (a NaN or Inf anywhere in g) aborts the step with
 *      DIFFUSE_ERROR_NUMERIC before anything is changed: weights, moments,
 *      EMA and step count stay exactly as they were.
 *   2. Weight decay λ (WEIGHT_DECAY), applied to decayed parameters only:
 *          Adam : g ← g + λθ                    (L2 penalty folded into the gradient,
 *                                                so it is rescaled by Adam's 1/√v̂)
 *          AdamW: θ ← θ − lr_s·λ·θ              (decoupled decay, Loshchilov & Hutter,
 *                                                "Decoupled Weight Decay
 *                                                Regularization", ICLR 2019; lr_s is
 *                                                the scheduled rate, as in PyTorch)
 *      Clipping sees the raw gradient, not the decay term.
 *   3. Moments and update (Kingma & Ba 2015), with k = s + 1:
 *          m ← β1·m + (1 − β1)·g
 *          v ← β2·v + (1 − β2)·g²
 *          m̂ = m / (1 − β1^k),   v̂ = v / (1 − β2^k)      (bias correction)
 *          θ ← θ − lr_s · m̂ / (sqrt(v̂) + ε)
 *   4. EMA (when EMA_DECAY = d > 0):  ema ← d·ema + (1 − d)·θ.
 *      The EMA buffer lives in the model; the first step with EMA enabled
 *      starts it as a copy of θ as it was before that step (an existing
 *      buffer, e.g. from a checkpoint, is kept). The sampler can sample with
 *      the EMA weights (DIFFUSE_SAMPLER_USE_EMA).
 *   5. s ← s + 1.
 * A step whose new weights, moments or EMA would not be finite although g
 * is (g² overflows float for |g| above about 1.8e19, e.g. data of magnitude
 * 1e12) is rejected the same way: DIFFUSE_ERROR_NUMERIC, nothing changed.
 *
 * Which parameters are decayed: the tensors of rank ≥ 2 (weight matrices and
 * convolution kernels), never rank-1 tensors (biases, normalisation gains
 * and shifts). Shrinking a bias or a gain towards 0 does not make the
 * function smoother; it only shifts the output or the scale of activations,
 * which costs accuracy without regularising anything (the usual practice,
 * e.g. in BERT, GPT-2 and minGPT).
 *
 * Learning-rate schedule (lr = LEARNING_RATE, W = WARMUP_STEPS,
 * D = DECAY_STEPS, lr_min = MIN_LEARNING_RATE), the rate lr_s of step s:
 *     s < W                 : lr_s = lr · (s + 1) / W        (linear warm-up from 0)
 *     p = (s − W) / D ≤ 1   : NONE   lr_s = lr
 *                             COSINE lr_s = lr_min + (lr − lr_min)·(1 + cos(π p)) / 2
 *                             LINEAR lr_s = lr − (lr − lr_min)·p
 *     s − W > D             : lr_s = lr_min  (NONE: lr)
 * A decay (COSINE or LINEAR) needs D ≥ 1 and lr_min ≤ lr; a step with a
 * decay selected and D = 0, or lr_min > lr, fails with DIFFUSE_ERROR_STATE
 * (the options can be set in any order, so this is checked when used).
 *
 * Results are bitwise deterministic: the same inputs give the same bits on
 * the same build, whatever the thread count.
 *
 * Threads: an optimizer is used by one thread at a time, and must not step
 * while the model it steps is used by another thread. Different optimizers
 * are independent. The bounds queries are thread-safe.
 */
#ifndef DIFFUSE_OPTIM_H
#define DIFFUSE_OPTIM_H

#include "diffuse/common.h"
#include "diffuse/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_optimizer diffuse_optimizer;

typedef enum diffuse_optimizer_kind {
    DIFFUSE_OPTIMIZER_ADAM = 0, /* Adam, weight decay as an L2 term in the gradient */
    DIFFUSE_OPTIMIZER_ADAMW = 1 /* Adam with decoupled weight decay */
} diffuse_optimizer_kind;

/* Learning-rate decay after the warm-up (values of DIFFUSE_OPTIMIZER_DECAY). */
typedef enum diffuse_lr_decay {
    DIFFUSE_LR_DECAY_NONE = 0,   /* constant lr after the warm-up */
    DIFFUSE_LR_DECAY_COSINE = 1, /* half a cosine from lr down to lr_min */
    DIFFUSE_LR_DECAY_LINEAR = 2  /* straight line from lr down to lr_min */
} diffuse_lr_decay;

/* Options, with their type, default and inclusive bounds. Every option can be
 * changed at any time; the new value is used from the next step on. */
typedef enum diffuse_optimizer_option {
    DIFFUSE_OPTIMIZER_LEARNING_RATE = 0,     /* double, default 1e-3, [0, 1] */
    DIFFUSE_OPTIMIZER_BETA1 = 1,             /* double, default 0.9, [0, 1) */
    DIFFUSE_OPTIMIZER_BETA2 = 2,             /* double, default 0.999, [0, 1) */
    DIFFUSE_OPTIMIZER_EPSILON = 3,           /* double, default 1e-8, [1e-30, 1] */
    DIFFUSE_OPTIMIZER_WEIGHT_DECAY = 4,      /* double, default 0 (Adam) / 0.01 (AdamW), [0, 1] */
    DIFFUSE_OPTIMIZER_CLIP_NORM = 5,         /* double, default 0 = no clipping, [0, DBL_MAX] */
    DIFFUSE_OPTIMIZER_EMA_DECAY = 6,         /* double, default 0 = no EMA, [0, 1) */
    DIFFUSE_OPTIMIZER_WARMUP_STEPS = 7,      /* int, default 0, [0, 2^31 − 1] */
    DIFFUSE_OPTIMIZER_DECAY = 8,             /* int, diffuse_lr_decay, default NONE */
    DIFFUSE_OPTIMIZER_DECAY_STEPS = 9,       /* int, steps of decay after warm-up, default 0,
                                                [0, 2^31 − 1] */
    DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE = 10 /* double, floor of the decay, default 0, [0, 1] */
} diffuse_optimizer_option;

/* Creates an optimizer of `kind` for `model`: zero moments sized to the
 * model's parameter count, step count 0, default options. It remembers the
 * parameter count and which tensors are decayed; stepping it with a model of
 * a different layout fails with DIFFUSE_ERROR_MISMATCH. The model is only
 * read during this call (it is not borrowed); memory: 2 floats per parameter.
 * Errors: INVALID_ARGUMENT (NULL out or model, unknown kind, model without
 * parameters), MISMATCH (the model's tensor table does not fit its parameter
 * buffer), NO_MEMORY. *out is NULL on failure. */
DIFFUSE_API diffuse_status diffuse_optimizer_create(diffuse_optimizer **out,
                                                    diffuse_optimizer_kind kind,
                                                    const diffuse_model *model);
/* Frees the optimizer; NULL is a no-op. The model's EMA buffer is the
 * model's and stays. */
DIFFUSE_API void diffuse_optimizer_free(diffuse_optimizer *optimizer);
/* Message of the last failing call on this optimizer ("" if none). */
DIFFUSE_API const char *diffuse_optimizer_last_error(const diffuse_optimizer *optimizer);

/* *kind = the kind given at creation. Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_optimizer_get_kind(const diffuse_optimizer *optimizer,
                                                      diffuse_optimizer_kind *kind);

/* Typed option access. Errors: INVALID_ARGUMENT (NULL, unknown option, or
 * an option of the other type: use set_int for WARMUP_STEPS, DECAY and
 * DECAY_STEPS, set_double for the rest), NUMERIC (NaN or Inf),
 * OUT_OF_RANGE (outside the bounds; the value is never clamped and the
 * option keeps its old value). */
DIFFUSE_API diffuse_status diffuse_optimizer_set_double(diffuse_optimizer *optimizer,
                                                        diffuse_optimizer_option option,
                                                        double value);
DIFFUSE_API diffuse_status diffuse_optimizer_get_double(const diffuse_optimizer *optimizer,
                                                        diffuse_optimizer_option option,
                                                        double *value);
DIFFUSE_API diffuse_status diffuse_optimizer_set_int(diffuse_optimizer *optimizer,
                                                     diffuse_optimizer_option option,
                                                     int64_t value);
DIFFUSE_API diffuse_status diffuse_optimizer_get_int(const diffuse_optimizer *optimizer,
                                                     diffuse_optimizer_option option,
                                                     int64_t *value);
/* Inclusive bounds of an option. Thread-safe (no handle: a failure's message
 * is only in diffuse_last_error()). Errors: INVALID_ARGUMENT (NULL, unknown
 * option, option of the other type). */
DIFFUSE_API diffuse_status diffuse_optimizer_double_bounds(diffuse_optimizer_option option,
                                                           double *min, double *max);
DIFFUSE_API diffuse_status diffuse_optimizer_int_bounds(diffuse_optimizer_option option,
                                                        int64_t *min, int64_t *max);

/* The options of an optimizer of `kind` (every option applies to both kinds;
 * the WEIGHT_DECAY default differs), described as in diffuse/common.h:
 * option, name, type, bounds, the kind's default. Errors: INVALID_ARGUMENT
 * (a pointer NULL, kind unknown, info->size too small), OUT_OF_RANGE (index
 * ≥ count). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_optimizer_option_count(diffuse_optimizer_kind kind,
                                                          size_t *count);
DIFFUSE_API diffuse_status diffuse_optimizer_option_info(diffuse_optimizer_kind kind,
                                                         size_t index, diffuse_option_info *info);

/* *steps = number of steps taken since creation or the last reset (failed
 * steps do not count). Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_optimizer_step_count(const diffuse_optimizer *optimizer,
                                                        uint64_t *steps);
/* *lr = lr_s for s = the step count: the rate the next step will use (see
 * the schedule above). Errors: INVALID_ARGUMENT (NULL), STATE (a decay is
 * selected with DECAY_STEPS = 0 or MIN_LEARNING_RATE > LEARNING_RATE). */
DIFFUSE_API diffuse_status diffuse_optimizer_current_learning_rate(
    const diffuse_optimizer *optimizer, double *lr);
/* Zeroes both moments and the step count (the schedule restarts with its
 * warm-up); keeps the options. The model's weights and EMA are untouched.
 * Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_optimizer_reset(diffuse_optimizer *optimizer);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_OPTIM_H */
