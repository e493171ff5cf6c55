/* Flags on getopt_long, from the tool's tables and the library's option
 * introspection (see flags.h). */
#include "flags.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* getopt_long's values: the tool's flag i is FLAG_BASE + i, library flag j
 * LIBRARY_BASE + j (above every character getopt returns itself). */
#define FLAG_BASE 256
#define LIBRARY_BASE 1024
#define HELP_COLUMN 30

int flags_error(const command_flags *spec, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "diffuse %s: ", spec->command);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return -1;
}

int parse_int64(const char *text, int64_t *value)
{
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (text[0] == '\0' || text[0] == ' ' || text[0] == '+' || *end != '\0' || errno != 0)
        return -1;
    *value = parsed;
    return 0;
}

int parse_double(const char *text, double *value)
{
    char *end = NULL;
    double parsed = strtod(text, &end);
    if (text[0] == '\0' || text[0] == ' ' || *end != '\0' || !isfinite(parsed))
        return -1;
    *value = parsed;
    return 0;
}

/* ---- The library's flags ------------------------------------------------------ */

/* One flag per option name of a group (the union over its kinds). */
typedef struct library_flag {
    const option_group *group;
    const char *name; /* static storage, the library's */
    char *flag;       /* "--model-hidden-width", owned by parsed_flags */
} library_flag;

static int seen(const library_flag *list, size_t count, const option_group *group, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (list[i].group == group && strcmp(list[i].name, name) == 0)
            return 1;
    return 0;
}

static char *flag_name(const option_group *group, const char *name)
{
    size_t length = 2 + strlen(group->prefix) + strlen(name) + 1;
    char *text = malloc(length);
    if (text == NULL)
        return NULL;
    snprintf(text, length, "--%s%s", group->prefix, name);
    for (char *c = text; *c; c++)
        *c = *c == '_' ? '-' : *c;
    return text;
}

/* Adds the options of `group` not yet listed; -1 when out of memory. */
static int add_group(const option_group *group, library_flag **list, size_t *count)
{
    for (size_t k = 0; k < group->kind_count; k++) {
        size_t options = 0;
        if (group->count(group->kinds[k], &options) != DIFFUSE_OK)
            continue;
        for (size_t i = 0; i < options; i++) {
            diffuse_option_info info = {.size = sizeof info};
            if (group->info(group->kinds[k], i, &info) != DIFFUSE_OK ||
                seen(*list, *count, group, info.name))
                continue;
            library_flag *bigger = realloc(*list, (*count + 1) * sizeof **list);
            if (bigger == NULL)
                return -1;
            *list = bigger;
            bigger[*count] = (library_flag){group, info.name, flag_name(group, info.name)};
            if (bigger[(*count)++].flag == NULL)
                return -1;
        }
    }
    return 0;
}

/* Every library flag of the command; the names go to `parsed`. */
static int library_flags(const command_flags *spec, parsed_flags *parsed, library_flag **list,
                         size_t *count)
{
    *list = NULL;
    *count = 0;
    int failed = 0;
    for (size_t g = 0; g < spec->group_count && !failed; g++)
        failed = add_group(spec->groups[g], list, count) != 0;
    parsed->names = malloc((*count + 1) * sizeof *parsed->names);
    failed = failed || parsed->names == NULL;
    for (size_t j = 0; j < *count; j++) {
        if (parsed->names != NULL)
            parsed->names[parsed->name_count++] = (*list)[j].flag;
        else
            free((*list)[j].flag);
    }
    return failed ? -1 : 0;
}

/* ---- Parsing ------------------------------------------------------------------ */

static struct option *long_options(const command_flags *spec, const library_flag *list,
                                   size_t count)
{
    struct option *options = calloc(spec->flag_count + count + 2, sizeof *options);
    if (options == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < spec->flag_count; i++)
        options[n++] = (struct option){spec->flags[i].name,
                                       spec->flags[i].metavar ? required_argument : no_argument,
                                       NULL, FLAG_BASE + (int)i};
    for (size_t j = 0; j < count; j++)
        options[n++] =
            (struct option){list[j].flag + 2, required_argument, NULL, LIBRARY_BASE + (int)j};
    options[n] = (struct option){"help", no_argument, NULL, 'h'};
    return options;
}

