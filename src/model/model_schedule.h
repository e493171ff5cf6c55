/* The schedule a model belongs to (internal): the one it was trained with
 * or loaded with, which a sampler (and a save) must use unless the caller
 * declared another with diffuse_model_set_schedule (diffuse/checkpoint.h).
 * A network trained on one β sequence predicts ε for those noise levels;
 * sampled through another (T = 500 cosine trained, T = 1000 linear run) it
 * produces noise, and nothing else would say why. */
#ifndef DIFFUSE_SRC_MODEL_SCHEDULE_H
#define DIFFUSE_SRC_MODEL_SCHEDULE_H

#include "diffuse/model.h"
#include "diffuse/schedule.h"
#include "util/error.h"

/* Records `schedule` (a copy) as m's, when it differs from the one recorded
 * (a copy is made only then). Errors (in `error`): NO_MEMORY, leaving m's
 * schedule as it was. */
diffuse_status model_schedule_record(diffuse_model *m, diffuse_error *error,
                                     const diffuse_schedule *schedule);

/* OK when m has no recorded schedule or `schedule` has the same β_0 … β_{T−1}
 * (the whole process follows from them); DIFFUSE_ERROR_MISMATCH otherwise,
 * with a message in `error` naming both and the way out. `use` names what
 * the schedule is for ("sampling"). */
diffuse_status model_schedule_check(const diffuse_model *m, diffuse_error *error,
                                    const diffuse_schedule *schedule, const char *use);

#endif /* DIFFUSE_SRC_MODEL_SCHEDULE_H */
