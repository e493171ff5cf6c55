/* diffuse_model_warning: advice on valid configurations known not to work
 * (src/model/model_advice.c). */
#include <check.h>
#include <diffuse/diffuse.h>
#include <string.h>

#include "test_support.h"

static diffuse_model *mlp(size_t dim, int64_t width)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, dim), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, width),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return model;
}

START_TEST(width_below_dim_is_reported_like_snprintf)
{
    diffuse_model *model = mlp(784, 512);
    size_t needed = diffuse_model_warning(model, NULL, 0);
    ck_assert_uint_gt(needed, 1);
    char full[512], small[16];
    ck_assert_uint_le(needed, sizeof full);
    ck_assert_uint_eq(diffuse_model_warning(model, full, sizeof full), needed);
    ck_assert_uint_eq(strlen(full) + 1, needed);
    ck_assert_msg(strstr(full, "hidden_width 512 is below the data dimension 784") &&
                      strstr(full, "hidden_width >= 784"),
                  "%s", full);
    ck_assert_uint_eq(diffuse_model_warning(model, small, sizeof small), needed); /* truncated */
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert(strncmp(small, full, sizeof small - 1) == 0);
    diffuse_model_free(model);
}
END_TEST

START_TEST(wide_enough_and_callback_models_have_nothing_to_say)
{
    char buffer[8] = "x";
    diffuse_model *model = mlp(16, 16);
    ck_assert_uint_eq(diffuse_model_warning(model, buffer, sizeof buffer), 0);
    ck_assert_str_eq(buffer, "x"); /* untouched */
    diffuse_model_free(model);
    diffuse_model *callback = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&callback, 64, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    ck_assert_uint_eq(diffuse_model_warning(callback, buffer, sizeof buffer), 0);
    diffuse_model_free(callback);
    ck_assert_uint_eq(diffuse_model_warning(NULL, buffer, sizeof buffer), 0);
}
END_TEST

static Suite *model_advice_suite(void)
{
    Suite *suite = suite_create("model_advice");
    TCase *c = tcase_create("model_advice");
    tcase_add_test(c, width_below_dim_is_reported_like_snprintf);
    tcase_add_test(c, wide_enough_and_callback_models_have_nothing_to_say);
    suite_add_tcase(suite, c);
    return suite;
}

int main(void)
{
    return diffuse_test_run(model_advice_suite());
}
