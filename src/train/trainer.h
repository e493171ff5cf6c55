/* Trainer internals the checkpoint unit reads (see include/diffuse/train.h). */
#ifndef DIFFUSE_SRC_TRAINER_H
#define DIFFUSE_SRC_TRAINER_H

#include "diffuse/train.h"
#include "util/error.h"
#include "util/option_table.h"

/* Names, types, bounds and defaults of the options, indexed by
 * diffuse_trainer_option (the names are the checkpoint keys). */
extern const option_table trainer_option_table;

const diffuse_schedule *trainer_schedule(const diffuse_trainer *trainer);
diffuse_model *trainer_model(const diffuse_trainer *trainer);
diffuse_optimizer *trainer_optimizer(const diffuse_trainer *trainer);
/* The option values, indexed by diffuse_trainer_option. */
const double *trainer_option_values(const diffuse_trainer *trainer);
/* The trainer's error slot, for units that implement public calls on a
 * trainer (diffuse_trainer_save records its failures there). */
diffuse_error *trainer_error(diffuse_trainer *trainer);

#endif
