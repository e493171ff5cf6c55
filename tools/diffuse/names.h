/* What the library's introspection does not carry: the names of enum
 * values (kinds, methods) and one line describing each option, as the tool
 * shows and parses them (tools/diffuse, not part of libdiffuse). Types,
 * bounds and defaults come from diffuse_*_option_info. */
#ifndef DIFFUSE_CLI_NAMES_H
#define DIFFUSE_CLI_NAMES_H

#include <stddef.h>

/* A list of names; names[v] is the name of enum value v. */
typedef struct name_list {
    const char *const *names;
    size_t count;
} name_list;

/* Schedule kinds (diffuse_schedule_kind, "custom" included: checkpoints
 * may hold one; the tool cannot create it) and optimizer kinds. */
extern const name_list SCHEDULE_KINDS;
extern const name_list OPTIMIZER_KINDS;

/* The names of the values of the int option `option` ("activation": silu,
 * gelu) — a list of count 0 when its values are plain numbers. */
name_list option_value_names(const char *option);

/* The index of `text` in `list`, or -1. */
int name_index(name_list list, const char *text);

/* "width of every hidden layer" for ("model", "hidden_width"); "" when the
 * tool has no description (an option newer than the tool). */
const char *option_description(const char *group, const char *option);

#endif
