/* Pointwise activations (see activation.h). */
#include "nn/activation.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "nn/vec.h"

/* √(2/π) and the cubic coefficient of the tanh-form GELU. */
#define GELU_SCALE 0.7978845608028654
#define GELU_CUBIC 0.044715

/* e^{−z} is evaluated for z clamped to [−87, 87]: e^{±87} are normal
 * floats, so E = e^{−z}, 1 + E and σ = 1/(1 + E) never overflow or go
 * subnormal. Beyond the clamp the kernels set the tails themselves. */
#define EXP_LIMIT 87.0f
#define EXP_LIMIT_BITS INT32_C(0x42ae0000)           /* 87.0f */
#define EXP_NEGATIVE_LIMIT_BITS UINT32_C(0xc2ae0000) /* −87.0f */

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

/* v, or +0 where `drop` holds, selected on the bits: written as
 * `drop ? 0 : a·b`, GCC moves the product (and what follows it) into the
 * branch, and arithmetic that may trap (-ftrapping-math) stays conditional,
 * which stops the vectoriser wherever there are no AVX-512 masks. */
static NN_ALWAYS_INLINE float zero_where(bool drop, float v)
{
    return bits_float(float_bits(v) & ((uint32_t)drop - 1u));
}

/* z clamped to [−87, 87] by two integer minima on its bits (float
 * comparisons do not become vector min/max under the default
 * -ftrapping-math). Read as signed integers, the positive floats are in
 * order and every negative float is below them, so the first minimum
 * clamps z > 87, +∞ and +NaN; read as unsigned, the negative floats come
 * after the positive ones in order of magnitude, so the second clamps
 * z < −87, −∞ and −NaN. NaN thus becomes ±87: the kernels carry it through
 * a factor x instead. */
static NN_ALWAYS_INLINE float clamp_exp_argument(float z)
{
    int32_t bits;
    memcpy(&bits, &z, sizeof bits);
    bits = bits < EXP_LIMIT_BITS ? bits : EXP_LIMIT_BITS;
    uint32_t magnitude_order = (uint32_t)bits;
    magnitude_order =
        magnitude_order < EXP_NEGATIVE_LIMIT_BITS ? magnitude_order : EXP_NEGATIVE_LIMIT_BITS;
    return bits_float(magnitude_order);
}

/* e^{−z} for z in [−87, 87] (after Cephes expf): −z = n·ln 2 − s with
 * n = round(−z/ln 2) by the 1.5·2^23 trick (the sum's low mantissa bits are
 * then n, |n| ≤ 126), s = z + n·ln 2 with ln 2 split in two parts so that
 * z + n·0.693359375 is exact; e^{−s} for |s| ≤ ½ln 2 by a degree-5 minimax
 * polynomial (relative error 9.2e-8, about 2 ulp after rounding; degree 6
 * would take SiLU from 3.7 to 2.4 ulp for two more operations, 10 % of the
 * kernel's time); and 2^n added to the exponent field, which is exact
 * because the result is a normal float ((shifted bits) << 23 is n << 23
 * modulo 2^32). */
static NN_ALWAYS_INLINE float exp_negated(float z)
{
    const float shifter = 12582912.0f; /* 1.5·2^23 */
    float shifted = z * -1.44269504088896341f + shifter;
    float n = shifted - shifter;
    float s = z + n * 0.693359375f;
    s = s + n * -2.12194440e-4f;
    float p = -8.290305734e-3f;
    p = p * s + 4.189797491e-2f;
    p = p * s + -1.666763723e-1f;
    p = p * s + 4.999915063e-1f;
    p = p * s + -9.999997020e-1f;
    p = p * s + 1.0f;
    return bits_float(float_bits(p) + (float_bits(shifted) << 23));
}

/* SiLU, with E = e^{−x} and d = 1 + E = 1/σ(x):
 *     φ = x/d,   φ' = σ + φ·(1 − σ) = (1 + φ·E)/d      (1 − σ = E/d).
 * d is a sum of positive terms, so neither tail has a difference of nearly
 * equal numbers, and no abs or sign select is needed. Beyond the clamp d
 * is right to float precision for x > 87; for x < −87 φ is set to 0
 * (|φ| < 1.5e-36 there, and x = −∞ would give −∞·σ), and for x > 87 φ·E
 * to 0 (for x = +∞ it would not be). A NaN x passes through x/d. */
static NN_ALWAYS_INLINE float silu(float x, float *derivative)
{
    float e = exp_negated(clamp_exp_argument(x));
    float d = 1.0f + e;
    float phi = zero_where(x < -EXP_LIMIT, x) / d;
    float phi_e = zero_where(x > EXP_LIMIT, phi * e);
    *derivative = (1.0f + phi_e) / d;
    return phi;
}

/* GELU, with z = 2u = x·(k + k₃x²), z' = k + 3k₃x² (k = 2√(2/π),
 * k₃ = 0.044715·k), E = e^{−z} and d = 1 + E:
 *     φ = x/d,   φ' = σ + x·σ·(1 − σ)·z' = (1 + φ·E·z')/d.
 * The tails as for SiLU, on z: φ = 0 for z < −87, and φ·E·z' is dropped
 * for |z| > 87, where it is below 1e-35 but x² may have overflowed (∞·0). */
static NN_ALWAYS_INLINE float gelu(float x, float *derivative)
{
    const float k = (float)(2.0 * GELU_SCALE), k3 = (float)(2.0 * GELU_SCALE * GELU_CUBIC);
    float x2 = x * x;
    float z = x * (k + k3 * x2);
    float e = exp_negated(clamp_exp_argument(z));
    float d = 1.0f + e;
    float phi = zero_where(z < -EXP_LIMIT, x) / d;
    float tail = zero_where(fabsf(z) > EXP_LIMIT, phi * e * (k + 3.0f * k3 * x2));
    *derivative = (1.0f + tail) / d;
    return phi;
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

/* One span of nn_activation_recompute: each x[k] is read before its
 * derivative replaces it. */
static NN_ALWAYS_INLINE void recompute_span(diffuse_activation kind, float *restrict out,
                                            float *restrict x, size_t count)
{
    if (kind == DIFFUSE_ACTIVATION_SILU) {
        for (size_t k = 0; k < count; k++) {
            float derivative;
            out[k] = silu(x[k], &derivative);
            x[k] = derivative;
        }
    } else {
        for (size_t k = 0; k < count; k++) {
            float derivative;
            out[k] = gelu(x[k], &derivative);
            x[k] = derivative;
        }
    }
}

NN_VECTOR_CLONES void nn_activation_recompute(diffuse_activation kind, float *restrict out,
                                              float *restrict x, size_t n)
{
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        recompute_span(kind, out + i, x + i, NN_VEC_BLOCK);
    recompute_span(kind, out + i, x + i, n - i);
}

void nn_activation_backward(float *grad, const float *derivative, const float *skip, size_t n)
{
    nn_vec_multiply(grad, derivative, skip, n);
}
