/*
 * libdiffuse — noise schedules: β_t and every table derived from it.
 *
 * A schedule fixes T steps t = 0 .. T−1 (0-based: t = 0 is the paper's t = 1,
 * the least noisy step) and the variances β_t of the forward process
 * q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I). From β it keeps, in double
 * precision, one table per quantity (with ᾱ_{−1} := 1):
 *
 *   BETA                       β_t
 *   ALPHA                      α_t = 1 − β_t
 *   ALPHA_BAR                  ᾱ_t = Π_{i≤t} α_i            (a running product)
 *   ALPHA_BAR_PREV             ᾱ_{t−1}                      (1 at t = 0)
 *   SQRT_ALPHA_BAR             √ᾱ_t
 *   SQRT_ONE_MINUS_ALPHA_BAR   √(1 − ᾱ_t)
 *   SQRT_RECIP_ALPHA_BAR       1/√ᾱ_t                       (+inf where ᾱ_t = 0)
 *   SQRT_RECIPM1_ALPHA_BAR     √(1/ᾱ_t − 1)                 (+inf where ᾱ_t = 0)
 *   POSTERIOR_VARIANCE         β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t   (0 at t = 0)
 *   POSTERIOR_LOG_VARIANCE_CLIPPED
 *                              log β̃_t for t ≥ 1; at t = 0, where β̃_0 = 0,
 *                              log β̃_1 (the usual "clipped" convention of
 *                              Ho et al. / Nichol & Dhariwal). When T = 1
 *                              there is no β̃_1 and the table holds log β_0
 *                              (the forward variance, the other standard
 *                              choice of σ²; at t = 0 a sampler adds no
 *                              noise, so the value only matters to losses).
 *   POSTERIOR_MEAN_COEF_X0     √ᾱ_{t−1} β_t / (1 − ᾱ_t)
 *   POSTERIOR_MEAN_COEF_XT     √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
 *                              so μ̃_t(x_t, x_0) = COEF_X0 · x_0 + COEF_XT · x_t
 *   SNR                        ᾱ_t / (1 − ᾱ_t)
 *
 * 1 − ᾱ_t is evaluated as −expm1(Σ_{i≤t} log1p(−β_i)), which equals
 * 1 − Π α_i but keeps full relative precision when ᾱ_t is close to 1 (the
 * naive 1 − ᾱ_0 loses ~12 of 16 digits for β_0 = 1e-4).
 *
 * Kinds (created with default options; see the options below):
 *   LINEAR         β = linspace(β_start, β_end, T); defaults 1e-4 .. 0.02
 *                  (Ho et al. 2020).
 *   SCALED_LINEAR  β = linspace(√β_start, √β_end, T)²; defaults 0.00085 .. 0.012
 *                  (latent diffusion / Stable Diffusion).
 *   COSINE         Nichol & Dhariwal 2021: ᾱ(τ) = f(τ)/f(0),
 *                  f(τ) = cos²(((τ/T) + s)/(1 + s) · π/2), and
 *                  β_t = min(1 − ᾱ(t+1)/ᾱ(t), max_beta); s = 0.008, max_beta = 0.999.
 *   SIGMOID        β = sigmoid(linspace(−R, R, T)) · (β_end − β_start) + β_start;
 *                  R = 6, defaults 1e-4 .. 0.02.
 *   CUSTOM         the caller's β array (diffuse_schedule_create_custom).
 * linspace(a, b, T) has T equally spaced points from a to b inclusive; for
 * T = 1 it is just [a] (numpy's convention).
 *
 * Zero terminal SNR (option ZERO_TERMINAL_SNR = 1; Lin et al. 2024, "Common
 * diffusion noise schedules and sample steps are flawed", Algorithm 1): after
 * β is built, √ᾱ is shifted and scaled so that √ᾱ_{T−1} = 0 while √ᾱ_0 is
 * kept,
 *     √ᾱ'_t = (√ᾱ_t − √ᾱ_{T−1}) · √ᾱ_0 / (√ᾱ_0 − √ᾱ_{T−1}),
 * and β is recomputed from it (α'_t = ᾱ'_t / ᾱ'_{t−1}). Then ᾱ_{T−1} = 0,
 * α_{T−1} = 0 and β_{T−1} = 1: the last step is pure noise. Consequences,
 * wherever a formula divides by ᾱ_t or α_t at t = T−1:
 *   - SQRT_RECIP_ALPHA_BAR and SQRT_RECIPM1_ALPHA_BAR hold +inf there, SNR is 0;
 *   - every other table is finite (β̃_{T−1} = 1 − ᾱ_{T−2}, COEF_XT = 0);
 *   - the public conversions that need 1/√ᾱ_t or 1/√α_t (x̂_0 from ε, the
 *     model mean from ε; see posterior.h) fail with DIFFUSE_ERROR_NUMERIC
 *     naming the row; those through v, ε from x_0, μ̃ and q_sample work at
 *     every t. An ε-prediction model cannot reach x_0 from t = T−1: use v.
 * β_t = 1 is accepted at the last step only (a CUSTOM β ending in 1, or
 * β_end = 1, has the same consequences there): before it, ᾱ would be 0 from
 * t on, every later step pure noise and the ε-model's reverse step infinite,
 * so such a schedule is rejected when it is created or changed.
 * Zero terminal SNR needs T ≥ 2.
 *
 * Ownership: a schedule is created by one of the constructors below and
 * released with diffuse_schedule_free. Arrays passed in are borrowed for the
 * call only; the custom β array is copied.
 *
 * Threads: a handle is used by one thread at a time — this holds even for the
 * functions taking a `const diffuse_schedule *`, because a failing call
 * records its message in the handle (the error slot is the one part of a
 * schedule that such calls may modify). Different handles are independent.
 * Clone a schedule to use it from several threads.
 */
