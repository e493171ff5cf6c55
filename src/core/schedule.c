/* Noise schedules: β for each kind, the zero-terminal-SNR rescale, the
 * derived tables, options, and the checks shared by forward.c and
 * posterior.c (see include/diffuse/schedule.h and src/schedule.h). */
#include "core/schedule.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/option_table.h"

/* M_PI is not part of strict C11. */
#define SCHEDULE_PI 3.14159265358979323846

const char *const schedule_kind_names[SCHEDULE_KIND_COUNT] = {
    [DIFFUSE_SCHEDULE_LINEAR] = "linear",
    [DIFFUSE_SCHEDULE_SCALED_LINEAR] = "scaled_linear",
    [DIFFUSE_SCHEDULE_COSINE] = "cosine",
    [DIFFUSE_SCHEDULE_SIGMOID] = "sigmoid",
    [DIFFUSE_SCHEDULE_CUSTOM] = "custom",
};

static const char *const table_names[SCHEDULE_TABLE_COUNT] = {
    [DIFFUSE_TABLE_BETA] = "beta",
    [DIFFUSE_TABLE_ALPHA] = "alpha",
    [DIFFUSE_TABLE_ALPHA_BAR] = "alpha_bar",
    [DIFFUSE_TABLE_ALPHA_BAR_PREV] = "alpha_bar_prev",
    [DIFFUSE_TABLE_SQRT_ALPHA_BAR] = "sqrt_alpha_bar",
    [DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR] = "sqrt_one_minus_alpha_bar",
    [DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR] = "sqrt_recip_alpha_bar",
    [DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR] = "sqrt_recipm1_alpha_bar",
    [DIFFUSE_TABLE_POSTERIOR_VARIANCE] = "posterior_variance",
    [DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED] = "posterior_log_variance_clipped",
    [DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0] = "posterior_mean_coef_x0",
    [DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT] = "posterior_mean_coef_xt",
    [DIFFUSE_TABLE_SNR] = "snr",
};

/* Bounds only; the defaults depend on the kind (kind_defaults below), so the
 * spec's default_value is unused. DBL_TRUE_MIN stands for "any β > 0". */
static const option_spec schedule_specs[SCHEDULE_OPTION_COUNT] = {
    [DIFFUSE_SCHEDULE_BETA_START] = {"beta_start", true, DBL_TRUE_MIN, 1.0, 0.0},
    [DIFFUSE_SCHEDULE_BETA_END] = {"beta_end", true, DBL_TRUE_MIN, 1.0, 0.0},
    [DIFFUSE_SCHEDULE_COSINE_OFFSET] = {"cosine_offset", true, 0.0, 1.0, 0.0},
    [DIFFUSE_SCHEDULE_MAX_BETA] = {"max_beta", true, DBL_TRUE_MIN, 1.0, 0.0},
    [DIFFUSE_SCHEDULE_SIGMOID_RANGE] = {"sigmoid_range", true, 0.0, 100.0, 0.0},
    [DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR] = {"zero_terminal_snr", false, 0.0, 1.0, 0.0},
};

static const option_table schedule_options = {"schedule", schedule_specs,
                                              SCHEDULE_OPTION_COUNT};

static const uint32_t kind_option_bits[SCHEDULE_KIND_COUNT] = {
    [DIFFUSE_SCHEDULE_LINEAR] = OPTION_BIT(DIFFUSE_SCHEDULE_BETA_START) |
                                OPTION_BIT(DIFFUSE_SCHEDULE_BETA_END) |
                                OPTION_BIT(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR),
    [DIFFUSE_SCHEDULE_SCALED_LINEAR] = OPTION_BIT(DIFFUSE_SCHEDULE_BETA_START) |
                                       OPTION_BIT(DIFFUSE_SCHEDULE_BETA_END) |
                                       OPTION_BIT(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR),
    [DIFFUSE_SCHEDULE_COSINE] = OPTION_BIT(DIFFUSE_SCHEDULE_COSINE_OFFSET) |
                                OPTION_BIT(DIFFUSE_SCHEDULE_MAX_BETA) |
                                OPTION_BIT(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR),
    [DIFFUSE_SCHEDULE_SIGMOID] = OPTION_BIT(DIFFUSE_SCHEDULE_BETA_START) |
                                 OPTION_BIT(DIFFUSE_SCHEDULE_BETA_END) |
                                 OPTION_BIT(DIFFUSE_SCHEDULE_SIGMOID_RANGE) |
                                 OPTION_BIT(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR),
    [DIFFUSE_SCHEDULE_CUSTOM] = OPTION_BIT(DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR),
};

/* Ho et al. 2020 (linear); latent diffusion (scaled linear); Nichol &
 * Dhariwal 2021 (cosine); Jabri et al. 2023 / Chen 2023 (sigmoid). */
