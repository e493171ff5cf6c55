/* Multi-head spatial self-attention (see attention.h). */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>

size_t nn_attention_weights_floats(const nn_attention_shape *shape, size_t n)
{
    return n * shape->heads * shape->pixels * shape->pixels;
}

/* Each row of s[rows, cols] replaced by its softmax, e^{s − max}/Σ e^{s − max}. */
static void softmax_rows(float *s, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++) {
        float *row = s + i * cols, max = row[0];
        for (size_t j = 1; j < cols; j++)
            max = row[j] > max ? row[j] : max;
        double sum = 0.0;
        for (size_t j = 0; j < cols; j++) {
            row[j] = expf(row[j] - max);
            sum += row[j];
        }
        float inverse = (float)(1.0 / sum);
        for (size_t j = 0; j < cols; j++)
            row[j] *= inverse;
    }
}

/* Where Q_h, K_h and V_h of head h start in one image's qkv (floats;
 * each [d, P] with row stride P). */
typedef struct head_offsets {
    size_t q, k, v;
} head_offsets;

static head_offsets head_of(size_t h, const nn_attention_shape *shape)
{
    size_t d = shape->channels / shape->heads, plane = shape->channels * shape->pixels;
    size_t q = h * d * shape->pixels;
    head_offsets offsets = {q, q + plane, q + 2 * plane};
    return offsets;
}

void nn_attention_forward(float *out, float *weights, const float *qkv, size_t n,
                          const nn_attention_shape *shape, bool keep)
{
    int p = (int)shape->pixels, d = (int)(shape->channels / shape->heads);
    float scale = (float)(1.0 / sqrt((double)d));
    for (size_t img = 0; img < n; img++) {
        for (size_t h = 0; h < shape->heads; h++) {
            const float *x = qkv + img * 3 * shape->channels * shape->pixels;
            head_offsets at = head_of(h, shape);
            float *att = keep ? weights + (img * shape->heads + h) * shape->pixels * shape->pixels
                              : weights;
            float *o = out + (img * shape->channels + h * (size_t)d) * shape->pixels;
            /* S[P, P] = Q_hᵀ K_h / √d, then A = softmax(S) row by row */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, p, d, scale, x + at.q, p,
                        x + at.k, p, 0.0f, att, p);
            softmax_rows(att, shape->pixels, shape->pixels);
            /* O_h[d, P] = V_h[d, P] · Aᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, p, p, 1.0f, x + at.v, p, att,
                        p, 0.0f, o, p);
        }
    }
}

/* dS = A ⊙ (dA − rowsum(A ⊙ dA)), over dA in place. */
static void softmax_backward(float *grad, const float *att, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++) {
        float *g = grad + i * cols;
        const float *a = att + i * cols;
        double dot = 0.0;
        for (size_t j = 0; j < cols; j++)
            dot += (double)a[j] * g[j];
        for (size_t j = 0; j < cols; j++)
            g[j] = a[j] * (g[j] - (float)dot);
    }
}

void nn_attention_backward(float *d_qkv, float *scratch, const float *d_out, const float *qkv,
                           const float *weights, size_t n, const nn_attention_shape *shape)
{
    int p = (int)shape->pixels, d = (int)(shape->channels / shape->heads);
    float scale = (float)(1.0 / sqrt((double)d));
    size_t image = 3 * shape->channels * shape->pixels;
    for (size_t img = 0; img < n; img++) {
        for (size_t h = 0; h < shape->heads; h++) {
            const float *x = qkv + img * image;
            float *dx = d_qkv + img * image;
            head_offsets at = head_of(h, shape);
            const float *att = weights + (img * shape->heads + h) * shape->pixels * shape->pixels;
            const float *go = d_out + (img * shape->channels + h * (size_t)d) * shape->pixels;
            /* dV_h = G·A;  dA = Gᵀ·V_h, then dS over it */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, p, p, 1.0f, go, p, att, p,
                        0.0f, dx + at.v, p);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, p, d, 1.0f, go, p, x + at.v,
                        p, 0.0f, scratch, p);
            softmax_backward(scratch, att, shape->pixels, shape->pixels);
            /* dQ_h = K_h·dSᵀ/√d;  dK_h = Q_h·dS/√d */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, p, p, scale, x + at.k, p,
                        scratch, p, 0.0f, dx + at.q, p);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, p, p, scale, x + at.q, p,
                        scratch, p, 0.0f, dx + at.k, p);
        }
    }
}
