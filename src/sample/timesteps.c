/* Timestep lists (see timesteps.h). */
#include "sample/timesteps.h"

#include <math.h>

/* Entry i of `count` spaced entries over [0, T). */
static double spaced_entry(size_t i, size_t count, size_t steps, diffuse_spacing spacing)
{
    size_t from_end = count - 1 - i;
    switch (spacing) {
    case DIFFUSE_SPACING_TRAILING:
        return nearbyint((double)steps - (double)i * ((double)steps / (double)count)) - 1.0;
    case DIFFUSE_SPACING_LINSPACE:
        return count == 1 ? 0.0
                          : nearbyint((double)from_end * ((double)(steps - 1) / (double)(count - 1)));
    case DIFFUSE_SPACING_LEADING:
    default:
        return (double)(from_end * (steps / count));
    }
}

void timesteps_spaced(int32_t *list, size_t count, size_t steps, diffuse_spacing spacing)
{
    for (size_t i = 0; i < count; i++)
        list[i] = (int32_t)spaced_entry(i, count, steps, spacing);
}

diffuse_status timesteps_check(diffuse_error *error, const int32_t *list, size_t count,
                               size_t steps)
{
    if (count == 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "the timestep list is empty");
    for (size_t i = 0; i < count; i++) {
        if (list[i] < 0 || (size_t)list[i] >= steps)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d, outside [0, %zu)", i, (int)list[i], steps);
        if (i > 0 && list[i] == list[i - 1])
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu repeats %d: the list must not have duplicates",
                                i, (int)list[i]);
        if (i > 0 && list[i] > list[i - 1])
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d after %d: the list must strictly decrease",
                                i, (int)list[i], (int)list[i - 1]);
    }
    return DIFFUSE_OK;
}