/* getopt_long's result `c` for argv[optind − 1]: 0, 1 (help), -1 (error). */
static int take(const command_flags *spec, int c, const library_flag *list, int argc, char **argv,
                parsed_flags *parsed)
{
    const char *text = argv[optind - 1 < argc ? optind - 1 : argc - 1];
    if (c == 'h')
        return 1;
    if (c == ':')
        return flags_error(spec, "%s needs a value (see diffuse %s --help)", text, spec->command);
    if (c == '?' && optopt != 0)
        return flags_error(spec, "unknown option -%c (see diffuse %s --help)", optopt,
                           spec->command);
    if (c == '?')
        return flags_error(spec, "unknown or ambiguous option %s (see diffuse %s --help)", text,
                           spec->command);
    if (c < LIBRARY_BASE) {
        parsed->given[c - FLAG_BASE] = optarg ? optarg : "";
        return 0;
    }
    const library_flag *lib = &list[c - LIBRARY_BASE];
    parsed->values[parsed->value_count++] =
        (option_value){lib->group, lib->name, lib->flag, optarg};
    return 0;
}

int flags_parse(const command_flags *spec, int argc, char **argv, parsed_flags *out)
{
    memset(out, 0, sizeof *out);
    library_flag *list = NULL;
    size_t count = 0;
    struct option *options = NULL;
    int status = library_flags(spec, out, &list, &count);
    options = status == 0 ? long_options(spec, list, count) : NULL;
    /* At most one value an argument. */
    out->values = options ? malloc((size_t)argc * sizeof *out->values) : NULL;
    if (out->values == NULL)
        status = flags_error(spec, "out of memory");
    optind = 0; /* glibc: restart the scan */
    opterr = 0;
    int c, index = 0;
    while (status == 0 && (c = getopt_long(argc, argv, ":h", options, &index)) != -1)
        status = take(spec, c, list, argc, argv, out);
    if (status == 0 && spec->operand != NULL && optind < argc)
        out->operand = argv[optind++];
    if (status == 0 && optind < argc)
        status = flags_error(spec, "unexpected argument \"%s\" (see diffuse %s --help)",
                             argv[optind], spec->command);
    if (status == 1)
        flags_help(spec, stdout);
    free(options);
    free(list);
    return status;
}

void flags_free(parsed_flags *parsed)
{
    for (size_t i = 0; i < parsed->name_count; i++)
        free(parsed->names[i]);
    free(parsed->names);
    free(parsed->values);
    memset(parsed, 0, sizeof *parsed);
}

size_t flags_count(const parsed_flags *parsed, const option_group *group)
{
    size_t n = 0;
    for (size_t i = 0; i < parsed->value_count; i++)
        n += parsed->values[i].group == group;
    return n;
}

int flags_uint(const command_flags *spec, const parsed_flags *parsed, size_t index, uint64_t min,
               uint64_t max, uint64_t *value)
{
    const char *text = parsed->given[index];
    int64_t parsed_value = 0;
    if (text == NULL)
        return 0;
    if (parse_int64(text, &parsed_value) != 0 || parsed_value < 0 || (uint64_t)parsed_value < min ||
        (uint64_t)parsed_value > max)
        return flags_error(spec, "--%s: \"%s\" is not a whole number in [%llu, %llu]",
                           spec->flags[index].name, text, (unsigned long long)min,
                           (unsigned long long)max);
    *value = (uint64_t)parsed_value;
    return 0;
}

/* ---- Values of library options ------------------------------------------------ */

/* Shortest text that reads back as v (whole numbers without an exponent). */
static void format_double(double v, char *buffer, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buffer, size, "%.0f", v);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buffer, size, "%.*g", precision, v);
        if (strtod(buffer, NULL) == v)
            return;
    }
}

void flags_format_value(const diffuse_option_info *info, int64_t i, double d, char *buffer,
                        size_t size)
{
    name_list names = option_value_names(info->name);
    if (!info->is_double && i >= 0 && (size_t)i < names.count)
        snprintf(buffer, size, "%s", names.names[i]);
    else if (!info->is_double)
        snprintf(buffer, size, "%lld", (long long)i);
    else
        format_double(d, buffer, size);
}

/* The text of a value: a name of an enum option, else a number. */
static int parse_value(const diffuse_option_info *info, const char *text, int64_t *i, double *d)
{
    name_list names = option_value_names(info->name);
    if (names.count > 0) {
        int index = name_index(names, text);
        *i = index;
        return index >= 0 ? 0 : -1;
    }
    return info->is_double ? parse_double(text, d) : parse_int64(text, i);
}

