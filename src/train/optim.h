/* The optimizer handle (internal): state shared with the trainer, which
 * steps it, and the checkpoint writer, which saves and restores it.
 *
 * The update equations, the schedule and the decay rule are documented in
 * include/diffuse/optim.h. */
#ifndef DIFFUSE_SRC_OPTIM_H
#define DIFFUSE_SRC_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "diffuse/optim.h"
#include "util/error.h"
#include "model/model.h"
#include "util/option_table.h"

/* Number of diffuse_optimizer_option values (ids 0 .. OPTIM_OPTION_COUNT-1). */
#define OPTIM_OPTION_COUNT 11

/* Names, types, bounds and defaults of the options, indexed by
 * diffuse_optimizer_option (the names are the checkpoint keys). The default
 * weight decay here is Adam's; AdamW's is OPTIM_ADAMW_WEIGHT_DECAY. */
extern const option_table optim_option_table;
#define OPTIM_ADAMW_WEIGHT_DECAY 0.01

/* Number of diffuse_optimizer_kind values, and the name of each ("adam",
 * "adamw"), indexed by kind: the checkpoint's "optimizer.kind", so a name is
 * part of checkpoint format 1 and must never change. */
#define OPTIM_KIND_COUNT 2
extern const char *const optim_kind_names[OPTIM_KIND_COUNT];

/* What the optimizer remembers of each model tensor, in the model's order,
 * to recognise the model it was made for. */
typedef struct optim_tensor_layout {
    size_t offset; /* in floats */
    size_t count;  /* elements */
    bool decayed;  /* rank >= 2 */
} optim_tensor_layout;

/* A run of parameters [begin, end) that are all decayed or all not. The
 * segments are sorted and cover 0 .. param_count exactly (elements of no
 * tensor are not decayed), so a step is one pass over them. */
typedef struct optim_segment {
    size_t begin, end;
    bool decayed;
} optim_segment;

struct diffuse_optimizer {
    diffuse_error error;
    diffuse_optimizer_kind kind;
    double options[OPTIM_OPTION_COUNT]; /* by diffuse_optimizer_option; ints stored exactly */
    size_t param_count;
    float *first_moment;  /* m, param_count floats */
    float *second_moment; /* v, param_count floats */
    uint64_t step;        /* steps taken: k − 1 of the next step's bias correction */
    size_t tensor_count;
    optim_tensor_layout *tensors;
    size_t segment_count;
    optim_segment *segments;
};

/* One optimizer step on m->params with the gradient in m->grads (see
 * include/diffuse/optim.h for the equations). On any failure nothing is
 * changed (params, moments, EMA, step) and the message is in opt->error:
 * MISMATCH (m is not the model opt was made for), NUMERIC (a NaN or Inf in
 * the gradient, or a new weight, moment or EMA value that would not be
 * finite), STATE (inconsistent schedule options), NO_MEMORY (the EMA buffer
 * could not be allocated). No allocation except the EMA buffer at the first
 * EMA step; one pass over the gradient (its norm when clipping, else only a
 * finiteness check), a dry run of the update that only reads (so that an
 * overflow is found before anything is written), one fused pass for the
 * update. Bitwise deterministic. */
diffuse_status optim_step(diffuse_optimizer *opt, diffuse_model *m);

/* The learning rate lr_s of step `step` under opt's current options. For
 * inconsistent schedule options (see optim_check_schedule) the value is
 * meaningless. */
double optim_learning_rate_at(const diffuse_optimizer *opt, uint64_t step);

/* DIFFUSE_ERROR_STATE (message in `error`) when a decay is selected with
 * DECAY_STEPS = 0 or MIN_LEARNING_RATE > LEARNING_RATE, else DIFFUSE_OK. */
diffuse_status optim_check_schedule(const diffuse_optimizer *opt, diffuse_error *error);

/* DIFFUSE_OK when m has the parameter count and tensor layout opt was made
 * for, else DIFFUSE_ERROR_MISMATCH with a message in opt->error. For the
 * checkpoint loader too. */
diffuse_status optim_check_model(diffuse_optimizer *opt, const diffuse_model *m);

#endif
