/* Training: the loss falls, runs are bit-reproducible, and every failure
 * (bad data, failing callback, non-finite numbers, cancellation) is reported
 * without touching weights or optimizer state. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "test_support.h"

/* The data callback's behaviour, chosen per test. */
typedef struct feed {
    diffuse_toy2d kind;
    uint64_t cursor;
    int mode;      /* FEED_* */
    int calls;
    int labelled;  /* write label (row index mod 7) for each row */
} feed;

enum { FEED_DATA, FEED_FAIL, FEED_EMPTY, FEED_TOO_MANY, FEED_NAN, FEED_HUGE, FEED_PARTIAL,
       FEED_LARGE };

static int fill(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                char *message, size_t message_size)
{
    feed *f = user;
    f->calls++;
    switch (f->mode) {
    case FEED_FAIL:
        strncpy(message, "disk on fire", message_size - 1);
        return -3;
    case FEED_EMPTY:
        return 0;
    case FEED_TOO_MANY:
        return (int)capacity + 1;
    default:
        break;
    }
    size_t rows = f->mode == FEED_PARTIAL ? capacity / 2 + 1 : capacity;
    diffuse_toy2d_sample(f->kind, 3, f->cursor, rows, x);
    f->cursor += rows;
    for (size_t i = 0; f->labelled && i < rows; i++)
        labels[i] = (int32_t)(i % 7);
    if (f->mode == FEED_NAN)
        x[rows * dim - 1] = NAN;
    if (f->mode == FEED_HUGE)
        for (size_t i = 0; i < rows * dim; i++)
            x[i] = 3e38f;
    if (f->mode == FEED_LARGE) /* finite loss and gradient, but g² overflows float */
        for (size_t i = 0; i < rows * dim; i++)
            x[i] *= 1e12f;
    return (int)rows;
}

/* All handles of one small training run. */
typedef struct rig {
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    feed data;
} rig;

static void rig_init(rig *r, diffuse_prediction prediction)
{
    memset(r, 0, sizeof *r);
    diffuse_model_config *config = NULL;
    ck_assert_int_eq(diffuse_schedule_create(&r->schedule, DIFFUSE_SCHEDULE_LINEAR, 100),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 32),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, prediction),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&r->model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    ck_assert_int_eq(diffuse_optimizer_create(&r->optimizer, DIFFUSE_OPTIMIZER_ADAM, r->model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&r->trainer, r->model, r->schedule, r->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 64),
                     DIFFUSE_OK);
    r->data.kind = DIFFUSE_TOY2D_TWO_MOONS;
    ck_assert_int_eq(diffuse_trainer_set_data(r->trainer, fill, &r->data), DIFFUSE_OK);
}

static void rig_free(rig *r)
{
    diffuse_trainer_free(r->trainer);
    diffuse_optimizer_free(r->optimizer);
    diffuse_model_free(r->model);
    diffuse_schedule_free(r->schedule);
}

static float *copy_params(const rig *r)
{
    size_t count = 0;
    ck_assert_int_eq(diffuse_model_param_count(r->model, &count), DIFFUSE_OK);
    float *params = malloc(count * sizeof(float));
    ck_assert_ptr_nonnull(params);
    ck_assert_int_eq(diffuse_model_get_params(r->model, params, count), DIFFUSE_OK);
    return params;
}

/* Mean loss over `steps` steps. */
static double mean_loss(rig *r, int steps)
{
    double sum = 0.0;
    for (int i = 0; i < steps; i++) {
        double loss = 0.0;
        ck_assert_int_eq(diffuse_trainer_step(r->trainer, &loss), DIFFUSE_OK);
        sum += loss;
    }
    return sum / steps;
}

static void set_threads(rig *r, int64_t threads)
{
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_THREADS, threads),
                     DIFFUSE_OK);
}

static void check_loss_falls(diffuse_prediction prediction, int64_t threads)
{
    rig r;
    rig_init(&r, prediction);
    set_threads(&r, threads);
    double first = mean_loss(&r, 20);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 400, NULL), DIFFUSE_OK);
    double last = mean_loss(&r, 20);
    ck_assert_msg(last < 0.75 * first, "loss did not fall: %g -> %g", first, last);
    uint64_t steps = 0;
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 440);
    rig_free(&r);
}

START_TEST(epsilon_loss_falls)
{
    check_loss_falls(DIFFUSE_PREDICT_EPSILON, 0);
}
END_TEST

START_TEST(v_loss_falls)
{
    check_loss_falls(DIFFUSE_PREDICT_V, 0);
}
END_TEST

START_TEST(x0_loss_falls)
{
    check_loss_falls(DIFFUSE_PREDICT_X0, 0);
}
END_TEST

