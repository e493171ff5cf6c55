/*
 * libdiffuse — the model's negative log-likelihood in bits per dimension
 * (the variational bound of Ho et al. 2020, eq. 5, computed as
 * improved-diffusion's calc_bpd_loop does).
 *
 * For data x_0 (n rows of d floats) and every timestep t = 0 … T−1
 * (0-based; paper step t + 1), with x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε one draw
 * per (row, t):
 *
 *   L_T       = KL(q(x_T | x_0) ‖ N(0, I))
 *             = ½ Σ_j (ᾱ x_{0j}² + (1−ᾱ) − 1 − log(1−ᾱ)),  ᾱ = ᾱ_{T−1}  (closed form)
 *   L_{t−1}   = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)),  t = 1 … T−1:
 *               N(μ̃_t(x_t, x_0), β̃_t) against N(μ̃_t(x_t, x̂_0), σ_t²)
 *   L_0       = −log p_θ(x_0 | x_t at t = 0), a Gaussian N(x̂_0, σ_0²):
 *               DIFFUSE_DECODER_DISCRETE    the mass of x_0's bin on the
 *                   256-level grid of [−1, 1] (bins of width 2/255, the outer
 *                   two open; images scaled to [−1, 1]: 8-bit data);
 *               DIFFUSE_DECODER_CONTINUOUS  the density N(x_0; x̂_0, σ_0²)
 *                   (continuous data; then the result is a differential
 *                   entropy bound, and may be negative)
 *   NLL       = L_T + Σ_{t≥1} L_{t−1} + L_0, each divided by d·ln 2 (bits/dim).
 *
 * x̂_0 is the model's estimate (diffuse_prediction) and σ_t² the reverse
 * variance of `variance` (diffuse_variance, diffuse/sampler.h):
 *   BETA       σ_t² = β_t (at t = 0 too)
 *   POSTERIOR  σ_t² = β̃_t, with β̃_1 at t = 0 (β̃_0 = 0; improved-diffusion's
 *              clipped log-variance)
 *   LEARNED    σ_t² = exp(f log β_t + (1 − f) log β̃_t^{clipped}), f = (v + 1)/2,
 *              v the variance output of a model with DIFFUSE_MODEL_LEARN_VARIANCE.
 * This is an upper bound on −log₂ p_θ(x_0)/d that is tight when the model is
 * the true reverse process; T model calls per row. The noise ε of (row i, t)
 * is Philox stream (seed, t) at values i·d …, so the result depends only on
 * the model, the rows, the options and the seed.
 */
#ifndef DIFFUSE_LIKELIHOOD_H
#define DIFFUSE_LIKELIHOOD_H

#include "diffuse/common.h"
#include "diffuse/model.h"
#include "diffuse/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The decoder L_0 (above); also the trainer's for L_vlb at t = 0
 * (DIFFUSE_TRAINER_DECODER, diffuse/train.h). */
typedef enum diffuse_decoder {
    DIFFUSE_DECODER_DISCRETE = 0,  /* 256 levels in [−1, 1] */
    DIFFUSE_DECODER_CONTINUOUS = 1 /* a Gaussian density */
} diffuse_decoder;

/* The bound's terms, in bits per dimension. */
typedef struct diffuse_nll_terms {
    double prior;     /* L_T */
    double diffusion; /* Σ_{t=1}^{T−1} L_{t−1} */
    double decoder;   /* L_0 */
    double total;     /* prior + diffusion + decoder */
} diffuse_nll_terms;

/* What to evaluate. ABI: `size` first, set to sizeof(diffuse_nll_request) by
 * DIFFUSE_NLL_REQUEST_INIT (every other field zero: variance BETA, decoder
 * DISCRETE, seed 0, current weights); fields are only ever added at the end,
 * and the size rule is that of diffuse_model_call (diffuse/model.h).
 * Ownership: every array is the caller's, borrowed for the call only;
 * per_sample is written, the rest read. */
typedef struct diffuse_nll_request {
    size_t size;                   /* sizeof(diffuse_nll_request) */
    size_t n;                      /* rows, at least 1 */
    const float *x0;               /* [n, dim] data */
    const int32_t *labels;         /* [n] class labels for the model, or NULL */
    int variance;                  /* diffuse_variance (diffuse/sampler.h) */
    int decoder;                   /* diffuse_decoder */
    uint64_t seed;                 /* of the noise ε, [0, 2^53 − 1] */
    int use_ema;                   /* 1: the model's EMA weights */
    diffuse_nll_terms *per_sample; /* [n] written: each row's terms, or NULL */
} diffuse_nll_request;

#define DIFFUSE_NLL_REQUEST_INIT {sizeof(diffuse_nll_request), 0, NULL, NULL, 0, 0, 0, 0, NULL}

/* The bound of every row of request->x0 under `model` on `schedule` (the one
 * the model was trained with: MISMATCH otherwise, as for samplers), into
 * request->per_sample (if set) and their mean into *mean. Runs the model T
 * times over the rows (on the calling thread; OpenBLAS pinned to one thread
 * as in diffuse_model_predict). The model is busy meanwhile (a callback
 * model's function must not re-enter it). Failures are recorded in the
 * model (diffuse_model_last_error) and the thread's slot.
 * Errors: INVALID_ARGUMENT (NULL pointers, bad size, n = 0, unknown
 * variance or decoder, a seed above 2^53 − 1; variance LEARNED for a model
 * that does not learn it), MISMATCH (schedule), STATE (use_ema without EMA
 * weights; a busy model), UNSUPPORTED (an ε-model on a zero-terminal-SNR
 * schedule), NUMERIC (non-finite x0, output or result), CALLBACK,
 * NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_model_nll(diffuse_model *model,
                                             const diffuse_schedule *schedule,
                                             const diffuse_nll_request *request,
                                             diffuse_nll_terms *mean);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_LIKELIHOOD_H */
