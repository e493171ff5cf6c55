/* Posterior mean and ε/x_0/v conversions (see include/diffuse/posterior.h).
 *
 * Every formula here is, per row, out = a·x + b·y with two coefficients that
 * depend only on t; each is written as a coefficient function and run by
 * schedule_combine_rows. */
#include "core/posterior.h"

#include <math.h>

#include "core/schedule.h"

static double table_at(const diffuse_schedule *s, diffuse_schedule_table table, size_t t)
{
    return schedule_column(s, table)[t];
}

/* μ̃_t = √ᾱ_{t−1} β_t/(1−ᾱ_t) · x_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) · x_t */
static void mean_coefficients(const diffuse_schedule *s, size_t t, double *x0_coef,
                              double *xt_coef)
{
    *x0_coef = table_at(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_X0, t);
    *xt_coef = table_at(s, DIFFUSE_TABLE_POSTERIOR_MEAN_COEF_XT, t);
}

/* x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t = (1/√ᾱ_t) x_t − √(1/ᾱ_t − 1) ε */
static void x0_from_eps_coefficients(const diffuse_schedule *s, size_t t, double *xt_coef,
                                     double *eps_coef)
{
    *xt_coef = table_at(s, DIFFUSE_TABLE_SQRT_RECIP_ALPHA_BAR, t);
    *eps_coef = -table_at(s, DIFFUSE_TABLE_SQRT_RECIPM1_ALPHA_BAR, t);
}

/* ε = (x_t − √ᾱ_t x_0)/√(1−ᾱ_t): 1 − ᾱ_t > 0 at every t, so no guard. */
static void eps_from_x0_coefficients(const diffuse_schedule *s, size_t t, double *xt_coef,
                                     double *x0_coef)
{
    double sqrt_one_minus = table_at(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t);
    *xt_coef = 1.0 / sqrt_one_minus;
    *x0_coef = -table_at(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, t) / sqrt_one_minus;
}

/* v = √ᾱ_t ε − √(1−ᾱ_t) x_0 */
static void velocity_coefficients(const diffuse_schedule *s, size_t t, double *x0_coef,
                                  double *eps_coef)
{
    *x0_coef = -table_at(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t);
    *eps_coef = table_at(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, t);
}

/* x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v */
static void x0_from_v_coefficients(const diffuse_schedule *s, size_t t, double *xt_coef,
                                   double *v_coef)
{
    *xt_coef = table_at(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, t);
    *v_coef = -table_at(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t);
}

/* ε = √(1−ᾱ_t) x_t + √ᾱ_t v */
static void eps_from_v_coefficients(const diffuse_schedule *s, size_t t, double *xt_coef,
                                    double *v_coef)
{
    *xt_coef = table_at(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t);
    *v_coef = table_at(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR, t);
}

/* μ_θ = (x_t − β_t/√(1−ᾱ_t) ε)/√α_t */
static void model_mean_coefficients(const diffuse_schedule *s, size_t t, double *xt_coef,
                                    double *eps_coef)
{
    double recip_sqrt_alpha = 1.0 / sqrt(table_at(s, DIFFUSE_TABLE_ALPHA, t));
    *xt_coef = recip_sqrt_alpha;
    *eps_coef = -table_at(s, DIFFUSE_TABLE_BETA, t) /
                table_at(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR, t) * recip_sqrt_alpha;
}

/* ---- Internal (unchecked) ------------------------------------------------ */

void posterior_mean(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                    const float *x0, const float *xt, float *mean)
{
    schedule_combine_rows(s, n, d, t, mean_coefficients, x0, xt, mean);
}

void posterior_x0_from_eps(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           const float *xt, const float *eps, float *x0)
{
    schedule_combine_rows(s, n, d, t, x0_from_eps_coefficients, xt, eps, x0);
}

void posterior_eps_from_x0(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                           const float *xt, const float *x0, float *eps)
{
    schedule_combine_rows(s, n, d, t, eps_from_x0_coefficients, xt, x0, eps);
}

void posterior_velocity(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                        const float *x0, const float *eps, float *v)
{
    schedule_combine_rows(s, n, d, t, velocity_coefficients, x0, eps, v);
}

void posterior_x0_from_v(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                         const float *xt, const float *v, float *x0)
{
    schedule_combine_rows(s, n, d, t, x0_from_v_coefficients, xt, v, x0);
}

void posterior_eps_from_v(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                          const float *xt, const float *v, float *eps)
{
    schedule_combine_rows(s, n, d, t, eps_from_v_coefficients, xt, v, eps);
}

void posterior_model_mean_from_eps(const diffuse_schedule *s, size_t n, size_t d,
                                   const int32_t *t, const float *xt, const float *eps,
                                   float *mean)
{
    schedule_combine_rows(s, n, d, t, model_mean_coefficients, xt, eps, mean);
}

/* ---- Public (checked) ------------------------------------------------------- */

/* One batched formula out = a·x + b·y as the public API sees it. */
typedef struct conversion {
    const char *name;                      /* for messages */
    const char *x_name, *y_name, *out_name; /* argument names, in order */
    schedule_coefficients_fn coefficients;
    bool guarded;                   /* divides by √(divisor_t): fails where it is 0 */
    diffuse_schedule_table divisor; /* ALPHA_BAR or ALPHA when guarded */
} conversion;

