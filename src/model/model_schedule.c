/* The schedule a model belongs to (model_schedule.h). */
#include "model/model_schedule.h"

#include <stdbool.h>
#include <string.h>

#include "core/schedule.h"
#include "diffuse/checkpoint.h"
#include "model/model.h"
#include "util/error.h"

/* Same β_t for every t: the tables, hence the process, are then identical
 * (a custom β equal to the linear kind's is the same schedule). */
static bool same_betas(const diffuse_schedule *a, const diffuse_schedule *b)
{
    size_t steps = schedule_steps(a);
    return steps == schedule_steps(b) &&
           memcmp(schedule_column(a, DIFFUSE_TABLE_BETA), schedule_column(b, DIFFUSE_TABLE_BETA),
                  steps * sizeof(double)) == 0;
}

diffuse_status model_schedule_record(diffuse_model *m, diffuse_error *error,
                                     const diffuse_schedule *schedule)
{
    if (m->schedule != NULL && same_betas(m->schedule, schedule))
        return DIFFUSE_OK;
    diffuse_schedule *copy = NULL;
    if (diffuse_schedule_clone(&copy, schedule) != DIFFUSE_OK)
        return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "cannot copy the model's schedule");
    diffuse_schedule_free(m->schedule);
    m->schedule = copy;
    return DIFFUSE_OK;
}

diffuse_status model_schedule_check(const diffuse_model *m, diffuse_error *error,
                                    const diffuse_schedule *schedule, const char *use)
{
    if (m->schedule == NULL || same_betas(m->schedule, schedule))
        return DIFFUSE_OK;
    const char *given = schedule_kind_names[schedule->kind];
    const char *own = schedule_kind_names[m->schedule->kind];
    return diffuse_fail(error, DIFFUSE_ERROR_MISMATCH,
                        "the schedule given for %s (%s, T = %zu) is not the one the model was "
                        "trained with or loaded with (%s, T = %zu%s): pass that one, or declare "
                        "this one the model's with diffuse_model_set_schedule",
                        use, given, schedule_steps(schedule), own, schedule_steps(m->schedule),
                        strcmp(given, own) == 0 && schedule_steps(schedule) ==
                                schedule_steps(m->schedule) ? ", other options" : "");
}

DIFFUSE_API diffuse_status diffuse_model_set_schedule(diffuse_model *model,
                                                      const diffuse_schedule *schedule)
{
    diffuse_status status = diffuse_check_pointer(NULL, model, "model");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = model_enter(model, &model->error, "diffuse_model_set_schedule")))
        return status;
    if (schedule == NULL) {
        diffuse_schedule_free(model->schedule);
        model->schedule = NULL;
    } else {
        status = model_schedule_record(model, &model->error, schedule);
    }
    model_leave(model);
    return status;
}
