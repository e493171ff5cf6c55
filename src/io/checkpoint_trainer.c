/* Trainer checkpoints: diffuse_trainer_save/_load. A trainer checkpoint is
 * a model checkpoint plus the optimizer's kind, options, step count and
 * moments and the trainer's options (file layout: src/checkpoint.h) — all
 * the state a training step reads, so a resumed run continues bit-exactly. */
#include <stdint.h>

#include "io/checkpoint.h"
#include "model/model.h"
#include "model/model_schedule.h"
#include "train/optim.h"
#include "train/trainer.h"

#define OPTIMIZER_PREFIX "optimizer."
#define OPTIMIZER_KIND "optimizer.kind"
#define OPTIMIZER_STEP "optimizer.step"
#define FIRST_MOMENT "optimizer.first_moment"
#define SECOND_MOMENT "optimizer.second_moment"
#define TRAINER_PREFIX "trainer."

/* ---- Writing --------------------------------------------------------------- */

static diffuse_status write_optimizer(st_writer *w, const diffuse_optimizer *opt,
                                      diffuse_error *err)
{
    diffuse_status status =
        st_writer_add_metadata(w, OPTIMIZER_KIND, optim_kind_names[opt->kind], err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_options(w, OPTIMIZER_PREFIX, &optim_option_table, opt->options,
                                          err);
    if (status == DIFFUSE_OK)
        status = st_writer_add_metadata_uint64(w, OPTIMIZER_STEP, opt->step, err);
    if (status == DIFFUSE_OK)
        status = checkpoint_add_floats(w, FIRST_MOMENT, 1, &opt->param_count,
                                       opt->first_moment, err);
    if (status == DIFFUSE_OK)
        status = checkpoint_add_floats(w, SECOND_MOMENT, 1, &opt->param_count,
                                       opt->second_moment, err);
    return status;
}

/* ---- Reading --------------------------------------------------------------- */

static diffuse_status read_optimizer_kind(const st_file *f, diffuse_optimizer_kind *kind,
                                          diffuse_error *err)
{
    size_t index = 0;
    diffuse_status status = checkpoint_read_name(f, OPTIMIZER_KIND, optim_kind_names,
                                                 OPTIM_KIND_COUNT, "not an optimizer", &index,
                                                 err);
    if (status == DIFFUSE_OK)
        *kind = (diffuse_optimizer_kind)index;
    return status;
}

/* Reads "optimizer.<name>" strictly and sets it through the public setter,
 * which checks its bounds as for any caller. */
static diffuse_status read_optimizer_option(const st_file *f, diffuse_optimizer *opt,
                                            size_t index, diffuse_error *err)
{
    const option_spec *spec = &optim_option_table.specs[index];
    diffuse_optimizer_option option = (diffuse_optimizer_option)index;
    char key[CHECKPOINT_KEY_SIZE];
    checkpoint_key(key, OPTIMIZER_PREFIX, spec->name);
    checkpoint_number value;
    diffuse_status status = checkpoint_read_number(f, key, spec->is_double, &value, err);
    if (status != DIFFUSE_OK)
        return status;
    status = spec->is_double ? diffuse_optimizer_set_double(opt, option, value.real)
                             : diffuse_optimizer_set_int(opt, option, value.integer);
    if (status != DIFFUSE_OK)
        return checkpoint_rejected_key(err, status, key, diffuse_optimizer_last_error(opt));
    return DIFFUSE_OK;
}

/* Options that are valid one by one but not together (a decay over 0
 * steps) would fail the first step; the step's own check refuses them at
 * load instead. */
static diffuse_status check_option_combination(const diffuse_optimizer *opt, diffuse_error *err)
{
    diffuse_error combination = {{0}};
    diffuse_status status = optim_check_schedule(opt, &combination);
    if (status != DIFFUSE_OK)
        return checkpoint_rejected(err, status, "the combination of optimizer options",
                                   combination.message);
    return DIFFUSE_OK;
}

/* m and v, both finite; v ≥ 0 as a running mean of squares (a negative v
 * would make the step's √v̂ NaN). */
static diffuse_status read_moments(const st_file *f, diffuse_optimizer *opt, diffuse_error *err)
{
    diffuse_status status =
        checkpoint_read_floats(f, FIRST_MOMENT, 1, &opt->param_count, opt->first_moment, err);
    if (status == DIFFUSE_OK)
        status = checkpoint_read_floats(f, SECOND_MOMENT, 1, &opt->param_count,
                                        opt->second_moment, err);
    for (size_t i = 0; status == DIFFUSE_OK && i < opt->param_count; i++) {
        if (opt->second_moment[i] < 0.0f)
            status = diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                  "tensor \"" SECOND_MOMENT "\" element %zu is negative (%g)", i,
                                  (double)opt->second_moment[i]);
    }
    return status;
}

