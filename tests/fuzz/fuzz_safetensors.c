/* libFuzzer harness for the safetensors reader (src/io/safetensors.c).
 * Build and run: see tests/fuzz/README.md.
 *
 * For every input:
 *  1. st_open_memory must either succeed or fail with DIFFUSE_ERROR_FORMAT
 *     and a message, leaving the handle NULL (anything else traps);
 *  2. on success every accessor must agree with the index (lookup, checked
 *     find, data inside the file, sizes consistent), and every byte of every
 *     tensor is read (ASan catches out-of-bounds views);
 *  3. round trip: writing the tensors back with st_writer and reading that
 *     file again must give the same tensors with the same bytes;
 *  4. short inputs are also fed to the strict number parsers, whose results
 *     must be canonical: format(parse(s)) == s for integers, and a double
 *     must survive the writer's formatting bit for bit.
 * Sanitizers (ASan, UBSan, LeakSanitizer) turn any memory error or leak into
 * a crash. */
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

static void check_tensor(const st_file *file, const st_tensor *t)
{
    REQUIRE(st_lookup(file, t->name) == t);
    REQUIRE(t->rank <= ST_MAX_RANK);
    REQUIRE(t->byte_size == t->element_count * st_dtype_size(t->dtype));
    const void *data = NULL;
    REQUIRE(st_find(file, t->name, t->dtype, t->rank, t->shape, &data, NULL) == DIFFUSE_OK);
    REQUIRE(data == t->data);
    volatile unsigned char sink = 0;
    const unsigned char *bytes = data;
    for (size_t i = 0; i < t->byte_size; i++)
        sink ^= bytes[i];
    (void)sink;
}

/* Writes all tensors of `file` and reads them back. Names the writer refuses
 * (the empty name, which the format allows but our writer does not) skip the
 * round trip. */
static void check_round_trip(const st_file *file)
{
    st_writer *writer = NULL;
    REQUIRE(st_writer_create(&writer, NULL) == DIFFUSE_OK);
    size_t count = st_tensor_count(file);
    for (size_t i = 0; i < count; i++) {
        const st_tensor *t = st_tensor_at(file, i);
        if (st_writer_add_tensor(writer, t->name, t->dtype, t->rank, t->shape, t->data,
                                 t->byte_size, NULL) != DIFFUSE_OK) {
            REQUIRE(t->name[0] == '\0');
            st_writer_free(writer);
            return;
        }
    }
    void *bytes = NULL;
    size_t size = 0;
    REQUIRE(st_write_memory(writer, &bytes, &size, NULL) == DIFFUSE_OK);
    st_writer_free(writer);
    st_file *again = NULL;
    REQUIRE(st_open_memory(&again, bytes, size, NULL) == DIFFUSE_OK);
    REQUIRE(st_tensor_count(again) == count);
    for (size_t i = 0; i < count; i++) {
        const st_tensor *a = st_tensor_at(file, i), *b = st_tensor_at(again, i);
        REQUIRE(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->rank == b->rank);
        REQUIRE(memcmp(a->shape, b->shape, a->rank * sizeof a->shape[0]) == 0);
        REQUIRE(a->byte_size == b->byte_size);
        REQUIRE(a->byte_size == 0 || memcmp(a->data, b->data, a->byte_size) == 0);
        REQUIRE((uintptr_t)b->data % st_dtype_size(b->dtype) == 0);
    }
    st_close(again);
    free(bytes);
}

static void check_metadata_helpers(const st_file *file)
{
    static const char *const keys[] = {"step", "lr", "seed", "format", "", "a"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t i64;
        uint64_t u64;
        double d;
        const char *value = st_metadata(file, keys[i]);
        diffuse_status status = st_metadata_int64(file, keys[i], INT64_MIN, INT64_MAX, &i64, NULL);
        REQUIRE(status == DIFFUSE_OK || status == DIFFUSE_ERROR_FORMAT);
        REQUIRE((status == DIFFUSE_OK) == (value != NULL && st_parse_int64(value, &i64)));
        status = st_metadata_uint64(file, keys[i], UINT64_MAX, &u64, NULL);
        REQUIRE(status == DIFFUSE_OK || status == DIFFUSE_ERROR_FORMAT);
        status = st_metadata_double(file, keys[i], -1e308, 1e308, &d, NULL);
        REQUIRE(status == DIFFUSE_OK || status == DIFFUSE_ERROR_FORMAT);
    }
}

static void check_number_parsers(const uint8_t *data, size_t size)
{
    char text[64], again[64];
    if (size >= sizeof text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t i64;
    uint64_t u64;
    double d;
    if (st_parse_int64(text, &i64)) {
        snprintf(again, sizeof again, "%" PRId64, i64);
        REQUIRE(strcmp(again, text) == 0);
    }
    if (st_parse_uint64(text, &u64)) {
        snprintf(again, sizeof again, "%" PRIu64, u64);
        REQUIRE(strcmp(again, text) == 0);
    }
    if (st_parse_double(text, &d)) {
        st_writer *writer = NULL;
        REQUIRE(st_writer_create(&writer, NULL) == DIFFUSE_OK);
        REQUIRE(st_writer_add_metadata_double(writer, "d", d, NULL) == DIFFUSE_OK);
        void *bytes = NULL;
        size_t length = 0;
        REQUIRE(st_write_memory(writer, &bytes, &length, NULL) == DIFFUSE_OK);
        st_file *file = NULL;
        REQUIRE(st_open_memory(&file, bytes, length, NULL) == DIFFUSE_OK);
        double back;
        REQUIRE(st_metadata_double(file, "d", -DBL_MAX, DBL_MAX, &back, NULL) == DIFFUSE_OK);
        REQUIRE(memcmp(&back, &d, sizeof d) == 0);
        st_close(file);
        free(bytes);
        st_writer_free(writer);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_number_parsers(data, size);
    diffuse_error err;
    err.message[0] = '\0';
    st_file *file = (st_file *)&err;
    diffuse_status status = st_open_memory(&file, size > 0 ? data : (const uint8_t *)"", size,
                                           &err);
    if (status != DIFFUSE_OK) {
        REQUIRE(status == DIFFUSE_ERROR_FORMAT && file == NULL && err.message[0] != '\0');
        return 0;
    }
    for (size_t i = 0; i < st_tensor_count(file); i++)
        check_tensor(file, st_tensor_at(file, i));
    REQUIRE(st_tensor_at(file, st_tensor_count(file)) == NULL);
    check_metadata_helpers(file);
    check_round_trip(file);
    st_close(file);
    return 0;
}
