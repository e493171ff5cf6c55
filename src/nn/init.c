/* Seeded parameter initialisation (see init.h). */
#include "nn/init.h"

#include "util/philox.h"

void nn_init_uniform(float *params, size_t first, size_t count, double bound, uint64_t seed)
{
    float *values = params + first;
    philox_uniform(seed, 0, first, values, count);
    for (size_t i = 0; i < count; i++)
        values[i] = (float)(bound * (2.0 * (double)values[i] - 1.0));
}
