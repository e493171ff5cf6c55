/* Checkpoints of a model and its schedule: diffuse_model_save/_load and the
 * model section that trainer checkpoints reuse (file layout: src/checkpoint.h;
 * the schedule section is in checkpoint_schedule.c). The model section is
 * generic over the architecture's option enumeration and tensor table, so a
 * new architecture needs no change here. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/model_schedule.h"
#include "model/architecture.h"

#define MODEL_PREFIX "model."
#define EMA_PREFIX "ema."

/* An option of a configuration's architecture as the file names it. */
typedef struct model_key {
    diffuse_model_option option;
    int is_double;
    char key[CHECKPOINT_KEY_SIZE]; /* "model.<name>" */
} model_key;

/* Option `index` in the order of diffuse_model_config_option_at. */
static diffuse_status find_model_key(const diffuse_model_config *config, size_t index,
                                     model_key *out, diffuse_error *err)
{
    const char *name;
    diffuse_status status = diffuse_model_config_option_at(config->architecture, index,
                                                           &out->option, &out->is_double, &name);
    if (status != DIFFUSE_OK)
        return checkpoint_last_error(err, status);
    checkpoint_key(out->key, MODEL_PREFIX, name);
    return DIFFUSE_OK;
}

/* ---- Model section: writing ------------------------------------------------ */

static diffuse_status write_model_option(st_writer *w, const diffuse_model_config *config,
                                         size_t index, diffuse_error *err)
{
    model_key k;
    diffuse_status status = find_model_key(config, index, &k, err);
    if (status != DIFFUSE_OK)
        return status;
    return checkpoint_write_number(w, k.key, k.is_double, config->values[k.option], err);
}

static diffuse_status write_model_options(st_writer *w, const diffuse_model_config *config,
                                          diffuse_error *err)
{
    size_t count = 0;
    diffuse_status status = diffuse_model_config_option_count(config->architecture, &count);
    if (status != DIFFUSE_OK)
        return checkpoint_last_error(err, status);
    for (size_t i = 0; status == DIFFUSE_OK && i < count; i++)
        status = write_model_option(w, config, i, err);
    return status;
}

/* One tensor per entry of the model's table, named "<prefix><name>". */
static diffuse_status write_weights(st_writer *w, const diffuse_model *m, const char *prefix,
                                    const float *values, diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    for (size_t i = 0; status == DIFFUSE_OK && i < m->tensor_count; i++) {
        const model_tensor *t = &m->tensors[i];
        char key[CHECKPOINT_KEY_SIZE];
        checkpoint_key(key, prefix, t->name);
        status = checkpoint_add_floats(w, key, t->rank, t->shape, values + t->offset, err);
    }
    return status;
}

diffuse_status checkpoint_write_model(st_writer *w, const diffuse_model *m, diffuse_error *err)
{
    const nn_architecture *arch = nn_architecture_find((int)m->config->architecture);
    /* Only a model rebuilt from its configuration can be loaded again; a
     * callback model's prediction function is code, not data. */
    if (arch == NULL || arch->build == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_UNSUPPORTED,
                            "%s models cannot be saved (their prediction is the caller's "
                            "function)",
                            arch != NULL ? arch->name : "unknown");
    diffuse_status status =
        st_writer_add_metadata(w, MODEL_PREFIX "architecture", arch->name, err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata_int64(w, MODEL_PREFIX "dim", (int64_t)m->dim, err);
    if (status == DIFFUSE_OK)
        status = write_model_options(w, m->config, err);
    if (status == DIFFUSE_OK)
        status = write_weights(w, m, "", m->params, err);
    if (status == DIFFUSE_OK && m->ema != NULL)
        status = write_weights(w, m, EMA_PREFIX, m->ema, err);
    return status;
}

/* ---- Model section: reading ------------------------------------------------ */

/* The architecture named by "model.architecture" (the registry is indexed
 * by diffuse_architecture from 0 without gaps). */
static diffuse_status read_architecture(const st_file *f, const nn_architecture **out,
                                        diffuse_error *err)
{
    const char *name = st_metadata(f, MODEL_PREFIX "architecture");
    if (name == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "metadata \"" MODEL_PREFIX "architecture\" is missing");
    const nn_architecture *arch = NULL;
    for (int id = 0; (arch = nn_architecture_find(id)) != NULL; id++) {
        if (arch->build != NULL && strcmp(arch->name, name) == 0) {
            *out = arch;
            return DIFFUSE_OK;
        }
    }
    return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                        "metadata \"" MODEL_PREFIX "architecture\" = \"%.64s\" is not an "
                        "architecture this library can load",
                        name);
}

