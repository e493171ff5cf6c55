/* Command-line flags of the subcommands, on getopt_long: the tool's own
 * flags (a table per subcommand) and one flag per library option, made from
 * the library's option introspection (`--model-hidden-width`,
 * `--optimizer-learning-rate`, `--seed`); --help is generated from the same
 * tables (tools/diffuse, not part of libdiffuse). */
#ifndef DIFFUSE_CLI_FLAGS_H
#define DIFFUSE_CLI_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "groups.h"

/* One of the tool's own flags. */
typedef struct flag {
    const char *name;    /* long name without "--" */
    const char *metavar; /* "N" for a flag with a value; NULL for a switch */
    const char *help;    /* one line, with the default */
} flag;

#define FLAGS_MAX 32

/* A subcommand's flags: its own, then those of the library option groups. */
typedef struct command_flags {
    const char *command; /* "train", for messages */
    const char *usage;   /* the synopsis after "usage: " */
    const char *about;   /* a paragraph after the synopsis */
    const flag *flags;
    size_t flag_count; /* at most FLAGS_MAX */
    const option_group *const *groups;
    size_t group_count;
    const char *operand; /* the one argument that is not a flag ("CHECKPOINT"), or NULL */
} command_flags;

/* A value given for a library option, applied once its handle exists. */
typedef struct option_value {
    const option_group *group;
    const char *name; /* the option's name ("hidden_width"), static storage */
    const char *flag; /* "--model-hidden-width" */
    const char *text; /* the argument, from argv */
} option_value;

typedef struct parsed_flags {
    const char *given[FLAGS_MAX]; /* flag i's argument ("" for a switch), NULL if absent */
    option_value *values;         /* in command-line order */
    size_t value_count;
    char **names; /* the generated flag names ("--model-hidden-width"), owned */
    size_t name_count;
    const char *operand; /* the argument that is not a flag, NULL if none */
} parsed_flags;

/* Parses argv[1 …] (argv[0] is the subcommand's name). Returns 0; 1 after
 * printing the help (--help, -h); -1 after printing an error. Free *out
 * with flags_free in every case. */
int flags_parse(const command_flags *spec, int argc, char **argv, parsed_flags *out);
void flags_free(parsed_flags *parsed);

/* Writes the subcommand's help: usage, about, every flag with its default. */
void flags_help(const command_flags *spec, FILE *stream);

/* Sets every value given for `group` on `handle`, of kind `kind` (-1
 * without kinds). A flag that does not apply to the kind, a bad value or
 * one the library refuses is reported (with the library's message) and
 * gives -1. Values are tried in order, and those refused retried after the
 * others, so that bounds depending on another option (beta_start ≤
 * beta_end) do not depend on the order of the flags. */
int flags_apply(const command_flags *spec, const parsed_flags *parsed, const option_group *group,
                int kind, void *handle);

/* The number of values given for `group`. */
size_t flags_count(const parsed_flags *parsed, const option_group *group);

/* Flag `index`'s argument as an integer in [min, max] into *value (left
 * alone when the flag is absent). Returns 0, or -1 after printing why. */
int flags_uint(const command_flags *spec, const parsed_flags *parsed, size_t index, uint64_t min,
               uint64_t max, uint64_t *value);

/* Prints "diffuse COMMAND: message" on stderr; returns -1. */
int flags_error(const command_flags *spec, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* An option's value as the tool shows it: the name of an enum value
 * ("silu"), an integer, or the shortest text that reads back as the double. */
void flags_format_value(const diffuse_option_info *info, int64_t i, double d, char *buffer,
                        size_t size);

/* Strict numbers: the whole text, no spaces; 0 or -1. */
int parse_int64(const char *text, int64_t *value);
int parse_double(const char *text, double *value);

#endif
