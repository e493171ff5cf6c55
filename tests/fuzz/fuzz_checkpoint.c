/* libFuzzer harness for the whole checkpoint loader: diffuse_model_load and
 * diffuse_trainer_load (src/io/checkpoint*.c over src/io/safetensors.c),
 * through the file system like any caller. Build and run: see
 * tests/fuzz/README.md; tests/fuzz/replay.c replays a corpus without
 * libFuzzer (ctest does, in every build).
 *
 * For every input:
 *  1. a valid checksum is written into the input's "checksum" metadata
 *     first (when it parses and has one), so that mutations reach the
 *     checks behind the checksum instead of all failing it;
 *  2. both loaders must succeed or fail with FORMAT (MISMATCH: a model file
 *     given to diffuse_trainer_load) and a "cannot load checkpoint" message,
 *     every out-pointer NULL (anything else traps);
 *  3. what loads must save again, and that file must load and save to the
 *     same bytes (files are canonical);
 *  4. the loaded model predicts and the loaded trainer takes a step on a
 *     small batch (any status, no crash).
 * Sanitizers (ASan, UBSan, LeakSanitizer) turn any memory error or leak into
 * a crash. */
#define _GNU_SOURCE /* memfd_create */
#include <diffuse/diffuse.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test_handles.h"

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

/* Scratch space: the input as a file, and a directory for the round trip. */
static int input_fd = -1;
static char input_path[64], first_save[512], second_save[512];

static void setup(void)
{
    if (input_fd >= 0)
        return;
    input_fd = memfd_create("checkpoint", 0);
    REQUIRE(input_fd >= 0);
    snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    char dir[256];
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz-checkpoint-XXXXXX", base);
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(first_save, sizeof first_save, "%s/a.safetensors", dir);
    snprintf(second_save, sizeof second_save, "%s/b.safetensors", dir);
}

static void write_input(const uint8_t *data, size_t size)
{
    REQUIRE(ftruncate(input_fd, 0) == 0);
    REQUIRE(pwrite(input_fd, data, size, 0) == (ssize_t)size);
}

/* The input with the checksum its bytes call for (a copy; the caller frees). */
static uint8_t *sealed_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size > 0 ? size : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, data, size);
    st_file *file = NULL;
    if (st_open_memory(&file, copy, size, NULL) != DIFFUSE_OK)
        return copy;
    uint32_t crc;
    size_t at;
    if (st_checksum_compute(file, "checksum", &crc, &at, NULL) == DIFFUSE_OK) {
        char hex[9];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        memcpy(copy + at, hex, 8);
    }
    st_close(file);
    return copy;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long length = ftell(f);
    REQUIRE(length >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *bytes = malloc((size_t)length + 1);
    REQUIRE(bytes != NULL && fread(bytes, 1, (size_t)length, f) == (size_t)length);
    fclose(f);
    *size = (size_t)length;
    return bytes;
}

static void require_same_files(const char *a, const char *b)
{
    size_t size_a, size_b;
    uint8_t *bytes_a = read_all(a, &size_a), *bytes_b = read_all(b, &size_b);
    REQUIRE(size_a == size_b && memcmp(bytes_a, bytes_b, size_a) == 0);
    free(bytes_a);
    free(bytes_b);
}

static void require_failed_load(diffuse_status status)
{
    REQUIRE(status == DIFFUSE_ERROR_FORMAT || status == DIFFUSE_ERROR_MISMATCH);
    REQUIRE(strstr(diffuse_last_error(), "cannot load checkpoint") != NULL);
}

static void exercise_model(diffuse_model *m)
{
    size_t dim = 0;
    REQUIRE(diffuse_model_dim(m, &dim) == DIFFUSE_OK);
    float *x = calloc(2 * dim, sizeof *x), *out = calloc(2 * dim, sizeof *out);
    REQUIRE(x != NULL && out != NULL);
    const int32_t t[2] = {0, 1};
    (void)diffuse_test_predict(m, 2, t, x, out);
    free(x);
    free(out);
}

static void check_model_load(void)
{
    diffuse_model *m = (diffuse_model *)&input_fd;
    diffuse_schedule *s = (diffuse_schedule *)&input_fd;
    diffuse_status status = diffuse_model_load(input_path, &m, &s);
    if (status != DIFFUSE_OK) {
        require_failed_load(status);
        REQUIRE(m == NULL && s == NULL);
        return;
    }
    REQUIRE(diffuse_model_save(m, s, first_save) == DIFFUSE_OK);
    diffuse_model *again = NULL;
    diffuse_schedule *again_schedule = NULL;
    REQUIRE(diffuse_model_load(first_save, &again, &again_schedule) == DIFFUSE_OK);
    REQUIRE(diffuse_model_save(again, again_schedule, second_save) == DIFFUSE_OK);
    require_same_files(first_save, second_save);
    exercise_model(again);
    diffuse_model_free(again);
    diffuse_schedule_free(again_schedule);
    diffuse_schedule_free(s);
    diffuse_model_free(m);
}

/* One step on 2 rows with 1 thread: the file's batch size and thread
 * count would make a step as large as the file says. */
static void exercise_trainer(diffuse_test_handles *l)
{
    size_t dim = 0;
    REQUIRE(diffuse_model_dim(l->model, &dim) == DIFFUSE_OK);
    float *x0 = calloc(2 * dim, sizeof *x0);
    REQUIRE(x0 != NULL);
    double loss = 0;
    REQUIRE(diffuse_trainer_set_int(l->trainer, DIFFUSE_TRAINER_THREADS, 1) == DIFFUSE_OK);
    (void)diffuse_trainer_step_batch(l->trainer, 2, x0, &loss);
    free(x0);
}

static void check_trainer_load(void)
{
    diffuse_test_handles l = {(diffuse_model *)&input_fd, (diffuse_schedule *)&input_fd,
                (diffuse_optimizer *)&input_fd, (diffuse_trainer *)&input_fd};
    diffuse_status status =
        diffuse_trainer_load(input_path, &l.model, &l.schedule, &l.optimizer, &l.trainer);
    if (status != DIFFUSE_OK) {
        require_failed_load(status);
        REQUIRE(l.model == NULL && l.schedule == NULL && l.optimizer == NULL &&
                l.trainer == NULL);
        return;
    }
    REQUIRE(diffuse_trainer_save(l.trainer, first_save) == DIFFUSE_OK);
    diffuse_test_handles again = {NULL, NULL, NULL, NULL};
    REQUIRE(diffuse_trainer_load(first_save, &again.model, &again.schedule, &again.optimizer,
                                 &again.trainer) == DIFFUSE_OK);
    REQUIRE(diffuse_trainer_save(again.trainer, second_save) == DIFFUSE_OK);
    require_same_files(first_save, second_save);
    exercise_trainer(&again);
    diffuse_test_handles_free(&again);
    diffuse_test_handles_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    uint8_t *sealed = sealed_copy(data, size);
    write_input(sealed, size);
    free(sealed);
    check_model_load();
    check_trainer_load();
    return 0;
}
