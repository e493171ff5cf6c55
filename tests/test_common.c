/* Versions, status texts and the thread-local error slot. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <string.h>

#include "test_support.h"

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

static Suite *common_suite(void)
{
    Suite *suite = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, status_strings_cover_every_code);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(common_suite());
}
