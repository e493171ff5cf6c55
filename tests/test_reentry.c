/* Callbacks that re-enter or free their own handle ("Callbacks and
 * re-entry" in diffuse/common.h): every re-entry that would change or run a
 * busy handle fails with DIFFUSE_ERROR_STATE and changes nothing; a free from
 * inside a callback stops the call and happens when it returns. Run under
 * AddressSanitizer (CK_FORK=no), the frees must show no use after free and
 * no leak. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define DIM 2
#define ROWS 8

/* The handles of one small model with a trainer and a sampler on it, and
 * what the callbacks do and saw. */
typedef struct rig {
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_sampler *sampler;
    int data_action, progress_action; /* ACTION_*: what each callback does */
    int data_calls, progress_calls;
    diffuse_status inner[4];  /* statuses of the calls made from the callback */
    char message[512];        /* the handle's last error after the first re-entry */
} rig;

enum { ACTION_NONE, ACTION_REENTER, ACTION_FREE };

static void rig_init(rig *r)
{
    memset(r, 0, sizeof *r);
    r->schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    diffuse_model_config *config = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&r->model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    ck_assert_int_eq(diffuse_optimizer_create(&r->optimizer, DIFFUSE_OPTIMIZER_ADAMW, r->model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&r->trainer, r->model, r->schedule, r->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, ROWS),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&r->sampler, r->model, r->schedule), DIFFUSE_OK);
}

/* Frees what the test has not freed through a callback. */
static void rig_free(rig *r)
{
    diffuse_sampler_free(r->sampler);
    diffuse_trainer_free(r->trainer);
    diffuse_optimizer_free(r->optimizer);
    diffuse_model_free(r->model);
    diffuse_schedule_free(r->schedule);
}

static void expect_busy(diffuse_status status, const char *message)
{
    ck_assert_int_eq(status, DIFFUSE_ERROR_STATE);
    ck_assert_msg(strstr(message, "busy") != NULL, "message: %s", message);
}

static float big_batch[4 * ROWS * DIM];

/* ---- Trainer --------------------------------------------------------------- */

static int data_callback(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                         char *message, size_t message_size)
{
    (void)labels, (void)message, (void)message_size;
    rig *r = user;
    if (r->data_calls++ == 0 && r->data_action == ACTION_REENTER) {
        /* A larger batch would reallocate the buffer `x` points into. */
        r->inner[0] = diffuse_trainer_step_batch(r->trainer, 4 * ROWS, big_batch, NULL);
        snprintf(r->message, sizeof r->message, "%s", diffuse_trainer_last_error(r->trainer));
        r->inner[1] = diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 4 * ROWS);
        r->inner[2] = diffuse_trainer_step(r->trainer, NULL);
        r->inner[3] = diffuse_trainer_set_data(r->trainer, NULL, NULL);
    }
    if (r->data_action == ACTION_FREE) {
        diffuse_trainer_free(r->trainer);
        r->trainer = NULL; /* freed when the call returns */
    }
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 1, 0, capacity, x),
                     DIFFUSE_OK);
    (void)dim;
    return (int)capacity;
}

START_TEST(data_callback_cannot_reenter_its_trainer)
{
    rig r;
    rig_init(&r);
    r.data_action = ACTION_REENTER;
    ck_assert_int_eq(diffuse_trainer_set_data(r.trainer, data_callback, &r), DIFFUSE_OK);
    double loss = NAN;
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, &loss), DIFFUSE_OK);
    ck_assert(isfinite(loss));
    expect_busy(r.inner[0], r.message);
    ck_assert_msg(strstr(r.message, "diffuse_trainer_step_batch") != NULL, "%s", r.message);
    for (int i = 1; i < 4; i++)
        ck_assert_int_eq(r.inner[i], DIFFUSE_ERROR_STATE);
    /* Nothing changed: one step, the batch size and the callback as they were. */
    uint64_t steps = 0;
    int64_t batch = 0;
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 1);
    ck_assert_int_eq(diffuse_trainer_get_int(r.trainer, DIFFUSE_TRAINER_BATCH_SIZE, &batch),
                     DIFFUSE_OK);
    ck_assert_int_eq(batch, ROWS);
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, NULL), DIFFUSE_OK);
    rig_free(&r);
}
END_TEST

