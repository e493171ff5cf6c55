/* Helpers shared by the Check suites. */
#ifndef DIFFUSE_TEST_SUPPORT_H
#define DIFFUSE_TEST_SUPPORT_H

#include <check.h>
#include <stddef.h>

/* Runs `suite`, prints Check's summary and returns the process exit code
 * (0 only when every check passed). */
int diffuse_test_run(Suite *suite);

/* |a - b| <= atol + rtol * |b|, reported with both values on failure. */
#define ck_assert_close(a, b, rtol, atol)                                              \
    do {                                                                              \
        double ck_a_ = (double)(a), ck_b_ = (double)(b);                              \
        ck_assert_msg(fabs(ck_a_ - ck_b_) <= (atol) + (rtol)*fabs(ck_b_),             \
                      "%s = %.17g, expected %s = %.17g", #a, ck_a_, #b, ck_b_);       \
    } while (0)

/* A fresh directory under $TMPDIR (or /tmp) for files a test writes;
 * `buffer` receives its path. Returns 0 on success. */
int diffuse_test_temp_dir(char *buffer, size_t size);

#endif
