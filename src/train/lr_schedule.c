/* Learning-rate schedule: linear warm-up, then cosine or linear decay to a
 * floor (equations in include/diffuse/optim.h). */
#include <math.h>

#include "train/optim.h"

/* π; M_PI is not part of C11. */
static const double pi = 3.14159265358979323846;

diffuse_status optim_check_schedule(const diffuse_optimizer *opt, diffuse_error *error)
{
    const double *o = opt->options;
    if (o[DIFFUSE_OPTIMIZER_DECAY] == DIFFUSE_LR_DECAY_NONE)
        return DIFFUSE_OK;
    if (o[DIFFUSE_OPTIMIZER_DECAY_STEPS] < 1.0)
        return diffuse_fail(error, DIFFUSE_ERROR_STATE,
                            "a learning-rate decay is selected but DECAY_STEPS is 0; "
                            "set the number of steps over which the rate decays");
    if (o[DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE] > o[DIFFUSE_OPTIMIZER_LEARNING_RATE])
        return diffuse_fail(error, DIFFUSE_ERROR_STATE,
                            "MIN_LEARNING_RATE (%g) is above LEARNING_RATE (%g): a decay "
                            "cannot end above where it starts",
                            o[DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE],
                            o[DIFFUSE_OPTIMIZER_LEARNING_RATE]);
    return DIFFUSE_OK;
}

double optim_learning_rate_at(const diffuse_optimizer *opt, uint64_t step)
{
    const double *o = opt->options;
    double lr = o[DIFFUSE_OPTIMIZER_LEARNING_RATE];
    double lr_min = o[DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE];
    uint64_t warmup = (uint64_t)o[DIFFUSE_OPTIMIZER_WARMUP_STEPS];
    uint64_t decay_steps = (uint64_t)o[DIFFUSE_OPTIMIZER_DECAY_STEPS];
    int decay = (int)o[DIFFUSE_OPTIMIZER_DECAY];

    /* Warm-up: lr_s = lr·(s+1)/W, so the first step already moves (s = 0
     * gives lr/W, not 0) and step W−1 reaches lr. */
    if (step < warmup)
        return lr * (double)(step + 1) / (double)warmup;
    if (decay == DIFFUSE_LR_DECAY_NONE)
        return lr;
    uint64_t since = step - warmup;
    if (decay_steps == 0 || since >= decay_steps)
        return lr_min;
    double p = (double)since / (double)decay_steps; /* decay progress in [0, 1) */
    if (decay == DIFFUSE_LR_DECAY_COSINE)
        return lr_min + (lr - lr_min) * (1.0 + cos(pi * p)) / 2.0; /* half a cosine */
    return lr - (lr - lr_min) * p;                                  /* straight line */
}
