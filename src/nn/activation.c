/* Pointwise activations (see activation.h). */
#include "nn/activation.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/vec.h"

/* √(2/π) and the cubic coefficient of the tanh-form GELU. */
#define GELU_SCALE 0.7978845608028654
#define GELU_CUBIC 0.044715

static NN_ALWAYS_INLINE uint32_t float_bits(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

static NN_ALWAYS_INLINE float bits_float(uint32_t bits)
{
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* |x| is clamped to 87 before e^{−|x|}: e^{−87} is still a normal float,
 * and beyond it σ is 0 or 1 to float precision anyway. */
#define EXP_LIMIT_BITS UINT32_C(0x42ae0000) /* 87.0f */

/* e^a for a in [−87, 0] (Cephes expf): a = n·ln 2 + r, |r| ≤ ½ln 2, with
 * n = round(a/ln 2) by the 1.5·2^23 trick (its low mantissa bits are then
 * n), ln 2 split in two parts so r is exact, e^r by a degree-7 polynomial,
 * and 2^n (n in [−126, 0]) built in the exponent bits. Relative error below
 * 1e-7. */
static NN_ALWAYS_INLINE float exp_nonpositive(float a)
{
    const float shifter = 12582912.0f; /* 1.5·2^23 */
    float shifted = a * 1.44269504088896341f + shifter;
    uint32_t n_bits = float_bits(shifted);
    float n = shifted - shifter;
    float r = a - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t scale = (n_bits - float_bits(shifter) + 127u) << 23;
    return p * bits_float(scale);
}

/* mask ? a : b for a mask of all ones or all zeros, on the bits. */
static NN_ALWAYS_INLINE float select_float(uint32_t mask, float a, float b)
{
    return bits_float((float_bits(a) & mask) | (float_bits(b) & ~mask));
}

/* σ(x) and 1 − σ(x) from one e = e^{−|x|} in (0, 1] and s = 1/(1 + e):
 *     x ≥ 0:  σ = s,     1 − σ = e·s
 *     x < 0:  σ = e·s,   1 − σ = s
 * so neither is ever computed as a difference of nearly equal numbers. The
 * sign, the clamp and the selects work on the bits: integer operations
 * vectorise where float comparisons (under the default -ftrapping-math) and
 * branches do not. A NaN
 * x gives finite σ here, and NaN again where x multiplies it. */
static NN_ALWAYS_INLINE void sigmoid(float x, float *sigma, float *one_minus_sigma)
{
    uint32_t bits = float_bits(x);
    uint32_t magnitude = bits & UINT32_C(0x7fffffff);
    magnitude = magnitude < EXP_LIMIT_BITS ? magnitude : EXP_LIMIT_BITS;
    float e = exp_nonpositive(-bits_float(magnitude));
    float s = 1.0f / (1.0f + e);
    float es = e * s;
    uint32_t negative = UINT32_C(0) - (bits >> 31); /* all ones when x < 0 */
    *sigma = select_float(negative, es, s);
    *one_minus_sigma = select_float(negative, s, es);
}

/* SiLU: φ = x·σ(x), φ' = σ·(1 + x·(1 − σ)). */
static NN_ALWAYS_INLINE float silu(float x, float *derivative)
{
    float sigma, rest;
    sigmoid(x, &sigma, &rest);
    *derivative = sigma * (1.0f + x * rest);
    return x * sigma;
}

/* GELU: φ = x·σ(2u), φ' = σ(2u) + x·σ(2u)·(1 − σ(2u))·2u'. */
static NN_ALWAYS_INLINE float gelu(float x, float *derivative)
{
    const float scale = (float)GELU_SCALE, cubic = (float)GELU_CUBIC;
    float x2 = x * x;
    float u2 = 2.0f * scale * (x + cubic * x2 * x);
    float du2 = 2.0f * scale * (1.0f + 3.0f * cubic * x2);
    float sigma, rest;
    sigmoid(u2, &sigma, &rest);
    *derivative = sigma + x * sigma * rest * du2;
    return x * sigma;
}

/* One span of `count` elements; `derivative` may be NULL (inference). The
 * derivative of the inference variants is computed into a dead local, which
 * the compiler removes. */
static NN_ALWAYS_INLINE void forward_span(diffuse_activation kind, float *restrict out,
                                          float *restrict derivative, const float *restrict in,
                                          size_t count)
{
    float unused;
    if (kind == DIFFUSE_ACTIVATION_SILU) {
        if (derivative != NULL) {
            for (size_t k = 0; k < count; k++)
                out[k] = silu(in[k], &derivative[k]);
        } else {
            for (size_t k = 0; k < count; k++)
                out[k] = silu(in[k], &unused);
        }
    } else {
        if (derivative != NULL) {
            for (size_t k = 0; k < count; k++)
                out[k] = gelu(in[k], &derivative[k]);
        } else {
            for (size_t k = 0; k < count; k++)
                out[k] = gelu(in[k], &unused);
        }
    }
}

NN_VECTOR_CLONES void nn_activation_forward(diffuse_activation kind, float *restrict out,
                                            float *restrict derivative,
                                            const float *restrict in, size_t n)
{
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        forward_span(kind, out + i, derivative != NULL ? derivative + i : NULL, in + i,
                     NN_VEC_BLOCK);
    forward_span(kind, out + i, derivative != NULL ? derivative + i : NULL, in + i, n - i);
}

void nn_activation_backward(float *grad, const float *derivative, const float *skip, size_t n)
{
    nn_vec_multiply(grad, derivative, skip, n);
}

static double sigmoid_reference(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

double nn_activation_reference(diffuse_activation kind, double x)
{
    if (kind == DIFFUSE_ACTIVATION_SILU)
        return x * sigmoid_reference(x);
    double u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
    return 0.5 * x * (1.0 + tanh(u));
}

double nn_activation_derivative_reference(diffuse_activation kind, double x)
{
    if (kind == DIFFUSE_ACTIVATION_SILU) {
        double s = sigmoid_reference(x);
        return s * (1.0 + x * (1.0 - s));
    }
    double u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
    double du = GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x);
    double th = tanh(u);
    return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du;
}
