/* Option introspection (diffuse_<handle>_option_count / _option_info): every
 * listed option's default is what a new handle holds, its bounds are what the
 * bounds queries say, and the options left out are the ones that do not
 * apply (DIFFUSE_ERROR_UNSUPPORTED). */
#include <diffuse/diffuse.h>
#include <string.h>

#include "test_support.h"

/* The bounds query of a handle whose options do not depend on a kind, and of
 * the model config's (which takes the architecture). */
#define KINDLESS_BOUNDS(fn, kind, ...) ((void)(kind), fn(__VA_ARGS__))
#define ARCH_BOUNDS(fn, kind, ...) fn((diffuse_architecture)(kind), __VA_ARGS__)

/* Reads option `info` of handle `h` and its bounds through the typed API. */
#define OPTION_READER(name, handle_type, prefix, option_type, bounds)                               \
    static void name(const void *handle, int kind, const diffuse_option_info *info,              \
                     double *value, double *min, double *max)                                    \
    {                                                                                            \
        const handle_type *h = handle;                                                           \
        option_type option = (option_type)info->option;                                          \
        int64_t whole = 0, low = 0, high = 0;                                                    \
        if (info->is_double) {                                                                   \
            ck_assert_int_eq(prefix##_get_double(h, option, value), DIFFUSE_OK);                 \
            ck_assert_int_eq(bounds(prefix##_double_bounds, kind, option, min, max), DIFFUSE_OK);  \
            return;                                                                              \
        }                                                                                        \
        ck_assert_int_eq(prefix##_get_int(h, option, &whole), DIFFUSE_OK);                       \
        ck_assert_int_eq(bounds(prefix##_int_bounds, kind, option, &low, &high), DIFFUSE_OK);      \
        *value = (double)whole;                                                                  \
        *min = (double)low;                                                                      \
        *max = (double)high;                                                                     \
    }

OPTION_READER(read_schedule, diffuse_schedule, diffuse_schedule, diffuse_schedule_option,
              KINDLESS_BOUNDS)
OPTION_READER(read_config, diffuse_model_config, diffuse_model_config, diffuse_model_option,
              ARCH_BOUNDS)
OPTION_READER(read_optimizer, diffuse_optimizer, diffuse_optimizer, diffuse_optimizer_option,
              KINDLESS_BOUNDS)
OPTION_READER(read_sampler, diffuse_sampler, diffuse_sampler, diffuse_sampler_option,
              KINDLESS_BOUNDS)

OPTION_READER(read_trainer, diffuse_trainer, diffuse_trainer, diffuse_trainer_option,
              KINDLESS_BOUNDS)

typedef diffuse_status (*info_fn)(int kind, size_t index, diffuse_option_info *info);
typedef void (*reader_fn)(const void *handle, int kind, const diffuse_option_info *info,
                          double *value, double *min, double *max);

static diffuse_status schedule_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_schedule_option_info((diffuse_schedule_kind)kind, index, info);
}

static diffuse_status config_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_model_config_option_info((diffuse_architecture)kind, index, info);
}

static diffuse_status optimizer_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_optimizer_option_info((diffuse_optimizer_kind)kind, index, info);
}

static diffuse_status trainer_info(int kind, size_t index, diffuse_option_info *info)
{
    (void)kind;
    return diffuse_trainer_option_info(index, info);
}

static diffuse_status sampler_info(int kind, size_t index, diffuse_option_info *info)
{
    (void)kind;
    return diffuse_sampler_option_info(index, info);
}

/* Checks the `count` options listed for `kind` against a new handle of that
 * kind; returns the bit set of the options listed. */
static unsigned check_listed(size_t count, info_fn info_of, reader_fn reader,
                             const void *handle, int kind)
{
    unsigned listed = 0;
    int previous = -1;
    diffuse_option_info info = {.size = sizeof info};
    for (size_t i = 0; i < count; i++) {
        ck_assert_int_eq(info_of(kind, i, &info), DIFFUSE_OK);
        ck_assert_int_gt(info.option, previous);
        previous = info.option;
        ck_assert_ptr_nonnull(info.name);
        double value, min, max;
        reader(handle, kind, &info, &value, &min, &max);
        ck_assert_double_eq(value, info.default_value);
        ck_assert_double_eq(min, info.min);
        ck_assert_double_eq(max, info.max);
        listed |= 1u << info.option;
    }
    ck_assert_int_eq(info_of(kind, count, &info), DIFFUSE_ERROR_OUT_OF_RANGE);
    return listed;
}

START_TEST(schedule_options_by_kind)
{
    static const int kinds[] = {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SCALED_LINEAR,
                                DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_SIGMOID};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        diffuse_schedule_kind kind = (diffuse_schedule_kind)kinds[k];
        diffuse_schedule *s = diffuse_test_schedule(kind, 10, 0);
        size_t count = 0;
        ck_assert_int_eq(diffuse_schedule_option_count(kind, &count), DIFFUSE_OK);
        unsigned listed = check_listed(count, schedule_info, read_schedule, s, kinds[k]);
        for (int option = 0; option <= DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR; option++) {
            if (listed & (1u << option))
                continue;
            double value;
            ck_assert_int_eq(
                diffuse_schedule_get_double(s, (diffuse_schedule_option)option, &value),
                DIFFUSE_ERROR_UNSUPPORTED);
        }
        diffuse_schedule_free(s);
    }
    size_t count = 0;
    ck_assert_int_eq(diffuse_schedule_option_count(DIFFUSE_SCHEDULE_CUSTOM, &count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 1);
}
END_TEST

START_TEST(model_config_options_by_architecture)
{
    static const int archs[] = {DIFFUSE_ARCH_MLP, DIFFUSE_ARCH_CALLBACK};
    for (size_t a = 0; a < 2; a++) {
        diffuse_architecture arch = (diffuse_architecture)archs[a];
        diffuse_model_config *config = NULL;
        ck_assert_int_eq(diffuse_model_config_create(&config, arch, 2), DIFFUSE_OK);
        size_t count = 0;
        ck_assert_int_eq(diffuse_model_config_option_count(arch, &count), DIFFUSE_OK);
        unsigned listed = check_listed(count, config_info, read_config, config, archs[a]);
        ck_assert_uint_eq((unsigned)__builtin_popcount(listed), count);
        diffuse_model_config_free(config);
    }
}
END_TEST

START_TEST(optimizer_trainer_sampler_options)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_optimizer *optimizers[2] = {NULL, NULL};
    diffuse_trainer *trainer = NULL;
    diffuse_sampler *sampler = NULL;
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    size_t count = 0;
    for (int kind = DIFFUSE_OPTIMIZER_ADAM; kind <= DIFFUSE_OPTIMIZER_ADAMW; kind++) {
        ck_assert_int_eq(diffuse_optimizer_create(&optimizers[kind],
                                                  (diffuse_optimizer_kind)kind, model),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_optimizer_option_count((diffuse_optimizer_kind)kind, &count),
                         DIFFUSE_OK);
        check_listed(count, optimizer_info, read_optimizer, optimizers[kind], kind);
    }
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, schedule, optimizers[1]),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_option_count(&count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 7);
    check_listed(count, trainer_info, read_trainer, trainer, 0);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_option_count(&count), DIFFUSE_OK);
    ck_assert_uint_eq(count, 19);
    check_listed(count, sampler_info, read_sampler, sampler, 0);

    diffuse_sampler_free(sampler);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizers[0]);
    diffuse_optimizer_free(optimizers[1]);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    diffuse_schedule_free(schedule);
}
END_TEST

START_TEST(option_info_rejects_bad_arguments)
{
    diffuse_option_info info = {.size = sizeof info};
    size_t count;
    ck_assert_int_eq(diffuse_sampler_option_info(0, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_sampler_option_count(NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    info.size = sizeof info - 1;
    ck_assert_int_eq(diffuse_trainer_option_info(0, &info), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "info->size"));
    info.size = sizeof info;
    ck_assert_int_eq(diffuse_schedule_option_count((diffuse_schedule_kind)99, &count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_schedule_option_info((diffuse_schedule_kind)-1, 0, &info),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_option_count((diffuse_optimizer_kind)2, &count),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_model_config_option_info((diffuse_architecture)5, 0, &info),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_option_info(7, &info), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "trainer option index 7"));
}
END_TEST

static Suite *options_suite(void)
{
    Suite *suite = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, schedule_options_by_kind);
    tcase_add_test(tc, model_config_options_by_architecture);
    tcase_add_test(tc, optimizer_trainer_sampler_options);
    tcase_add_test(tc, option_info_rejects_bad_arguments);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(options_suite());
}
