/* Checkpoints: the format metadata, tensor helpers and error reporting that
 * the other checkpoint_*.c files share (file layout: src/checkpoint.h). */
#include "io/checkpoint.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[] = {
    [CHECKPOINT_MODEL] = "model",
    [CHECKPOINT_TRAINER] = "trainer",
};

void checkpoint_key(char key[CHECKPOINT_KEY_SIZE], const char *prefix, const char *name)
{
    snprintf(key, CHECKPOINT_KEY_SIZE, "%s%s", prefix, name);
}

/* ---- Writing -------------------------------------------------------------- */

diffuse_status checkpoint_writer_create(st_writer **out, checkpoint_kind kind,
                                        diffuse_error *err)
{
    st_writer *w = NULL;
    diffuse_status status = st_writer_create(&w, err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata(w, "format", CHECKPOINT_FORMAT, err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata_int64(w, "format_version", CHECKPOINT_FORMAT_VERSION,
                                              err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata(w, "kind", kind_names[kind], err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata(w, "library_version", diffuse_version_string(), err);
    if (status == DIFFUSE_OK)
        status = st_writer_set_checksum(w, CHECKPOINT_CHECKSUM_KEY, err);
    if (status != DIFFUSE_OK) {
        st_writer_free(w);
        w = NULL;
    }
    *out = w;
    return status;
}

/* Enum options stored by the names of their values, indexed by value (the
 * enums of include/diffuse/model.h and optim.h): a number would mean
 * nothing to a reader of the file. */
static const char *const activation_names[] = {"silu", "gelu"};
static const char *const prediction_names[] = {"epsilon", "v", "x0"};
static const char *const lr_decay_names[] = {"none", "cosine", "linear"};
static const char *const decoder_names[] = {"discrete", "continuous"};

typedef struct named_option {
    const char *key;
    const char *const *names;
    size_t count;
} named_option;

#define NAMED(key, names) {key, names, sizeof names / sizeof names[0]}
static const named_option named_options[] = {
    NAMED("model.activation", activation_names),
    NAMED("model.prediction", prediction_names),
    NAMED("optimizer.decay", lr_decay_names),
    NAMED("trainer.decoder", decoder_names),
};

static const named_option *find_named(const char *key)
{
    for (size_t k = 0; k < sizeof named_options / sizeof named_options[0]; k++) {
        if (strcmp(named_options[k].key, key) == 0)
            return &named_options[k];
    }
    return NULL;
}

diffuse_status checkpoint_write_number(st_writer *w, const char *key, bool is_double,
                                       double value, diffuse_error *err)
{
    const named_option *named = find_named(key);
    /* The setters' bounds keep an enum option's value among its names. */
    if (named != NULL && value >= 0 && value < (double)named->count)
        return st_writer_add_metadata(w, key, named->names[(size_t)value], err);
    if (is_double)
        return st_writer_add_metadata_double(w, key, value, err);
    return st_writer_add_metadata_int64(w, key, (int64_t)value, err);
}

diffuse_status checkpoint_write_options(st_writer *w, const char *prefix,
                                        const option_table *table, const double *values,
                                        diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    for (size_t k = 0; status == DIFFUSE_OK && k < table->count; k++) {
        const option_spec *spec = &table->specs[k];
        char key[CHECKPOINT_KEY_SIZE];
        checkpoint_key(key, prefix, spec->name);
        status = checkpoint_write_number(w, key, spec->is_double, values[k], err);
    }
    return status;
}

static size_t element_count(size_t rank, const size_t *shape)
{
    size_t count = 1;
    for (size_t r = 0; r < rank; r++)
        count *= shape[r];
    return count;
}

diffuse_status checkpoint_add_floats(st_writer *w, const char *name, size_t rank,
                                     const size_t *shape, const float *data, diffuse_error *err)
{
    size_t count = element_count(rank, shape);
    diffuse_status status = diffuse_check_finite_floats(err, data, count, name);
    if (status != DIFFUSE_OK)
        return status;
    return st_writer_add_tensor(w, name, ST_F32, rank, shape, data, count * sizeof *data, err);
}

/* ---- Reading -------------------------------------------------------------- */

/* "format" must name our format and "format_version" one this library
 * reads; *version receives it. */
static diffuse_status check_format(const st_file *f, int64_t *version, diffuse_error *err)
{
    const char *format = st_metadata(f, "format");
    if (format == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "not a libdiffuse checkpoint (no \"format\" metadata)");
    if (strcmp(format, CHECKPOINT_FORMAT) != 0)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "not a libdiffuse checkpoint (format is \"%.64s\", expected \"%s\")",
                            format, CHECKPOINT_FORMAT);
    diffuse_status status =
        st_metadata_int64(f, "format_version", INT64_MIN, INT64_MAX, version, err);
    if (status != DIFFUSE_OK)
        return status;
    if (*version != CHECKPOINT_FORMAT_VERSION && *version != CHECKPOINT_FORMAT_VERSION_UNSEALED) {
        const char *writer = st_metadata(f, "library_version");
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "format_version %" PRId64 " is not supported: libdiffuse %s reads "
                            "versions %d and %d (the file was written by libdiffuse %.32s)",
                            *version, diffuse_version_string(),
                            CHECKPOINT_FORMAT_VERSION_UNSEALED, CHECKPOINT_FORMAT_VERSION,
                            writer != NULL ? writer : "of unknown version");
    }
    return DIFFUSE_OK;
}

/* Version 2 files must carry the checksum; version 1 files (libdiffuse
 * 0.1) have none and are read without one, unless one was added. */
static diffuse_status check_integrity(const st_file *f, int64_t version, diffuse_error *err)
{
    if (version == CHECKPOINT_FORMAT_VERSION_UNSEALED &&
        st_metadata(f, CHECKPOINT_CHECKSUM_KEY) == NULL)
        return DIFFUSE_OK;
    return st_verify_checksum(f, CHECKPOINT_CHECKSUM_KEY, err);
}

diffuse_status checkpoint_read_name(const st_file *f, const char *key, const char *const *names,
                                    size_t count, const char *not_a_name, size_t *index,
                                    diffuse_error *err)
{
    const char *name = st_metadata(f, key);
    if (name == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "metadata \"%s\" is missing", key);
    for (size_t k = 0; k < count; k++) {
        if (strcmp(name, names[k]) == 0) {
            *index = k;
            return DIFFUSE_OK;
        }
    }
    return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "metadata \"%s\" = \"%.64s\" is %s", key, name,
                        not_a_name);
}

diffuse_status checkpoint_read_number(const st_file *f, const char *key, bool is_double,
                                      checkpoint_number *value, diffuse_error *err)
{
    const named_option *named = find_named(key);
    const char *text = st_metadata(f, key);
    int64_t number;
    /* libdiffuse 0.1 wrote enum options as numbers: those still load. */
    if (named != NULL && text != NULL && !st_parse_int64(text, &number)) {
        size_t index = 0;
        diffuse_status status = checkpoint_read_name(f, key, named->names, named->count,
                                                     "not one of its names", &index, err);
        value->integer = (int64_t)index;
        value->real = (double)index;
        return status;
    }
    if (is_double)
        return st_metadata_double(f, key, -DBL_MAX, DBL_MAX, &value->real, err);
    return st_metadata_int64(f, key, INT64_MIN, INT64_MAX, &value->integer, err);
}

/* Options older files lack: their absence means the default (off). */
static const char *const keys_added_later[] = {
    "model.classes",
    "trainer.label_dropout",
    "trainer.min_snr_gamma",
    "trainer.vlb_weight",
    "trainer.decoder",
    "model.learn_variance",
};

bool checkpoint_key_absent_is_default(const st_file *f, const char *key)
{
    if (st_metadata(f, key) != NULL)
        return false;
    for (size_t i = 0; i < sizeof keys_added_later / sizeof *keys_added_later; i++)
        if (strcmp(keys_added_later[i], key) == 0)
            return true;
    return false;
}

static diffuse_status read_kind(const st_file *f, checkpoint_kind *kind, diffuse_error *err)
{
    size_t index = 0;
    diffuse_status status =
        checkpoint_read_name(f, "kind", kind_names, sizeof kind_names / sizeof kind_names[0],
                             "neither \"model\" nor \"trainer\"", &index, err);
    if (status == DIFFUSE_OK)
        *kind = (checkpoint_kind)index;
    return status;
}

diffuse_status checkpoint_open(st_file **out, const char *path, checkpoint_kind *kind,
                               diffuse_error *err)
{
    static const st_limits limits = {CHECKPOINT_MAX_HEADER_BYTES, CHECKPOINT_MAX_TENSORS,
                                     CHECKPOINT_MAX_METADATA};
    st_file *f = NULL;
    int64_t version = 0;
    diffuse_status status = st_open(&f, path, &limits, err);
    if (status == DIFFUSE_OK)
        status = check_format(f, &version, err);
    if (status == DIFFUSE_OK)
        status = check_integrity(f, version, err);
    if (status == DIFFUSE_OK)
        status = read_kind(f, kind, err);
    if (status != DIFFUSE_OK) {
        st_close(f);
        f = NULL;
    }
    *out = f;
    return status;
}

diffuse_status checkpoint_read_floats(const st_file *f, const char *name, size_t rank,
                                      const size_t *shape, float *out, diffuse_error *err)
{
    const void *data;
    diffuse_status status = st_find(f, name, ST_F32, rank, shape, &data, err);
    if (status == DIFFUSE_ERROR_MISMATCH) /* a file that does not fit itself is corrupt */
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "%s", err->message);
    if (status != DIFFUSE_OK)
        return status;
    size_t count = element_count(rank, shape);
    /* memcpy: a foreign writer need not align tensors to 4 bytes. */
    memcpy(out, data, count * sizeof *out);
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(out[i]))
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "tensor \"%.64s\" element %zu is not finite (%g)", name, i,
                                (double)out[i]);
    }
    return DIFFUSE_OK;
}

