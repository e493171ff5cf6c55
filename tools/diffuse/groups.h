/* The library's option families as the tool sees them: one table of
 * function pointers over each diffuse_*_option_info / _set_* / _get_*
 * family, so that flags, help and `info` are written once for all of them
 * (tools/diffuse, not part of libdiffuse). */
#ifndef DIFFUSE_CLI_GROUPS_H
#define DIFFUSE_CLI_GROUPS_H

#include <diffuse/diffuse.h>

typedef struct option_group {
    const char *title;     /* "model": help heading, names.h's key, JSON key */
    const char *prefix;    /* of its flags: "model-" gives --model-hidden-width */
    const char *kind_flag; /* the flag choosing the kind ("arch"), NULL: no kinds */
    const int *kinds;      /* the kinds a user may choose (all: one, -1, without kinds) */
    size_t kind_count;
    const char *(*kind_name)(int kind); /* NULL without kinds */
    diffuse_status (*count)(int kind, size_t *count);
    diffuse_status (*info)(int kind, size_t index, diffuse_option_info *info);
    /* On the group's handle: the model's config, a schedule, an optimizer,
     * a trainer, a sampler. set_double/get_double are NULL where the
     * family has no double options. */
    diffuse_status (*set_int)(void *handle, int option, int64_t value);
    diffuse_status (*set_double)(void *handle, int option, double value);
    diffuse_status (*get_int)(const void *handle, int option, int64_t *value);
    diffuse_status (*get_double)(const void *handle, int option, double *value);
    const char *(*last_error)(const void *handle);
} option_group;

extern const option_group GROUP_MODEL, GROUP_SCHEDULE, GROUP_OPTIMIZER, GROUP_TRAINER,
    GROUP_SAMPLER;

/* The kind called `name` among group->kinds, or -1. */
int group_kind(const option_group *group, const char *name);

/* "mlp|unet": the kinds a user may choose, into buffer. */
const char *group_kind_choices(const option_group *group, char *buffer, size_t size);

/* Option `name` of `kind`: 0 and *info, or -1 when it does not apply. */
int group_find(const option_group *group, int kind, const char *name, diffuse_option_info *info);

#endif