static diffuse_status run_checked(const conversion *c, const diffuse_schedule *s, size_t n,
                                  size_t d, const int32_t *t, const float *x, const float *y,
                                  float *out)
{
    size_t count;
    diffuse_status status;
    if ((status = schedule_check_rows(s, n, d, t, &count)) != DIFFUSE_OK ||
        (status = schedule_check_input(s, x, count, c->x_name)) != DIFFUSE_OK ||
        (status = schedule_check_input(s, y, count, c->y_name)) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(schedule_error(s), out, c->out_name)) != DIFFUSE_OK ||
        (status = schedule_check_output(s, n, d, t, out, c->out_name, x, c->x_name, y,
                                        c->y_name)) != DIFFUSE_OK)
        return status;
    if (c->guarded &&
        (status = schedule_check_nonzero(s, n, t, c->divisor, c->name)) != DIFFUSE_OK)
        return status;
    schedule_combine_rows(s, n, d, t, c->coefficients, x, y, out);
    return schedule_check_result(s, n, d, out, c->out_name);
}

static const conversion mean_conversion = {
    .name = "the posterior mean", .x_name = "x0", .y_name = "xt", .out_name = "mean",
    .coefficients = mean_coefficients};
static const conversion x0_from_eps_conversion = {
    .name = "x0 from eps", .x_name = "xt", .y_name = "eps", .out_name = "x0",
    .coefficients = x0_from_eps_coefficients, .guarded = true,
    .divisor = DIFFUSE_TABLE_ALPHA_BAR};
static const conversion eps_from_x0_conversion = {
    .name = "eps from x0", .x_name = "xt", .y_name = "x0", .out_name = "eps",
    .coefficients = eps_from_x0_coefficients};
static const conversion velocity_conversion = {
    .name = "v", .x_name = "x0", .y_name = "eps", .out_name = "v",
    .coefficients = velocity_coefficients};
static const conversion x0_from_v_conversion = {
    .name = "x0 from v", .x_name = "xt", .y_name = "v", .out_name = "x0",
    .coefficients = x0_from_v_coefficients};
static const conversion eps_from_v_conversion = {
    .name = "eps from v", .x_name = "xt", .y_name = "v", .out_name = "eps",
    .coefficients = eps_from_v_coefficients};
static const conversion model_mean_conversion = {
    .name = "the model mean from eps", .x_name = "xt", .y_name = "eps", .out_name = "mean",
    .coefficients = model_mean_coefficients, .guarded = true, .divisor = DIFFUSE_TABLE_ALPHA};

DIFFUSE_API diffuse_status diffuse_posterior_mean(const diffuse_schedule *schedule, size_t n,
                                                  size_t d, const int32_t *t, const float *x0,
                                                  const float *xt, float *mean)
{
    return run_checked(&mean_conversion, schedule, n, d, t, x0, xt, mean);
}

DIFFUSE_API diffuse_status diffuse_predict_x0_from_eps(const diffuse_schedule *schedule, size_t n,
                                                       size_t d, const int32_t *t,
                                                       const float *xt, const float *eps,
                                                       float *x0)
{
    return run_checked(&x0_from_eps_conversion, schedule, n, d, t, xt, eps, x0);
}

DIFFUSE_API diffuse_status diffuse_predict_eps_from_x0(const diffuse_schedule *schedule, size_t n,
                                                       size_t d, const int32_t *t,
                                                       const float *xt, const float *x0,
                                                       float *eps)
{
    return run_checked(&eps_from_x0_conversion, schedule, n, d, t, xt, x0, eps);
}

DIFFUSE_API diffuse_status diffuse_velocity(const diffuse_schedule *schedule, size_t n, size_t d,
                                            const int32_t *t, const float *x0, const float *eps,
                                            float *v)
{
    return run_checked(&velocity_conversion, schedule, n, d, t, x0, eps, v);
}

DIFFUSE_API diffuse_status diffuse_predict_x0_from_v(const diffuse_schedule *schedule, size_t n,
                                                     size_t d, const int32_t *t, const float *xt,
                                                     const float *v, float *x0)
{
    return run_checked(&x0_from_v_conversion, schedule, n, d, t, xt, v, x0);
}

DIFFUSE_API diffuse_status diffuse_predict_eps_from_v(const diffuse_schedule *schedule, size_t n,
                                                      size_t d, const int32_t *t, const float *xt,
                                                      const float *v, float *eps)
{
    return run_checked(&eps_from_v_conversion, schedule, n, d, t, xt, v, eps);
}

DIFFUSE_API diffuse_status diffuse_posterior_model_mean(const diffuse_schedule *schedule, size_t n,
                                                        size_t d, const int32_t *t,
                                                        const float *xt, const float *eps,
                                                        float *mean)
{
    return run_checked(&model_mean_conversion, schedule, n, d, t, xt, eps, mean);
}

DIFFUSE_API diffuse_status diffuse_posterior_variance(const diffuse_schedule *schedule,
                                                      size_t t, double *variance,
                                                      double *log_variance_clipped)
{
    diffuse_status status = schedule_check_scalar_query(
        schedule, t, variance, "variance", log_variance_clipped, "log_variance_clipped");
    if (status != DIFFUSE_OK)
        return status;
    *variance = table_at(schedule, DIFFUSE_TABLE_POSTERIOR_VARIANCE, t);
    *log_variance_clipped = table_at(schedule, DIFFUSE_TABLE_POSTERIOR_LOG_VARIANCE_CLIPPED, t);
    return DIFFUSE_OK;
}
