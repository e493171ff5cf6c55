/* Adapters from the library's typed option functions to option_group. */
#include "groups.h"

#include <stdio.h>
#include <string.h>

#include "names.h"

/* Each family's functions take its own handle, option and kind types; these
 * macros write the adapters that take ints and void pointers. */
#define INT_ACCESSORS(family, option_type, setter, getter)                                         \
    static diffuse_status family##_set_int(void *handle, int option, int64_t value)                \
    {                                                                                              \
        return setter(handle, (option_type)option, value);                                         \
    }                                                                                              \
    static diffuse_status family##_get_int(const void *handle, int option, int64_t *value)         \
    {                                                                                              \
        return getter(handle, (option_type)option, value);                                         \
    }
#define DOUBLE_ACCESSORS(family, option_type, setter, getter)                                      \
    static diffuse_status family##_set_double(void *handle, int option, double value)              \
    {                                                                                              \
        return setter(handle, (option_type)option, value);                                         \
    }                                                                                              \
    static diffuse_status family##_get_double(const void *handle, int option, double *value)       \
    {                                                                                              \
        return getter(handle, (option_type)option, value);                                         \
    }
#define LAST_ERROR(family, function)                                                               \
    static const char *family##_error(const void *handle)                                          \
    {                                                                                              \
        return function(handle);                                                                   \
    }
/* Introspection by kind, or (kind ignored) of a family without kinds. */
#define KIND_INTROSPECTION(family, kind_type, counter, describer)                                  \
    static diffuse_status family##_count(int kind, size_t *count)                                  \
    {                                                                                              \
        return counter((kind_type)kind, count);                                                    \
    }                                                                                              \
    static diffuse_status family##_info(int kind, size_t index, diffuse_option_info *info)         \
    {                                                                                              \
        return describer((kind_type)kind, index, info);                                            \
    }
#define PLAIN_INTROSPECTION(family, counter, describer)                                            \
    static diffuse_status family##_count(int kind, size_t *count)                                  \
    {                                                                                              \
        (void)kind;                                                                                \
        return counter(count);                                                                     \
    }                                                                                              \
    static diffuse_status family##_info(int kind, size_t index, diffuse_option_info *info)         \
    {                                                                                              \
        (void)kind;                                                                                \
        return describer(index, info);                                                             \
    }

/* The option_group of a family whose adapters the macros above wrote. */
#define GROUP(family, prefix_, kind_flag_, kinds_, kind_count_, kind_name_, set_double_,           \
              get_double_)                                                                         \
    {                                                                                              \
        .title = #family, .prefix = prefix_, .kind_flag = kind_flag_, .kinds = kinds_,             \
        .kind_count = kind_count_, .kind_name = kind_name_, .count = family##_count,               \
        .info = family##_info, .set_int = family##_set_int, .set_double = set_double_,             \
        .get_int = family##_get_int, .get_double = get_double_, .last_error = family##_error       \
    }

/* ---- The model configuration: kinds are architectures --------------------- */

static const char *arch_name(int kind)
{
    const char *name = "?";
    diffuse_model_architecture_name((diffuse_architecture)kind, &name);
    return name;
}
KIND_INTROSPECTION(model, diffuse_architecture, diffuse_model_config_option_count,
                   diffuse_model_config_option_info)
INT_ACCESSORS(model, diffuse_model_option, diffuse_model_config_set_int,
              diffuse_model_config_get_int)
DOUBLE_ACCESSORS(model, diffuse_model_option, diffuse_model_config_set_double,
                 diffuse_model_config_get_double)
LAST_ERROR(model, diffuse_model_config_last_error)
static const int model_kinds[] = {DIFFUSE_ARCH_MLP, DIFFUSE_ARCH_UNET};
const option_group GROUP_MODEL =
    GROUP(model, "model-", "arch", model_kinds, 2, arch_name, model_set_double, model_get_double);

/* ---- Schedules and optimizers: kinds named in names.c ------------------------- */

static const char *schedule_kind_name(int kind)
{
    return kind >= 0 && (size_t)kind < SCHEDULE_KINDS.count ? SCHEDULE_KINDS.names[kind] : "?";
}
KIND_INTROSPECTION(schedule, diffuse_schedule_kind, diffuse_schedule_option_count,
                   diffuse_schedule_option_info)
