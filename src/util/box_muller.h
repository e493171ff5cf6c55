/* The Box–Muller transform of Philox words to N(0, 1) floats (internal),
 * written so that a loop over pairs vectorises.
 *
 * For a word pair (w_a, w_b):
 *     u_a = (w_a + 1/2)·2^-32,  u_b = (w_b + 1/2)·2^-32   (both in (0, 1))
 *     r = √(−2 ln u_a),  z_a = r cos 2πu_b,  z_b = r sin 2πu_b
 * in double precision, each rounded to float. ln, cos and sin are
 * polynomials of our own (box_muller.c) instead of libm's scalar calls,
 * accurate to about an ulp of double, so the floats are libm's except
 * where the double lies within a few ulps of a float rounding boundary
 * (measured: fewer than 1 in 10^8 values differ, by one float ulp). They
 * use only +, −, ×, ÷ and √, correctly rounded and never fused into
 * multiply-adds, so every vector width gives the same bits. */
#ifndef DIFFUSE_SRC_BOX_MULLER_H
#define DIFFUSE_SRC_BOX_MULLER_H

#include <stddef.h>
#include <stdint.h>

/* out[2i], out[2i+1] = (z_a, z_b) of the pair (words[2i], words[2i+1]),
 * i < pairs. */
void box_muller_pairs(const uint32_t *words, float *out, size_t pairs);

#endif