START_TEST(data_callback_may_free_its_trainer)
{
    rig r;
    rig_init(&r);
    r.data_action = ACTION_FREE;
    diffuse_trainer *trainer = r.trainer;
    ck_assert_int_eq(diffuse_trainer_set_data(trainer, data_callback, &r), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(trainer, 5, NULL), DIFFUSE_ERROR_CANCELLED);
    ck_assert_msg(strstr(diffuse_last_error(), "freed") != NULL, "%s", diffuse_last_error());
    ck_assert_int_eq(r.data_calls, 1);
    uint64_t steps = 1;
    ck_assert_int_eq(diffuse_optimizer_step_count(r.optimizer, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 0); /* the batch it was filling is not trained on */
    rig_free(&r);
}
END_TEST

/* Progress: re-entering the trainer fails, but its model may be sampled and
 * the trainer read. */
static int train_progress(void *user, uint64_t step, double loss, double rate)
{
    (void)step, (void)loss, (void)rate;
    rig *r = user;
    r->progress_calls++;
    if (r->progress_action == ACTION_FREE) {
        diffuse_trainer_free(r->trainer);
        r->trainer = NULL;
        return 0; /* even without asking to stop, the training stops */
    }
    float x[ROWS * DIM];
    uint64_t steps = 0;
    r->inner[0] = diffuse_trainer_train(r->trainer, 1, NULL);
    snprintf(r->message, sizeof r->message, "%s", diffuse_trainer_last_error(r->trainer));
    r->inner[1] = diffuse_sampler_run(r->sampler, ROWS, x);
    r->inner[2] = diffuse_trainer_step_count(r->trainer, &steps);
    return 0;
}

START_TEST(progress_callback_cannot_reenter_its_trainer)
{
    rig r;
    rig_init(&r);
    ck_assert_int_eq(diffuse_trainer_set_data(r.trainer, data_callback, &r), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_progress(r.trainer, train_progress, &r, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 2, NULL), DIFFUSE_OK);
    expect_busy(r.inner[0], r.message);
    ck_assert_int_eq(r.inner[1], DIFFUSE_OK);
    ck_assert_int_eq(r.inner[2], DIFFUSE_OK);
    uint64_t steps = 0;
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 2);
    rig_free(&r);
}
END_TEST

START_TEST(progress_callback_may_free_its_trainer)
{
    rig r;
    rig_init(&r);
    diffuse_trainer *trainer = r.trainer;
    ck_assert_int_eq(diffuse_trainer_set_data(trainer, data_callback, &r), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_progress(trainer, train_progress, &r, 1), DIFFUSE_OK);
    r.progress_action = ACTION_FREE;
    ck_assert_int_eq(diffuse_trainer_train(trainer, 5, NULL), DIFFUSE_ERROR_CANCELLED);
    ck_assert_int_eq(r.data_calls, 1);
    ck_assert_int_eq(r.progress_calls, 1);
    rig_free(&r);
}
END_TEST

/* ---- Sampler ---------------------------------------------------------------- */

static int sample_progress(void *user, uint64_t done, uint64_t total)
{
    (void)done, (void)total;
    rig *r = user;
    if (r->progress_calls++ > 0)
        return 0;
    if (r->progress_action == ACTION_FREE) {
        diffuse_sampler_free(r->sampler);
        r->sampler = NULL;
        return 0;
    }
    float x[ROWS * DIM];
    /* More threads would free the workers of the run in progress. */
    r->inner[0] = diffuse_sampler_set_int(r->sampler, DIFFUSE_SAMPLER_THREADS, 3);
    snprintf(r->message, sizeof r->message, "%s", diffuse_sampler_last_error(r->sampler));
    r->inner[1] = diffuse_sampler_run(r->sampler, ROWS, x);
    /* The model the run is using: neither trained nor overwritten meanwhile. */
    r->inner[2] = diffuse_trainer_step_batch(r->trainer, ROWS, big_batch, NULL);
    size_t count = 0;
    diffuse_model_param_count(r->model, &count);
    float *params = calloc(count, sizeof *params);
    r->inner[3] = diffuse_model_set_params(r->model, params, count);
    free(params);
    return 0;
}

static void sample_with_threads(rig *r, int threads, diffuse_status expected)
{
    float x[3 * ROWS * DIM];
    ck_assert_int_eq(diffuse_sampler_set_int(r->sampler, DIFFUSE_SAMPLER_THREADS, threads),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_progress(r->sampler, sample_progress, r), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(r->sampler, 3 * ROWS, x), expected);
}

