/* The schedule section of a checkpoint (file layout: src/checkpoint.h): the
 * kind, T, the options that apply to the kind and a custom schedule's β;
 * the tables are rebuilt from these with schedule_create_from_config. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "core/schedule.h"

#define SCHEDULE_PREFIX "schedule."
#define SCHEDULE_KIND "schedule.kind"
#define SCHEDULE_BETAS "schedule.betas"

diffuse_status checkpoint_write_schedule(st_writer *w, const diffuse_schedule *s,
                                         diffuse_error *err)
{
    diffuse_status status =
        st_writer_add_metadata(w, SCHEDULE_KIND, schedule_kind_names[s->kind], err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata_int64(w, SCHEDULE_PREFIX "steps", (int64_t)s->steps, err);
    /* Each option by its type (ZERO_TERMINAL_SNR as "0" / "1"); the reader
     * takes every one as a double (libdiffuse 0.1 wrote "0.0"), and
     * schedule_create_from_config checks that int options are whole. */
    for (int k = 0; status == DIFFUSE_OK && k < SCHEDULE_OPTION_COUNT; k++) {
        diffuse_schedule_option option = (diffuse_schedule_option)k;
        if (!schedule_option_applies(s->kind, option))
            continue;
        char key[CHECKPOINT_KEY_SIZE];
        checkpoint_key(key, SCHEDULE_PREFIX, schedule_option_name(option));
        status = checkpoint_write_number(w, key, schedule_option_is_double(option),
                                         s->options[k], err);
    }
    if (status == DIFFUSE_OK && s->kind == DIFFUSE_SCHEDULE_CUSTOM)
        status = st_writer_add_tensor(w, SCHEDULE_BETAS, ST_F64, 1, &s->steps, s->custom_betas,
                                      s->steps * sizeof *s->custom_betas, err);
    return status;
}

static diffuse_status read_schedule_kind(const st_file *f, diffuse_schedule_kind *kind,
                                         diffuse_error *err)
{
    size_t index = 0;
    diffuse_status status = checkpoint_read_name(f, SCHEDULE_KIND, schedule_kind_names,
                                                 SCHEDULE_KIND_COUNT, "not a schedule kind",
                                                 &index, err);
    if (status == DIFFUSE_OK)
        *kind = (diffuse_schedule_kind)index;
    return status;
}

static diffuse_status read_schedule_options(const st_file *f, diffuse_schedule_kind kind,
                                            double options[SCHEDULE_OPTION_COUNT],
                                            diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    for (int k = 0; status == DIFFUSE_OK && k < SCHEDULE_OPTION_COUNT; k++) {
        diffuse_schedule_option option = (diffuse_schedule_option)k;
        options[k] = 0.0;
        if (!schedule_option_applies(kind, option))
            continue;
        char key[CHECKPOINT_KEY_SIZE];
        checkpoint_key(key, SCHEDULE_PREFIX, schedule_option_name(option));
        status = st_metadata_double(f, key, -DBL_MAX, DBL_MAX, &options[k], err);
    }
    return status;
}

/* A copy of the custom β (the file's bytes need not be 8-byte aligned). */
static diffuse_status read_custom_betas(const st_file *f, size_t steps, double **out,
                                        diffuse_error *err)
{
    const void *data;
    diffuse_status status = st_find(f, SCHEDULE_BETAS, ST_F64, 1, &steps, &data, err);
    if (status == DIFFUSE_ERROR_MISMATCH)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "%s", err->message);
    if (status != DIFFUSE_OK)
        return status;
    *out = malloc(steps * sizeof **out);
    if (*out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu betas", steps);
    memcpy(*out, data, steps * sizeof **out);
    return DIFFUSE_OK;
}

diffuse_status checkpoint_read_schedule(const st_file *f, diffuse_schedule **schedule,
                                        size_t *tensors_used, diffuse_error *err)
{
    *schedule = NULL;
    diffuse_schedule_kind kind = DIFFUSE_SCHEDULE_LINEAR;
    int64_t steps;
    double options[SCHEDULE_OPTION_COUNT];
    double *betas = NULL;
    diffuse_status status = read_schedule_kind(f, &kind, err);
    if (status == DIFFUSE_OK)
        status = st_metadata_int64(f, SCHEDULE_PREFIX "steps", 1, DIFFUSE_SCHEDULE_MAX_STEPS,
                                   &steps, err);
    if (status == DIFFUSE_OK)
        status = read_schedule_options(f, kind, options, err);
    if (status == DIFFUSE_OK && kind == DIFFUSE_SCHEDULE_CUSTOM)
        status = read_custom_betas(f, (size_t)steps, &betas, err);
    if (status == DIFFUSE_OK) {
        /* Rebuilt and validated exactly as the public constructors do. */
        diffuse_error build_error = {{0}};
        status = schedule_create_from_config(schedule, &build_error, kind, (size_t)steps,
                                             options, betas);
        if (status != DIFFUSE_OK)
            status = checkpoint_rejected(err, status, "the schedule configuration",
                                         build_error.message);
    }
    free(betas);
    if (status == DIFFUSE_OK && kind == DIFFUSE_SCHEDULE_CUSTOM)
        *tensors_used += 1;
    return status;
}