static const double kind_defaults[SCHEDULE_KIND_COUNT][SCHEDULE_OPTION_COUNT] = {
    [DIFFUSE_SCHEDULE_LINEAR] = {[DIFFUSE_SCHEDULE_BETA_START] = 1e-4,
                                 [DIFFUSE_SCHEDULE_BETA_END] = 0.02},
    [DIFFUSE_SCHEDULE_SCALED_LINEAR] = {[DIFFUSE_SCHEDULE_BETA_START] = 0.00085,
                                        [DIFFUSE_SCHEDULE_BETA_END] = 0.012},
    [DIFFUSE_SCHEDULE_COSINE] = {[DIFFUSE_SCHEDULE_COSINE_OFFSET] = 0.008,
                                 [DIFFUSE_SCHEDULE_MAX_BETA] = 0.999},
    [DIFFUSE_SCHEDULE_SIGMOID] = {[DIFFUSE_SCHEDULE_BETA_START] = 1e-4,
                                  [DIFFUSE_SCHEDULE_BETA_END] = 0.02,
                                  [DIFFUSE_SCHEDULE_SIGMOID_RANGE] = 6.0},
    [DIFFUSE_SCHEDULE_CUSTOM] = {0},
};

/* ---- Internal accessors ------------------------------------------------ */

size_t schedule_steps(const diffuse_schedule *s)
{
    return s->steps;
}

const double *schedule_column(const diffuse_schedule *s, diffuse_schedule_table table)
{
    return s->tables + (size_t)table * s->steps;
}

diffuse_error *schedule_error(const diffuse_schedule *s)
{
    /* The error slot is the one part of a schedule that read-only calls
     * write (documented in diffuse/schedule.h); the handle itself was
     * allocated non-const, so casting the qualifier away is well defined. */
    return s != NULL ? (diffuse_error *)&s->error : NULL;
}

static bool kind_is_valid(diffuse_schedule_kind kind)
{
    return (unsigned)kind < SCHEDULE_KIND_COUNT;
}

static diffuse_status check_kind(diffuse_schedule_kind kind)
{
    if (!kind_is_valid(kind))
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown schedule kind %d",
                            (int)kind);
    return DIFFUSE_OK;
}

static bool table_is_valid(diffuse_schedule_table table)
{
    return (unsigned)table < SCHEDULE_TABLE_COUNT;
}

bool schedule_option_applies(diffuse_schedule_kind kind, diffuse_schedule_option option)
{
    return kind_is_valid(kind) && (unsigned)option < SCHEDULE_OPTION_COUNT &&
           (kind_option_bits[kind] & OPTION_BIT((unsigned)option)) != 0;
}

const char *schedule_option_name(diffuse_schedule_option option)
{
    return (unsigned)option < SCHEDULE_OPTION_COUNT ? schedule_specs[option].name : NULL;
}

bool schedule_option_is_double(diffuse_schedule_option option)
{
    return (unsigned)option < SCHEDULE_OPTION_COUNT && schedule_specs[option].is_double;
}

/* ---- β for each kind ---------------------------------------------------- */

/* Point i of linspace(a, b, steps): equally spaced from a to b inclusive;
 * [a] when steps = 1 (numpy's convention). The last point is b exactly. */
static double linspace_point(double a, double b, size_t i, size_t steps)
{
    if (steps == 1)
        return a;
    if (i == steps - 1)
        return b;
    return a + (b - a) * ((double)i / (double)(steps - 1));
}

/* β_t = linspace(β_start, β_end, T)_t */
static void linear_betas(const double *options, size_t steps, double *beta)
{
    for (size_t t = 0; t < steps; t++)
        beta[t] = linspace_point(options[DIFFUSE_SCHEDULE_BETA_START],
                                 options[DIFFUSE_SCHEDULE_BETA_END], t, steps);
}

/* β_t = linspace(√β_start, √β_end, T)_t² */
static void scaled_linear_betas(const double *options, size_t steps, double *beta)
{
    double first = sqrt(options[DIFFUSE_SCHEDULE_BETA_START]);
    double last = sqrt(options[DIFFUSE_SCHEDULE_BETA_END]);
    for (size_t t = 0; t < steps; t++) {
        double root = linspace_point(first, last, t, steps);
        beta[t] = root * root;
    }
}

/* β_t = sigmoid(linspace(−R, R, T)_t) · (β_end − β_start) + β_start */
static void sigmoid_betas(const double *options, size_t steps, double *beta)
{
    double range = options[DIFFUSE_SCHEDULE_SIGMOID_RANGE];
    double start = options[DIFFUSE_SCHEDULE_BETA_START];
    double end = options[DIFFUSE_SCHEDULE_BETA_END];
    for (size_t t = 0; t < steps; t++) {
        double sigmoid = 1.0 / (1.0 + exp(-linspace_point(-range, range, t, steps)));
        beta[t] = sigmoid * (end - start) + start;
    }
}

/* f(τ) = cos²(((τ/T) + s)/(1 + s) · π/2) */
static double cosine_f(double tau, size_t steps, double offset)
{
    double c = cos((tau / (double)steps + offset) / (1.0 + offset) * (SCHEDULE_PI / 2.0));
    return c * c;
}

