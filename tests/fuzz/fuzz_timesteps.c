/* libFuzzer harness for the sampler's timestep lists and its step API
 * (include/diffuse/sampler.h). Build and run: see tests/fuzz/README.md; with
 * replay.c it is a plain program that replays the committed corpus (ctest).
 *
 * The input's first six bytes choose a schedule (kind, T ≤ 1000, zero
 * terminal SNR) and a standalone sampler (method, prediction type, spacing,
 * STEPS, η, clipping or thresholding); the rest, as little-endian int32s, is
 * a user timestep list when byte 3 asks for one. Checked, besides what
 * ASan/UBSan/LeakSanitizer catch:
 *  1. option setters return OK or a documented error, never crash;
 *  2. diffuse_sampler_set_timesteps accepts exactly the lists that are
 *     strictly decreasing within [0, T) (an independent predicate here),
 *     and a refused list leaves the list in use as it was;
 *  3. the list in use is strictly decreasing within [0, T), and a loop of
 *     diffuse_sampler_step over it (model output: a fixed multiple of x_t)
 *     succeeds with finite rows or reports NUMERIC; a t not in the list is
 *     refused with x_prev untouched. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <diffuse/diffuse.h>

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

enum { ROWS = 2, DIM = 3, MAX_LIST = 64, HEADER = 6 };

static bool known_status(diffuse_status status)
{
    return status >= DIFFUSE_OK && status <= DIFFUSE_ERROR_UNSUPPORTED;
}

static diffuse_schedule *make_schedule(const uint8_t *h)
{
    static const diffuse_schedule_kind kinds[] = {DIFFUSE_SCHEDULE_LINEAR,
                                                  DIFFUSE_SCHEDULE_COSINE,
                                                  DIFFUSE_SCHEDULE_SCALED_LINEAR};
    size_t steps = h[0] >= 250 ? 1000 : 1 + h[0] % 64;
    diffuse_schedule *schedule = NULL;
    REQUIRE(diffuse_schedule_create(&schedule, kinds[h[1] % 3], steps) == DIFFUSE_OK);
    diffuse_status status = diffuse_schedule_set_int(schedule, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR,
                                                     (h[1] >> 2) & 1);
    REQUIRE(status == DIFFUSE_OK || status == DIFFUSE_ERROR_OUT_OF_RANGE ||
            status == DIFFUSE_ERROR_INVALID_ARGUMENT);
    return schedule;
}

/* Rule 1: each setter returns a known status; a refused one changes nothing
 * the rest of the harness relies on. */
static void set_options(diffuse_sampler *s, const uint8_t *h, size_t steps)
{
    int64_t ints[][2] = {
        {DIFFUSE_SAMPLER_METHOD, (h[2] & 3) % 3},
        {DIFFUSE_SAMPLER_SPACING, h[3] & 3},
        {DIFFUSE_SAMPLER_STEPS, (int64_t)(h[4] % (steps + 3))},
        {DIFFUSE_SAMPLER_FINAL_ALPHA_ONE, (h[5] >> 4) & 1},
        {DIFFUSE_SAMPLER_SEED, h[5]},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        REQUIRE(known_status(diffuse_sampler_set_int(s, (diffuse_sampler_option)ints[k][0],
                                                     ints[k][1])));
    REQUIRE(known_status(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_ETA, (h[5] & 7) / 7.0)));
    if (h[5] & 8)
        REQUIRE(known_status(diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_CLIP_X0, 1.0)));
    else if (h[2] & 0x40)
        REQUIRE(known_status(
            diffuse_sampler_set_double(s, DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE, 0.9)));
}

static bool strictly_decreasing_in_range(const int32_t *list, size_t count, size_t steps)
{
    for (size_t i = 0; i < count; i++)
        if (list[i] < 0 || (size_t)list[i] >= steps || (i > 0 && list[i] >= list[i - 1]))
            return false;
    return count > 0;
}

/* The list in use, which rule 3 wants well formed. */
static size_t list_in_use(const diffuse_sampler *s, int32_t *list, size_t capacity,
                          size_t steps)
{
    size_t count = 0;
    REQUIRE(diffuse_sampler_timesteps(s, NULL, 0, &count) == DIFFUSE_OK);
    REQUIRE(count <= capacity);
    REQUIRE(diffuse_sampler_timesteps(s, list, capacity, &count) == DIFFUSE_OK);
    REQUIRE(strictly_decreasing_in_range(list, count, steps));
    return count;
}

/* Rule 2 for the user list in `data`. */
static void try_user_list(diffuse_sampler *s, const uint8_t *data, size_t size, size_t steps)
{
    int32_t list[MAX_LIST], before[1000], after[1000];
    size_t count = size / 4 < MAX_LIST ? size / 4 : MAX_LIST;
    if (count == 0)
        return;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                     (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
        memcpy(&list[i], &v, sizeof list[i]);
    }
    size_t old = list_in_use(s, before, 1000, steps);
    diffuse_status status = diffuse_sampler_set_timesteps(s, list, count);
    bool valid = strictly_decreasing_in_range(list, count, steps);
    REQUIRE((status == DIFFUSE_OK) == valid);
    size_t now = list_in_use(s, after, 1000, steps);
    if (valid)
        REQUIRE(now == count && memcmp(after, list, count * sizeof *list) == 0);
    else
        REQUIRE(status == DIFFUSE_ERROR_INVALID_ARGUMENT && now == old &&
                memcmp(after, before, old * sizeof *after) == 0);
}

/* Rule 3: the step loop over the list in use. */
static void run_steps(diffuse_sampler *s, size_t steps)
{
    int32_t list[1000];
    size_t count = list_in_use(s, list, 1000, steps);
    float x[ROWS * DIM], out[ROWS * DIM], kept[ROWS * DIM];
    REQUIRE(diffuse_sampler_initial_noise(s, ROWS, x) == DIFFUSE_OK);
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < ROWS * DIM; k++)
            out[k] = 0.5f * x[k];
        diffuse_status status = diffuse_sampler_step(s, ROWS, list[i], out, x, x, NULL);
        REQUIRE(status == DIFFUSE_OK || status == DIFFUSE_ERROR_NUMERIC ||
                status == DIFFUSE_ERROR_UNSUPPORTED || status == DIFFUSE_ERROR_INVALID_ARGUMENT);
        if (status != DIFFUSE_OK)
            return;
        for (size_t k = 0; k < ROWS * DIM; k++)
            REQUIRE(isfinite(x[k]));
    }
    int32_t absent = list[count - 1] > 0 ? list[count - 1] - 1 : (int32_t)steps;
    memcpy(kept, x, sizeof kept);
    REQUIRE(diffuse_sampler_step(s, ROWS, absent, out, x, x, NULL) ==
            DIFFUSE_ERROR_INVALID_ARGUMENT);
    REQUIRE(memcmp(kept, x, sizeof kept) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    diffuse_schedule *schedule = make_schedule(data);
    size_t steps = 0;
    REQUIRE(diffuse_schedule_steps(schedule, &steps) == DIFFUSE_OK);
    diffuse_prediction prediction = (diffuse_prediction)((data[2] >> 2) % 3);
    diffuse_sampler *s = NULL;
    REQUIRE(diffuse_sampler_create_standalone(&s, schedule, DIM, prediction) == DIFFUSE_OK);
    set_options(s, data, steps);
    if (data[3] & 0x80)
        try_user_list(s, data + HEADER, size - HEADER, steps);
    run_steps(s, steps);
    diffuse_sampler_free(s);
    diffuse_schedule_free(schedule);
    return 0;
}
