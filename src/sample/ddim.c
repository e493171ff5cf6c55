/* DDIM (Song et al. 2021, eq. 12), one step from t to the next entry t':
 *   x_{t'} = √ᾱ' x̂_0 + √(1 − ᾱ' − σ²) ε̂ + σ z,
 *   σ = η √((1−ᾱ')/(1−ᾱ)) √(1 − ᾱ/ᾱ'),
 * ᾱ = ᾱ_t, ᾱ' = sample_alpha_bar_prev (1 or ᾱ_0 after the last entry).
 * η = 0 is deterministic; η = 1 on every step is DDPM with σ² = β̃. */
#include <math.h>

#include "diffuse/sampler.h"
#include "sample/method.h"

static void ddim_step(const sample_step *step, float *state, sample_estimate *e, float *x_prev)
{
    (void)state;
    double a = sample_alpha_bar(step, (int64_t)step->t), a_prev = sample_alpha_bar_prev(step);
    double eta = step->options[DIFFUSE_SAMPLER_ETA];
    double sigma = eta * sqrt((1.0 - a_prev) / (1.0 - a)) * sqrt(fmax(0.0, 1.0 - a / a_prev));
    /* 1 − ᾱ' − σ² ≥ 0 in exact arithmetic (ᾱ' ≤ 1); fmax absorbs rounding. */
    double direction = sqrt(fmax(0.0, 1.0 - a_prev - sigma * sigma));
    const float *x0 = sample_x0(e), *eps = sample_eps(e);
    sample_combine(step->rows * step->d, sqrt(a_prev), x0, direction, eps, x_prev);
    sample_add_noise(step, (float)sigma, x_prev);
}

const sample_method sample_method_ddim = {
    .name = "ddim",
    .step = ddim_step,
};
