/* Fully connected layer through OpenBLAS (see linear.h). */
#include "nn/linear.h"

#include <cblas.h>

#include "nn/vec.h"

void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       size_t n, size_t in_dim, size_t out_dim, bool accumulate)
{
    /* The bias goes in first, so the product can accumulate onto it (beta
     * = 1) instead of needing a second pass over the output. */
    if (bias != NULL) {
        if (accumulate)
            nn_vec_add_rows(out, bias, n, out_dim);
        else
            nn_vec_set_rows(out, bias, n, out_dim);
        accumulate = true;
    }
    /* Y[n, out] (+)= X[n, in] · W[out, in]ᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out_dim, (int)in_dim, 1.0f,
                in, (int)in_dim, weight, (int)in_dim, accumulate ? 1.0f : 0.0f, out,
                (int)out_dim);
}

void nn_linear_backward_params(float *d_weight, float *d_bias, const float *d_out,
                               const float *in, size_t n, size_t in_dim, size_t out_dim)
{
    /* dW[out, in] += dY[n, out]ᵀ · X[n, in] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out_dim, (int)in_dim, (int)n, 1.0f,
                d_out, (int)out_dim, in, (int)in_dim, 1.0f, d_weight, (int)in_dim);
    if (d_bias != NULL)
        nn_vec_column_sums(d_bias, d_out, n, out_dim);
}

void nn_linear_backward_input(float *d_in, const float *d_out, const float *weight, size_t n,
                              size_t in_dim, size_t out_dim)
{
    /* dX[n, in] = dY[n, out] · W[out, in] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in_dim, (int)out_dim, 1.0f,
                d_out, (int)out_dim, weight, (int)in_dim, 0.0f, d_in, (int)in_dim);
}
