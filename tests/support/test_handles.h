/* The four handles diffuse_trainer_load creates, for tests and fuzz
 * harnesses (header-only: the harnesses do not link test_support.c). */
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

#endif
