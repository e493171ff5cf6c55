#include "test_support.h"

#include "util/philox.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int diffuse_test_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

diffuse_schedule *diffuse_test_schedule(int kind, size_t steps, int zero_terminal_snr)
{
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create(&s, (diffuse_schedule_kind)kind, steps), DIFFUSE_OK);
    ck_assert_int_eq(
        diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, zero_terminal_snr),
        DIFFUSE_OK);
    return s;
}

diffuse_test_handles diffuse_test_training(diffuse_model *model, diffuse_schedule *schedule,
                                           double learning_rate)
{
    diffuse_test_handles h = {model, schedule, NULL, NULL};
    ck_assert_int_eq(diffuse_optimizer_create(&h.optimizer, DIFFUSE_OPTIMIZER_ADAMW, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_double(h.optimizer, DIFFUSE_OPTIMIZER_LEARNING_RATE,
                                                  learning_rate),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&h.trainer, model, schedule, h.optimizer),
                     DIFFUSE_OK);
    return h;
}

diffuse_test_handles diffuse_test_reload_trainer(diffuse_trainer *trainer)
{
    char dir[512], path[600];
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/trainer.safetensors", dir);
    ck_assert_int_eq(diffuse_trainer_save(trainer, path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_load(path, &h.model, &h.schedule, &h.optimizer, &h.trainer),
                     DIFFUSE_OK);
    diffuse_test_remove_dir(dir);
    return h;
}

int diffuse_test_predict_zero(void *user, const diffuse_model_call *call, size_t dim)
{
    (void)user;
    memset(call->out, 0, call->n * dim * sizeof(float));
    return 0;
}

/* ---- Files ------------------------------------------------------------------ */

int diffuse_test_temp_dir(char *buffer, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int written = snprintf(buffer, size, "%s/diffuse-test-XXXXXX", base);
    if (written < 0 || (size_t)written >= size)
        return -1;
    return mkdtemp(buffer) != NULL ? 0 : -1;
}

static int is_dot_or_dot_dot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

void diffuse_test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char path[1024];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (is_dot_or_dot_dot(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(d);
    rmdir(dir);
}

int diffuse_test_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        count += !is_dot_or_dot_dot(e->d_name);
    closedir(d);
    return count;
}

unsigned char *diffuse_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long length = ftell(f);
    ck_assert_int_ge(length, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    unsigned char *bytes = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(fread(bytes, 1, (size_t)length, f), (size_t)length);
    fclose(f);
    *size = (size_t)length;
    return bytes;
}

void diffuse_test_write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

void diffuse_test_limit_file_size(diffuse_test_file_limit *limit, rlim_t bytes)
{
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &limit->saved), 0);
    struct rlimit limited = limit->saved;
    limited.rlim_cur = bytes;
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    ck_assert_int_eq(sigaction(SIGXFSZ, &ignore, &limit->previous), 0);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limited), 0);
}

void diffuse_test_unlimit_file_size(const diffuse_test_file_limit *limit)
{
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit->saved), 0);
    ck_assert_int_eq(sigaction(SIGXFSZ, &limit->previous, NULL), 0);
}

float *diffuse_test_uniform_floats(size_t n, uint64_t seed, uint64_t stream, float lo, float hi)
{
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    philox_uniform(seed, stream, 0, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * x[i];
    return x;
}

double *diffuse_test_doubles(const float *x, size_t n)
{
    double *y = malloc(n * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}
