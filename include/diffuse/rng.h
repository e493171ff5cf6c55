/*
 * libdiffuse — counter-based random numbers (Philox4x32-10).
 *
 * A diffuse_rng is a position in one reproducible stream of values, fixed by
 * a 64-bit seed and a 64-bit stream number. The values do not depend on
 * threads, on the machine, or on how the draws are split: drawing 7, then 9,
 * then 16 values gives exactly the same 32 floats as drawing 32 at once.
 *
 * Stream definition (enough to reproduce it in another implementation):
 *
 *   Value p (p = 0, 1, 2, ...) of stream (seed, stream) is built from word
 *   p mod 4 of the Philox4x32-10 block (Salmon et al., SC11; Random123)
 *
 *       words[0..3] = philox4x32_10(counter, key)
 *       counter = {lo32(b), hi32(b), lo32(stream), hi32(stream)},  b = floor(p / 4)
 *       key     = {lo32(seed), hi32(seed)}
 *
 *   where lo32/hi32 are the low/high 32 bits. Philox4x32-10 is Random123's
 *   philox4x32 with 10 rounds, multipliers 0xD2511F53 (on counter word 0) and
 *   0xCD9E8D57 (on word 2), key increments 0x9E3779B9 and 0xBB67AE85; it
 *   reproduces Random123's known-answer vectors (kat_vectors).
 *
 *   Uniform value p, from word w = words[p mod 4]:
 *       u = (2 * floor(w / 512) + 1) * 2^-24            (an exact float in (0, 1))
 *   Normal value p is component p mod 4 of a Box–Muller transform of the
 *   whole block, evaluated in double precision and rounded to float:
 *       v(w) = (w + 0.5) * 2^-32
 *       r01 = sqrt(-2 ln v(words[0])),  a01 = 2π v(words[1])
 *       r23 = sqrt(-2 ln v(words[2])),  a23 = 2π v(words[3])
 *       z = (r01 cos a01, r01 sin a01, r23 cos a23, r23 sin a23)
 *   ln, cos and sin are the library's own polynomials (vectorised; within
 *   about an ulp of double, the angle reduced exactly), not libm's: a float
 *   can differ by one ulp from another evaluation of the same formula only
 *   where the double lies within a few ulps of a rounding boundary (none of
 *   10^8 random draws differed from glibc's); the same bits with every
 *   vector width the CPU offers (no fused multiply-adds).
 *
 * Uniform and normal draws share ONE position: after diffuse_rng_uniform(rng,
 * x, 5) the next diffuse_rng_normal starts at value 5. A stream holds the
 * values p = 0 .. 2^64 - 2 (the position never exceeds 2^64 - 1).
 *
 * Ownership: the handle belongs to the caller and is released with
 * diffuse_rng_free. Output arrays are borrowed for the call only.
 * Threads: a handle is used by one thread at a time; different handles are
 * independent and may be used concurrently.
 */
#ifndef DIFFUSE_RNG_H
#define DIFFUSE_RNG_H

#include "diffuse/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_rng diffuse_rng;

/* Creates a generator at position 0 of stream (seed, stream). Every seed and
 * stream value is valid; different (seed, stream) pairs give unrelated
 * sequences, so give each independent consumer its own stream number.
 * Errors: INVALID_ARGUMENT (out is NULL), NO_MEMORY. *out = NULL on failure.
 * The caller owns *out and frees it with diffuse_rng_free. Thread-safe. */
DIFFUSE_API diffuse_status diffuse_rng_create(diffuse_rng **out, uint64_t seed,
                                              uint64_t stream);

/* Releases the generator. diffuse_rng_free(NULL) is a no-op. */
DIFFUSE_API void diffuse_rng_free(diffuse_rng *rng);

/* Message of the last failing call on `rng` ("" if none; a fixed text for
 * NULL). Valid until the next failing call on `rng`. */
DIFFUSE_API const char *diffuse_rng_last_error(const diffuse_rng *rng);

/* out[i] = uniform value (position + i) of the stream, i = 0 .. n-1, each in
 * the open interval (0, 1) (see the top of this file); then position += n.
 * Errors: INVALID_ARGUMENT (rng or out NULL, n == 0, n > 2^40),
 * OUT_OF_RANGE (position + n would exceed 2^64 - 1). On failure neither out
 * nor the position changes. */
DIFFUSE_API diffuse_status diffuse_rng_uniform(diffuse_rng *rng, float *out, size_t n);

/* out[i] = standard normal N(0, 1) value (position + i) of the stream (see
 * the top of this file); then position += n. Errors as diffuse_rng_uniform. */
DIFFUSE_API diffuse_status diffuse_rng_normal(diffuse_rng *rng, float *out, size_t n);

/* Reads the generator's seed, stream and position (the index of the next
 * value drawn). These three numbers are the whole state: saving them and
 * later calling diffuse_rng_create(seed, stream) + diffuse_rng_set_position
 * resumes exactly. Errors: INVALID_ARGUMENT (any pointer NULL). */
DIFFUSE_API diffuse_status diffuse_rng_get_state(const diffuse_rng *rng, uint64_t *seed,
                                                 uint64_t *stream, uint64_t *position);

/* Moves the generator to `position` (any value 0 .. 2^64 - 1; it is only a
 * counter, so jumping costs nothing). Errors: INVALID_ARGUMENT (rng NULL). */
DIFFUSE_API diffuse_status diffuse_rng_set_position(diffuse_rng *rng, uint64_t position);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_RNG_H */
