/* Noise schedules (internal): the handle, fast table access for the trainer
 * and sampler, the configuration a checkpoint stores, and the argument checks
 * and row kernel shared by forward.c and posterior.c.
 *
 * Nothing here validates its arguments unless it says so: callers have
 * already checked t < T, non-NULL arrays and sizes. */
#ifndef DIFFUSE_SRC_SCHEDULE_H
#define DIFFUSE_SRC_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "diffuse/schedule.h"
#include "util/error.h"

enum { SCHEDULE_KIND_COUNT = 5, SCHEDULE_TABLE_COUNT = 13, SCHEDULE_OPTION_COUNT = 6 };

/* The name of each kind, indexed by diffuse_schedule_kind ("linear",
 * "scaled_linear", "cosine", "sigmoid", "custom"): for messages and the
 * checkpoint's "schedule.kind", so a name is part of checkpoint format 1
 * and must never change. */
extern const char *const schedule_kind_names[SCHEDULE_KIND_COUNT];

struct diffuse_schedule {
    diffuse_error error;
    diffuse_schedule_kind kind;
    size_t steps; /* T */
    /* Indexed by diffuse_schedule_option; ZERO_TERMINAL_SNR as 0.0 / 1.0.
     * Options that do not apply to `kind` hold 0 and are never read. */
    double options[SCHEDULE_OPTION_COUNT];
    /* CUSTOM only (else NULL): the caller's β, before any zero-SNR rescale. */
    double *custom_betas;
    /* SCHEDULE_TABLE_COUNT columns of `steps` doubles; column k starts at
     * tables + k * steps (k = diffuse_schedule_table). */
    double *tables;
};

/* ---- Fast access (trainer, sampler) ----------------------------------- */

/* T. */
size_t schedule_steps(const diffuse_schedule *s);

/* Column `table` (T doubles, entry t at index t). Valid until the schedule is
 * changed or freed. */
const double *schedule_column(const diffuse_schedule *s, diffuse_schedule_table table);

/* The handle's error slot, writable even through a const handle (see
 * "Threads" in diffuse/schedule.h); NULL for a NULL handle. */
diffuse_error *schedule_error(const diffuse_schedule *s);

/* Sampling starts from x_T ~ N(0, I), which is q(x_T | x_0) only when
 * ᾱ_{T−1} ≈ 0. Warns through the log function (util/log.h), naming `who`,
 * when ᾱ_{T−1} > SCHEDULE_PRIOR_ALPHA_BAR_MAX: x_T then keeps √ᾱ_{T−1} of
 * x_0, and the samples are biased towards 0 by about that much (a linear
 * schedule with T = 50 ends at ᾱ_{T−1} = 0.60). */
#define SCHEDULE_PRIOR_ALPHA_BAR_MAX 0.01
void schedule_warn_far_from_prior(const diffuse_schedule *s, const char *who);

/* ---- Configuration (checkpoints) ---------------------------------------
 *
 * A schedule is fully described by (kind, steps, the options that apply to
 * the kind, custom_betas for CUSTOM): the tables are a pure function of
 * these. A writer stores s->kind, s->steps, s->options[k] for every k with
 * schedule_option_applies(kind, k), and s->custom_betas (steps values) for
 * CUSTOM; a reader rebuilds with schedule_create_from_config. */

/* Whether option `option` is meaningful for schedules of `kind`. */
bool schedule_option_applies(diffuse_schedule_kind kind, diffuse_schedule_option option);

/* The option's name ("beta_start", "zero_terminal_snr", ...) for messages and
 * checkpoint keys; NULL for an unknown option. */
const char *schedule_option_name(diffuse_schedule_option option);

/* Whether the option is a double (else an integer, ZERO_TERMINAL_SNR);
 * false for an unknown option. */
bool schedule_option_is_double(diffuse_schedule_option option);

/* Builds a schedule from a stored configuration, validating everything as
 * the public constructors and setters do (kind, steps, each applicable option
 * against its bounds, their combination, custom β). options[k] is read only
 * for applicable k. custom_betas (steps values) is required for CUSTOM and
 * ignored otherwise. Failures are recorded in `error` (may be NULL) and the
 * thread's slot; *out = NULL then. */
diffuse_status schedule_create_from_config(diffuse_schedule **out, diffuse_error *error,
                                           diffuse_schedule_kind kind, size_t steps,
                                           const double options[SCHEDULE_OPTION_COUNT],
                                           const double *custom_betas);

/* ---- Shared by forward.c and posterior.c -------------------------------- */

/* The checks every batched public call starts with: s not NULL, n and d
 * valid (diffuse_check_matrix_size; *count = n·d), t not NULL and every
 * t[i] in [0, T) (OUT_OF_RANGE otherwise). */
diffuse_status schedule_check_rows(const diffuse_schedule *s, size_t n, size_t d,
                                   const int32_t *t, size_t *count);

/* The checks of a query for one timestep with two outputs: s, a and b not
 * NULL (a_name, b_name name them), t < T (OUT_OF_RANGE). */
diffuse_status schedule_check_scalar_query(const diffuse_schedule *s, size_t t, const void *a,
                                           const char *a_name, const void *b,
                                           const char *b_name);

/* An input array: not NULL and all `count` values finite. */
diffuse_status schedule_check_input(const diffuse_schedule *s, const float *x, size_t count,
                                    const char *what);

/* The output `out` (n × d floats) of a batched call: the same array as the
 * input x (or y; NULL: none) or disjoint from it, and disjoint from t
 * (INVALID_ARGUMENT otherwise, naming the arrays). */
diffuse_status schedule_check_output(const diffuse_schedule *s, size_t n, size_t d,
                                     const int32_t *t, const float *out, const char *out_name,
                                     const float *x, const char *x_name, const float *y,
                                     const char *y_name);

/* Fails with NUMERIC naming the first row whose `table` entry is 0 (for the
 * conversions that divide by it: ALPHA_BAR or ALPHA). */
diffuse_status schedule_check_nonzero(const diffuse_schedule *s, size_t n, const int32_t *t,
                                      diffuse_schedule_table table, const char *operation);

/* Fails with NUMERIC naming the first row of `out` (n × d) holding a value
 * that is not finite (a result that overflowed float). */
diffuse_status schedule_check_result(const diffuse_schedule *s, size_t n, size_t d,
                                     const float *out, const char *what);

/* The two coefficients of one row of a per-row linear combination. */
typedef void (*schedule_coefficients_fn)(const diffuse_schedule *s, size_t t, double *a,
                                         double *b);

/* out[i·d + j] = (float)(a_i · x[i·d + j] + b_i · y[i·d + j]) in double,
 * where (a_i, b_i) = coefficients(s, t[i]). Every forward/posterior formula is
 * of this form. `out` may be the same array as `x` or `y` (each element is
 * read before it is written); partial overlaps are not allowed. */
void schedule_combine_rows(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           schedule_coefficients_fn coefficients, const float *x,
                           const float *y, float *out);

#endif
