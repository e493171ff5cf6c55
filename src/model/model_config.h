/* The model configuration handle (internal): architecture, data dimension
 * and the typed options of include/diffuse/model.h.
 *
 * Options are described once in a table (model_config.c) that says, for
 * each option, its name, type, bounds, default and the architectures it
 * applies to; every public config function is generic over that table. A
 * new architecture adds rows (and reuses existing ones) without touching the
 * functions. */
#ifndef DIFFUSE_SRC_MODEL_CONFIG_H
#define DIFFUSE_SRC_MODEL_CONFIG_H

#include <stdint.h>

#include "diffuse/model.h"
#include "util/error.h"

/* One more than the largest diffuse_model_option value. */
#define MODEL_OPTION_COUNT 25

struct diffuse_model_config {
    diffuse_error error;
    diffuse_architecture architecture;
    size_t dim;
    /* values[option]; int options are stored exactly (|v| < 2^53). Options
     * that do not apply to the architecture keep their defaults. */
    double values[MODEL_OPTION_COUNT];
};

/* Value of an int / double option of a configuration that is known to be
 * valid (no checks: for architectures reading their own options). */
int64_t model_config_int(const diffuse_model_config *config, diffuse_model_option option);
double model_config_double(const diffuse_model_config *config, diffuse_model_option option);

/* A configuration for `arch` and `dim` with every option at its default;
 * `error` (may be NULL) receives the message on failure. */
diffuse_status model_config_new(diffuse_error *error, diffuse_model_config **out,
                                diffuse_architecture arch, size_t dim);

#endif