/* "a whole number", "one of silu|gelu", for an error message. */
static void describe_type(const diffuse_option_info *info, char *buffer, size_t size)
{
    name_list names = option_value_names(info->name);
    if (names.count == 0) {
        snprintf(buffer, size, "%s", info->is_double ? "a finite number" : "a whole number");
        return;
    }
    size_t used = (size_t)snprintf(buffer, size, "one of ");
    for (size_t k = 0; k < names.count && used < size; k++)
        used += (size_t)snprintf(buffer + used, size - used, "%s%s", k ? "|" : "", names.names[k]);
}

typedef struct pending {
    const option_value *value;
    diffuse_option_info info;
    int64_t i;
    double d;
    int done;
} pending;

/* Resolves and parses the group's values into items; -1 on the first bad one. */
static int resolve(const command_flags *spec, const parsed_flags *parsed, const option_group *group,
                   int kind, pending *items, size_t *count)
{
    *count = 0;
    for (size_t v = 0; v < parsed->value_count; v++) {
        const option_value *value = &parsed->values[v];
        if (value->group != group)
            continue;
        pending *item = &items[(*count)++];
        *item = (pending){value, {.size = sizeof item->info}, 0, 0.0, 0};
        if (group_find(group, kind, value->name, &item->info) != 0)
            return flags_error(spec, "%s does not apply to --%s %s", value->flag, group->kind_flag,
                               group->kind_name(kind));
        /* A library newer than the tool may add real-valued options to a family
         * that had none. */
        if (item->info.is_double && group->set_double == NULL)
            return flags_error(spec, "%s: this diffuse cannot set real-valued %s options",
                               value->flag, group->title);
        char type[96];
        describe_type(&item->info, type, sizeof type);
        if (parse_value(&item->info, value->text, &item->i, &item->d) != 0)
            return flags_error(spec, "%s: \"%s\" is not %s", value->flag, value->text, type);
    }
    return 0;
}

static diffuse_status set_one(const option_group *group, void *handle, const pending *item)
{
    return item->info.is_double ? group->set_double(handle, item->info.option, item->d)
                                : group->set_int(handle, item->info.option, item->i);
}

int flags_apply(const command_flags *spec, const parsed_flags *parsed, const option_group *group,
                int kind, void *handle)
{
    pending *items = malloc((parsed->value_count + 1) * sizeof *items);
    size_t count = 0, left = 0;
    if (items == NULL)
        return flags_error(spec, "out of memory");
    int status = resolve(spec, parsed, group, kind, items, &count);
    char message[512] = "";
    const pending *refused = NULL;
    for (left = status == 0 ? count : 0; left > 0;) {
        size_t before = left;
        refused = NULL;
        for (size_t k = 0; k < count; k++) {
            if (items[k].done)
                continue;
            if (set_one(group, handle, &items[k]) == DIFFUSE_OK) {
                items[k].done = 1;
                left--;
            } else if (refused == NULL) {
                refused = &items[k];
                snprintf(message, sizeof message, "%s", group->last_error(handle));
            }
        }
        if (left == before)
            break;
    }
    if (status == 0 && left > 0)
        status =
            flags_error(spec, "%s %s: %s", refused->value->flag, refused->value->text, message);
    free(items);
    return status;
}

/* ---- Help --------------------------------------------------------------------- */

/* "  left      text", the text on a line of its own when left is too wide. */
static void print_row(FILE *stream, const char *left, const char *text)
{
    size_t width = strlen(left) + 2;
    if (width + 1 >= HELP_COLUMN)
        fprintf(stream, "  %s\n%*s%s\n", left, HELP_COLUMN, "", text);
    else
        fprintf(stream, "  %s%*s%s\n", left, (int)(HELP_COLUMN - width), "", text);
}

/* "[1, 65536]", "(0, 1]", "[0, 1)": the inclusive bounds as a reader expects. */
static void format_bounds(const diffuse_option_info *info, char *buffer, size_t size)
{
    char low[32], high[32];
    if (!info->is_double) {
        snprintf(buffer, size, "[%.0f, %.0f]", info->min, info->max);
        return;
    }
    int open_low = info->min > 0 && info->min < 1e-300;
    snprintf(low, sizeof low, "%.6g", open_low ? 0.0 : info->min);
    snprintf(high, sizeof high, "%.6g", info->max);
    int open_high = strtod(high, NULL) != info->max;
    snprintf(buffer, size, "%s%s, %s%s", open_low ? "(" : "[", low, high, open_high ? ")" : "]");
}