/* ᾱ(τ) = f(τ)/f(0), so β_t = min(1 − ᾱ(t+1)/ᾱ(t), max_beta) = min(1 − f(t+1)/f(t), max_beta):
 * f(0) cancels. Without the clip β_{T−1} ≈ 1, since f(T) ≈ 0. */
static void cosine_betas(const double *options, size_t steps, double *beta)
{
    double offset = options[DIFFUSE_SCHEDULE_COSINE_OFFSET];
    double max_beta = options[DIFFUSE_SCHEDULE_MAX_BETA];
    double f_here = cosine_f(0.0, steps, offset);
    for (size_t t = 0; t < steps; t++) {
        double f_next = cosine_f((double)(t + 1), steps, offset);
        beta[t] = fmin(1.0 - f_next / f_here, max_beta);
        f_here = f_next;
    }
}

static void make_betas(diffuse_schedule_kind kind, size_t steps, const double *options,
                       const double *custom_betas, double *beta)
{
    switch (kind) {
    case DIFFUSE_SCHEDULE_LINEAR:
        linear_betas(options, steps, beta);
        break;
    case DIFFUSE_SCHEDULE_SCALED_LINEAR:
        scaled_linear_betas(options, steps, beta);
        break;
    case DIFFUSE_SCHEDULE_COSINE:
        cosine_betas(options, steps, beta);
        break;
    case DIFFUSE_SCHEDULE_SIGMOID:
        sigmoid_betas(options, steps, beta);
        break;
    case DIFFUSE_SCHEDULE_CUSTOM:
        memcpy(beta, custom_betas, steps * sizeof *beta);
        break;
    }
}

/* β_t = 1 makes α_t = 0 and ᾱ = 0 from t on. At t = T−1 that is zero
 * terminal SNR, which v-prediction samples through; before it, every later
 * step would be pure noise as well and an ε-model's mean (1/√α_t) infinite,
 * so sampling would only fail at its end. The first such t, or `steps`. */
static size_t early_unit_beta(const double *beta, size_t steps)
{
    size_t t = 0;
    while (t + 1 < steps && beta[t] != 1.0)
        t++;
    return t + 1 < steps ? t : steps;
}

#define EARLY_UNIT_BETA_RULE \
    "beta = 1 is allowed only at the last step (zero terminal SNR): earlier, every later step " \
    "would be pure noise and the reverse step 1/sqrt(alpha) infinite"

/* Guards against a configuration whose generated β leaves (0, 1] in floating
 * point (e.g. rounding to β = 0 in an extreme cosine or rescale), or reaches
 * 1 before the last step (e.g. beta_start = beta_end = 1). */
static diffuse_status check_generated_betas(diffuse_error *error, diffuse_schedule_kind kind,
                                            const double *beta, size_t steps, const char *stage)
{
    for (size_t t = 0; t < steps; t++) {
        if (!(beta[t] > 0.0 && beta[t] <= 1.0))
            return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC,
                                "the %s schedule gives beta[%zu] = %.17g outside (0, 1]%s",
                                schedule_kind_names[kind], t, beta[t], stage);
    }
    size_t t = early_unit_beta(beta, steps);
    if (t < steps)
        return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC,
                            "the %s schedule gives beta[%zu] = 1 before the last step%s; "
                            EARLY_UNIT_BETA_RULE,
                            schedule_kind_names[kind], t, stage);
    return DIFFUSE_OK;
}

/* ---- Zero terminal SNR ---------------------------------------------------- */

/* Lin et al. 2024, Algorithm 1, with r_t = √ᾱ_t:
 *     r'_t = (r_t − r_{T−1}) · r_0 / (r_0 − r_{T−1})      (r'_0 = r_0, r'_{T−1} = 0)
 *     α'_t = (r'_t / r'_{t−1})²  with r'_{−1} := 1,        β'_t = 1 − α'_t
 * `root` is scratch for T values. A schedule whose ᾱ_{T−1} is already 0 is
 * left as it is (the rescale is then the identity). A √ᾱ that stops
 * decreasing before T−1 (β so small that α rounds to 1) makes 0/0 here,
 * which check_generated_betas then rejects. */
static diffuse_status rescale_zero_terminal_snr(diffuse_error *error, double *beta, double *root,
                                                size_t steps)
{
    double alpha_bar = 1.0;
    for (size_t t = 0; t < steps; t++) {
        alpha_bar *= 1.0 - beta[t];
        root[t] = sqrt(alpha_bar);
    }
    double first = root[0], last = root[steps - 1];
    if (last == 0.0)
        return DIFFUSE_OK;
    if (!(first > last))
        return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC,
                            "zero terminal SNR: sqrt(alpha_bar) does not decrease "
                            "(%.17g at t = 0 and at t = T-1); beta is too small to rescale",
                            first);
    double scale = first / (first - last);
    double previous = 1.0;
    for (size_t t = 0; t < steps; t++) {
        double rescaled = (root[t] - last) * scale;
        double ratio = rescaled / previous;
        beta[t] = 1.0 - ratio * ratio;
        previous = rescaled;
    }
    return DIFFUSE_OK;
}

