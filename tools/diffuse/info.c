/* `diffuse info`: what a checkpoint holds, for people or as JSON. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "names.h"

enum { F_JSON, F_COUNT };

static const flag info_flags[F_COUNT] = {
    [F_JSON] = {"json", NULL, "print one JSON object instead of text"},
};

static const command_flags info_spec = {
    "info",
    "diffuse info [--json] CHECKPOINT",
    "Shows a checkpoint's configuration: the model's architecture, dimension, parameter\n"
    "count and options, whether it has EMA weights, its schedule and, for a trainer\n"
    "checkpoint, the optimizer's state and the trainer's options. Enum options are\n"
    "shown by name, numbers so that they read back exactly.",
    info_flags,
    F_COUNT,
    NULL,
    0,
    "CHECKPOINT",
};

typedef struct checkpoint {
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
} checkpoint;

/* A trainer file, or else a model file. */
static int load(const char *path, checkpoint *c)
{
    diffuse_status status =
        diffuse_trainer_load(path, &c->model, &c->schedule, &c->optimizer, &c->trainer);
    if (status == DIFFUSE_ERROR_MISMATCH)
        status = diffuse_model_load(path, &c->model, &c->schedule);
    return status == DIFFUSE_OK ? 0 : flags_error(&info_spec, "%s", diffuse_last_error());
}

static void json_string(const char *text)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* The options of `group` (of `kind`) on `handle`, as lines or JSON members. */
static void print_options(const option_group *group, int kind, const void *handle, int json)
{
    size_t count = 0, shown = 0;
    group->count(kind, &count);
    for (size_t i = 0; i < count; i++) {
        diffuse_option_info info = {.size = sizeof info};
        int64_t n = 0;
        double d = 0.0;
        char text[64];
        /* (a real-valued option the tool has no getter for is left out) */
        if (group->info(kind, i, &info) != DIFFUSE_OK ||
            (info.is_double && group->get_double == NULL))
            continue;
        if (info.is_double ? group->get_double(handle, info.option, &d)
                           : group->get_int(handle, info.option, &n))
            continue;
        flags_format_value(&info, n, d, text, sizeof text);
        const char *quote = option_value_names(info.name).count > 0 ? "\"" : "";
        if (json)
            printf("%s\"%s\": %s%s%s", shown ? ", " : "", info.name, quote, text, quote);
        else
            printf("  %-22s %s\n", info.name, text);
        shown++;
    }
}

/* One part of the checkpoint: a JSON member `key` whose object starts with
 * `json_fields` and ends with the options, or a text line and the options. */
static void print_section(const char *key, const char *json_fields, const char *text_line,
                          const option_group *group, int kind, const void *handle, int json)
{
    if (json)
        printf(", \"%s\": {%s%s\"options\": {", key, json_fields, *json_fields ? ", " : "");
    else
        printf("%s\n", text_line);
    print_options(group, kind, handle, json);
    if (json)
        printf("}}");
}

static void print_model(const checkpoint *c, int json)
{
    diffuse_architecture arch = DIFFUSE_ARCH_MLP;
    const diffuse_model_config *config = NULL;
    size_t dim = 0, params = 0;
    int ema = 0;
    const char *name = "?";
    diffuse_model_architecture(c->model, &arch);
    diffuse_model_architecture_name(arch, &name);
    diffuse_model_get_config(c->model, &config);
    diffuse_model_dim(c->model, &dim);
    diffuse_model_param_count(c->model, &params);
    diffuse_model_has_ema(c->model, &ema);
    char fields[256], line[256];
    snprintf(fields, sizeof fields,
             "\"architecture\": \"%s\", \"dim\": %zu, \"parameters\": %zu, \"ema\": %s", name, dim,
             params, ema ? "true" : "false");
    snprintf(line, sizeof line, "model: %s, dim %zu, %zu parameters, EMA weights: %s", name, dim,
             params, ema ? "yes" : "no");
    print_section("model", fields, line, &GROUP_MODEL, (int)arch, config, json);
}

/* A part with a kind and a count: "schedule: linear, T = 1000" or
 * "optimizer": {"kind": "adamw", "step": 24, …}. */
static void print_kind_section(const char *key, const option_group *group, int kind,
                               const char *count_key, const char *count_label, uint64_t count,
                               const void *handle, int json)
{
    const char *name = group->kind_name(kind);
    char fields[128], line[128];
    snprintf(fields, sizeof fields, "\"kind\": \"%s\", \"%s\": %llu", name, count_key,
             (unsigned long long)count);
    snprintf(line, sizeof line, "%s: %s, %s %llu", key, name, count_label,
             (unsigned long long)count);
    print_section(key, fields, line, group, kind, handle, json);
}

static void print_schedule(const checkpoint *c, int json)
{
    diffuse_schedule_kind kind = DIFFUSE_SCHEDULE_LINEAR;
    size_t steps = 0;
    diffuse_schedule_get_kind(c->schedule, &kind);
    diffuse_schedule_steps(c->schedule, &steps);
    print_kind_section("schedule", &GROUP_SCHEDULE, (int)kind, "steps", "T =", steps, c->schedule,
                       json);
}

static void print_training(const checkpoint *c, int json)
{
    diffuse_optimizer_kind kind = DIFFUSE_OPTIMIZER_ADAMW;
    uint64_t step = 0;
    diffuse_optimizer_get_kind(c->optimizer, &kind);
    diffuse_optimizer_step_count(c->optimizer, &step);
    print_kind_section("optimizer", &GROUP_OPTIMIZER, (int)kind, "step", "step", step, c->optimizer,
                       json);
    print_section("trainer", "", "trainer:", &GROUP_TRAINER, -1, c->trainer, json);
}

static void print_checkpoint(const char *path, const checkpoint *c, int json)
{
    const char *kind = c->trainer ? "trainer" : "model";
    if (json) {
        printf("{\"path\": ");
        json_string(path);
        printf(", \"kind\": \"%s\"", kind);
    } else {
        printf("checkpoint: %s (%s%s)\n", path, kind,
               c->trainer ? ": resumable with diffuse train --resume" : "");
    }
    print_model(c, json);
    print_schedule(c, json);
    if (c->trainer)
        print_training(c, json);
    if (json)
        printf("}\n");
}

int cli_info(int argc, char **argv)
{
    parsed_flags flags;
    checkpoint c = {NULL, NULL, NULL, NULL};
    int parsed = flags_parse(&info_spec, argc, argv, &flags);
    int status = parsed == 1 ? CLI_OK : CLI_USAGE;
    if (parsed == 0 && flags.operand == NULL) {
        flags_error(&info_spec, "which checkpoint? (see diffuse info --help)");
    } else if (parsed == 0) {
        status = CLI_FAILED;
        if (load(flags.operand, &c) == 0) {
            print_checkpoint(flags.operand, &c, flags.given[F_JSON] != NULL);
            status = fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        }
    }
    diffuse_trainer_free(c.trainer);
    diffuse_optimizer_free(c.optimizer);
    diffuse_model_free(c.model);
    diffuse_schedule_free(c.schedule);
    flags_free(&flags);
    return status;
}