#ifndef DIFFUSE_SCHEDULE_H
#define DIFFUSE_SCHEDULE_H

#include "diffuse/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_schedule diffuse_schedule;

/* Values are fixed forever. */
typedef enum diffuse_schedule_kind {
    DIFFUSE_SCHEDULE_LINEAR = 0,
    DIFFUSE_SCHEDULE_SCALED_LINEAR = 1,
    DIFFUSE_SCHEDULE_COSINE = 2,
    DIFFUSE_SCHEDULE_SIGMOID = 3,
    DIFFUSE_SCHEDULE_CUSTOM = 4
} diffuse_schedule_kind;

/* Options. Each applies to some kinds only; using it on another kind fails
 * with DIFFUSE_ERROR_INVALID_ARGUMENT. Bounds are inclusive (see
 * diffuse_schedule_double_bounds / _int_bounds):
 *
 *   BETA_START       double, (0, 1] (min reported as DBL_TRUE_MIN)   LINEAR, SCALED_LINEAR, SIGMOID
 *   BETA_END         double, (0, 1], must be ≥ BETA_START            LINEAR, SCALED_LINEAR, SIGMOID
 *   COSINE_OFFSET    double s, [0, 1]                                COSINE
 *   MAX_BETA         double, (0, 1]                                  COSINE
 *   SIGMOID_RANGE    double R, [0, 100]                              SIGMOID
 *   ZERO_TERMINAL_SNR int 0/1, 1 needs T ≥ 2                         every kind
 *
 * Defaults are those listed with the kinds at the top of this file.
 * BETA_START ≤ BETA_END must hold after every single call, so to move the
 * range up (e.g. to 0.03 .. 0.05 from 1e-4 .. 0.02) set BETA_END first, and
 * to move it down set BETA_START first. */
typedef enum diffuse_schedule_option {
    DIFFUSE_SCHEDULE_BETA_START = 0,
    DIFFUSE_SCHEDULE_BETA_END = 1,
    DIFFUSE_SCHEDULE_COSINE_OFFSET = 2,
    DIFFUSE_SCHEDULE_MAX_BETA = 3,
    DIFFUSE_SCHEDULE_SIGMOID_RANGE = 4,
    DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR = 5
} diffuse_schedule_option;

/* The tables (see the top of this file for their definitions). */
typedef enum diffuse_schedule_table {
    DIFFUSE_TABLE_BETA = 0,
    DIFFUSE_TABLE_ALPHA = 1,
    DIFFUSE_TABLE_ALPHA_BAR = 2,
    DIFFUSE_TABLE_ALPHA_BAR_PREV = 3,
    DIFFUSE_TABLE_SQRT_ALPHA_BAR = 4,
    DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR = 5,
    DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR = 6,
    DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR = 7,
    DIFFUSE_TABLE_POSTERIOR_VARIANCE = 8,
    DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED = 9,
    DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0 = 10,
    DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT = 11,
    DIFFUSE_TABLE_SNR = 12
} diffuse_schedule_table;

/* Largest number of steps T a schedule may have (the smallest is 1). */
#define DIFFUSE_SCHEDULE_MAX_STEPS 1000000

/* Creates a schedule of `kind` with `steps` = T steps and default options.
 * Errors: INVALID_ARGUMENT (out NULL, kind unknown or CUSTOM — use
 * diffuse_schedule_create_custom —, steps outside 1 .. DIFFUSE_SCHEDULE_MAX_STEPS),
 * NO_MEMORY. *out = NULL on failure. The caller owns *out. Thread-safe. */
DIFFUSE_API diffuse_status diffuse_schedule_create(diffuse_schedule **out,
                                                   diffuse_schedule_kind kind, size_t steps);

/* Creates a CUSTOM schedule from betas[0 .. steps−1] (copied).
 * Errors: INVALID_ARGUMENT (out or betas NULL, steps outside
 * 1 .. DIFFUSE_SCHEDULE_MAX_STEPS), NUMERIC (a β is NaN or ±inf, or the
 * derived tables are not finite — possible only for β so small that
 * 1 − ᾱ_t underflows), OUT_OF_RANGE (a β outside (0, 1], or β = 1 before the
 * last step), NO_MEMORY.
 * *out = NULL on failure. Thread-safe. */