/* Trained on a single point, an x_0-network must predict that point at
 * every t (an ε- or v-target would not give it). */
START_TEST(x0_model_predicts_the_data)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_X0);
    float point[64 * 2];
    for (size_t i = 0; i < 64; i++) {
        point[2 * i] = 0.5f;
        point[2 * i + 1] = -0.5f;
    }
    for (int step = 0; step < 400; step++)
        ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 64, point, NULL), DIFFUSE_OK);
    int32_t t[4] = {0, 30, 60, 99};
    float x_t[8] = {0.3f, -0.2f, 1.0f, 0.5f, -1.0f, 0.2f, 0.1f, 1.5f}, out[8];
    ck_assert_int_eq(diffuse_test_predict(r.model, 4, t, x_t, out), DIFFUSE_OK);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_close(out[2 * i], 0.5, 0, 0.1);
        ck_assert_close(out[2 * i + 1], -0.5, 0, 0.1);
    }
    rig_free(&r);
}
END_TEST

/* The labels a training forward saw, through a wrapper around the MLP's. */
static const model_ops *wrapped_ops;
static int32_t seen_labels[64];
static int seen_without_labels;

static diffuse_status recording_forward(diffuse_model *m, const diffuse_model_call *call)
{
    seen_without_labels = call->labels == NULL;
    if (call->labels != NULL)
        memcpy(seen_labels, call->labels, call->n * sizeof *call->labels);
    return wrapped_ops->forward(m, call);
}

START_TEST(labels_reach_the_model)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    r.data.labelled = 1;
    wrapped_ops = r.model->ops;
    model_ops recording = *wrapped_ops;
    recording.forward = recording_forward;
    r.model->ops = &recording;
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, NULL), DIFFUSE_OK);
    ck_assert(!seen_without_labels);
    for (size_t i = 0; i < 64; i++)
        ck_assert_int_eq(seen_labels[i], (int32_t)(i % 7));
    /* step_batch has no labels to give */
    float x0[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 2, x0, NULL), DIFFUSE_OK);
    ck_assert(seen_without_labels);
    /* a callback that writes none gives 0s, not the last batch's */
    r.data.labelled = 0;
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, NULL), DIFFUSE_OK);
    for (size_t i = 0; i < 64; i++)
        ck_assert_int_eq(seen_labels[i], 0);
    r.model->ops = wrapped_ops;
    rig_free(&r);
}
END_TEST

START_TEST(two_threads_learn)
{
    check_loss_falls(DIFFUSE_PREDICT_EPSILON, 2);
}
END_TEST

START_TEST(same_seed_same_bits)
{
    rig a, b, c;
    rig_init(&a, DIFFUSE_PREDICT_EPSILON);
    rig_init(&b, DIFFUSE_PREDICT_EPSILON);
    rig_init(&c, DIFFUSE_PREDICT_EPSILON);
    ck_assert_int_eq(diffuse_trainer_set_int(c.trainer, DIFFUSE_TRAINER_SEED, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(a.trainer, 50, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(b.trainer, 50, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(c.trainer, 50, NULL), DIFFUSE_OK);
    float *pa = copy_params(&a), *pb = copy_params(&b), *pc = copy_params(&c);
    size_t count = 0;
    diffuse_model_param_count(a.model, &count);
    ck_assert_mem_eq(pa, pb, count * sizeof(float));
    ck_assert(memcmp(pa, pc, count * sizeof(float)) != 0);
    free(pa);
    free(pb);
    free(pc);
    rig_free(&a);
    rig_free(&b);
    rig_free(&c);
}
END_TEST

/* Two rigs trained for `steps` steps with k = 2 or 3 threads (the loop
 * index; 3 is more workers than this machine's cores, so workers wait for
 * one another's gradients while descheduled) agree bit for bit; against one
 * thread they agree to rounding (the rows' gradients are summed in another
 * order), step by step. */
START_TEST(threads_same_bits_and_close_to_one)
{
    enum { STEPS = 30 };
    rig a, b, one;
    rig_init(&a, DIFFUSE_PREDICT_EPSILON);
    rig_init(&b, DIFFUSE_PREDICT_EPSILON);
    rig_init(&one, DIFFUSE_PREDICT_EPSILON);
    set_threads(&a, 2 + _i);
    set_threads(&b, 2 + _i);
    set_threads(&one, 1);
    for (int i = 0; i < STEPS; i++) {
        double la = 0, lb = 0, l1 = 0;
        ck_assert_int_eq(diffuse_trainer_step(a.trainer, &la), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_step(b.trainer, &lb), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_step(one.trainer, &l1), DIFFUSE_OK);
        ck_assert_double_eq(la, lb);
        ck_assert_close(la, l1, 1e-5, 0.0);
    }
    float *pa = copy_params(&a), *pb = copy_params(&b), *p1 = copy_params(&one);
    size_t count = 0;
    diffuse_model_param_count(a.model, &count);
    ck_assert_mem_eq(pa, pb, count * sizeof(float));
    for (size_t i = 0; i < count; i++)
        ck_assert_close(pa[i], p1[i], 0.0, 1e-5);
    free(pa);
    free(pb);
    free(p1);
    rig_free(&a);
    rig_free(&b);
    rig_free(&one);
}
END_TEST

/* More threads than rows: one row per worker; changing the thread count
 * between steps rebuilds the workers. */
START_TEST(threads_beyond_rows)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    float x[3 * 2];
    double loss = 0;
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 3, 0, 3, x), DIFFUSE_OK);
    set_threads(&r, 8);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 3, x, &loss), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 1, x, &loss), DIFFUSE_OK);
    set_threads(&r, 3);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 3, x, &loss), DIFFUSE_OK);
    ck_assert(isfinite(loss) && loss > 0.0);
    rig_free(&r);
}
END_TEST