/* Reads "model.<name>" strictly and sets it through the config's setter,
 * which checks bounds and applicability as for any caller. */
static diffuse_status read_model_option(const st_file *f, diffuse_model_config *config,
                                        size_t index, diffuse_error *err)
{
    model_key k;
    checkpoint_number value;
    diffuse_status status = find_model_key(config, index, &k, err);
    if (status == DIFFUSE_OK && checkpoint_key_absent_is_default(f, k.key))
        return DIFFUSE_OK;
    if (status == DIFFUSE_OK)
        status = checkpoint_read_number(f, k.key, k.is_double, &value, err);
    if (status != DIFFUSE_OK)
        return status;
    status = k.is_double ? diffuse_model_config_set_double(config, k.option, value.real)
                         : diffuse_model_config_set_int(config, k.option, value.integer);
    if (status != DIFFUSE_OK)
        return checkpoint_rejected_key(err, status, k.key,
                                       diffuse_model_config_last_error(config));
    return DIFFUSE_OK;
}

static diffuse_status read_model_config(const st_file *f, diffuse_model_config **out,
                                        diffuse_error *err)
{
    const nn_architecture *arch = NULL;
    int64_t dim;
    diffuse_status status = read_architecture(f, &arch, err);
    if (status == DIFFUSE_OK)
        status = st_metadata_int64(f, MODEL_PREFIX "dim", 1, (int64_t)DIFFUSE_MODEL_MAX_DIM,
                                   &dim, err);
    if (status == DIFFUSE_OK)
        status = model_config_new(err, out, arch->id, (size_t)dim);
    if (status != DIFFUSE_OK)
        return status;
    size_t count = 0;
    status = diffuse_model_config_option_count(arch->id, &count);
    if (status != DIFFUSE_OK)
        status = checkpoint_last_error(err, status);
    for (size_t i = 0; status == DIFFUSE_OK && i < count; i++)
        status = read_model_option(f, *out, i, err);
    if (status != DIFFUSE_OK) {
        diffuse_model_config_free(*out);
        *out = NULL;
    }
    return status;
}

/* Checks, before any parameter buffer exists, that the file holds every
 * tensor of the model `config` describes, with its shape. The layout is
 * described without allocating parameters (model_describe_layout), so a
 * corrupt configuration (a huge hidden_width, say) fails here instead of
 * making the loader allocate and initialise more parameters than the file
 * holds. */
static diffuse_status check_layout(const st_file *f, const diffuse_model_config *config,
                                   diffuse_error *err)
{
    model_tensor *tensors = NULL;
    size_t count = 0;
    diffuse_error layout_error = {{0}};
    diffuse_status status = model_describe_layout(config, &tensors, &count, &layout_error);
    if (status != DIFFUSE_OK)
        return checkpoint_rejected(err, status, "the model configuration", layout_error.message);
    for (size_t i = 0; status == DIFFUSE_OK && i < count; i++) {
        const model_tensor *t = &tensors[i];
        const void *data;
        status = st_find(f, t->name, ST_F32, t->rank, t->shape, &data, err);
        if (status == DIFFUSE_ERROR_MISMATCH)
            status = diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "%s", err->message);
    }
    free(tensors);
    return status;
}

static diffuse_status read_weights(const st_file *f, const diffuse_model *m, const char *prefix,
                                   float *values, diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    for (size_t i = 0; status == DIFFUSE_OK && i < m->tensor_count; i++) {
        const model_tensor *t = &m->tensors[i];
        char key[CHECKPOINT_KEY_SIZE];
        checkpoint_key(key, prefix, t->name);
        status = checkpoint_read_floats(f, key, t->rank, t->shape, values + t->offset, err);
    }
    return status;
}

/* The EMA weights are in the file when the first model tensor's EMA twin
 * is; then all of them must be (the tensor count check catches strays). */
