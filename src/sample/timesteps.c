/* Timestep lists (see timesteps.h). */
#include "sample/timesteps.h"

void timesteps_every_step(int32_t *list, size_t steps)
{
    for (size_t i = 0; i < steps; i++)
        list[i] = (int32_t)(steps - 1 - i);
}

diffuse_status timesteps_check(diffuse_error *error, const int32_t *list, size_t count,
                               size_t steps, bool every_step)
{
    if (count == 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "the timestep list is empty");
    for (size_t i = 0; i < count; i++) {
        if (list[i] < 0 || (size_t)list[i] >= steps)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d, outside [0, %zu)", i, (int)list[i], steps);
        if (i > 0 && list[i] >= list[i - 1])
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "timestep %zu is %d after %d: the list must strictly decrease",
                                i, (int)list[i], (int)list[i - 1]);
    }
    if (list[count - 1] != 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "the timestep list ends at %d, not 0", (int)list[count - 1]);
    /* Strictly decreasing in [0, T) with T entries is T−1, …, 0. */
    if (every_step && count != steps)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "this method visits every step: the list must be %zu, ..., 0, "
                            "not %zu entries", steps - 1, count);
    return DIFFUSE_OK;
}