INT_ACCESSORS(schedule, diffuse_schedule_option, diffuse_schedule_set_int, diffuse_schedule_get_int)
DOUBLE_ACCESSORS(schedule, diffuse_schedule_option, diffuse_schedule_set_double,
                 diffuse_schedule_get_double)
LAST_ERROR(schedule, diffuse_schedule_last_error)
static const int schedule_kinds[] = {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SCALED_LINEAR,
                                     DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_SIGMOID};
const option_group GROUP_SCHEDULE =
    GROUP(schedule, "schedule-", "schedule", schedule_kinds, 4, schedule_kind_name,
          schedule_set_double, schedule_get_double);

static const char *optimizer_kind_name(int kind)
{
    return kind >= 0 && (size_t)kind < OPTIMIZER_KINDS.count ? OPTIMIZER_KINDS.names[kind] : "?";
}
KIND_INTROSPECTION(optimizer, diffuse_optimizer_kind, diffuse_optimizer_option_count,
                   diffuse_optimizer_option_info)
INT_ACCESSORS(optimizer, diffuse_optimizer_option, diffuse_optimizer_set_int,
              diffuse_optimizer_get_int)
DOUBLE_ACCESSORS(optimizer, diffuse_optimizer_option, diffuse_optimizer_set_double,
                 diffuse_optimizer_get_double)
LAST_ERROR(optimizer, diffuse_optimizer_last_error)
static const int optimizer_kinds[] = {DIFFUSE_OPTIMIZER_ADAM, DIFFUSE_OPTIMIZER_ADAMW};
const option_group GROUP_OPTIMIZER =
    GROUP(optimizer, "optimizer-", "optimizer", optimizer_kinds, 2, optimizer_kind_name,
          optimizer_set_double, optimizer_get_double);

/* ---- The trainer and the sampler: no kinds; flags without a prefix ------------ */

static const int no_kinds[] = {-1};
PLAIN_INTROSPECTION(trainer, diffuse_trainer_option_count, diffuse_trainer_option_info)
INT_ACCESSORS(trainer, diffuse_trainer_option, diffuse_trainer_set_int, diffuse_trainer_get_int)
DOUBLE_ACCESSORS(trainer, diffuse_trainer_option, diffuse_trainer_set_double,
                 diffuse_trainer_get_double)
LAST_ERROR(trainer, diffuse_trainer_last_error)
const option_group GROUP_TRAINER =
    GROUP(trainer, "", NULL, no_kinds, 1, NULL, trainer_set_double, trainer_get_double);

PLAIN_INTROSPECTION(sampler, diffuse_sampler_option_count, diffuse_sampler_option_info)
INT_ACCESSORS(sampler, diffuse_sampler_option, diffuse_sampler_set_int, diffuse_sampler_get_int)
DOUBLE_ACCESSORS(sampler, diffuse_sampler_option, diffuse_sampler_set_double,
                 diffuse_sampler_get_double)
LAST_ERROR(sampler, diffuse_sampler_last_error)
const option_group GROUP_SAMPLER =
    GROUP(sampler, "", NULL, no_kinds, 1, NULL, sampler_set_double, sampler_get_double);

/* ---- Look-ups ------------------------------------------------------------------ */

int group_kind(const option_group *group, const char *name)
{
    for (size_t i = 0; i < group->kind_count; i++)
        if (strcmp(group->kind_name(group->kinds[i]), name) == 0)
            return group->kinds[i];
    return -1;
}

const char *group_kind_choices(const option_group *group, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (size_t i = 0; i < group->kind_count && used < size; i++)
        used += (size_t)snprintf(buffer + used, size - used, "%s%s", i ? "|" : "",
                                 group->kind_name(group->kinds[i]));
    return buffer;
}

int group_find(const option_group *group, int kind, const char *name, diffuse_option_info *info)
{
    size_t count = 0;
    if (group->count(kind, &count) != DIFFUSE_OK)
        return -1;
    for (size_t i = 0; i < count; i++) {
        info->size = sizeof *info;
        if (group->info(kind, i, info) == DIFFUSE_OK && strcmp(info->name, name) == 0)
            return 0;
    }
    return -1;
}