static diffuse_status read_optimizer(const st_file *f, const diffuse_model *model,
                                     diffuse_optimizer **out, diffuse_error *err)
{
    diffuse_optimizer_kind kind = DIFFUSE_OPTIMIZER_ADAM;
    diffuse_optimizer *opt = NULL;
    diffuse_status status = read_optimizer_kind(f, &kind, err);
    if (status == DIFFUSE_OK && (status = diffuse_optimizer_create(&opt, kind, model)) != DIFFUSE_OK)
        status = checkpoint_last_error(err, status);
    for (size_t k = 0; status == DIFFUSE_OK && k < optim_option_table.count; k++)
        status = read_optimizer_option(f, opt, k, err);
    if (status == DIFFUSE_OK)
        status = check_option_combination(opt, err);
    if (status == DIFFUSE_OK)
        status = st_metadata_uint64(f, OPTIMIZER_STEP, CHECKPOINT_MAX_STEP, &opt->step, err);
    if (status == DIFFUSE_OK)
        status = read_moments(f, opt, err);
    if (status != DIFFUSE_OK) {
        diffuse_optimizer_free(opt);
        opt = NULL;
    }
    *out = opt;
    return status;
}

/* Reads "trainer.<name>" strictly (or leaves an option older files lack at
 * its default) and sets it through the trainer's setter. */
static diffuse_status read_trainer_option(const st_file *f, diffuse_trainer *trainer, size_t k,
                                          diffuse_error *err)
{
    const option_spec *spec = &trainer_option_table.specs[k];
    char key[CHECKPOINT_KEY_SIZE];
    checkpoint_key(key, TRAINER_PREFIX, spec->name);
    if (checkpoint_key_absent_is_default(f, key))
        return DIFFUSE_OK;
    checkpoint_number value;
    diffuse_status status = checkpoint_read_number(f, key, spec->is_double, &value, err);
    if (status != DIFFUSE_OK)
        return status;
    diffuse_trainer_option option = (diffuse_trainer_option)k;
    status = spec->is_double ? diffuse_trainer_set_double(trainer, option, value.real)
                             : diffuse_trainer_set_int(trainer, option, value.integer);
    if (status != DIFFUSE_OK)
        status = checkpoint_rejected_key(err, status, key, diffuse_trainer_last_error(trainer));
    return status;
}

static diffuse_status read_trainer_options(const st_file *f, diffuse_trainer *trainer,
                                           diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    for (size_t k = 0; status == DIFFUSE_OK && k < trainer_option_table.count; k++)
        status = read_trainer_option(f, trainer, k, err);
    return status;
}

/* The four handles of a trainer checkpoint; on failure all are freed. */
typedef struct trainer_handles {
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
} trainer_handles;

static void free_handles(trainer_handles *h)
{
    diffuse_trainer_free(h->trainer); /* borrows the others: goes first */
    diffuse_optimizer_free(h->optimizer);
    diffuse_schedule_free(h->schedule);
    diffuse_model_free(h->model);
}