/* ---- Derived tables ----------------------------------------------------- */

static double *column(double *tables, size_t steps, diffuse_schedule_table table)
{
    return tables + (size_t)table * steps;
}

/* Every table from the BETA column (equations in diffuse/schedule.h). */
static void derive_tables(double *tables, size_t steps)
{
    const double *beta = column(tables, steps, DIFFUSE_TABLE_BETA);
    double *alpha = column(tables, steps, DIFFUSE_TABLE_ALPHA);
    double *alpha_bar = column(tables, steps, DIFFUSE_TABLE_ALPHA_BAR);
    double *alpha_bar_prev = column(tables, steps, DIFFUSE_TABLE_ALPHA_BAR_PREV);
    double *sqrt_alpha_bar = column(tables, steps, DIFFUSE_TABLE_SQRT_ALPHA_BAR);
    double *sqrt_one_minus = column(tables, steps, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR);
    double *sqrt_recip = column(tables, steps, DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR);
    double *sqrt_recipm1 = column(tables, steps, DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR);
    double *variance = column(tables, steps, DIFFUSE_TABLE_POSTERIOR_VARIANCE);
    double *log_variance = column(tables, steps, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED);
    double *coef_x0 = column(tables, steps, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0);
    double *coef_xt = column(tables, steps, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT);
    double *snr = column(tables, steps, DIFFUSE_TABLE_SNR);

    double prev = 1.0, one_minus_prev = 0.0; /* ᾱ_{t−1} and 1 − ᾱ_{t−1}, ᾱ_{−1} := 1 */
    double log_alpha_bar = 0.0;              /* Σ_{i≤t} log α_i */
    for (size_t t = 0; t < steps; t++) {
        alpha[t] = 1.0 - beta[t];
        double ab = prev * alpha[t]; /* ᾱ_t = ᾱ_{t−1} α_t */
        /* 1 − ᾱ_t = −expm1(Σ log1p(−β_i)): exact to the last digits even when
         * ᾱ_t ≈ 1, where 1 − ᾱ_t would cancel (β_t = 1 gives −inf → 1). */
        log_alpha_bar += log1p(-beta[t]);
        double one_minus = -expm1(log_alpha_bar);

        alpha_bar[t] = ab;
        alpha_bar_prev[t] = prev;
        sqrt_alpha_bar[t] = sqrt(ab);
        sqrt_one_minus[t] = sqrt(one_minus);
        sqrt_recip[t] = ab > 0.0 ? 1.0 / sqrt(ab) : INFINITY;
        sqrt_recipm1[t] = ab > 0.0 ? sqrt(one_minus / ab) : INFINITY; /* √(1/ᾱ − 1) */
        variance[t] = one_minus_prev / one_minus * beta[t];      /* β̃_t */
        coef_x0[t] = sqrt(prev) * beta[t] / one_minus;           /* √ᾱ_{t−1} β_t/(1−ᾱ_t) */
        coef_xt[t] = sqrt(alpha[t]) * one_minus_prev / one_minus; /* √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) */
        snr[t] = ab / one_minus;
        prev = ab;
        one_minus_prev = one_minus;
    }
    /* β̃_0 = 0 has no logarithm: use log β̃_1 ("clipped"), or log β_0 when
     * T = 1 (see diffuse/schedule.h). */
    for (size_t t = 1; t < steps; t++)
        log_variance[t] = log(variance[t]);
    log_variance[0] = steps > 1 ? log_variance[1] : log(beta[0]);
}

/* Every entry finite, except the documented +inf of 1/√ᾱ and √(1/ᾱ − 1)
 * where ᾱ_t = 0. Fails only for β so small that something underflows. */
static diffuse_status check_tables(diffuse_error *error, double *tables, size_t steps)
{
    const double *alpha_bar = column(tables, steps, DIFFUSE_TABLE_ALPHA_BAR);
    for (unsigned k = 0; k < SCHEDULE_TABLE_COUNT; k++) {
        bool may_be_inf = k == DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR ||
                          k == DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR;
        const double *values = column(tables, steps, (diffuse_schedule_table)k);
        for (size_t t = 0; t < steps; t++) {
            bool allowed_inf = may_be_inf && alpha_bar[t] == 0.0 && values[t] == INFINITY;
            if (!isfinite(values[t]) && !allowed_inf)
                return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC,
                                    "schedule table %s is not finite at t = %zu (%g); "
                                    "beta is too small",
                                    table_names[k], t, values[t]);
        }
    }
    return DIFFUSE_OK;
}

/* Computes the tables of a configuration (already validated) into a new
 * block; *out is set only on success. */
