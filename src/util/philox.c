/* Philox4x32-10 and the streams of uniform and normal floats built on it. */
#include "util/philox.h"

#include <string.h>

#include "nn/vec.h"
#include "util/box_muller.h"

/* Round multipliers and key increments of Philox4x32 (Random123): the
 * increments are the golden ratio and sqrt(3) - 1 as 32-bit fractions. */
#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)
#define PHILOX_ROUNDS 10

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

void philox_normals_from_words(const uint32_t words[4], float out[4])
{
    box_muller_pairs(words, out, 2);
}

static void uniforms_from_words(const uint32_t *words, float *out, size_t blocks)
{
    for (size_t i = 0; i < 4 * blocks; i++)
        out[i] = philox_uniform_from_word(words[i]);
}

static void normals_from_words(const uint32_t *words, float *out, size_t blocks)
{
    box_muller_pairs(words, out, 2 * blocks);
}

/* Blocks converted together: enough for the vector loops to run at full
 * width, few enough for the stack (3 KiB). */
enum { BATCH_BLOCKS = 64 };

/* Blocks block … block + count − 1 of the stream (count ≤ BATCH_BLOCKS):
 * counter = {lo32(b), hi32(b), lo32(stream), hi32(stream)},
 * key = {lo32(seed), hi32(seed)}, the rounds of philox4x32_10 applied to
 * all of them one round at a time (lane i is block + i), so that the
 * 32 × 32 → 64-bit products vectorise; words[4i + j] is word j of block i. */
static NN_VECTOR_CLONES void stream_blocks(uint64_t seed, uint64_t stream, uint64_t block,
                                           size_t count, uint32_t *words)
{
    uint32_t x0[BATCH_BLOCKS], x1[BATCH_BLOCKS], x2[BATCH_BLOCKS], x3[BATCH_BLOCKS];
    for (size_t i = 0; i < count; i++) {
        x0[i] = (uint32_t)(block + i);
        x1[i] = (uint32_t)((block + i) >> 32);
        x2[i] = (uint32_t)stream;
        x3[i] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < PHILOX_ROUNDS; round++) {
        /* x' = (hi(M1·x2) ^ x1 ^ k0, lo(M1·x2), hi(M0·x0) ^ x3 ^ k1, lo(M0·x0)) */
        for (size_t i = 0; i < count; i++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * x0[i], p1 = (uint64_t)PHILOX_M1 * x2[i];
            x0[i] = (uint32_t)(p1 >> 32) ^ x1[i] ^ k0;
            x1[i] = (uint32_t)p1;
            x2[i] = (uint32_t)(p0 >> 32) ^ x3[i] ^ k1;
            x3[i] = (uint32_t)p0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (size_t i = 0; i < count; i++) {
        words[4 * i] = x0[i];
        words[4 * i + 1] = x1[i];
        words[4 * i + 2] = x2[i];
        words[4 * i + 3] = x3[i];
    }
}

typedef void (*blocks_to_floats)(const uint32_t *words, float *out, size_t blocks);

/* out[i] = value first + i: the blocks are computed BATCH_BLOCKS at a time
 * and converted with `convert`; the first block may start mid-block
 * (skip = first % 4) and the last may be used only in part. */
static void fill_from_stream(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                             size_t n, blocks_to_floats convert)
{
    uint64_t block = first / 4;
    size_t skip = (size_t)(first % 4);
    while (n > 0) {
        uint32_t words[4 * BATCH_BLOCKS];
        float values[4 * BATCH_BLOCKS];
        size_t blocks = n >= 4 * BATCH_BLOCKS ? BATCH_BLOCKS : (skip + n + 3) / 4;
        stream_blocks(seed, stream, block, blocks, words);
        convert(words, values, blocks);
        size_t take = 4 * blocks - skip < n ? 4 * blocks - skip : n;
        memcpy(out, values + skip, take * sizeof *out);
        out += take;
        n -= take;
        skip = 0;
        block += blocks;
    }
}

void philox_uniform(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n)
{
    fill_from_stream(seed, stream, first, out, n, uniforms_from_words);
}

void philox_normal(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n)
{
    fill_from_stream(seed, stream, first, out, n, normals_from_words);
}
