/* The forward process q(x_t | x_0) without argument checks (internal; the
 * trainer's hot path). Same math and aliasing rules as diffuse_q_sample. */
#ifndef DIFFUSE_SRC_FORWARD_H
#define DIFFUSE_SRC_FORWARD_H

#include <stdint.h>

#include "diffuse/forward.h"

/* xt = √ᾱ_t x0 + √(1 − ᾱ_t) eps per row. The caller guarantees valid
 * pointers, n·d elements each and 0 ≤ t[i] < T. */
void forward_q_sample(const diffuse_schedule *s, size_t n, size_t d, const int32_t *t,
                      const float *x0, const float *eps, float *xt);

#endif