static diffuse_status build_tables(diffuse_error *error, diffuse_schedule_kind kind,
                                   size_t steps, const double *options,
                                   const double *custom_betas, double **out)
{
    /* steps ≤ DIFFUSE_SCHEDULE_MAX_STEPS: the product cannot overflow. */
    double *tables = malloc(SCHEDULE_TABLE_COUNT * steps * sizeof *tables);
    if (tables == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for the tables of a %zu-step schedule", steps);
    double *beta = column(tables, steps, DIFFUSE_TABLE_BETA);
    make_betas(kind, steps, options, custom_betas, beta);
    diffuse_status status = check_generated_betas(error, kind, beta, steps, "");
    if (status == DIFFUSE_OK && options[DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR] != 0.0) {
        double *scratch = column(tables, steps, DIFFUSE_TABLE_SQRT_ALPHA_BAR);
        status = rescale_zero_terminal_snr(error, beta, scratch, steps);
        if (status == DIFFUSE_OK)
            status = check_generated_betas(error, kind, beta, steps,
                                           " after the zero terminal SNR rescale");
    }
    if (status == DIFFUSE_OK) {
        derive_tables(tables, steps);
        status = check_tables(error, tables, steps);
    }
    if (status != DIFFUSE_OK) {
        free(tables);
        return status;
    }
    *out = tables;
    return DIFFUSE_OK;
}

/* ---- Validation of configurations -------------------------------------- */

static diffuse_status check_steps(diffuse_error *error, size_t steps)
{
    if (steps == 0 || steps > DIFFUSE_SCHEDULE_MAX_STEPS)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "steps = %zu is outside 1 .. %d", steps, DIFFUSE_SCHEDULE_MAX_STEPS);
    return DIFFUSE_OK;
}

static diffuse_status check_custom_betas(diffuse_error *error, const double *betas, size_t steps)
{
    diffuse_status status = diffuse_check_pointer(error, betas, "betas");
    for (size_t t = 0; status == DIFFUSE_OK && t < steps; t++) {
        if (!isfinite(betas[t]))
            return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC, "betas[%zu] is not finite (%g)", t,
                                betas[t]);
        if (!(betas[t] > 0.0 && betas[t] <= 1.0))
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "betas[%zu] = %.17g is outside (0, 1]", t, betas[t]);
    }
    size_t t = status == DIFFUSE_OK ? early_unit_beta(betas, steps) : steps;
    if (t < steps)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "betas[%zu] = 1 is before the last step (t = %zu); "
                            EARLY_UNIT_BETA_RULE,
                            t, steps - 1);
    return status;
}

/* Rules between options (each one already within its own bounds). */
static diffuse_status check_combination(diffuse_error *error, diffuse_schedule_kind kind,
                                        size_t steps, const double *options)
{
    if (schedule_option_applies(kind, DIFFUSE_SCHEDULE_BETA_START) &&
        options[DIFFUSE_SCHEDULE_BETA_START] > options[DIFFUSE_SCHEDULE_BETA_END])
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "beta_start = %.17g would exceed beta_end = %.17g (to move the range "
                            "up set beta_end first, to move it down set beta_start first)",
                            options[DIFFUSE_SCHEDULE_BETA_START],
                            options[DIFFUSE_SCHEDULE_BETA_END]);
    if (options[DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR] != 0.0 && steps < 2)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "zero_terminal_snr needs at least 2 steps (this schedule has %zu)",
                            steps);
    return DIFFUSE_OK;
}

/* ---- Construction --------------------------------------------------------- */

/* Allocates and fills a schedule for a configuration whose parts are each
 * valid; checks their combination and the resulting tables. */
static diffuse_status schedule_new(diffuse_error *error, diffuse_schedule_kind kind,
                                   size_t steps, const double *options,
                                   const double *custom_betas, diffuse_schedule **out)
{
    diffuse_status status = check_combination(error, kind, steps, options);
    if (status != DIFFUSE_OK)
        return status;
    if (kind == DIFFUSE_SCHEDULE_CUSTOM && custom_betas == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "a custom schedule needs its beta array");
    diffuse_schedule *s = calloc(1, sizeof *s);
    if (s == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a schedule");
    s->kind = kind;
    s->steps = steps;
    memcpy(s->options, options, sizeof s->options);
    if (kind == DIFFUSE_SCHEDULE_CUSTOM && custom_betas != NULL) { /* checked above */
        s->custom_betas = malloc(steps * sizeof *s->custom_betas);
        if (s->custom_betas == NULL) {
            diffuse_schedule_free(s);
            return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                                "out of memory for %zu custom betas", steps);
        }
        memcpy(s->custom_betas, custom_betas, steps * sizeof *s->custom_betas);
    }
    status = build_tables(error, kind, steps, options, s->custom_betas, &s->tables);
    if (status != DIFFUSE_OK) {
        diffuse_schedule_free(s);
        return status;
    }
    *out = s;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_schedule_create(diffuse_schedule **out,
                                                   diffuse_schedule_kind kind, size_t steps)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    if ((status = check_kind(kind)) != DIFFUSE_OK)
        return status;
    if (kind == DIFFUSE_SCHEDULE_CUSTOM)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "a custom schedule needs its betas: use "
                            "diffuse_schedule_create_custom");
    if ((status = check_steps(NULL, steps)) != DIFFUSE_OK)
        return status;
    return schedule_new(NULL, kind, steps, kind_defaults[kind], NULL, out);
}

