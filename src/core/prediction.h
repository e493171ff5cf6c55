/* What a network's output means (internal): the one unit that knows ε-, x_0-
 * and v-prediction (diffuse_prediction). The trainer asks it for the
 * training target, the sampler for the estimates x̂_0 and ε̂; nothing else
 * looks at the kind. With ᾱ = ᾱ_t of each row's timestep:
 *
 *   kind      output f    x̂_0                          ε̂                            target
 *   EPSILON   ε̂           (x_t − √(1−ᾱ) f)/√ᾱ           f                             ε
 *   X0        x̂_0         f                             (x_t − √ᾱ f)/√(1−ᾱ)          x_0
 *   V         v̂           √ᾱ x_t − √(1−ᾱ) f             √(1−ᾱ) x_t + √ᾱ f            v = √ᾱ ε − √(1−ᾱ) x_0
 *
 * The per-row formulas themselves are posterior.c's (one coefficient
 * function each, next to its equation); this unit picks them per kind.
 * Adding a kind: a diffuse_prediction value, its row in `kinds` in
 * prediction.c and the model configuration's bound (docs/design.md). */
#ifndef DIFFUSE_SRC_PREDICTION_H
#define DIFFUSE_SRC_PREDICTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "diffuse/schedule.h"
#include "util/error.h"

/* The regression target of rows (x_0, ε, t) for a network of `kind`: x_0 or
 * ε themselves, or `scratch` (n·d floats) filled with v. */
const float *prediction_target(const diffuse_schedule *s, diffuse_prediction kind, size_t n,
                               size_t d, const int32_t *t, const float *x0, const float *eps,
                               float *scratch);

/* One chunk's network output read as estimates of x_0 and ε, each computed
 * when first asked for (prediction_x0, prediction_eps) and then kept: a
 * sampling method pays only for what it uses. All arrays are n·d floats
 * (t: n) and borrowed; x_t and output must stay unchanged while the
 * estimate is in use. */
typedef struct prediction_estimate {
    const diffuse_schedule *schedule;
    diffuse_prediction kind;
    size_t n, d;
    const int32_t *t;
    const float *x_t, *output;
    float *x0_buffer, *eps_buffer; /* scratch for the derived estimates */
    const float *x0, *eps;         /* NULL until asked for; may be `output` */
} prediction_estimate;

void prediction_estimate_init(prediction_estimate *e, const diffuse_schedule *s,
                              diffuse_prediction kind, size_t n, size_t d, const int32_t *t,
                              const float *x_t, const float *output, float *x0_buffer,
                              float *eps_buffer);

/* x̂_0 and ε̂ (see the table above). x̂_0 of an ε-network divides by √ᾱ:
 * prediction_check_schedule rules out ᾱ = 0 for it. */
const float *prediction_x0(prediction_estimate *e);
const float *prediction_eps(prediction_estimate *e);

/* Whether ε̂ is the network's output itself rather than derived from it: a
 * method may then use ε̂ directly instead of the round trip through x̂_0
 * (which DDPM's paper form of μ_θ does). */
bool prediction_eps_is_output(const prediction_estimate *e);

/* ---- Guidance (the sampler's, before any method sees the output) -------
 * Both act on the network's output f, so that every sampling method and the
 * x̂_0 processing see a guided output through the same conversions above.
 *
 * Classifier-free guidance (Ho & Salimans 2022) on `both` = [f_c; f_∅]
 * (2n rows: n conditional, then the same rows with the null class):
 *   out = f_∅ + w (f_c − f_∅)          (w = scale; w = 1: f_c, w = 0: f_∅)
 * Every kind's ε̂ and x̂_0 are affine in f with coefficients that do not
 * depend on the label, so this IS ε̂ = ε̂_∅ + w (ε̂_c − ε̂_∅) (and the same
 * for x̂_0) for ε-, x_0- and v-networks alike. Then, when rescale φ > 0,
 * guidance rescale (Lin et al. 2023, their eq. 15–16, as diffusers'
 * rescale_noise_cfg does, on the output, per row):
 *   out ← φ · out · σ(f_c)/σ(out) + (1 − φ) · out
 * (σ: the standard deviation over the row's d values; a constant row is
 * left alone). `out` (n·d) must not overlap `both`. */
void prediction_guide(size_t n, size_t d, double scale, double rescale, const float *both,
                      float *out);

/* Classifier guidance (Dhariwal & Nichol 2021, their Algorithm 2 in ε form)
 * given g = ∇_x log p(y | x_t, t) per row: shifts the output so that its ε̂
 * becomes ε̂ − √(1−ᾱ_t) s g, i.e. f += (∂f/∂ε̂) · (−√(1−ᾱ_t) s g) with
 * ∂f/∂ε̂ = 1 (ε), −√(1−ᾱ)/√ᾱ (x_0), 1/√ᾱ (v). Rows with ᾱ_t = 0 (zero
 * terminal SNR, where ε̂ = x_t whatever f) are left alone. */
void prediction_shift_eps(const diffuse_schedule *s, diffuse_prediction kind, size_t n, size_t d,
                          const int32_t *t, double scale, const float *gradient, float *output);

/* Whether a network of `kind` can be sampled on `s`: an ε-network cannot
 * where ᾱ_{T−1} = 0 (zero terminal SNR; x̂_0 = x_t/√ᾱ − … is infinite).
 * DIFFUSE_ERROR_UNSUPPORTED with a message in `error` otherwise. */
diffuse_status prediction_check_schedule(diffuse_error *error, diffuse_prediction kind,
                                         const diffuse_schedule *s);

#endif
