/* DPM-Solver++ 2M (Lu et al. 2022, Algorithm 2; diffusers' "midpoint"
 * form), in x_0 form. With α = √ᾱ, s = √(1−ᾱ), λ = log(α/s) at t, the
 * primed values at the next entry t' (ᾱ' = sample_alpha_bar_prev) and
 * h = λ' − λ, one step is
 *   x_{t'} = (s'/s) x_t − α'(e^{−h} − 1) D = (s'/s) x_t + (α' − α s'/s) D
 * (e^{−h} = α s'/(α' s), finite even where ᾱ = 0), with
 *   D = x̂_0                                     first order, and
 *   D = (1 + 1/(2r)) x̂_0 − 1/(2r) x̂_0^{prev},  r = (λ − λ^{prev})/h
 * second order, where x̂_0^{prev} is the estimate at the previous entry.
 * First order at the first step (no history) and at the last when its
 * ᾱ' = 1 (h = ∞) or, with LOWER_ORDER_FINAL, the list has under 15 entries
 * (diffusers' lower_order_final: the 2nd-order step is unstable there). */
#include <math.h>
#include <string.h>

#include "diffuse/sampler.h"
#include "sample/method.h"

enum { LOWER_ORDER_FINAL_BELOW = 15 };

static double lambda_of(double alpha_bar)
{
    return 0.5 * log(alpha_bar / (1.0 - alpha_bar));
}

static bool second_order(const sample_step *step)
{
    if (!step->history)
        return false;
    if (step->t_prev >= 0)
        return true;
    bool final_one = step->options[DIFFUSE_SAMPLER_FINAL_ALPHA_ONE] != 0.0;
    bool lower = step->options[DIFFUSE_SAMPLER_LOWER_ORDER_FINAL] != 0.0 &&
                 step->count < LOWER_ORDER_FINAL_BELOW;
    return !final_one && !lower;
}

/* 1/(2r) = h/(2(λ − λ^{prev})); 0 where λ^{prev} = −∞ (ᾱ^{prev} = 0). */
static double half_inverse_ratio(const sample_step *step, double a, double a_prev)
{
    double before = sample_alpha_bar(step, step->t_before);
    if (before == 0.0)
        return 0.0;
    double h = lambda_of(a_prev) - lambda_of(a), h_before = lambda_of(a) - lambda_of(before);
    return h / (2.0 * h_before);
}

static void dpmpp_step(const sample_step *step, float *previous_x0, sample_estimate *e,
                       float *x_prev)
{
    double a = sample_alpha_bar(step, (int64_t)step->t), a_prev = sample_alpha_bar_prev(step);
    double alpha = sqrt(a), s = sqrt(1.0 - a), alpha_next = sqrt(a_prev),
           s_next = sqrt(1.0 - a_prev);
    double c_x = s_next / s, c_d = alpha_next - alpha * s_next / s;
    double k = second_order(step) ? half_inverse_ratio(step, a, a_prev) : 0.0;
    const float *x0 = sample_x0(e), *x_t = e->raw.x_t;
    size_t count = step->rows * step->d;
    if (k == 0.0) /* first order (previous_x0 may hold nothing yet) */
        sample_combine(count, c_x, x_t, c_d, x0, x_prev);
    for (size_t i = 0; i < count && k != 0.0; i++) {
        double d = (1.0 + k) * (double)x0[i] - k * (double)previous_x0[i];
        x_prev[i] = (float)(c_x * (double)x_t[i] + c_d * d);
    }
    memcpy(previous_x0, x0, count * sizeof *x0);
}

const sample_method sample_method_dpmpp_2m = {
    .name = "dpmpp_2m",
    .step = dpmpp_step,
};
