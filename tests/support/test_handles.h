/* Helpers shared by the tests and the fuzz harnesses (header-only: the
 * harnesses do not link test_support.c): the four handles
 * diffuse_trainer_load creates, and a prediction from positional arrays. */
#ifndef DIFFUSE_TEST_HANDLES_H
#define DIFFUSE_TEST_HANDLES_H

#include <diffuse/diffuse.h>

typedef struct diffuse_test_handles {
    diffuse_model *model;
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
} diffuse_test_handles;

/* Frees all four (the trainer, which borrows the others, first) and sets
 * them to NULL. */
static inline void diffuse_test_handles_free(diffuse_test_handles *h)
{
    diffuse_trainer_free(h->trainer);
    diffuse_optimizer_free(h->optimizer);
    diffuse_schedule_free(h->schedule);
    diffuse_model_free(h->model);
    *h = (diffuse_test_handles){NULL, NULL, NULL, NULL};
}

/* diffuse_model_predict over n unlabelled rows: the call built from the
 * arguments, with the variance output into `variance` (NULL: none). */
static inline diffuse_status diffuse_test_predict_variance(diffuse_model *model, size_t n,
                                                           const int32_t *t, const float *x_t,
                                                           float *out, float *variance)
{
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = n;
    call.t = t;
    call.x_t = x_t;
    call.out = out;
    call.out_variance = variance;
    return diffuse_model_predict(model, &call);
}

/* The same without a variance output (what 0.1's positional
 * diffuse_model_predict took). */
static inline diffuse_status diffuse_test_predict(diffuse_model *model, size_t n,
                                                  const int32_t *t, const float *x_t, float *out)
{
    return diffuse_test_predict_variance(model, n, t, x_t, out, NULL);
}

#endif
