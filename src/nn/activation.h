/* Pointwise activations φ and their derivatives (internal).
 *
 *   SiLU:  φ(x) = x·σ(x),  σ(x) = 1/(1 + e^{−x})
 *          φ'(x) = σ(x)·(1 + x·(1 − σ(x)))
 *   GELU (tanh form, PyTorch's gelu(approximate="tanh")):
 *          φ(x) = ½x·(1 + tanh u),  u = √(2/π)·(x + 0.044715x³)
 *               = x·σ(2u)                      (since ½(1 + tanh u) = σ(2u))
 *          φ'(x) = σ(2u) + x·σ(2u)·(1 − σ(2u))·2u',  u' = √(2/π)·(1 + 3·0.044715x²)
 *
 * The fast kernels compute σ from e^{−|x|} with a polynomial exp (about
 * 1 ulp; |x| is clamped to 87, where σ is already 0 or 1 in float) and get
 * σ and 1 − σ without cancellation in both tails. They keep φ'(x) from the
 * forward pass, so backward is a multiplication. */
#ifndef DIFFUSE_SRC_NN_ACTIVATION_H
#define DIFFUSE_SRC_NN_ACTIVATION_H

#include <stddef.h>

#include "diffuse/model.h"

/* out[k] = φ(in[k]) and, unless derivative is NULL, derivative[k] = φ'(in[k]),
 * for k < n. `out` and `derivative` must not overlap `in` or each other. */
void nn_activation_forward(diffuse_activation kind, float *out, float *derivative,
                           const float *in, size_t n);

/* Backward through φ, in place: grad[k] = grad[k]·derivative[k], plus
 * skip[k] when skip is not NULL (the gradient of a residual connection
 * around the activated layer). */
void nn_activation_backward(float *grad, const float *derivative, const float *skip, size_t n);

/* φ(x) and φ'(x) in double precision, straight from the formulas above
 * (the tanh form for GELU): the reference for the tests. */
double nn_activation_reference(diffuse_activation kind, double x);
double nn_activation_derivative_reference(diffuse_activation kind, double x);

#endif
