/* Seeded parameter initialisation (internal). */
#ifndef DIFFUSE_SRC_NN_INIT_H
#define DIFFUSE_SRC_NN_INIT_H

#include <stddef.h>
#include <stdint.h>

/* params[first + i] = bound·(2u_{first+i} − 1) for i < count, where u_p is
 * the Philox uniform value p of stream (seed, 0) (philox.h): uniform on
 * (−bound, bound), and parameter p depends only on (seed, p). PyTorch's
 * nn.Linear default is bound = 1/√fan_in for both weight and bias. */
void nn_init_uniform(float *params, size_t first, size_t count, double bound, uint64_t seed);

#endif
