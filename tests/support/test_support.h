/* Helpers shared by the Check suites. */
#ifndef DIFFUSE_TEST_SUPPORT_H
#define DIFFUSE_TEST_SUPPORT_H

#include <check.h>
#include <diffuse/model.h>
#include <diffuse/schedule.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>

#include "test_handles.h"

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

/* A schedule of `kind` (a diffuse_schedule_kind) with T = steps and the
 * ZERO_TERMINAL_SNR option set to zero_terminal_snr; fails the test on error. */
diffuse_schedule *diffuse_test_schedule(int kind, size_t steps, int zero_terminal_snr);

/* Handles for training `model` on `schedule` (both adopted: freed by
 * diffuse_test_handles_free): an AdamW optimizer with `learning_rate` and a
 * trainer with default options; fails the test on error. */
diffuse_test_handles diffuse_test_training(diffuse_model *model, diffuse_schedule *schedule,
                                           double learning_rate);

/* The handles of `trainer` saved to a trainer checkpoint in a temporary
 * directory and loaded back (the directory is removed); fails the test on
 * error. */
diffuse_test_handles diffuse_test_reload_trainer(diffuse_trainer *trainer);

/* A callback model's function that predicts 0 everywhere. */
int diffuse_test_predict_zero(void *user, const diffuse_model_call *call, size_t dim);

/* ---- Arrays ----------------------------------------------------------------- */

/* n floats uniform on (lo, hi) from the Philox stream (seed, stream), and a
 * double copy of n floats (both malloc'd; fail the test when out of memory). */
float *diffuse_test_uniform_floats(size_t n, uint64_t seed, uint64_t stream, float lo, float hi);
double *diffuse_test_doubles(const float *x, size_t n);

/* ---- Files ------------------------------------------------------------------ */

/* A fresh directory under $TMPDIR (or /tmp) for files a test writes;
 * `buffer` receives its path. Returns 0 on success. */
int diffuse_test_temp_dir(char *buffer, size_t size);

/* Removes a test directory with its files and empty subdirectories. */
void diffuse_test_remove_dir(const char *dir);

/* The names in `dir` other than "." and "..", counted. */
int diffuse_test_count_entries(const char *dir);

/* The whole file (malloc'd, with one spare byte after the *size bytes;
 * the caller frees it). Fails the test when the file cannot be read. */
unsigned char *diffuse_test_read_file(const char *path, size_t *size);

/* Creates or replaces `path` with `size` bytes; fails the test on error. */
void diffuse_test_write_file(const char *path, const void *bytes, size_t size);

/* RLIMIT_FSIZE makes write(2) fail with EFBIG once a file would grow past
 * the limit — a real, deterministic I/O failure mid-file that also works as
 * root. SIGXFSZ is ignored meanwhile so that the process survives.
 * diffuse_test_unlimit_file_size restores both (needed with CK_FORK=no). */
typedef struct diffuse_test_file_limit {
    struct rlimit saved;
    struct sigaction previous;
} diffuse_test_file_limit;

void diffuse_test_limit_file_size(diffuse_test_file_limit *limit, rlim_t bytes);
void diffuse_test_unlimit_file_size(const diffuse_test_file_limit *limit);

#endif