DIFFUSE_API diffuse_status diffuse_schedule_create_custom(diffuse_schedule **out,
                                                          const double *betas, size_t steps)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    if ((status = check_steps(NULL, steps)) != DIFFUSE_OK ||
        (status = check_custom_betas(NULL, betas, steps)) != DIFFUSE_OK)
        return status;
    return schedule_new(NULL, DIFFUSE_SCHEDULE_CUSTOM, steps,
                        kind_defaults[DIFFUSE_SCHEDULE_CUSTOM], betas, out);
}

/* Copies the applicable options of a stored configuration over the kind's
 * defaults, each checked against its bounds (and int options for being whole). */
static diffuse_status read_config_options(diffuse_error *error, diffuse_schedule_kind kind,
                                          const double *stored, double *options)
{
    memcpy(options, kind_defaults[kind], SCHEDULE_OPTION_COUNT * sizeof *options);
    for (int k = 0; k < SCHEDULE_OPTION_COUNT; k++) {
        const option_spec *spec = &schedule_specs[k];
        if (!schedule_option_applies(kind, (diffuse_schedule_option)k))
            continue;
        if (!spec->is_double && stored[k] != floor(stored[k]))
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "schedule option %s = %g is not a whole number", spec->name,
                                stored[k]);
        diffuse_status status =
            option_set(error, &schedule_options, options, k, stored[k], spec->is_double);
        if (status != DIFFUSE_OK)
            return status;
    }
    return DIFFUSE_OK;
}

diffuse_status schedule_create_from_config(diffuse_schedule **out, diffuse_error *error,
                                           diffuse_schedule_kind kind, size_t steps,
                                           const double options[SCHEDULE_OPTION_COUNT],
                                           const double *custom_betas)
{
    diffuse_status status = diffuse_check_pointer(error, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    if (!kind_is_valid(kind))
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown schedule kind %d",
                            (int)kind);
    double checked[SCHEDULE_OPTION_COUNT];
    if ((status = check_steps(error, steps)) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(error, options, "options")) != DIFFUSE_OK ||
        (status = read_config_options(error, kind, options, checked)) != DIFFUSE_OK)
        return status;
    if (kind == DIFFUSE_SCHEDULE_CUSTOM &&
        (status = check_custom_betas(error, custom_betas, steps)) != DIFFUSE_OK)
        return status;
    return schedule_new(error, kind, steps, checked, custom_betas, out);
}

DIFFUSE_API diffuse_status diffuse_schedule_clone(diffuse_schedule **out,
                                                  const diffuse_schedule *schedule)
{
    diffuse_status status = diffuse_check_pointer(NULL, schedule, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error *error = schedule_error(schedule);
    if ((status = diffuse_check_pointer(error, out, "out")) != DIFFUSE_OK)
        return status;
    *out = NULL;
    /* Rebuilding is deterministic, so the copy's tables are bit-identical. */
    return schedule_new(error, schedule->kind, schedule->steps, schedule->options,
                        schedule->custom_betas, out);
}

DIFFUSE_API void diffuse_schedule_free(diffuse_schedule *schedule)
{
    if (schedule == NULL)
        return;
    free(schedule->tables);
    free(schedule->custom_betas);
    free(schedule);
}

DIFFUSE_API const char *diffuse_schedule_last_error(const diffuse_schedule *schedule)
{
    return diffuse_error_message(schedule != NULL ? &schedule->error : NULL);
}

/* ---- Options ------------------------------------------------------------- */

/* OK if the option exists, has the requested type and applies to the
 * schedule's kind (UNSUPPORTED if not: the rule in diffuse/common.h). */
static diffuse_status find_applicable(const diffuse_schedule *s, diffuse_schedule_option option,
                                      bool want_double)
{
    diffuse_error *error = schedule_error(s);
    const option_spec *spec = option_find(error, &schedule_options, (int)option, want_double);
    if (spec == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    if (!schedule_option_applies(s->kind, option))
        return diffuse_fail(error, DIFFUSE_ERROR_UNSUPPORTED,
                            "schedule option %s does not apply to a %s schedule", spec->name,
                            schedule_kind_names[s->kind]);
    return DIFFUSE_OK;
}

static diffuse_status set_option(diffuse_schedule *s, diffuse_schedule_option option,
                                 double value, bool is_double)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = find_applicable(s, option, is_double)) != DIFFUSE_OK)
        return status;
    /* Work on copies so that any failure leaves the schedule unchanged. */
    double options[SCHEDULE_OPTION_COUNT];
    memcpy(options, s->options, sizeof options);
    double *tables = NULL;
    if ((status = option_set(&s->error, &schedule_options, options, (int)option, value,
                             is_double)) != DIFFUSE_OK ||
        (status = check_combination(&s->error, s->kind, s->steps, options)) != DIFFUSE_OK ||
        (status = build_tables(&s->error, s->kind, s->steps, options, s->custom_betas,
                               &tables)) != DIFFUSE_OK)
        return status;
    free(s->tables);
    s->tables = tables;
    memcpy(s->options, options, sizeof options);
    return DIFFUSE_OK;
}

