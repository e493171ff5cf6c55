/* Box–Muller with vectorisable ln, cos and sin (see box_muller.h). */
#include "util/box_muller.h"

#include <string.h>

#include "nn/vec.h"

/* Unfused, for the same bits on every CPU (gcc's ISO C mode already keeps
 * FP_CONTRACT off and does not know the pragma). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ln 2 = LN2_HI + LN2_LO, LN2_HI with 32 trailing zero bits, so that
 * e·LN2_HI is exact for |e| < 2^20 (fdlibm's split). */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define SQRT_2 1.41421356237309504880

#define MANTISSA_MASK UINT64_C(0x000FFFFFFFFFFFFF)
#define SQRT_2_MANTISSA UINT64_C(0x6A09E667F3BCD) /* √2 = 1.6A09E667F3BCD (hex) */
#define TWO_52 0x1p52

/* ln u for u in [2^-33, 1): u = 2^e·m with m in [√½, √2), then
 *     ln m = 2 atanh s = 2(s + s³/3 + s⁵/5 + …),  s = (m − 1)/(m + 1),
 * |s| ≤ 3 − 2√2 < 0.172, so the terms to s²¹ leave < 10^-18 relative.
 * m − 1 is exact (Sterbenz: m in [½, 2]). m and e come from u's bits with
 * integer operations only (m = 1.f or, when that exceeds √2, 0.1f in
 * binary; e as a double by the 2^52 trick), since converting 64-bit
 * integers to double does not vectorise without AVX-512DQ. */
static NN_ALWAYS_INLINE double log_unit(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    uint64_t field = bits & MANTISSA_MASK;
    uint64_t high = field > SQRT_2_MANTISSA;
    uint64_t m_bits = field | ((UINT64_C(1023) - high) << 52);
    /* 2^52 + (biased exponent + high): exact, as is subtracting 2^52 + 1023. */
    uint64_t e_bits = UINT64_C(0x4330000000000000) | ((bits >> 52) + high);
    double m, e_shifted;
    memcpy(&m, &m_bits, sizeof m);
    memcpy(&e_shifted, &e_bits, sizeof e_shifted);
    double exponent = e_shifted - (TWO_52 + 1023.0);
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    /* 1 + s²/3 + s⁴/5 + … + s²⁰/21, Horner's rule written out (a loop over
     * a table kept the vectoriser out). */
    double p =
        1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 +
        s2 * (1.0 / 13 + s2 * (1.0 / 15 + s2 * (1.0 / 17 + s2 * (1.0 / 19 + s2 / 21)))))))));
    return exponent * LN2_HI + (exponent * LN2_LO + 2.0 * s * p);
}

/* sin 2πf and cos 2πf for |f| ≤ 1/8 (|2πf| ≤ π/4): Taylor series in f,
 *     sin 2πf = Σ (−1)^k (2π)^{2k+1} f^{2k+1}/(2k+1)!   (k ≤ 8),
 *     cos 2πf = Σ (−1)^k (2π)^{2k} f^{2k}/(2k)!         (k ≤ 8),
 * the first omitted terms below 10^-19. */
/* S_k = (−1)^k (2π)^{2k+1}/(2k+1)!, C_k = (−1)^k (2π)^{2k}/(2k)!, rounded
 * to double (from 50-digit π). */
#define S0 6.283185307179586
#define S1 -41.34170224039976
#define S2 81.60524927607506
#define S3 -76.70585975306139
#define S4 42.058693944897655
#define S5 -15.09464257682299
#define S6 3.819952584848282
#define S7 -0.7181223017785006
#define S8 0.10422916220813984
#define C1 -19.739208802178716
#define C2 64.9393940226683
#define C3 -85.45681720669373
#define C4 60.24464137187666
#define C5 -26.4262567833744
#define C6 7.903536371318469
#define C7 -1.714390711088672
#define C8 0.28200596845579123

/* cos and sin of 2πu_b, u_b = (w + 1/2)·2^-32: the quadrant q = round(4u_b)
 * (0..4, from the word's top bits: no ties, w + 1/2 is never a multiple of
 * 2^29), f = u_b − q/4 in [−1/8, 1/8] exactly, then the series rotated by
 * q quarter turns. */
static NN_ALWAYS_INLINE void turn(uint32_t w, double *cosine, double *sine)
{
    /* q mod 4 in 32 bits: w + 2^29 wraps exactly when q = 4. w − q·2^30 is
     * then w − 2^32 after the (two's complement) conversion to int32. */
    uint32_t q = (w + (UINT32_C(1) << 29)) >> 30;
    int32_t offset = (int32_t)(w - (q << 30));
    double f = ((double)offset + 0.5) * 0x1p-32, f2 = f * f;
    double s = f * (S0 + f2 * (S1 + f2 * (S2 + f2 * (S3 + f2 * (S4 + f2 * (S5 + f2 * (S6 +
               f2 * (S7 + f2 * S8))))))));
    double c = 1.0 + f2 * (C1 + f2 * (C2 + f2 * (C3 + f2 * (C4 + f2 * (C5 + f2 * (C6 +
               f2 * (C7 + f2 * C8)))))));
    uint32_t odd = q & 1, half = q >> 1;
    /* q = 1: (−s, c); q = 2: (−c, −s); q = 3: (s, −c). */
    double x = odd ? s : c, y = odd ? c : s;
    *cosine = (odd ^ half) ? -x : x;
    *sine = half ? -y : y;
}

NN_VECTOR_CLONES
void box_muller_pairs(const uint32_t *words, float *out, size_t pairs)
{
    for (size_t i = 0; i < pairs; i++) {
        /* (w + 1/2)·2^-32 through int32 (uint32 → double needs AVX-512). */
        double u = ((double)(int32_t)(words[2 * i] ^ UINT32_C(0x80000000)) + 2147483648.5) *
                   0x1p-32;
        double r = __builtin_sqrt(-2.0 * log_unit(u));
        double cosine, sine;
        turn(words[2 * i + 1], &cosine, &sine);
        out[2 * i] = (float)(r * cosine);
        out[2 * i + 1] = (float)(r * sine);
    }
}
