/* Pointwise activations φ and their derivatives (internal).
 *
 *   SiLU:  φ(x) = x·σ(x),  σ(x) = 1/(1 + e^{−x})
 *          φ'(x) = σ(x)·(1 + x·(1 − σ(x)))
 *   GELU (tanh form, PyTorch's gelu(approximate="tanh")):
 *          φ(x) = ½x·(1 + tanh u),  u = √(2/π)·(x + 0.044715x³)
 *               = x·σ(2u)                      (since ½(1 + tanh u) = σ(2u))
 *          φ'(x) = σ(2u) + x·σ(2u)·(1 − σ(2u))·2u',  u' = √(2/π)·(1 + 3·0.044715x²)
 *
 * With z the argument of σ (z = x for SiLU, z = 2u for GELU), E = e^{−z}
 * and d = 1 + E = 1/σ, the fast kernels compute
 *          φ = x/d,   φ' = (1 + φ·E·z')/d     (1 − σ = E/d, z' = dz/dx)
 * from a polynomial e^{−z} (about 2 ulp) on z clamped to [−87, 87], so
 * neither tail has a difference of nearly equal numbers. For z ≥ −87, φ is
 * within 4 ulp of the exact value and φ' within 5 ulp of
 * σ + |x·σ·(1 − σ)·z'| (over all floats, SiLU: 3.7 and 4.3); for GELU add
 * up to 3·|z| ulp for |z| ≤ 87, as z is rounded in float (GELU is that
 * ill-conditioned in its tails). For z < −87, φ = 0 and φ' = σ(−87): both
 * within 1e-35. φ(+∞) = +∞, φ'(+∞) = 1, φ(−∞) = 0, a NaN gives NaN, and
 * every clone and the scalar tail give the same bits. The kernels keep
 * φ'(x) from the forward pass, so backward is a multiplication. */
#ifndef DIFFUSE_SRC_NN_ACTIVATION_H
#define DIFFUSE_SRC_NN_ACTIVATION_H

#include <stddef.h>

#include "diffuse/model.h"

/* out[k] = φ(in[k]) and, unless derivative is NULL, derivative[k] = φ'(in[k]),
 * for k < n. `out` and `derivative` must not overlap `in` or each other. */
void nn_activation_forward(diffuse_activation kind, float *out, float *derivative,
                           const float *in, size_t n);

/* out[k] = φ(x[k]) and x[k] = φ'(x[k]) (the input is replaced by its
 * derivative), for k < n, with the same bits as nn_activation_forward. For
 * a backward pass that recomputes φ and φ' from a pre-activation it does not
 * need any more, without a third array. `out` must not overlap `x`. */
void nn_activation_recompute(diffuse_activation kind, float *out, float *x, size_t n);

/* Backward through φ, in place: grad[k] = grad[k]·derivative[k], plus
 * skip[k] when skip is not NULL (the gradient of a residual connection
 * around the activated layer). */
void nn_activation_backward(float *grad, const float *derivative, const float *skip, size_t n);

#endif