static diffuse_status get_option(const diffuse_schedule *s, diffuse_schedule_option option,
                                 bool is_double, const void *value, double *out)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = diffuse_check_pointer(schedule_error(s), value, "value")) != DIFFUSE_OK)
        return status;
    if ((status = find_applicable(s, option, is_double)) != DIFFUSE_OK)
        return status;
    *out = s->options[option];
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_schedule_set_double(diffuse_schedule *schedule,
                                                       diffuse_schedule_option option,
                                                       double value)
{
    return set_option(schedule, option, value, true);
}

DIFFUSE_API diffuse_status diffuse_schedule_set_int(diffuse_schedule *schedule,
                                                    diffuse_schedule_option option,
                                                    int64_t value)
{
    /* Checked as an integer first, so that a message shows the value exactly. */
    diffuse_status status = diffuse_check_pointer(NULL, schedule, "schedule");
    if (status == DIFFUSE_OK)
        status = option_check_int(&schedule->error, &schedule_options, (int)option, value);
    return status ? status : set_option(schedule, option, (double)value, false);
}

DIFFUSE_API diffuse_status diffuse_schedule_get_double(const diffuse_schedule *schedule,
                                                       diffuse_schedule_option option,
                                                       double *value)
{
    double stored;
    diffuse_status status = get_option(schedule, option, true, value, &stored);
    if (status == DIFFUSE_OK)
        *value = stored;
    return status;
}

DIFFUSE_API diffuse_status diffuse_schedule_get_int(const diffuse_schedule *schedule,
                                                    diffuse_schedule_option option,
                                                    int64_t *value)
{
    double stored;
    diffuse_status status = get_option(schedule, option, false, value, &stored);
    if (status == DIFFUSE_OK)
        *value = (int64_t)stored;
    return status;
}

DIFFUSE_API diffuse_status diffuse_schedule_double_bounds(diffuse_schedule_option option,
                                                          double *min, double *max)
{
    return option_bounds(NULL, &schedule_options, (int)option, true, min, max);
}

DIFFUSE_API diffuse_status diffuse_schedule_int_bounds(diffuse_schedule_option option,
                                                       int64_t *min, int64_t *max)
{
    return option_int_bounds(NULL, &schedule_options, (int)option, min, max);
}

DIFFUSE_API diffuse_status diffuse_schedule_option_count(diffuse_schedule_kind kind,
                                                         size_t *count)
{
    diffuse_status status = check_kind(kind);
    if (status != DIFFUSE_OK)
        return status;
    return option_count(&schedule_options, kind_option_bits[kind], count);
}

DIFFUSE_API diffuse_status diffuse_schedule_option_info(diffuse_schedule_kind kind, size_t index,
                                                        diffuse_option_info *info)
{
    diffuse_status status = check_kind(kind);
    if (status != DIFFUSE_OK)
        return status;
    return option_info(&schedule_options, kind_option_bits[kind], kind_defaults[kind], index,
                       info);
}

/* ---- Getters ---------------------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_schedule_steps(const diffuse_schedule *schedule,
                                                  size_t *steps)
{
    diffuse_status status = diffuse_check_pointer(NULL, schedule, "schedule");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(schedule_error(schedule), steps, "steps");
    if (status == DIFFUSE_OK)
        *steps = schedule->steps;
    return status;
}

DIFFUSE_API diffuse_status diffuse_schedule_get_kind(const diffuse_schedule *schedule,
                                                     diffuse_schedule_kind *kind)
{
    diffuse_status status = diffuse_check_pointer(NULL, schedule, "schedule");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(schedule_error(schedule), kind, "kind");
    if (status == DIFFUSE_OK)
        *kind = schedule->kind;
    return status;
}

static diffuse_status check_timestep(const diffuse_schedule *s, size_t t)
{
    if (t >= s->steps)
        return diffuse_fail(schedule_error(s), DIFFUSE_ERROR_OUT_OF_RANGE,
                            "t = %zu is outside [0, %zu)", t, s->steps);
    return DIFFUSE_OK;
}

/* The checks of the table getters: handle, output pointer, table id. */
static diffuse_status check_table_query(const diffuse_schedule *s, diffuse_schedule_table table,
                                        const void *out)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = diffuse_check_pointer(schedule_error(s), out, "out")) != DIFFUSE_OK)
        return status;
    if (!table_is_valid(table))
        return diffuse_fail(schedule_error(s), DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "unknown schedule table %d", (int)table);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_schedule_value(const diffuse_schedule *schedule,
                                                  diffuse_schedule_table table, size_t t,
                                                  double *value)
{
    diffuse_status status = check_table_query(schedule, table, value);
    if (status != DIFFUSE_OK)
        return status;
    if ((status = check_timestep(schedule, t)) != DIFFUSE_OK)
        return status;
    *value = schedule_column(schedule, table)[t];
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_schedule_get_table(const diffuse_schedule *schedule,
                                                      diffuse_schedule_table table, double *out,
                                                      size_t count)
{
    diffuse_status status = check_table_query(schedule, table, out);
    if (status != DIFFUSE_OK)
        return status;
    if (count != schedule->steps)
        return diffuse_fail(schedule_error(schedule), DIFFUSE_ERROR_MISMATCH,
                            "count = %zu but the schedule has %zu steps", count, schedule->steps);
    memcpy(out, schedule_column(schedule, table), count * sizeof *out);
    return DIFFUSE_OK;
}

/* ---- Shared by forward.c and posterior.c ---------------------------------- */

diffuse_status schedule_check_rows(const diffuse_schedule *s, size_t n, size_t d,
                                   const int32_t *t, size_t *count)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error *error = schedule_error(s);
    if ((status = diffuse_check_matrix_size(error, n, d, count)) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(error, t, "t")) != DIFFUSE_OK)
        return status;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0 || (size_t)t[i] >= s->steps)
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "t[%zu] = %d is outside [0, %zu)", i, (int)t[i], s->steps);
    }
    return DIFFUSE_OK;
}

