/* Pre-activation dense block (see block.h). */
#include "nn/block.h"

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/vec.h"

void nn_block_forward(float *out, float *act, float *derivative, const float *in,
                      const float *weight, const float *bias, size_t n, size_t in_dim,
                      size_t out_dim, diffuse_activation kind, bool residual)
{
    nn_activation_forward(kind, act, derivative, in, n * in_dim);
    if (residual && out != in) {
        /* With the skip, out starts as x + b (one pass, where a copy and
         * then the bias would take two) and the product accumulates onto it. */
        for (size_t i = 0; i < n; i++)
            nn_vec_sum(out + i * out_dim, in + i * in_dim, bias, out_dim);
        nn_linear_forward(out, act, weight, NULL, n, in_dim, out_dim, true);
    } else {
        nn_linear_forward(out, act, weight, bias, n, in_dim, out_dim, residual);
    }
}

void nn_block_backward_input(float *d_in, const float *d_out, const float *derivative,
                             const float *weight, size_t n, size_t in_dim, size_t out_dim,
                             bool residual)
{
    nn_linear_backward_input(d_in, d_out, weight, n, in_dim, out_dim);
    nn_activation_backward(d_in, derivative, residual ? d_out : NULL, n * in_dim);
}
