/* The Gaussian terms of the variational bound (internal): the trainer's
 * L_vlb (learned variance) and the bits/dim of diffuse_nll use them, in
 * nats per element, double precision. Ho et al. 2020 §3.3, Nichol &
 * Dhariwal 2021 §3.1 (improved-diffusion's losses.py):
 *
 *   KL(N(μ₁, e^{l₁}) ‖ N(μ₂, e^{l₂})) = ½ (−1 + l₂ − l₁ + e^{l₁−l₂} + (μ₁ − μ₂)² e^{−l₂})
 *   continuous decoder   −log N(x; μ, e^{l}) = ½ (log 2π + l + (x − μ)² e^{−l})
 *   discretised decoder  −log ∫_{bin(x)} N(y; μ, e^{l}) dy, 256 bins of width 2/255
 *       centred on the grid of [−1, 1], the outer two open to ∓∞:
 *       P = Φ(u₊) − Φ(u₋), u± = (x − μ ± 1/255) e^{−l/2}; Φ(u₊) for x < −0.999,
 *       1 − Φ(u₋) for x > 0.999; log P clamped at log 10⁻¹² (improved-diffusion's
 *       floor). Φ is the exact normal CDF (½ erfc(−u/√2)); improved-diffusion
 *       uses a tanh approximation of it (relative difference ≈ 10⁻³).
 *   learned range        l = f log β_t + (1 − f) log β̃_t^{clipped},  f = (v + 1)/2
 *       (v the network's variance output; β̃ clipped: β̃_1 at t = 0).
 *
 * Each *_dlogvar gives the derivative in the second distribution's (or the
 * decoder's) log-variance l: the learned variance's gradient, the mean held
 * fixed (the stop-gradient of L_hybrid). */
#ifndef DIFFUSE_SRC_LIKELIHOOD_H
#define DIFFUSE_SRC_LIKELIHOOD_H

#include <stddef.h>

#include "diffuse/schedule.h"

/* ln 2: nats → bits. */
#define LIKELIHOOD_LN2 0.69314718055994530942

double likelihood_gaussian_kl(double mean1, double logvar1, double mean2, double logvar2);
/* ∂KL/∂logvar2 = ½ (1 − e^{l₁−l₂} − (μ₁ − μ₂)² e^{−l₂}) */
double likelihood_gaussian_kl_dlogvar(double mean1, double logvar1, double mean2,
                                      double logvar2);

double likelihood_continuous_nll(double x, double mean, double logvar);
/* ∂/∂l = ½ (1 − (x − μ)² e^{−l}) */
double likelihood_continuous_nll_dlogvar(double x, double mean, double logvar);

double likelihood_discretized_nll(double x, double mean, double logvar);
/* ∂/∂l = −(∂P/∂l)/P with ∂Φ(u±)/∂l = −½ u± φ(u±); 0 where P is clamped. */
double likelihood_discretized_nll_dlogvar(double x, double mean, double logvar);

/* The learned range between log-variances max_log (log β) and min_log
 * (log β̃): f max_log + (1 − f) min_log, f = (v + 1)/2. */
double likelihood_learned_range(double v, double max_log, double min_log);

/* The learned range's l at timestep t of `s` for output v, and ∂l/∂v =
 * ½ (log β_t − log β̃_t^{clipped}). */
double likelihood_learned_logvar(const diffuse_schedule *s, size_t t, double v);
double likelihood_learned_logvar_dv(const diffuse_schedule *s, size_t t);

#endif