static bool has_ema(const st_file *f, const diffuse_model *m)
{
    if (m->tensor_count == 0)
        return false;
    char key[CHECKPOINT_KEY_SIZE];
    checkpoint_key(key, EMA_PREFIX, m->tensors[0].name);
    return st_lookup(f, key) != NULL;
}

static diffuse_status read_model_values(const st_file *f, diffuse_model *m,
                                        size_t *tensors_used, diffuse_error *err)
{
    diffuse_status status = read_weights(f, m, "", m->params, err);
    if (status != DIFFUSE_OK)
        return status;
    *tensors_used += m->tensor_count;
    if (!has_ema(f, m))
        return DIFFUSE_OK;
    status = model_ensure_ema(m);
    if (status != DIFFUSE_OK)
        return diffuse_fail(err, status, "%s", m->error.message);
    *tensors_used += m->tensor_count;
    return read_weights(f, m, EMA_PREFIX, m->ema, err);
}

diffuse_status checkpoint_read_model(const st_file *f, diffuse_model **model,
                                     size_t *tensors_used, diffuse_error *err)
{
    *model = NULL;
    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    diffuse_status status = read_model_config(f, &config, err);
    if (status == DIFFUSE_OK)
        status = check_layout(f, config, err);
    if (status == DIFFUSE_OK && (status = diffuse_model_create(&m, config)) != DIFFUSE_OK)
        status = checkpoint_last_error(err, status);
    diffuse_model_config_free(config);
    if (status == DIFFUSE_OK)
        status = read_model_values(f, m, tensors_used, err);
    if (status != DIFFUSE_OK) {
        diffuse_model_free(m);
        return status;
    }
    *model = m;
    return DIFFUSE_OK;
}

/* ---- Public functions ---------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_model_save(diffuse_model *model,
                                              const diffuse_schedule *schedule, const char *path)
{
    diffuse_status status = diffuse_check_pointer(NULL, model, "model");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = diffuse_check_pointer(&model->error, schedule, "schedule")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(&model->error, path, "path")) != DIFFUSE_OK)
        return status;
    /* A file must not claim a schedule the weights were not trained for. */
    if ((status = model_schedule_check(model, &model->error, schedule, "saving")))
        return status;
    diffuse_error err = {{0}};
    st_writer *w = NULL;
    status = checkpoint_writer_create(&w, CHECKPOINT_MODEL, &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_model(w, model, &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_schedule(w, schedule, &err);
    if (status == DIFFUSE_OK)
        status = st_write_file(w, path, &err);
    st_writer_free(w);
    if (status != DIFFUSE_OK)
        return checkpoint_report(&model->error, status, "save", path, &err);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_model_load(const char *path, diffuse_model **model,
                                              diffuse_schedule **schedule)
{
    if (model != NULL)
        *model = NULL;
    if (schedule != NULL)
        *schedule = NULL;
    diffuse_status status = diffuse_check_pointer(NULL, path, "path");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, model, "model");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error err = {{0}};
    st_file *f = NULL;
    checkpoint_kind kind = CHECKPOINT_MODEL;
    diffuse_model *m = NULL;
    diffuse_schedule *s = NULL;
    size_t used = 0;
    status = checkpoint_open(&f, path, &kind, &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_read_model(f, &m, &used, &err);
    /* The schedule is validated even when the caller does not want it: a
     * file with a corrupt part is corrupt. */
    if (status == DIFFUSE_OK)
        status = checkpoint_read_schedule(f, &s, &used, &err);
    if (status == DIFFUSE_OK)
        status = model_schedule_record(m, &err, s);
    if (status == DIFFUSE_OK && kind == CHECKPOINT_TRAINER)
        used += CHECKPOINT_TRAINER_EXTRA_TENSORS;
    if (status == DIFFUSE_OK)
        status = checkpoint_check_tensors(f, used, &err);
    st_close(f);
    if (status != DIFFUSE_OK) {
        diffuse_schedule_free(s);
        diffuse_model_free(m);
        return checkpoint_report(NULL, status, "load", path, &err);
    }
    *model = m;
    if (schedule != NULL)
        *schedule = s;
    else
        diffuse_schedule_free(s);
    return DIFFUSE_OK;
}