DIFFUSE_API diffuse_status diffuse_schedule_create_custom(diffuse_schedule **out,
                                                          const double *betas, size_t steps);

/* *out = an independent copy of `schedule` (kind, T, options, tables); the
 * out-parameter comes first, as in every create and copy function.
 * Errors: INVALID_ARGUMENT (a pointer NULL), NO_MEMORY. *out = NULL on
 * failure. Reads `schedule` only (but see Threads at the top). */
DIFFUSE_API diffuse_status diffuse_schedule_clone(diffuse_schedule **out,
                                                  const diffuse_schedule *schedule);

/* Releases the schedule. diffuse_schedule_free(NULL) is a no-op. */
DIFFUSE_API void diffuse_schedule_free(diffuse_schedule *schedule);

/* Message of the last failing call on `schedule` ("" if none; a fixed text
 * for NULL). Valid until the next failing call on that handle. */
DIFFUSE_API const char *diffuse_schedule_last_error(const diffuse_schedule *schedule);

/* Option setters. A successful call recomputes every table at once. On any
 * failure the schedule is left exactly as it was.
 * Errors: INVALID_ARGUMENT (schedule NULL, option unknown or of the other
 * type), UNSUPPORTED (the option does not apply to the schedule's kind; see
 * diffuse/common.h), NUMERIC (value NaN/inf, or the resulting β or tables
 * would not be valid, e.g. β = 1 before the last step), OUT_OF_RANGE (value
 * outside the option's bounds, or outside what the other settings allow: BETA_START >
 * BETA_END, ZERO_TERMINAL_SNR = 1 with T = 1), NO_MEMORY.
 * Values are never clamped. */
DIFFUSE_API diffuse_status diffuse_schedule_set_double(diffuse_schedule *schedule,
                                                       diffuse_schedule_option option,
                                                       double value);
DIFFUSE_API diffuse_status diffuse_schedule_set_int(diffuse_schedule *schedule,
                                                    diffuse_schedule_option option,
                                                    int64_t value);

/* Option getters. Errors: INVALID_ARGUMENT (a pointer NULL, option unknown
 * or of the other type), UNSUPPORTED (the option does not apply to the kind). */
DIFFUSE_API diffuse_status diffuse_schedule_get_double(const diffuse_schedule *schedule,
                                                       diffuse_schedule_option option,
                                                       double *value);
DIFFUSE_API diffuse_status diffuse_schedule_get_int(const diffuse_schedule *schedule,
                                                    diffuse_schedule_option option,
                                                    int64_t *value);

/* Inclusive bounds of an option (independent of any schedule). For the β
 * options, min is DBL_TRUE_MIN: any β > 0 is accepted.
 * Errors: INVALID_ARGUMENT (a pointer NULL, option unknown or of the other
 * type). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_schedule_double_bounds(diffuse_schedule_option option,
                                                          double *min, double *max);
DIFFUSE_API diffuse_status diffuse_schedule_int_bounds(diffuse_schedule_option option,
                                                       int64_t *min, int64_t *max);

/* The options that apply to `kind` (see diffuse_option_info in
 * diffuse/common.h): their count, and for 0 ≤ index < count the option,
 * name, type, bounds and the kind's default. Errors: INVALID_ARGUMENT (a
 * pointer NULL, kind unknown, info->size too small), OUT_OF_RANGE (index ≥
 * count). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_schedule_option_count(diffuse_schedule_kind kind,
                                                         size_t *count);
DIFFUSE_API diffuse_status diffuse_schedule_option_info(diffuse_schedule_kind kind, size_t index,
                                                        diffuse_option_info *info);

/* *steps = T. Errors: INVALID_ARGUMENT (a pointer NULL). */
DIFFUSE_API diffuse_status diffuse_schedule_steps(const diffuse_schedule *schedule,
                                                  size_t *steps);

/* *kind = the schedule's kind. Errors: INVALID_ARGUMENT (a pointer NULL). */
DIFFUSE_API diffuse_status diffuse_schedule_get_kind(const diffuse_schedule *schedule,
                                                     diffuse_schedule_kind *kind);

/* *value = entry t of `table`. Errors: INVALID_ARGUMENT (a pointer NULL,
 * table unknown), OUT_OF_RANGE (t ≥ T). */
DIFFUSE_API diffuse_status diffuse_schedule_value(const diffuse_schedule *schedule,
                                                  diffuse_schedule_table table, size_t t,
                                                  double *value);

/* Copies the whole of `table` into out[0 .. count−1]; count must equal T.
 * (Named _get_table because C does not allow a function to share the name
 * of the type diffuse_schedule_table.)
 * Errors: INVALID_ARGUMENT (a pointer NULL, table unknown), MISMATCH
 * (count ≠ T; out is then untouched). */
DIFFUSE_API diffuse_status diffuse_schedule_get_table(const diffuse_schedule *schedule,
                                                      diffuse_schedule_table table, double *out,
                                                      size_t count);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_SCHEDULE_H */
