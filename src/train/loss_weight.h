/* Per-row weights of the regression loss (internal): min-SNR-γ (Hang et
 * al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy").
 *
 * With SNR_t = ᾱ_t/(1−ᾱ_t), the weight that turns each prediction type's
 * squared error into min(SNR_t, γ)·‖x_0 − x̂_0‖² (the paper's x_0-space
 * loss) is
 *
 *   EPSILON   w = min(SNR, γ)/SNR
 *   X0        w = min(SNR, γ)
 *   V         w = min(SNR, γ)/(SNR + 1)
 *
 * Written with a = ᾱ_t and 1 − a so that no case divides by zero where
 * SNR = 0 (ᾱ = 0: zero terminal SNR) or SNR = ∞ (ᾱ = 1):
 *
 *   SNR ≤ γ  ⇔  a ≤ γ(1 − a)
 *   EPSILON   1                       if SNR ≤ γ,  else γ(1 − a)/a   (a > 0 there)
 *   X0        a/(1 − a)               if SNR ≤ γ (1 − a > 0 there),  else γ
 *   V         min(a, γ(1 − a))        (SNR/(SNR+1) = a and 1/(SNR+1) = 1 − a)
 *
 * so SNR = 0 gives 1, 0, 0 and SNR = ∞ gives 0, γ, 0. */
#ifndef DIFFUSE_SRC_LOSS_WEIGHT_H
#define DIFFUSE_SRC_LOSS_WEIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "diffuse/schedule.h"

/* The weight of one row at ᾱ_t = alpha_bar; γ > 0. */
double loss_min_snr_weight(diffuse_prediction kind, double alpha_bar, double gamma);

/* weights[i] = loss_min_snr_weight(kind, ᾱ_{t[i]}, γ) for n rows; with γ = 0
 * (off) every weight is 1. */
void loss_min_snr_weights(const diffuse_schedule *s, diffuse_prediction kind, double gamma,
                          size_t n, const int32_t *t, float *weights);

#endif