diffuse_status checkpoint_rejected(diffuse_error *err, diffuse_status status, const char *what,
                                   const char *message)
{
    if (status == DIFFUSE_ERROR_NO_MEMORY)
        return diffuse_fail(err, status, "%s", message);
    return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "%s is not accepted: %s", what, message);
}

diffuse_status checkpoint_rejected_key(diffuse_error *err, diffuse_status status,
                                       const char *key, const char *message)
{
    char what[CHECKPOINT_KEY_SIZE + 16];
    snprintf(what, sizeof what, "metadata \"%s\"", key);
    return checkpoint_rejected(err, status, what, message);
}

diffuse_status checkpoint_check_tensors(const st_file *f, size_t expected, diffuse_error *err)
{
    size_t found = st_tensor_count(f);
    if (found != expected)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "the file holds %zu tensors; its configuration calls for %zu", found,
                            expected);
    return DIFFUSE_OK;
}

diffuse_status checkpoint_last_error(diffuse_error *err, diffuse_status status)
{
    /* A copy first: diffuse_fail formats into the thread's slot itself. */
    char message[DIFFUSE_ERROR_MESSAGE_SIZE];
    snprintf(message, sizeof message, "%s", diffuse_last_error());
    return diffuse_fail(err, status, "%s", message);
}

/* ---- Reporting ----------------------------------------------------------- */

diffuse_status checkpoint_report(diffuse_error *handle_error, diffuse_status status,
                                 const char *action, const char *path,
                                 const diffuse_error *detail)
{
    return diffuse_fail(handle_error, status, "cannot %s checkpoint \"%.200s\": %s", action, path,
                        detail->message);
}