/* A failing step must leave weights and optimizer state exactly as before. */
static void expect_untouched_failure_with(int64_t threads, int mode, diffuse_status expected,
                                          const char *message)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    set_threads(&r, threads);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 3, NULL), DIFFUSE_OK);
    float *before = copy_params(&r);
    r.data.mode = mode;
    double loss = -1.0;
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, &loss), expected);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(r.trainer), message));
    ck_assert_double_eq(loss, -1.0);
    float *after = copy_params(&r);
    size_t count = 0;
    diffuse_model_param_count(r.model, &count);
    ck_assert_mem_eq(before, after, count * sizeof(float));
    uint64_t steps = 0;
    diffuse_trainer_step_count(r.trainer, &steps);
    ck_assert_uint_eq(steps, 3);
    /* ... and training goes on once the data is good again. */
    r.data.mode = FEED_DATA;
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, &loss), DIFFUSE_OK);
    free(before);
    free(after);
    rig_free(&r);
}

static void expect_untouched_failure(int mode, diffuse_status expected, const char *message)
{
    expect_untouched_failure_with(0, mode, expected, message);
}

START_TEST(failing_callback)
{
    expect_untouched_failure(FEED_FAIL, DIFFUSE_ERROR_CALLBACK, "disk on fire");
}
END_TEST

START_TEST(empty_epoch_twice)
{
    expect_untouched_failure(FEED_EMPTY, DIFFUSE_ERROR_CALLBACK, "no rows");
}
END_TEST

START_TEST(too_many_rows)
{
    expect_untouched_failure(FEED_TOO_MANY, DIFFUSE_ERROR_CALLBACK, "more than");
}
END_TEST

START_TEST(nan_in_data)
{
    expect_untouched_failure(FEED_NAN, DIFFUSE_ERROR_NUMERIC, "not finite");
}
END_TEST

START_TEST(overflowing_loss)
{
    expect_untouched_failure(FEED_HUGE, DIFFUSE_ERROR_NUMERIC, "not finite");
}
END_TEST

START_TEST(overflowing_update)
{
    expect_untouched_failure(FEED_LARGE, DIFFUSE_ERROR_NUMERIC, "update is not finite");
}
END_TEST

START_TEST(threaded_failures_leave_weights)
{
    expect_untouched_failure_with(2, FEED_HUGE, DIFFUSE_ERROR_NUMERIC, "not finite");
    expect_untouched_failure_with(2, FEED_NAN, DIFFUSE_ERROR_NUMERIC, "not finite");
    expect_untouched_failure_with(2, FEED_FAIL, DIFFUSE_ERROR_CALLBACK, "disk on fire");
}
END_TEST

START_TEST(partial_batches_train)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    r.data.mode = FEED_PARTIAL;
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 5, NULL), DIFFUSE_OK);
    ck_assert_uint_eq(r.data.cursor, 5 * 33);
    rig_free(&r);
}
END_TEST

static int stop_at_seven(void *user, uint64_t step, double loss, double rate)
{
    (void)loss;
    (void)rate;
    *(uint64_t *)user = step;
    return step >= 7;
}

START_TEST(progress_can_stop_training)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    uint64_t seen = 0;
    ck_assert_int_eq(diffuse_trainer_set_progress(r.trainer, stop_at_seven, &seen, 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(r.trainer, 100, NULL), DIFFUSE_ERROR_CANCELLED);
    ck_assert_uint_eq(seen, 7);
    rig_free(&r);
}
END_TEST

