/* Ancestral DDPM sampling: Algorithm 2 of Ho et al. 2020, one step
 *   x_{t−1} = μ + σ_t z,   z ~ N(0, I)  (no noise at t = 0),
 * with σ_t² = β_t or β̃_t (DIFFUSE_SAMPLER_VARIANCE) and μ either the
 * paper's μ_θ(x_t, ε̂) or the posterior mean μ̃_t(x_t, x̂_0) (see ddpm_step). */
#include <math.h>

#include "core/posterior.h"
#include "core/schedule.h"
#include "diffuse/sampler.h"
#include "sample/method.h"
#include "util/philox.h"

/* State: x̂_0 clipped (rows·d) and the noise z (rows·d). */
static size_t ddpm_state_floats(size_t rows, size_t d)
{
    return 2 * rows * d;
}

/* x ← μ̃_t(x_t, x̂_0), x̂_0 clipped to [−clip, clip] (into `clipped`) when
 * clip > 0. */
static void mean_through_x0(const sample_step *step, float clip, float *clipped,
                            prediction_estimate *e, float *x)
{
    const float *x0 = prediction_x0(e);
    if (clip > 0.0f) {
        for (size_t i = 0; i < step->rows * step->d; i++)
            clipped[i] = fminf(clip, fmaxf(-clip, x0[i]));
        x0 = clipped;
    }
    posterior_mean(step->schedule, step->rows, step->d, step->t_rows, x0, x, x);
}

/* σ_t = √β_t or √β̃_t. */
static float noise_scale(const sample_step *step)
{
    diffuse_schedule_table table =
        step->options[DIFFUSE_SAMPLER_VARIANCE] == DIFFUSE_VARIANCE_BETA
            ? DIFFUSE_TABLE_BETA
            : DIFFUSE_TABLE_POSTERIOR_VARIANCE;
    return (float)sqrt(schedule_column(step->schedule, table)[step->t]);
}

static void ddpm_step(const sample_step *step, float *state, prediction_estimate *e, float *x)
{
    size_t count = step->rows * step->d;
    float clip = (float)step->options[DIFFUSE_SAMPLER_CLIP_X0];
    float *clipped = state, *noise = state + count;
    /* μ_θ = (x_t − β_t/√(1−ᾱ_t) ε̂)/√α_t: the paper's form, used when the
     * network predicts ε itself and x̂_0 is not clipped (it never forms
     * x̂_0, whose 1/√ᾱ_t magnifies rounding at large t). */
    if (prediction_eps_is_output(e) && clip == 0.0f)
        posterior_model_mean_from_eps(step->schedule, step->rows, step->d, step->t_rows, x,
                                      prediction_eps(e), x);
    else
        mean_through_x0(step, clip, clipped, e, x);
    if (step->t_prev < 0)
        return; /* no noise at the last step */
    /* z of step t: Philox stream t + 1 (stream 0 drew x_{T−1}), at the
     * chunk's offset, so a row's noise never depends on the chunking. */
    uint64_t seed = (uint64_t)step->options[DIFFUSE_SAMPLER_SEED];
    philox_normal(seed, step->t + 1, step->first_row * step->d, noise, count);
    float sigma = noise_scale(step);
    for (size_t i = 0; i < count; i++)
        x[i] += sigma * noise[i];
}

const sample_method sample_method_ddpm = {
    .name = "ddpm",
    .every_step = true,
    .state_floats = ddpm_state_floats,
    .step = ddpm_step,
};
