/* The forward process q (see include/diffuse/forward.h). */
#include "core/forward.h"

#include <math.h>
#include <stdlib.h>

#include "core/schedule.h"

/* x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε */
static void q_sample_coefficients(const diffuse_schedule *s, size_t t, double *x0_coef,
                                  double *eps_coef)
{
    *x0_coef = schedule_column(s, DIFFUSE_TABLE_SQRT_ALPHA_BAR)[t];
    *eps_coef = schedule_column(s, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR)[t];
}

void forward_q_sample(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                      const float *x0, const float *eps, float *xt)
{
    schedule_combine_rows(s, n, d, t, q_sample_coefficients, x0, eps, xt);
}

DIFFUSE_API diffuse_status diffuse_q_sample(const diffuse_schedule *schedule, size_t n, size_t d,
                                            const int32_t *t, const float *x0, const float *eps,
                                            float *xt)
{
    size_t count;
    diffuse_status status;
    if ((status = schedule_check_rows(schedule, n, d, t, &count)) != DIFFUSE_OK ||
        (status = schedule_check_input(schedule, x0, count, "x0")) != DIFFUSE_OK ||
        (status = schedule_check_input(schedule, eps, count, "eps")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(schedule_error(schedule), xt, "xt")) != DIFFUSE_OK ||
        (status = schedule_check_output(schedule, n, d, t, xt, "xt", x0, "x0", eps, "eps")) !=
            DIFFUSE_OK)
        return status;
    forward_q_sample(schedule, n, d, t, x0, eps, xt);
    return schedule_check_result(schedule, n, d, xt, "xt");
}

/* Checks everything diffuse_q_sample_rng needs before it draws, so that a
 * rejected call does not advance the generator. */
static diffuse_status check_q_sample_rng(const diffuse_schedule *s, size_t n, size_t d,
                                         const int32_t *t, const float *x0,
                                         const diffuse_rng *rng, const float *eps_out,
                                         const float *xt, size_t *count)
{
    diffuse_status status;
    if ((status = schedule_check_rows(s, n, d, t, count)) != DIFFUSE_OK ||
        (status = schedule_check_input(s, x0, *count, "x0")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(schedule_error(s), rng, "rng")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(schedule_error(s), xt, "xt")) != DIFFUSE_OK ||
        (status = schedule_check_output(s, n, d, t, xt, "xt", x0, "x0", NULL, NULL)) !=
            DIFFUSE_OK)
        return status;
    if (eps_out == NULL)
        return DIFFUSE_OK;
    size_t bytes = *count * sizeof(float);
    diffuse_error *error = schedule_error(s);
    if ((status = diffuse_check_overlap(error, eps_out, bytes, "eps_out", x0, bytes, "x0",
                                        false)) ||
        (status = diffuse_check_overlap(error, eps_out, bytes, "eps_out", xt, bytes, "xt",
                                        false)) ||
        (status = diffuse_check_overlap(error, eps_out, bytes, "eps_out", t, n * sizeof *t, "t",
                                        false)))
        return status;
    return DIFFUSE_OK;
}

/* Where ε goes: eps_out when given; else xt itself (x_t is then computed in
 * place from it), unless xt is x0, which must survive the draw. */
static diffuse_status noise_buffer(const diffuse_schedule *s, const float *x0, float *eps_out,
                                   float *xt, size_t count, float **noise)
{
    if (eps_out != NULL || xt != x0) {
        *noise = eps_out != NULL ? eps_out : xt;
        return DIFFUSE_OK;
    }
    *noise = malloc(count * sizeof **noise);
    if (*noise == NULL)
        return diffuse_fail(schedule_error(s), DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for %zu noise values", count);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_q_sample_rng(const diffuse_schedule *schedule, size_t n,
                                                size_t d, const int32_t *t, const float *x0,
                                                diffuse_rng *rng, float *eps_out, float *xt)
{
    size_t count;
    float *noise;
    diffuse_status status;
    if ((status = check_q_sample_rng(schedule, n, d, t, x0, rng, eps_out, xt, &count)) !=
            DIFFUSE_OK ||
        (status = noise_buffer(schedule, x0, eps_out, xt, count, &noise)) != DIFFUSE_OK)
        return status;
    status = diffuse_rng_normal(rng, noise, count);
    if (status == DIFFUSE_OK) {
        forward_q_sample(schedule, n, d, t, x0, noise, xt);
        status = schedule_check_result(schedule, n, d, xt, "xt");
    } else {
        diffuse_fail(schedule_error(schedule), status, "drawing the noise failed: %s",
                     diffuse_rng_last_error(rng));
    }
    if (noise != eps_out && noise != xt)
        free(noise);
    return status;
}

DIFFUSE_API diffuse_status diffuse_q_marginal(const diffuse_schedule *schedule, size_t t,
                                              double *mean_coef, double *variance)
{
    diffuse_status status =
        schedule_check_scalar_query(schedule, t, mean_coef, "mean_coef", variance, "variance");
    if (status != DIFFUSE_OK)
        return status;
    /* q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) */
    double sqrt_one_minus = schedule_column(schedule, DIFFUSE_TABLE_SQRT_ONE_MINUS_ALPHA_BAR)[t];
    *mean_coef = schedule_column(schedule, DIFFUSE_TABLE_SQRT_ALPHA_BAR)[t];
    *variance = sqrt_one_minus * sqrt_one_minus;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_q_step(const diffuse_schedule *schedule, size_t t,
                                          double *mean_coef, double *variance)
{
    diffuse_status status =
        schedule_check_scalar_query(schedule, t, mean_coef, "mean_coef", variance, "variance");
    if (status != DIFFUSE_OK)
        return status;
    /* q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I) */
    *mean_coef = sqrt(schedule_column(schedule, DIFFUSE_TABLE_ALPHA)[t]);
    *variance = schedule_column(schedule, DIFFUSE_TABLE_BETA)[t];
    return DIFFUSE_OK;
}
