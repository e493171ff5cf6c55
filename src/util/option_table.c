/* Typed options keyed by enum, with bounds (see option_table.h). */
#include "util/option_table.h"

#include <inttypes.h>
#include <math.h>

const option_spec *option_find(diffuse_error *error, const option_table *table, int id,
                               bool want_double)
{
    if (id < 0 || (size_t)id >= table->count) {
        diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown %s option %d",
                     table->owner, id);
        return NULL;
    }
    const option_spec *spec = &table->specs[id];
    if (spec->is_double != want_double) {
        diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                     "%s option %s is %s-valued; use the %s setter/getter", table->owner,
                     spec->name, spec->is_double ? "double" : "integer",
                     spec->is_double ? "double" : "int");
        return NULL;
    }
    return spec;
}

diffuse_status option_check_int(diffuse_error *error, const option_table *table, int id,
                                int64_t value)
{
    const option_spec *spec = option_find(error, table, id, false);
    if (spec == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    /* Integer bounds are whole numbers far below 2^63: exact as int64_t. */
    if (value < (int64_t)spec->min || value > (int64_t)spec->max)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "%s option %s = %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]",
                            table->owner, spec->name, value, (int64_t)spec->min,
                            (int64_t)spec->max);
    return DIFFUSE_OK;
}

diffuse_status option_set_int(diffuse_error *error, const option_table *table, double *values,
                              int id, int64_t value)
{
    diffuse_status status = option_check_int(error, table, id, value);
    if (status == DIFFUSE_OK)
        values[id] = (double)value;
    return status;
}

/* Whether a double is a whole number that int64_t holds exactly. */
static bool is_int64(double value)
{
    return value == floor(value) && value >= -0x1p63 && value < 0x1p63;
}

diffuse_status option_set(diffuse_error *error, const option_table *table, double *values,
                          int id, double value, bool is_double)
{
    if (!is_double && is_int64(value)) /* printed as an integer */
        return option_set_int(error, table, values, id, (int64_t)value);
    const option_spec *spec = option_find(error, table, id, is_double);
    if (spec == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    if (!isfinite(value))
        return diffuse_fail(error, DIFFUSE_ERROR_NUMERIC, "%s option %s: value is not finite",
                            table->owner, spec->name);
    if (value < spec->min || value > spec->max)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "%s option %s = %.17g is outside [%.17g, %.17g]", table->owner,
                            spec->name, value, spec->min, spec->max);
    values[id] = value;
    return DIFFUSE_OK;
}

diffuse_status option_get_double(diffuse_error *error, const option_table *table,
                                 const double *values, int id, double *value)
{
    if (option_find(error, table, id, true) == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *value = values[id];
    return DIFFUSE_OK;
}

diffuse_status option_get_int(diffuse_error *error, const option_table *table,
                              const double *values, int id, int64_t *value)
{
    if (option_find(error, table, id, false) == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *value = (int64_t)values[id];
    return DIFFUSE_OK;
}

static diffuse_status check_bounds_pointers(diffuse_error *error, const void *min,
                                            const void *max)
{
    diffuse_status status = diffuse_check_pointer(error, min, "min");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error, max, "max");
    return status;
}

diffuse_status option_bounds(diffuse_error *error, const option_table *table, int id,
                             bool want_double, double *min, double *max)
{
    diffuse_status status = check_bounds_pointers(error, min, max);
    if (status != DIFFUSE_OK)
        return status;
    const option_spec *spec = option_find(error, table, id, want_double);
    if (spec == NULL)
        return DIFFUSE_ERROR_INVALID_ARGUMENT;
    *min = spec->min;
    *max = spec->max;
    return DIFFUSE_OK;
}

diffuse_status option_int_bounds(diffuse_error *error, const option_table *table, int id,
                                 int64_t *min, int64_t *max)
{
    double low = 0.0, high = 0.0;
    diffuse_status status = check_bounds_pointers(error, min, max);
    if (status == DIFFUSE_OK)
        status = option_bounds(error, table, id, false, &low, &high);
    if (status == DIFFUSE_OK) {
        *min = (int64_t)low;
        *max = (int64_t)high;
    }
    return status;
}

void option_defaults(const option_table *table, double *values)
{
    for (size_t i = 0; i < table->count; i++)
        values[i] = table->specs[i].default_value;
}

diffuse_status option_count(const option_table *table, uint32_t applies, size_t *count)
{
    diffuse_status status = diffuse_check_pointer(NULL, count, "count");
    if (status != DIFFUSE_OK)
        return status;
    size_t found = 0;
    for (size_t id = 0; id < table->count; id++)
        found += (applies & OPTION_BIT(id)) != 0;
    *count = found;
    return DIFFUSE_OK;
}

diffuse_status option_info(const option_table *table, uint32_t applies, const double *defaults,
                           size_t index, diffuse_option_info *info)
{
    diffuse_status status = diffuse_check_pointer(NULL, info, "info");
    if (status != DIFFUSE_OK)
        return status;
    if (info->size < sizeof *info)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "info->size = %zu is smaller than sizeof(diffuse_option_info) = %zu",
                            info->size, sizeof *info);
    size_t seen = 0;
    for (size_t id = 0; id < table->count; id++) {
        if ((applies & OPTION_BIT(id)) == 0 || seen++ != index)
            continue;
        const option_spec *spec = &table->specs[id];
        info->option = (int)id;
        info->name = spec->name;
        info->is_double = spec->is_double;
        info->min = spec->min;
        info->max = spec->max;
        info->default_value = defaults != NULL ? defaults[id] : spec->default_value;
        return DIFFUSE_OK;
    }
    return diffuse_fail(NULL, DIFFUSE_ERROR_OUT_OF_RANGE, "%s option index %zu is outside [0, %zu)",
                        table->owner, index, seen);
}
