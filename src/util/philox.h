/* Philox4x32-10 counter-based generator and its mappings to floats (internal).
 *
 * Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3",
 * SC11; the Random123 library) is a keyed bijection on 128-bit counters: the
 * same (counter, key) always gives the same four 32-bit words, so any value of
 * a stream can be computed without computing the ones before it. That is what
 * makes results independent of thread counts and of how draws are split.
 *
 * The stream (seed, stream) is the sequence of values with index
 * p = 0, 1, 2, ... (up to 2^64 - 1). Value p is word p % 4 of block b = p / 4:
 *
 *     words = philox4x32_10(counter, key)
 *     counter = {lo32(b), hi32(b), lo32(stream), hi32(stream)}
 *     key     = {lo32(seed), hi32(seed)}
 *
 * and is mapped to a float by philox_uniform_from_word (uniform) or, a whole
 * block at a time, by philox_normals_from_words (normal). So value p depends
 * only on (seed, stream, p), never on how draws are split.
 *
 * Every function here is pure (no state, no allocation) and thread-safe. */
#ifndef DIFFUSE_SRC_PHILOX_H
#define DIFFUSE_SRC_PHILOX_H

#include <stddef.h>
#include <stdint.h>

/* One Philox4x32-10 block: out = philox(counter, key). `out` may alias
 * `counter`. */
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* Uniform on the OPEN interval (0, 1) from one 32-bit word w:
 *     u = (floor(w / 2^9) + 1/2) * 2^-23 = (2 * (w >> 9) + 1) * 2^-24
 * i.e. the midpoints of 2^23 equal cells. Every such value is an exact float
 * (it needs 24 significant bits), the smallest is 2^-24 and the largest
 * 1 - 2^-24, so the result is never 0 or 1 and its mean is exactly 1/2. */
float philox_uniform_from_word(uint32_t word);

/* Four N(0, 1) values from one block, by Box–Muller in double precision on
 * the word pairs (w0, w1) -> (z0, z1) and (w2, w3) -> (z2, z3):
 *     u_a = (w_a + 1/2) * 2^-32,  u_b = (w_b + 1/2) * 2^-32   (both in (0, 1))
 *     r = sqrt(-2 ln u_a),  z_a = r cos(2π u_b),  z_b = r sin(2π u_b)
 * each rounded to float. |z| <= sqrt(2 * 33 ln 2) < 6.8, always finite.
 * ln, cos and sin are util/box_muller.c's vectorisable polynomials (within
 * about an ulp of double; see box_muller.h). */
void philox_normals_from_words(const uint32_t words[4], float out[4]);

/* out[i] = uniform value with index first + i of the stream (seed, stream),
 * for i = 0 .. n-1 (see above). The caller guarantees first + n <= 2^64. */
void philox_uniform(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n);

/* out[i] = N(0, 1) value with index first + i of the stream (seed, stream):
 * component (first + i) % 4 of philox_normals_from_words(block (first + i) / 4).
 * The caller guarantees first + n <= 2^64. */
void philox_normal(uint64_t seed, uint64_t stream, uint64_t first, float *out, size_t n);

#endif
