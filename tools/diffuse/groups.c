/* Adapters from the library's typed option functions to option_group. */
#include "groups.h"

#include <stdio.h>
#include <string.h>

#include "names.h"

/* ---- The model configuration: kinds are architectures --------------------- */

static const char *arch_name(int kind)
{
    const char *name = "?";
    diffuse_model_architecture_name((diffuse_architecture)kind, &name);
    return name;
}
static diffuse_status model_count(int kind, size_t *count)
{
    return diffuse_model_config_option_count((diffuse_architecture)kind, count);
}
static diffuse_status model_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_model_config_option_info((diffuse_architecture)kind, index, info);
}
static diffuse_status model_set_int(void *handle, int option, int64_t value)
{
    return diffuse_model_config_set_int(handle, (diffuse_model_option)option, value);
}
static diffuse_status model_set_double(void *handle, int option, double value)
{
    return diffuse_model_config_set_double(handle, (diffuse_model_option)option, value);
}
static diffuse_status model_get_int(const void *handle, int option, int64_t *value)
{
    return diffuse_model_config_get_int(handle, (diffuse_model_option)option, value);
}
static diffuse_status model_get_double(const void *handle, int option, double *value)
{
    return diffuse_model_config_get_double(handle, (diffuse_model_option)option, value);
}
static const char *model_error(const void *handle)
{
    return diffuse_model_config_last_error(handle);
}
static const int model_kinds[] = {DIFFUSE_ARCH_MLP, DIFFUSE_ARCH_UNET};
const option_group GROUP_MODEL = {
    .title = "model",
    .prefix = "model-",
    .kind_flag = "arch",
    .kinds = model_kinds,
    .kind_count = 2,
    .kind_name = arch_name,
    .count = model_count,
    .info = model_info,
    .set_int = model_set_int,
    .set_double = model_set_double,
    .get_int = model_get_int,
    .get_double = model_get_double,
    .last_error = model_error,
};

/* ---- Schedules --------------------------------------------------------------- */

static const char *schedule_kind_name(int kind)
{
    return kind >= 0 && (size_t)kind < SCHEDULE_KINDS.count ? SCHEDULE_KINDS.names[kind] : "?";
}
static diffuse_status schedule_count(int kind, size_t *count)
{
    return diffuse_schedule_option_count((diffuse_schedule_kind)kind, count);
}
static diffuse_status schedule_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_schedule_option_info((diffuse_schedule_kind)kind, index, info);
}
static diffuse_status schedule_set_int(void *handle, int option, int64_t value)
{
    return diffuse_schedule_set_int(handle, (diffuse_schedule_option)option, value);
}
static diffuse_status schedule_set_double(void *handle, int option, double value)
{
    return diffuse_schedule_set_double(handle, (diffuse_schedule_option)option, value);
}
static diffuse_status schedule_get_int(const void *handle, int option, int64_t *value)
{
    return diffuse_schedule_get_int(handle, (diffuse_schedule_option)option, value);
}
static diffuse_status schedule_get_double(const void *handle, int option, double *value)
{
    return diffuse_schedule_get_double(handle, (diffuse_schedule_option)option, value);
}
static const char *schedule_error(const void *handle)
{
    return diffuse_schedule_last_error(handle);
}
static const int schedule_kinds[] = {DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SCALED_LINEAR,
                                     DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_SIGMOID};
const option_group GROUP_SCHEDULE = {
    .title = "schedule",
    .prefix = "schedule-",
    .kind_flag = "schedule",
    .kinds = schedule_kinds,
    .kind_count = 4,
    .kind_name = schedule_kind_name,
    .count = schedule_count,
    .info = schedule_info,
    .set_int = schedule_set_int,
    .set_double = schedule_set_double,
    .get_int = schedule_get_int,
    .get_double = schedule_get_double,
    .last_error = schedule_error,
};

/* ---- Optimizers -------------------------------------------------------------- */

