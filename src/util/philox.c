/* Philox4x32-10 and the streams of uniform and normal floats built on it. */
#include "util/philox.h"

#include <math.h>
#include <string.h>

/* Round multipliers and key increments of Philox4x32 (Random123): the
 * increments are the golden ratio and sqrt(3) - 1 as 32-bit fractions. */
#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)
#define PHILOX_ROUNDS 10

/* 2π rounded to double, written out because M_PI is not ISO C. */
#define PHILOX_TWO_PI 6.283185307179586476925286766559

/* One round on x = (x0, x1, x2, x3) with round key k = (k0, k1):
 *     x' = (hi(M1·x2) ^ x1 ^ k0,  lo(M1·x2),  hi(M0·x0) ^ x3 ^ k1,  lo(M0·x0))
 * where hi/lo are the upper/lower 32 bits of the 64-bit product. */
static void philox_round(uint32_t x[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * x[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * x[2];
    uint32_t y[4] = {(uint32_t)(p1 >> 32) ^ x[1] ^ k[0], (uint32_t)p1,
                     (uint32_t)(p0 >> 32) ^ x[3] ^ k[1], (uint32_t)p0};
    memcpy(x, y, sizeof y);
}

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x[4] = {counter[0], counter[1], counter[2], counter[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int round = 0; round < PHILOX_ROUNDS; round++) {
        /* Key schedule: round r uses k + r·(W0, W1) (mod 2^32). */
        if (round > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(x, k);
    }
    memcpy(out, x, sizeof x);
}

float philox_uniform_from_word(uint32_t word)
{
    /* u = (2·(w >> 9) + 1)·2^-24: the integer is below 2^24, so both the
     * conversion and the power-of-two scaling are exact. */
    return (float)(2u * (word >> 9) + 1u) * 0x1p-24f;
}

/* (w + 1/2)·2^-32 in (0, 1), exact in double (needs 33 bits). */
static double open_unit_from_word(uint32_t word)
{
    return ((double)word + 0.5) * 0x1p-32;
}

/* Box–Muller: r = sqrt(-2 ln u_a), (z_a, z_b) = r·(cos 2πu_b, sin 2πu_b). */
static void box_muller(uint32_t word_a, uint32_t word_b, float *z_a, float *z_b)
{
    double r = sqrt(-2.0 * log(open_unit_from_word(word_a)));
    double angle = PHILOX_TWO_PI * open_unit_from_word(word_b);
    *z_a = (float)(r * cos(angle));
    *z_b = (float)(r * sin(angle));
}

void philox_normals_from_words(const uint32_t words[4], float out[4])
{
    box_muller(words[0], words[1], &out[0], &out[1]);
    box_muller(words[2], words[3], &out[2], &out[3]);
}

static void uniforms_from_words(const uint32_t words[4], float out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = philox_uniform_from_word(words[i]);
}

/* Block b of the stream: counter = {lo32(b), hi32(b), lo32(stream), hi32(stream)},
 * key = {lo32(seed), hi32(seed)}. */
static void stream_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t words[4])
{
    const uint32_t counter[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                                 (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    philox4x32_10(counter, key, words);
}

typedef void (*block_to_floats)(const uint32_t words[4], float out[4]);

/* out[i] = value first + i: each block is computed once and converted with
 * `convert`; the first block may start mid-block (skip = first % 4) and the
 * last may be used only in part. */
static void fill_from_stream(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                             size_t n, block_to_floats convert)
{
    uint64_t block = first / 4;
    size_t skip = (size_t)(first % 4);
    while (n > 0) {
        uint32_t words[4];
        float values[4];
        stream_block(seed, stream, block, words);
        convert(words, values);
        size_t take = 4 - skip < n ? 4 - skip : n;
        memcpy(out, values + skip, take * sizeof *out);
        out += take;
        n -= take;
        skip = 0;
        block++;
    }
}

void philox_uniform(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n)
{
    fill_from_stream(seed, stream, first, out, n, uniforms_from_words);
}

void philox_normal(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n)
{
    fill_from_stream(seed, stream, first, out, n, philox_normals_from_words);
}
