/* Typed options keyed by enum, with bounds (internal).
 *
 * A handle that has options describes them once in a static table; the
 * generic functions here validate ids, types and bounds and produce the
 * messages, so every handle rejects bad values the same way. Values are
 * stored as double (int options are exact up to 2^53, far beyond any bound). */
#ifndef DIFFUSE_SRC_OPTION_TABLE_H
#define DIFFUSE_SRC_OPTION_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct option_spec {
    const char *name;     /* for messages and checkpoints, e.g. "batch_size" */
    bool is_double;       /* false: an integer option */
    double min, max;      /* inclusive bounds */
    double default_value;
} option_spec;

typedef struct option_table {
    const char *owner;        /* "trainer", "sampler": for messages */
    const option_spec *specs; /* indexed by option id */
    size_t count;
} option_table;

/* The spec of option `id`, or NULL (with a message) when the id is unknown
 * or the option is not of the requested type. */
const option_spec *option_find(diffuse_error *error, const option_table *table, int id,
                               bool want_double);

/* Validates `value` for option `id` and stores it in values[id]. */
diffuse_status option_set(diffuse_error *error, const option_table *table, double *values,
                          int id, double value, bool is_double);

/* The same for an integer option given as an integer, so that the message
 * shows the caller's value exactly (a double rounds 2^53 + 1).
 * option_check_int validates only. */
diffuse_status option_set_int(diffuse_error *error, const option_table *table, double *values,
                              int id, int64_t value);
diffuse_status option_check_int(diffuse_error *error, const option_table *table, int id,
                                int64_t value);

/* values[id] of option `id`, type-checked like option_find (an int
 * option's value is stored exactly). The caller has checked `value`. */
diffuse_status option_get_double(diffuse_error *error, const option_table *table,
                                 const double *values, int id, double *value);
diffuse_status option_get_int(diffuse_error *error, const option_table *table,
                              const double *values, int id, int64_t *value);

/* Bounds of option `id`: min and max must not be NULL (checked first, then
 * the id and type as in option_find). The _int form for integer options. */
diffuse_status option_bounds(diffuse_error *error, const option_table *table, int id,
                             bool want_double, double *min, double *max);
diffuse_status option_int_bounds(diffuse_error *error, const option_table *table, int id,
                                 int64_t *min, int64_t *max);

/* values[i] = default of option i, for every option of the table. */
void option_defaults(const option_table *table, double *values);

/* Introspection (the public diffuse_<handle>_option_count / _option_info,
 * see diffuse/common.h). `applies` has bit k set when option k applies to
 * the kind asked about (OPTION_ALL: every option); `defaults`, when not
 * NULL, holds that kind's defaults indexed by option (NULL: the specs').
 * Messages go to the thread's slot: these calls have no handle. */
#define OPTION_ALL UINT32_MAX
#define OPTION_BIT(option) ((uint32_t)1 << (option))

diffuse_status option_count(const option_table *table, uint32_t applies, size_t *count);
diffuse_status option_info(const option_table *table, uint32_t applies, const double *defaults,
                           size_t index, diffuse_option_info *info);

#endif