static diffuse_status read_handles(const st_file *f, trainer_handles *h, diffuse_error *err)
{
    size_t used = CHECKPOINT_TRAINER_EXTRA_TENSORS;
    diffuse_status status = checkpoint_read_model(f, &h->model, &used, err);
    if (status == DIFFUSE_OK)
        status = checkpoint_read_schedule(f, &h->schedule, &used, err);
    if (status == DIFFUSE_OK)
        status = model_schedule_record(h->model, err, h->schedule);
    if (status == DIFFUSE_OK)
        status = read_optimizer(f, h->model, &h->optimizer, err);
    if (status == DIFFUSE_OK &&
        (status = diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer)) !=
            DIFFUSE_OK)
        status = checkpoint_last_error(err, status);
    if (status == DIFFUSE_OK)
        status = read_trainer_options(f, h->trainer, err);
    if (status == DIFFUSE_OK)
        status = checkpoint_check_tensors(f, used, err);
    return status;
}

/* ---- Public functions ---------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_trainer_save(diffuse_trainer *trainer, const char *path)
{
    diffuse_status status = diffuse_check_pointer(NULL, trainer, "trainer");
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error *handle_error = trainer_error(trainer);
    if ((status = diffuse_check_pointer(handle_error, path, "path")) != DIFFUSE_OK)
        return status;
    diffuse_error err = {{0}};
    st_writer *w = NULL;
    status = checkpoint_writer_create(&w, CHECKPOINT_TRAINER, &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_model(w, trainer_model(trainer), &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_schedule(w, trainer_schedule(trainer), &err);
    if (status == DIFFUSE_OK)
        status = write_optimizer(w, trainer_optimizer(trainer), &err);
    if (status == DIFFUSE_OK)
        status = checkpoint_write_options(w, TRAINER_PREFIX, &trainer_option_table,
                                          trainer_option_values(trainer), &err);
    if (status == DIFFUSE_OK)
        status = st_write_file(w, path, &err);
    st_writer_free(w);
    if (status != DIFFUSE_OK)
        return checkpoint_report(handle_error, status, "save", path, &err);
    return DIFFUSE_OK;
}

/* Sets each non-NULL out-pointer to NULL and checks that all are given. */
static diffuse_status check_load_arguments(const char *path, diffuse_model **model,
                                           diffuse_schedule **schedule,
                                           diffuse_optimizer **optimizer,
                                           diffuse_trainer **trainer)
{
    if (model != NULL)
        *model = NULL;
    if (schedule != NULL)
        *schedule = NULL;
    if (optimizer != NULL)
        *optimizer = NULL;
    if (trainer != NULL)
        *trainer = NULL;
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, path, "path")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(NULL, model, "model")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(NULL, schedule, "schedule")) != DIFFUSE_OK ||
        (status = diffuse_check_pointer(NULL, optimizer, "optimizer")) != DIFFUSE_OK)
        return status;
    return diffuse_check_pointer(NULL, trainer, "trainer");
}

DIFFUSE_API diffuse_status diffuse_trainer_load(const char *path, diffuse_model **model,
                                                diffuse_schedule **schedule,
                                                diffuse_optimizer **optimizer,
                                                diffuse_trainer **trainer)
{
    diffuse_status status = check_load_arguments(path, model, schedule, optimizer, trainer);
    if (status != DIFFUSE_OK)
        return status;
    diffuse_error err = {{0}};
    st_file *f = NULL;
    checkpoint_kind kind = CHECKPOINT_MODEL;
    trainer_handles h = {NULL, NULL, NULL, NULL};
    status = checkpoint_open(&f, path, &kind, &err);
    if (status == DIFFUSE_OK && kind != CHECKPOINT_TRAINER)
        status = diffuse_fail(&err, DIFFUSE_ERROR_MISMATCH,
                              "it is a model checkpoint (kind \"model\", from "
                              "diffuse_model_save): it holds no optimizer state (kind, options, "
                              "step, moments) and no trainer options; load it with "
                              "diffuse_model_load, or save with diffuse_trainer_save");
    if (status == DIFFUSE_OK)
        status = read_handles(f, &h, &err);
    st_close(f);
    if (status != DIFFUSE_OK) {
        free_handles(&h);
        return checkpoint_report(NULL, status, "load", path, &err);
    }
    *model = h.model;
    *schedule = h.schedule;
    *optimizer = h.optimizer;
    *trainer = h.trainer;
    return DIFFUSE_OK;
}
