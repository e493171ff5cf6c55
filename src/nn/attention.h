/* Multi-head self-attention over the pixels of an image (internal): the
 * core between the QKV and output 1×1 convolutions of a U-Net attention
 * block (GN → QKV → attention → projection + x, built from layers).
 *
 * The input is qkv[3C, P] per image: rows 0 … C−1 are the queries Q, then
 * the keys K, then the values V; head h (of M, d = C/M) uses the rows
 * h·d … h·d + d − 1 of each (improved-diffusion's QKVAttention order). Per
 * head, with Q_h, K_h, V_h of shape [d, P]:
 *
 *   S = Q_hᵀ K_h / √d   [P, P],   A = softmax over j of S[i, j],   O_h = V_h Aᵀ   [d, P]
 *
 * and the output is [O_0; …; O_{M−1}], [C, P]. Backward, with G = dL/dO_h:
 *
 *   dV_h = G A,   dA = Gᵀ V_h,   dS[i, j] = A[i, j]·(dA[i, j] − Σ_j' A[i, j'] dA[i, j'])
 *   dQ_h = K_h dSᵀ / √d,   dK_h = Q_h dS / √d
 *
 * Forward keeps A ([n, M, P, P]) for backward. Every product is an sgemm. */
#ifndef DIFFUSE_SRC_NN_ATTENTION_H
#define DIFFUSE_SRC_NN_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nn_attention_shape {
    size_t channels; /* C, a multiple of heads */
    size_t pixels;   /* P = H·W */
    size_t heads;    /* M */
} nn_attention_shape;

/* Floats of the attention weights of n images: n·M·P². */
size_t nn_attention_weights_floats(const nn_attention_shape *shape, size_t n);

/* out[n, C, P] from qkv[n, 3C, P]. With `keep`, weights holds every A
 * ([n, M, P, P], for backward); otherwise one [P, P] array reused. */
void nn_attention_forward(float *out, float *weights, const float *qkv, size_t n,
                          const nn_attention_shape *shape, bool keep);

/* d_qkv[n, 3C, P] (overwritten) given d_out[n, C, P] and what forward
 * kept; scratch holds P² floats. */
void nn_attention_backward(float *d_qkv, float *scratch, const float *d_out, const float *qkv,
                           const float *weights, size_t n, const nn_attention_shape *shape);

#endif