/* "default 0.0001 (linear, sigmoid), 0.00085 (scaled_linear)": per kind,
 * the kinds named unless the option applies to all of them alike. */
static void format_defaults(const option_group *group, const char *name, char *buffer, size_t size)
{
    struct {
        char text[32], kinds[96];
    } entries[8];
    size_t n = 0, applies = 0;
    for (size_t k = 0; k < group->kind_count; k++) {
        diffuse_option_info info = {.size = sizeof info};
        char text[32];
        if (group_find(group, group->kinds[k], name, &info) != 0)
            continue;
        applies++;
        flags_format_value(&info, (int64_t)info.default_value, info.default_value, text,
                           sizeof text);
        size_t e = 0;
        while (e < n && strcmp(entries[e].text, text) != 0)
            e++;
        if (e == n && n == sizeof entries / sizeof entries[0])
            continue;
        if (e == n) {
            snprintf(entries[n].text, sizeof entries[n].text, "%s", text);
            entries[n++].kinds[0] = '\0';
        }
        if (group->kind_name != NULL) {
            size_t used = strlen(entries[e].kinds);
            snprintf(entries[e].kinds + used, sizeof entries[e].kinds - used, "%s%s",
                     used ? ", " : "", group->kind_name(group->kinds[k]));
        }
    }
    int plain = n == 1 && applies == group->kind_count;
    size_t used = (size_t)snprintf(buffer, size, "default ");
    for (size_t e = 0; e < n && used < size; e++)
        used += (size_t)snprintf(buffer + used, size - used, plain ? "%s%s" : "%s%s (%s)",
                                 e ? ", " : "", entries[e].text, entries[e].kinds);
}

/* Two lines: the flag and what it does; its type, bounds and defaults. */
static void print_library_flag(FILE *stream, const library_flag *lib)
{
    diffuse_option_info info = {.size = sizeof info};
    for (size_t k = 0; k < lib->group->kind_count; k++)
        if (group_find(lib->group, lib->group->kinds[k], lib->name, &info) == 0)
            break;
    char left[96], type[96], bounds[96], defaults[1200], text[1400];
    name_list names = option_value_names(info.name);
    describe_type(&info, type, sizeof type);
    snprintf(left, sizeof left, "%s %s", lib->flag,
             names.count      ? type + strlen("one of ")
             : info.is_double ? "X"
                              : "N");
    print_row(stream, left, option_description(lib->group->title, lib->name));
    format_bounds(&info, bounds, sizeof bounds);
    format_defaults(lib->group, lib->name, defaults, sizeof defaults);
    if (names.count)
        snprintf(text, sizeof text, "%s", defaults);
    else
        snprintf(text, sizeof text, "%s in %s; %s", info.is_double ? "real" : "integer", bounds,
                 defaults);
    print_row(stream, "", text);
}

static void print_group(FILE *stream, const option_group *group)
{
    library_flag *list = NULL;
    size_t count = 0;
    if (add_group(group, &list, &count) == 0) {
        char choices[128] = "";
        if (group->kind_flag != NULL)
            snprintf(choices, sizeof choices, " (which apply depends on --%s)", group->kind_flag);
        fprintf(stream, "\n%c%s options%s:\n", group->title[0] - 'a' + 'A', group->title + 1,
                choices);
        for (size_t j = 0; j < count; j++)
            print_library_flag(stream, &list[j]);
    }
    for (size_t j = 0; j < count; j++)
        free(list[j].flag);
    free(list);
}

void flags_help(const command_flags *spec, FILE *stream)
{
    fprintf(stream, "usage: %s\n\n%s\n\nOptions:\n", spec->usage, spec->about);
    for (size_t i = 0; i < spec->flag_count; i++) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", spec->flags[i].name,
                 spec->flags[i].metavar ? " " : "",
                 spec->flags[i].metavar ? spec->flags[i].metavar : "");
        print_row(stream, left, spec->flags[i].help);
    }
    print_row(stream, "-h, --help", "show this help and exit");
    for (size_t g = 0; g < spec->group_count; g++)
        print_group(stream, spec->groups[g]);
}
