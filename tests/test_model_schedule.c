/* The schedule a model belongs to (diffuse/checkpoint.h, src/model/model_schedule.c):
 * a model trained or loaded with one schedule refuses another for sampling
 * and saving (MISMATCH), unless diffuse_model_set_schedule declares it. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <stdio.h>
#include <string.h>

#include "test_handles.h"
#include "test_support.h"

static int feed(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                char *message, size_t message_size)
{
    (void)user, (void)labels, (void)message, (void)message_size;
    for (size_t i = 0; i < capacity * dim; i++)
        x[i] = (float)(i % 7) * 0.25f - 0.75f;
    return (int)capacity;
}

static diffuse_model *tiny_model(void)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return model;
}

static diffuse_schedule *schedule(diffuse_schedule_kind kind, size_t steps)
{
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create(&s, kind, steps), DIFFUSE_OK);
    return s;
}

/* Two training steps of `model` with `s`. */
static void train(diffuse_model *model, const diffuse_schedule *s)
{
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, s, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_BATCH_SIZE, 8), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_data(trainer, feed, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(trainer, 2, NULL), DIFFUSE_OK);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
}

/* Creates a sampler for (model, s), expecting `want`; frees it. */
static void expect_sampler(diffuse_model *model, const diffuse_schedule *s, diffuse_status want)
{
    diffuse_sampler *sampler = NULL;
    diffuse_status status = diffuse_sampler_create(&sampler, model, s);
    ck_assert_msg(status == want, "sampler: %s, want %s (%s)", diffuse_status_name(status),
                  diffuse_status_name(want), diffuse_last_error());
    ck_assert(status == DIFFUSE_OK ? sampler != NULL : sampler == NULL);
    diffuse_sampler_free(sampler);
}

START_TEST(a_fresh_model_accepts_any_schedule)
{
    diffuse_model *model = tiny_model();
    diffuse_schedule *cosine = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    diffuse_schedule *linear = schedule(DIFFUSE_SCHEDULE_LINEAR, 1000);
    expect_sampler(model, cosine, DIFFUSE_OK);
    expect_sampler(model, linear, DIFFUSE_OK);
    diffuse_schedule_free(linear);
    diffuse_schedule_free(cosine);
    diffuse_model_free(model);
}
END_TEST

START_TEST(a_trained_model_refuses_another_schedule)
{
    diffuse_model *model = tiny_model();
    diffuse_schedule *cosine = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    diffuse_schedule *same = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    diffuse_schedule *linear = schedule(DIFFUSE_SCHEDULE_LINEAR, 1000);
    diffuse_schedule *shifted = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    ck_assert_int_eq(diffuse_schedule_set_double(shifted, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.01),
                     DIFFUSE_OK);
    train(model, cosine);
    expect_sampler(model, same, DIFFUSE_OK); /* another handle, the same β */
    expect_sampler(model, linear, DIFFUSE_ERROR_MISMATCH);
    const char *message = diffuse_last_error();
    ck_assert_msg(strstr(message, "linear, T = 1000") && strstr(message, "cosine, T = 500") &&
                      strstr(message, "diffuse_model_set_schedule"),
                  "%s", message);
    expect_sampler(model, shifted, DIFFUSE_ERROR_MISMATCH);
    ck_assert_msg(strstr(diffuse_last_error(), "other options"), "%s", diffuse_last_error());

    /* Retraining with another schedule makes it the model's. */
    train(model, linear);
    expect_sampler(model, linear, DIFFUSE_OK);
    expect_sampler(model, cosine, DIFFUSE_ERROR_MISMATCH);
    diffuse_schedule_free(shifted);
    diffuse_schedule_free(linear);
    diffuse_schedule_free(same);
    diffuse_schedule_free(cosine);
    diffuse_model_free(model);
}
END_TEST

START_TEST(the_override_is_explicit)
{
    diffuse_model *model = tiny_model();
    diffuse_schedule *cosine = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    diffuse_schedule *linear = schedule(DIFFUSE_SCHEDULE_LINEAR, 1000);
    train(model, cosine);
    ck_assert_int_eq(diffuse_model_set_schedule(model, linear), DIFFUSE_OK);
    expect_sampler(model, linear, DIFFUSE_OK);
    expect_sampler(model, cosine, DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(diffuse_model_set_schedule(model, NULL), DIFFUSE_OK); /* forget it */
    expect_sampler(model, cosine, DIFFUSE_OK);
    expect_sampler(model, linear, DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_set_schedule(NULL, linear), DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_schedule_free(linear);
    diffuse_schedule_free(cosine);
    diffuse_model_free(model);
}
END_TEST

START_TEST(checkpoints_carry_the_schedule)
{
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    diffuse_model *model = tiny_model();
    diffuse_schedule *cosine = schedule(DIFFUSE_SCHEDULE_COSINE, 500);
    diffuse_schedule *linear = schedule(DIFFUSE_SCHEDULE_LINEAR, 1000);
    train(model, cosine);
    /* A file must not claim a schedule the weights were not trained for. */
    ck_assert_int_eq(diffuse_model_save(model, linear, path), DIFFUSE_ERROR_MISMATCH);
    ck_assert_msg(strstr(diffuse_model_last_error(model), "saving"), "%s",
                  diffuse_model_last_error(model));
    ck_assert_int_eq(diffuse_model_save(model, cosine, path), DIFFUSE_OK);

    /* Loaded without asking for the schedule, the model still knows it. */
    diffuse_model *loaded = NULL;
    ck_assert_int_eq(diffuse_model_load(path, &loaded, NULL), DIFFUSE_OK);
    expect_sampler(loaded, cosine, DIFFUSE_OK);
    expect_sampler(loaded, linear, DIFFUSE_ERROR_MISMATCH);
    diffuse_model_free(loaded);

    /* A trainer checkpoint too. */
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAM, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, cosine, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_save(trainer, path), DIFFUSE_OK);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    ck_assert_int_eq(diffuse_trainer_load(path, &h.model, &h.schedule, &h.optimizer, &h.trainer),
                     DIFFUSE_OK);
    expect_sampler(h.model, cosine, DIFFUSE_OK);
    expect_sampler(h.model, linear, DIFFUSE_ERROR_MISMATCH);
    diffuse_test_handles_free(&h);

    diffuse_schedule_free(linear);
    diffuse_schedule_free(cosine);
    diffuse_model_free(model);
    diffuse_test_remove_dir(dir);
}
END_TEST

static Suite *model_schedule_suite(void)
{
    Suite *suite = suite_create("model_schedule");
    TCase *c = tcase_create("model_schedule");
    tcase_add_test(c, a_fresh_model_accepts_any_schedule);
    tcase_add_test(c, a_trained_model_refuses_another_schedule);
    tcase_add_test(c, the_override_is_explicit);
    tcase_add_test(c, checkpoints_carry_the_schedule);
    suite_add_tcase(suite, c);
    return suite;
}

int main(void)
{
    return diffuse_test_run(model_schedule_suite());
}
