/* min-SNR-γ loss weights (see loss_weight.h). */
#include "train/loss_weight.h"

#include <stdbool.h>

#include "core/schedule.h"

double loss_min_snr_weight(diffuse_prediction kind, double alpha_bar, double gamma)
{
    double a = alpha_bar, gamma_noise = gamma * (1.0 - a); /* γ(1 − a) */
    bool snr_below = a <= gamma_noise;                     /* SNR ≤ γ */
    switch (kind) {
    case DIFFUSE_PREDICT_EPSILON: /* min(SNR, γ)/SNR */
        return snr_below ? 1.0 : gamma_noise / a;
    case DIFFUSE_PREDICT_X0: /* min(SNR, γ) */
        return snr_below ? a / (1.0 - a) : gamma;
    case DIFFUSE_PREDICT_V: /* min(SNR, γ)/(SNR + 1) */
        return snr_below ? a : gamma_noise;
    }
    return 1.0;
}

void loss_min_snr_weights(const diffuse_schedule *s, diffuse_prediction kind, double gamma,
                          size_t n, const int32_t *t, float *weights)
{
    const double *alpha_bar = schedule_column(s, DIFFUSE_TABLE_ALPHA_BAR);
    for (size_t i = 0; i < n; i++)
        weights[i] = gamma > 0.0 ? (float)loss_min_snr_weight(kind, alpha_bar[t[i]], gamma)
                                 : 1.0f;
}