START_TEST(step_batch_matches_callback)
{
    rig a, b;
    rig_init(&a, DIFFUSE_PREDICT_EPSILON);
    rig_init(&b, DIFFUSE_PREDICT_EPSILON);
    float x[64 * 2];
    double la = 0, lb = 0;
    ck_assert_int_eq(diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 3, 0, 64, x), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step_batch(a.trainer, 64, x, &la), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step(b.trainer, &lb), DIFFUSE_OK);
    ck_assert_double_eq(la, lb);
    rig_free(&a);
    rig_free(&b);
}
END_TEST


START_TEST(bad_arguments)
{
    rig r;
    rig_init(&r, DIFFUSE_PREDICT_EPSILON);
    diffuse_trainer *tr = NULL;
    int64_t value = 0, lo = 0, hi = 0;
    uint64_t steps = 0;
    double loss = 0;
    float x[2] = {0, 0};

    ck_assert_int_eq(diffuse_trainer_create(NULL, r.model, r.schedule, r.optimizer),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_create(&tr, NULL, r.schedule, r.optimizer),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_create(&tr, r.model, NULL, r.optimizer),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_create(&tr, r.model, r.schedule, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(tr);

    /* A callback model cannot be trained; an optimizer for another model is refused. */
    diffuse_model *callback_model = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&callback_model, 2, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&tr, callback_model, r.schedule, r.optimizer),
                     DIFFUSE_ERROR_UNSUPPORTED);
    rig other;
    rig_init(&other, DIFFUSE_PREDICT_EPSILON);
    diffuse_model_config *config = NULL;
    diffuse_model *wide = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&wide, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&tr, wide, r.schedule, other.optimizer),
                     DIFFUSE_ERROR_MISMATCH);
    diffuse_model_free(wide);
    diffuse_model_config_free(config);
    diffuse_model_free(callback_model);
    rig_free(&other);

    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_BATCH_SIZE, 0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_SEED, -1),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, (diffuse_trainer_option)42, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_int(NULL, DIFFUSE_TRAINER_SEED, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_get_int(r.trainer, DIFFUSE_TRAINER_BATCH_SIZE, &value),
                     DIFFUSE_OK);
    ck_assert_int_eq(value, 64);
    ck_assert_int_eq(diffuse_trainer_get_int(r.trainer, DIFFUSE_TRAINER_SEED, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_get_int(NULL, DIFFUSE_TRAINER_SEED, &value),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_int_bounds(DIFFUSE_TRAINER_BATCH_SIZE, &lo, &hi),
                     DIFFUSE_OK);
    ck_assert_int_eq(lo, 1);
    ck_assert_int_eq(diffuse_trainer_int_bounds(DIFFUSE_TRAINER_BATCH_SIZE, NULL, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_progress(r.trainer, stop_at_seven, NULL, 0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_trainer_set_progress(NULL, NULL, NULL, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_data(NULL, fill, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step(NULL, &loss), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_train(NULL, 1, &loss), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 0, x, &loss),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step_batch(r.trainer, 1, NULL, &loss),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step_batch(NULL, 1, x, &loss),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_step_count(NULL, &steps), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_data(r.trainer, NULL, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step(r.trainer, &loss), DIFFUSE_ERROR_STATE);
    ck_assert_str_ne(diffuse_trainer_last_error(NULL), "");
    diffuse_trainer_free(NULL);
    rig_free(&r);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *suite = suite_create("train");
    TCase *learning = tcase_create("learning");
    tcase_set_timeout(learning, 300);
    tcase_add_test(learning, epsilon_loss_falls);
    tcase_add_test(learning, v_loss_falls);
    tcase_add_test(learning, x0_loss_falls);
    tcase_add_test(learning, x0_model_predicts_the_data);
    tcase_add_test(learning, labels_reach_the_model);
    tcase_add_test(learning, same_seed_same_bits);
    tcase_add_test(learning, step_batch_matches_callback);
    tcase_add_test(learning, two_threads_learn);
    tcase_add_loop_test(learning, threads_same_bits_and_close_to_one, 0, 2);
    tcase_add_test(learning, threads_beyond_rows);
    suite_add_tcase(suite, learning);
    TCase *failures = tcase_create("failures");
    tcase_add_test(failures, failing_callback);
    tcase_add_test(failures, empty_epoch_twice);
    tcase_add_test(failures, too_many_rows);
    tcase_add_test(failures, nan_in_data);
    tcase_add_test(failures, overflowing_loss);
    tcase_add_test(failures, overflowing_update);
    tcase_add_test(failures, threaded_failures_leave_weights);
    tcase_add_test(failures, partial_batches_train);
    tcase_add_test(failures, progress_can_stop_training);
    tcase_add_test(failures, bad_arguments);
    suite_add_tcase(suite, failures);
    return suite;
}

int main(void)
{
    return diffuse_test_run(train_suite());
}
