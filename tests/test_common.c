/* Versions, status texts, the thread-local error slot, and how every
 * handle's option setters word a rejected value. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test_support.h"
#include "util/error.h"

START_TEST(version_matches_header)
{
    ck_assert_uint_eq(diffuse_version_number(), DIFFUSE_VERSION_NUMBER);
    ck_assert_str_eq(diffuse_version_string(), DIFFUSE_VERSION_STRING);
}
END_TEST

START_TEST(status_strings_cover_every_code)
{
    for (int s = DIFFUSE_OK; s <= DIFFUSE_ERROR_UNSUPPORTED; s++) {
        ck_assert_str_ne(diffuse_status_string(s), "unknown status");
        ck_assert_ptr_nonnull(strstr(diffuse_status_name(s), "DIFFUSE_"));
    }
    ck_assert_str_eq(diffuse_status_string(-1), "unknown status");
    ck_assert_str_eq(diffuse_status_string(1000), "unknown status");
    ck_assert_str_eq(diffuse_status_name(DIFFUSE_ERROR_IO), "DIFFUSE_ERROR_IO");
}
END_TEST

static void expect_message(diffuse_status status, const char *fragment)
{
    ck_assert_int_eq(status, DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_msg(strstr(diffuse_last_error(), fragment) != NULL, "message \"%s\" lacks \"%s\"",
                  diffuse_last_error(), fragment);
}

/* Integer options are shown as the integers given, never rounded through a
 * double (2^53 + 1 would show as 2^53) nor in exponent notation. */
START_TEST(integer_options_are_printed_exactly)
{
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 10, 0);
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAM, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, schedule, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, schedule), DIFFUSE_OK);
    const int64_t above = ((int64_t)1 << 53) + 1;

    expect_message(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, INT64_MIN),
                   "hidden_width = -9223372036854775808 is outside [1, 65536]");
    expect_message(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, above),
                   "seed = 9007199254740993 is outside [0, 9007199254740991]");
    expect_message(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_SEED, above),
                   "seed = 9007199254740993 is outside [0, 9007199254740991]");
    expect_message(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, INT64_MAX),
                   "seed = 9223372036854775807 is outside [0, 9007199254740991]");
    expect_message(diffuse_optimizer_set_int(optimizer, DIFFUSE_OPTIMIZER_WARMUP_STEPS, -1),
                   "warmup_steps = -1 is outside [0, 2147483647]");
    expect_message(diffuse_schedule_set_int(schedule, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, above),
                   "zero_terminal_snr = 9007199254740993 is outside [0, 1]");
    diffuse_sampler_free(sampler);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    diffuse_schedule_free(schedule);
}
END_TEST

/* A layer passes a lower layer's message on (diffuse_fail(error, status,
 * "%s", diffuse_last_error())): the message survives. It used to come out
 * empty (vsnprintf read the buffer it was writing), so an allocation failure
 * while a trainer set up its workers was a NO_MEMORY without a word. */
START_TEST(passing_the_last_message_on_keeps_it)
{
    diffuse_error error = {{0}};
    diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate %d workers", 2);
    ck_assert_int_eq(diffuse_fail(&error, DIFFUSE_ERROR_NO_MEMORY, "%s", diffuse_last_error()),
                     DIFFUSE_ERROR_NO_MEMORY);
    ck_assert_str_eq(diffuse_last_error(), "cannot allocate 2 workers");
    ck_assert_str_eq(error.message, "cannot allocate 2 workers");
    diffuse_fail(&error, DIFFUSE_ERROR_IO, "saving: %s", diffuse_last_error());
    ck_assert_str_eq(diffuse_last_error(), "saving: cannot allocate 2 workers");
}
END_TEST

static Suite *common_suite(void)
{
    Suite *suite = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, status_strings_cover_every_code);
    tcase_add_test(tc, integer_options_are_printed_exactly);
    tcase_add_test(tc, passing_the_last_message_on_keeps_it);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(common_suite());
}
