/* The log function (diffuse_set_log): warnings reach it, nothing is printed
 * without it, and the sampler warns about a schedule whose x_T keeps much of
 * x_0 (ᾱ_{T−1} > 0.01) but not about a long one. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <string.h>

#include "test_support.h"

typedef struct log_record {
    int count;
    diffuse_log_level level;
    char last[512];
} log_record;

static void record(void *user, diffuse_log_level level, const char *message)
{
    log_record *r = user;
    r->count++;
    r->level = level;
    strncpy(r->last, message, sizeof r->last - 1);
}

/* The warnings of creating a sampler on a linear schedule of `steps`. */
static log_record sampler_warnings(size_t steps)
{
    log_record r = {0};
    diffuse_set_log(record, &r);
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, steps, 0);
    diffuse_model *model = NULL;
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&model, 2, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    diffuse_set_log(NULL, NULL);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
    return r;
}

START_TEST(short_schedule_warns_at_sampler_creation)
{
    log_record r = sampler_warnings(50);
    ck_assert_int_eq(r.count, 1);
    ck_assert_int_eq(r.level, DIFFUSE_LOG_WARNING);
    ck_assert_msg(strstr(r.last, "alpha_bar[T-1] = 0.6") != NULL, "%s", r.last);
    ck_assert_msg(strstr(r.last, "respacing") != NULL, "%s", r.last);
}
END_TEST

START_TEST(long_schedule_does_not_warn)
{
    ck_assert_int_eq(sampler_warnings(1000).count, 0);
}
END_TEST

START_TEST(cleared_log_function_receives_nothing)
{
    log_record r = {0};
    diffuse_set_log(record, &r);
    diffuse_set_log(NULL, NULL);
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 50, 0);
    diffuse_model *model = NULL;
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&model, 2, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    ck_assert_int_eq(r.count, 0);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_schedule_free(schedule);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *suite = suite_create("log");
    TCase *tc = tcase_create("warnings");
    tcase_add_test(tc, short_schedule_warns_at_sampler_creation);
    tcase_add_test(tc, long_schedule_does_not_warn);
    tcase_add_test(tc, cleared_log_function_receives_nothing);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(log_suite());
}