static const char *optimizer_kind_name(int kind)
{
    return kind >= 0 && (size_t)kind < OPTIMIZER_KINDS.count ? OPTIMIZER_KINDS.names[kind]
                                                             : "?";
}
static diffuse_status optimizer_count(int kind, size_t *count)
{
    return diffuse_optimizer_option_count((diffuse_optimizer_kind)kind, count);
}
static diffuse_status optimizer_info(int kind, size_t index, diffuse_option_info *info)
{
    return diffuse_optimizer_option_info((diffuse_optimizer_kind)kind, index, info);
}
static diffuse_status optimizer_set_int(void *handle, int option, int64_t value)
{
    return diffuse_optimizer_set_int(handle, (diffuse_optimizer_option)option, value);
}
static diffuse_status optimizer_set_double(void *handle, int option, double value)
{
    return diffuse_optimizer_set_double(handle, (diffuse_optimizer_option)option, value);
}
static diffuse_status optimizer_get_int(const void *handle, int option, int64_t *value)
{
    return diffuse_optimizer_get_int(handle, (diffuse_optimizer_option)option, value);
}
static diffuse_status optimizer_get_double(const void *handle, int option, double *value)
{
    return diffuse_optimizer_get_double(handle, (diffuse_optimizer_option)option, value);
}
static const char *optimizer_error(const void *handle)
{
    return diffuse_optimizer_last_error(handle);
}
static const int optimizer_kinds[] = {DIFFUSE_OPTIMIZER_ADAM, DIFFUSE_OPTIMIZER_ADAMW};
const option_group GROUP_OPTIMIZER = {
    .title = "optimizer",
    .prefix = "optimizer-",
    .kind_flag = "optimizer",
    .kinds = optimizer_kinds,
    .kind_count = 2,
    .kind_name = optimizer_kind_name,
    .count = optimizer_count,
    .info = optimizer_info,
    .set_int = optimizer_set_int,
    .set_double = optimizer_set_double,
    .get_int = optimizer_get_int,
    .get_double = optimizer_get_double,
    .last_error = optimizer_error,
};

/* ---- The trainer and the sampler: no kinds --------------------------------- */

static diffuse_status trainer_count(int kind, size_t *count)
{
    (void)kind;
    return diffuse_trainer_option_count(count);
}
static diffuse_status trainer_info(int kind, size_t index, diffuse_option_info *info)
{
    (void)kind;
    return diffuse_trainer_option_info(index, info);
}
static diffuse_status trainer_set_int(void *handle, int option, int64_t value)
{
    return diffuse_trainer_set_int(handle, (diffuse_trainer_option)option, value);
}
static diffuse_status trainer_get_int(const void *handle, int option, int64_t *value)
{
    return diffuse_trainer_get_int(handle, (diffuse_trainer_option)option, value);
}
static const char *trainer_error(const void *handle)
{
    return diffuse_trainer_last_error(handle);
}
static const int no_kinds[] = {-1};
const option_group GROUP_TRAINER = {
    .title = "trainer",
    .prefix = "",
    .kind_flag = NULL,
    .kinds = no_kinds,
    .kind_count = 1,
    .kind_name = NULL,
    .count = trainer_count,
    .info = trainer_info,
    .set_int = trainer_set_int,
    .set_double = NULL,
    .get_int = trainer_get_int,
    .get_double = NULL,
    .last_error = trainer_error,
};

static diffuse_status sampler_count(int kind, size_t *count)
{
    (void)kind;
    return diffuse_sampler_option_count(count);
}
static diffuse_status sampler_info(int kind, size_t index, diffuse_option_info *info)
{
    (void)kind;
    return diffuse_sampler_option_info(index, info);
}
static diffuse_status sampler_set_int(void *handle, int option, int64_t value)
{
    return diffuse_sampler_set_int(handle, (diffuse_sampler_option)option, value);
}
static diffuse_status sampler_set_double(void *handle, int option, double value)
{
    return diffuse_sampler_set_double(handle, (diffuse_sampler_option)option, value);
}
static diffuse_status sampler_get_int(const void *handle, int option, int64_t *value)
{
    return diffuse_sampler_get_int(handle, (diffuse_sampler_option)option, value);
}
static diffuse_status sampler_get_double(const void *handle, int option, double *value)
{
    return diffuse_sampler_get_double(handle, (diffuse_sampler_option)option, value);
}
static const char *sampler_error(const void *handle)
{
    return diffuse_sampler_last_error(handle);
}
const option_group GROUP_SAMPLER = {
    .title = "sampler",
    .prefix = "",
    .kind_flag = NULL,
    .kinds = no_kinds,
    .kind_count = 1,
    .kind_name = NULL,
    .count = sampler_count,
    .info = sampler_info,
    .set_int = sampler_set_int,
    .set_double = sampler_set_double,
    .get_int = sampler_get_int,
    .get_double = sampler_get_double,
    .last_error = sampler_error,
};

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