diffuse_status schedule_check_scalar_query(const diffuse_schedule *s, size_t t, const void *a,
                                           const char *a_name, const void *b,
                                           const char *b_name)
{
    diffuse_status status = diffuse_check_pointer(NULL, s, "schedule");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error *error = schedule_error(s);
    if ((status = diffuse_check_pointer(error, a, a_name)) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(error, b, b_name)) != DIFFUSE_OK)
        return status;
    return check_timestep(s, t);
}

diffuse_status schedule_check_input(const diffuse_schedule *s, const float *x, size_t count,
                                    const char *what)
{
    diffuse_error *error = schedule_error(s);
    diffuse_status status = diffuse_check_pointer(error, x, what);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(error, x, count, what);
    return status;
}

diffuse_status schedule_check_output(const diffuse_schedule *s, size_t n, size_t d,
                                     const int32_t *t, const float *out, const char *out_name,
                                     const float *x, const char *x_name, const float *y,
                                     const char *y_name)
{
    diffuse_error *error = schedule_error(s);
    size_t bytes = n * d * sizeof *out;
    diffuse_status status = diffuse_check_overlap(error, out, bytes, out_name, x, bytes, x_name,
                                                  true);
    if (status == DIFFUSE_OK && y != NULL)
        status = diffuse_check_overlap(error, out, bytes, out_name, y, bytes, y_name, true);
    if (status == DIFFUSE_OK)
        status = diffuse_check_overlap(error, out, bytes, out_name, t, n * sizeof *t, "t", false);
    return status;
}

diffuse_status schedule_check_nonzero(const diffuse_schedule *s, size_t n, const int32_t *t,
                                      diffuse_schedule_table table, const char *operation)
{
    const double *values = schedule_column(s, table);
    for (size_t i = 0; i < n; i++) {
        if (values[t[i]] == 0.0)
            return diffuse_fail(schedule_error(s), DIFFUSE_ERROR_NUMERIC,
                                "%s is undefined for row %zu: t = %d has %s = 0 (zero terminal "
                                "SNR); use the v-based conversions there",
                                operation, i, (int)t[i], table_names[table]);
    }
    return DIFFUSE_OK;
}

diffuse_status schedule_check_result(const diffuse_schedule *s, size_t n, size_t d,
                                     const float *out, const char *what)
{
    for (size_t i = 0; i < n * d; i++) {
        if (!isfinite(out[i]))
            return diffuse_fail(schedule_error(s), DIFFUSE_ERROR_NUMERIC,
                                "%s row %zu is not finite: the result overflows float", what,
                                i / d);
    }
    return DIFFUSE_OK;
}

void schedule_combine_rows(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           schedule_coefficients_fn coefficients, const float *x,
                           const float *y, float *out)
{
    for (size_t i = 0; i < n; i++) {
        double a, b;
        coefficients(s, (size_t)t[i], &a, &b);
        const float *x_row = x + i * d, *y_row = y + i * d;
        float *out_row = out + i * d;
        for (size_t j = 0; j < d; j++)
            out_row[j] = (float)(a * (double)x_row[j] + b * (double)y_row[j]);
    }
}

void schedule_warn_far_from_prior(const diffuse_schedule *s, const char *who)
{
    size_t steps = schedule_steps(s);
    double alpha_bar = schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR)[steps - 1];
    if (alpha_bar > SCHEDULE_PRIOR_ALPHA_BAR_MAX)
        log_warning("%s: the schedule ends at alpha_bar[T-1] = %.3g (T = %zu), so x_T keeps "
                    "sqrt(alpha_bar) = %.3g of x_0 and sampling from x_T ~ N(0, I) is biased "
                    "towards 0; train with a longer schedule (T = 1000) and sample in fewer "
                    "steps by respacing the sampler's timesteps instead",
                    who, alpha_bar, steps, sqrt(alpha_bar));
}