START_TEST(progress_callback_cannot_reenter_its_sampler)
{
    rig r;
    rig_init(&r);
    diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 1, 0, 4 * ROWS, big_batch);
    sample_with_threads(&r, 2, DIFFUSE_OK);
    expect_busy(r.inner[0], r.message);
    ck_assert_int_eq(r.inner[1], DIFFUSE_ERROR_STATE);
    expect_busy(r.inner[2], diffuse_trainer_last_error(r.trainer));
    expect_busy(r.inner[3], diffuse_model_last_error(r.model));
    int64_t threads = 0;
    ck_assert_int_eq(diffuse_sampler_get_int(r.sampler, DIFFUSE_SAMPLER_THREADS, &threads),
                     DIFFUSE_OK);
    ck_assert_int_eq(threads, 2);
    uint64_t steps = 1;
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 0);
    /* Idle again: everything works. */
    ck_assert_int_eq(diffuse_sampler_set_int(r.sampler, DIFFUSE_SAMPLER_THREADS, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, ROWS, big_batch, NULL), DIFFUSE_OK);
    rig_free(&r);
}
END_TEST

START_TEST(progress_callback_may_free_its_sampler)
{
    rig r;
    rig_init(&r);
    r.progress_action = ACTION_FREE;
    sample_with_threads(&r, 2, DIFFUSE_ERROR_CANCELLED);
    ck_assert_int_eq(r.progress_calls, 1);
    ck_assert_ptr_null(r.sampler);
    rig_free(&r);
}
END_TEST

/* ---- Callback model ---------------------------------------------------------- */

typedef struct echo {
    diffuse_model *model;
    int action;
    int calls;
    diffuse_status inner;
} echo;

static int echo_predict(void *user, const diffuse_model_call *call, size_t dim)
{
    echo *e = user;
    size_t n = call->n;
    if (e->calls++ == 0 && e->action == ACTION_REENTER) {
        float again[DIM];
        e->inner = diffuse_test_predict(e->model, 1, call->t, call->x_t, again);
    }
    if (e->action == ACTION_FREE)
        diffuse_model_free(e->model);
    for (size_t i = 0; i < n * dim; i++)
        call->out[i] = 0.5f * call->x_t[i];
    return 0;
}

static diffuse_model *echo_model(echo *e, int action)
{
    memset(e, 0, sizeof *e);
    e->action = action;
    ck_assert_int_eq(diffuse_model_create_callback(&e->model, DIM, DIFFUSE_PREDICT_EPSILON,
                                                   echo_predict, e),
                     DIFFUSE_OK);
    return e->model;
}

/* One prediction of ROWS zero rows by a new echo model (e->model). */
static diffuse_status predict_zeros(echo *e, int action)
{
    float x[ROWS * DIM] = {0}, out[ROWS * DIM];
    int32_t t[ROWS] = {0};
    return diffuse_test_predict(echo_model(e, action), ROWS, t, x, out);
}

START_TEST(prediction_function_cannot_reenter_its_model)
{
    echo e;
    ck_assert_int_eq(predict_zeros(&e, ACTION_REENTER), DIFFUSE_OK);
    expect_busy(e.inner, diffuse_model_last_error(e.model));
    diffuse_model_free(e.model);
}
END_TEST

START_TEST(prediction_function_may_free_its_model)
{
    echo e;
    ck_assert_int_eq(predict_zeros(&e, ACTION_FREE), DIFFUSE_ERROR_CANCELLED);
    ck_assert_int_eq(e.calls, 1);

    /* Through a sampler: the run stops at once; the model is freed when it
     * returns, and the sampler can then only be freed. */
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    diffuse_sampler *sampler = NULL;
    float out[ROWS * DIM];
    diffuse_model *model = echo_model(&e, ACTION_FREE);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, ROWS, out), DIFFUSE_ERROR_CANCELLED);
    ck_assert_int_eq(e.calls, 1);
    diffuse_sampler_free(sampler);
    diffuse_schedule_free(schedule);
}
END_TEST

static Suite *reentry_suite(void)
{
    Suite *suite = suite_create("reentry");
    TCase *tc = tcase_create("callbacks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, data_callback_cannot_reenter_its_trainer);
    tcase_add_test(tc, data_callback_may_free_its_trainer);
    tcase_add_test(tc, progress_callback_cannot_reenter_its_trainer);
    tcase_add_test(tc, progress_callback_may_free_its_trainer);
    tcase_add_test(tc, progress_callback_cannot_reenter_its_sampler);
    tcase_add_test(tc, progress_callback_may_free_its_sampler);
    tcase_add_test(tc, prediction_function_cannot_reenter_its_model);
    tcase_add_test(tc, prediction_function_may_free_its_model);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(reentry_suite());
}
