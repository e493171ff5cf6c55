/* safetensors reader/writer and atomic file replacement (src/io/safetensors.h,
 * src/io/atomic_file.h). Interop: tests/reference/safetensors_reference.py
 * wrote tests/reference/safetensors_reference.safetensors. */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/safetensors.h"
#include "test_support.h"

#define REFERENCE_FILE DIFFUSE_TEST_DATA_DIR "/reference/safetensors_reference.safetensors"

/* ---- helpers ------------------------------------------------------------ */

static void put_u64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xFF);
}

/* 8-byte length + header_size header bytes + data_size zero bytes. */
static unsigned char *make_file(const char *header, size_t header_size, size_t data_size,
                                size_t *size)
{
    *size = 8 + header_size + data_size;
    unsigned char *bytes = calloc(1, *size);
    ck_assert_ptr_nonnull(bytes);
    put_u64_le(bytes, header_size);
    memcpy(bytes + 8, header, header_size);
    return bytes;
}

/* Opening must fail with FORMAT, a message containing `hint`, *out NULL. */
static void expect_format(const void *bytes, size_t size, const char *hint, const char *what)
{
    diffuse_error err = {{0}};
    st_file *file = (st_file *)&err; /* must be reset to NULL */
    diffuse_status status = st_open_memory(&file, bytes, size, &err);
    ck_assert_msg(status == DIFFUSE_ERROR_FORMAT, "%s: status %d (%s)", what, status,
                  err.message);
    ck_assert_ptr_null(file);
    ck_assert_msg(err.message[0] != '\0', "%s: empty message", what);
    ck_assert_msg(hint == NULL || strstr(err.message, hint) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", what, err.message, hint);
}

static st_file *open_ok(const void *bytes, size_t size, const char *what)
{
    diffuse_error err = {{0}};
    st_file *file = NULL;
    diffuse_status status = st_open_memory(&file, bytes, size, &err);
    ck_assert_msg(status == DIFFUSE_OK, "%s: status %d (%s)", what, status, err.message);
    ck_assert_ptr_nonnull(file);
    return file;
}

/* ---- the reference tensors (same formulas as safetensors_reference.py) -- */

enum { REF_COUNT = 10 };

typedef struct ref_tensor {
    const char *name;
    st_dtype dtype;
    size_t rank;
    size_t shape[2];
    const void *data;
    size_t bytes;
} ref_tensor;

static double ref_alpha[4];
static const double ref_scalar = -42.5;
static const int64_t ref_beta[3] = {INT64_MIN, -1, INT64_MAX};
static const uint64_t ref_gamma[2] = {0, UINT64_MAX};
static float ref_delta[6];
static const int32_t ref_epsilon[4] = {INT32_MIN, -1, 0, INT32_MAX};
static float ref_third;
static const float ref_eps_weight = 2.0f;
static const uint8_t ref_zeta[5] = {0, 1, 127, 128, 255};

static void reference_tensors(ref_tensor t[REF_COUNT])
{
    for (int i = 0; i < 4; i++)
        ref_alpha[i] = (i + 1) / 7.0;
    for (int i = 0; i < 6; i++)
        ref_delta[i] = (float)((i - 2.5) / 4);
    ref_third = (float)(1.0 / 3.0);
    const ref_tensor table[REF_COUNT] = {
        {"alpha", ST_F64, 2, {2, 2}, ref_alpha, sizeof ref_alpha},
        {"scalar", ST_F64, 0, {0, 0}, &ref_scalar, sizeof ref_scalar},
        {"beta", ST_I64, 1, {3, 0}, ref_beta, sizeof ref_beta},
        {"gamma", ST_U64, 1, {2, 0}, ref_gamma, sizeof ref_gamma},
        {"delta", ST_F32, 2, {2, 3}, ref_delta, sizeof ref_delta},
        {"empty", ST_F32, 2, {0, 3}, NULL, 0},
        {"epsilon", ST_I32, 2, {2, 2}, ref_epsilon, sizeof ref_epsilon},
        {"third", ST_F32, 1, {1, 0}, &ref_third, sizeof ref_third},
        {"\xce\xb5.weight", ST_F32, 1, {1, 0}, &ref_eps_weight, sizeof ref_eps_weight},
        {"zeta", ST_U8, 1, {5, 0}, ref_zeta, sizeof ref_zeta},
    };
    memcpy(t, table, sizeof table);
}

static const char *const ref_metadata[][2] = {
    {"step", "1234"},
    {"note", "h\xc3\xa9llo \"quoted\" \\ back\nline\ttab"},
    {"lr", "0.001"},
    {"format", "pt"},
};
#define REF_METADATA_COUNT (sizeof ref_metadata / sizeof ref_metadata[0])

/* The reference content added in a scrambled order (the writer's output
 * must not depend on it). */
static st_writer *reference_writer(void)
{
    ref_tensor t[REF_COUNT];
    reference_tensors(t);
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    for (int k = 0; k < REF_COUNT; k++) {
        const ref_tensor *r = &t[(k * 7 + 3) % REF_COUNT];
        ck_assert_int_eq(st_writer_add_tensor(w, r->name, r->dtype, r->rank, r->shape, r->data,
                                              r->bytes, NULL),
                         DIFFUSE_OK);
    }
    for (size_t k = 0; k < REF_METADATA_COUNT; k++)
        ck_assert_int_eq(st_writer_add_metadata(w, ref_metadata[k][0], ref_metadata[k][1], NULL),
                         DIFFUSE_OK);
    return w;
}

static void check_reference_content(const st_file *file)
{
    ref_tensor t[REF_COUNT];
    reference_tensors(t);
    ck_assert_uint_eq(st_tensor_count(file), REF_COUNT);
    for (int k = 0; k < REF_COUNT; k++) {
        diffuse_error err = {{0}};
        const void *data = NULL;
        ck_assert_msg(st_find(file, t[k].name, t[k].dtype, t[k].rank, t[k].shape, &data, &err) ==
                          DIFFUSE_OK,
                      "%s: %s", t[k].name, err.message);
        ck_assert_uint_eq(st_lookup(file, t[k].name)->byte_size, t[k].bytes);
        if (t[k].bytes > 0)
            ck_assert_msg(memcmp(data, t[k].data, t[k].bytes) == 0, "%s differs", t[k].name);
    }
    for (size_t k = 0; k < REF_METADATA_COUNT; k++)
        ck_assert_str_eq(st_metadata(file, ref_metadata[k][0]), ref_metadata[k][1]);
}

/* ---- interop with the Python reference ------------------------------- */

START_TEST(reads_python_reference_file)
{
    diffuse_error err = {{0}};
    st_file *file = NULL;
    ck_assert_msg(st_open(&file, REFERENCE_FILE, NULL, &err) == DIFFUSE_OK, "%s", err.message);
    check_reference_content(file);
    ck_assert_ptr_null(st_metadata(file, "absent"));
    /* Typed helpers on the reference metadata. */
    int64_t step = 0;
    double lr = 0.0;
    ck_assert_int_eq(st_metadata_int64(file, "step", 0, INT64_MAX, &step, &err), DIFFUSE_OK);
    ck_assert_int_eq(step, 1234);
    ck_assert_int_eq(st_metadata_double(file, "lr", 0.0, 1.0, &lr, &err), DIFFUSE_OK);
    ck_assert(lr == 0.001);
    st_close(file);
}
END_TEST

START_TEST(writes_bytes_identical_to_python_reference)
{
    size_t expected_size;
    unsigned char *expected = diffuse_test_read_file(REFERENCE_FILE, &expected_size);
    st_writer *w = reference_writer();
    void *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(st_write_memory(w, &bytes, &size, NULL), DIFFUSE_OK);
    ck_assert_uint_eq(size, expected_size);
    ck_assert_msg(memcmp(bytes, expected, size) == 0, "bytes differ from the Python file");

    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(st_write_file(w, path, NULL), DIFFUSE_OK);
    size_t file_size;
    unsigned char *written = diffuse_test_read_file(path, &file_size);
    ck_assert_uint_eq(file_size, expected_size);
    ck_assert(memcmp(written, expected, file_size) == 0);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1); /* no temporary file left */

    free(written);
    free(bytes);
    free(expected);
    st_writer_free(w);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

START_TEST(round_trip_all_dtypes_bitwise)
{
    /* Bit patterns that a float conversion would alter: NaN payloads,
     * -0, subnormals, infinities. */
    const uint32_t f32_bits[5] = {0x7fc12345u, 0xffa00001u, 0x80000000u, 0x00000001u,
                                  0x7f800000u};
    const uint64_t f64_bits[3] = {0x7ff8dead0000beefull, 0x8000000000000000ull, 1ull};
    const uint16_t f16_bits[3] = {0x3c00, 0x7e01, 0x8001};
    const uint8_t flags[3] = {1, 0, 1};
    const int8_t i8s[2] = {-128, 127};
    const uint32_t u32s[2] = {0, UINT32_MAX};
    const int16_t i16s[2] = {INT16_MIN, INT16_MAX};
    struct {
        const char *name;
        st_dtype dtype;
        size_t rank;
        size_t shape[3];
        const void *data;
        size_t bytes;
    } t[] = {
        {"f32", ST_F32, 1, {5}, f32_bits, sizeof f32_bits},
        {"f64", ST_F64, 3, {1, 3, 1}, f64_bits, sizeof f64_bits},
        {"f16", ST_F16, 1, {3}, f16_bits, sizeof f16_bits},
        {"bf16", ST_BF16, 2, {1, 3}, f16_bits, sizeof f16_bits},
        {"bool", ST_BOOL, 1, {3}, flags, sizeof flags},
        {"i8", ST_I8, 1, {2}, i8s, sizeof i8s},
        {"u32", ST_U32, 1, {2}, u32s, sizeof u32s},
        {"i16", ST_I16, 1, {2}, i16s, sizeof i16s},
        {"nothing", ST_I64, 3, {4, 0, 2}, NULL, 0},
    };
    size_t n = sizeof t / sizeof t[0];
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(st_writer_add_tensor(w, t[k].name, t[k].dtype, t[k].rank, t[k].shape,
                                              t[k].data, t[k].bytes, NULL),
                         DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_metadata_int64(w, "step", INT64_MIN, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_metadata_uint64(w, "seed", UINT64_MAX, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_metadata(w, "empty", "", NULL), DIFFUSE_OK);

    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    ck_assert_int_eq(st_write_file(w, path, NULL), DIFFUSE_OK);
    st_writer_free(w);

    st_file *file = NULL;
    diffuse_error err = {{0}};
    ck_assert_msg(st_open(&file, path, NULL, &err) == DIFFUSE_OK, "%s", err.message);
    ck_assert_uint_eq(st_tensor_count(file), n);
    for (size_t k = 0; k < n; k++) {
        const void *data = NULL;
        ck_assert_int_eq(st_find(file, t[k].name, t[k].dtype, t[k].rank, t[k].shape, &data, &err),
                         DIFFUSE_OK);
        const st_tensor *info = st_lookup(file, t[k].name);
        ck_assert_uint_eq(info->byte_size, t[k].bytes);
        ck_assert_uint_eq(info->element_count * st_dtype_size(t[k].dtype), t[k].bytes);
        if (t[k].bytes > 0)
            ck_assert(memcmp(data, t[k].data, t[k].bytes) == 0);
    }
    /* Iteration is in name order. */
    for (size_t k = 1; k < n; k++)
        ck_assert_int_lt(strcmp(st_tensor_at(file, k - 1)->name, st_tensor_at(file, k)->name), 0);
    ck_assert_ptr_null(st_tensor_at(file, n));
    ck_assert_ptr_null(st_lookup(file, "missing"));
    int64_t step = 0;
    uint64_t seed = 0;
    ck_assert_int_eq(st_metadata_int64(file, "step", INT64_MIN, INT64_MAX, &step, &err),
                     DIFFUSE_OK);
    ck_assert(step == INT64_MIN);
    ck_assert_int_eq(st_metadata_uint64(file, "seed", UINT64_MAX, &seed, &err), DIFFUSE_OK);
    ck_assert(seed == UINT64_MAX);
    ck_assert_str_eq(st_metadata(file, "empty"), "");
    st_close(file);
    diffuse_test_remove_dir(dir);
}
END_TEST

START_TEST(layout_is_aligned_and_padded)
{
    const uint8_t bytes3[3] = {1, 2, 3};
    const float floats[3] = {1, 2, 3};
    const double one = 1.0;
    const int32_t ints[5] = {1, 2, 3, 4, 5};
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    size_t s3 = 3, s5 = 5, s1 = 1;
    ck_assert_int_eq(st_writer_add_tensor(w, "a_u8", ST_U8, 1, &s3, bytes3, 3, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "b_f32", ST_F32, 1, &s3, floats, 12, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "c_f64", ST_F64, 1, &s1, &one, 8, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "d_i32", ST_I32, 1, &s5, ints, 20, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "e_u8", ST_U8, 1, &s1, bytes3, 1, NULL), DIFFUSE_OK);
    void *raw = NULL;
    size_t size = 0;
    ck_assert_int_eq(st_write_memory(w, &raw, &size, NULL), DIFFUSE_OK);
    const unsigned char *bytes = raw;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | bytes[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_uint_eq(bytes[8], '{');
    /* The header is the JSON and then only spaces. */
    ck_assert_ptr_null(memchr(bytes + 8, '\0', n));
    const unsigned char *close = bytes + 8 + n - 1;
    while (*close == ' ')
        close--;
    ck_assert_uint_eq(*close, '}');
    ck_assert_uint_lt((size_t)(bytes + 8 + n - 1 - close), 8);
    ck_assert_uint_eq(size, 8 + n + 3 + 12 + 8 + 20 + 1);

    st_file *file = open_ok(raw, size, "aligned");
    for (size_t k = 0; k < st_tensor_count(file); k++) {
        const st_tensor *t = st_tensor_at(file, k);
        size_t e = st_dtype_size(t->dtype);
        ck_assert_uint_eq(t->offset % e, 0);
        ck_assert_uint_eq((uintptr_t)t->data % e, 0);
    }
    /* Data order: 8-byte, then 4-byte (by name), then 1-byte elements. */
    ck_assert_uint_eq(st_lookup(file, "c_f64")->offset, 0);
    ck_assert_uint_eq(st_lookup(file, "b_f32")->offset, 8);
    ck_assert_uint_eq(st_lookup(file, "d_i32")->offset, 20);
    ck_assert_uint_eq(st_lookup(file, "a_u8")->offset, 40);
    ck_assert_uint_eq(st_lookup(file, "e_u8")->offset, 43);
    st_close(file);
    free(raw);
    st_writer_free(w);
}
END_TEST

START_TEST(empty_writer_gives_padded_empty_object)
{
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    void *raw = NULL;
    size_t size = 0;
    ck_assert_int_eq(st_write_memory(w, &raw, &size, NULL), DIFFUSE_OK);
    ck_assert_uint_eq(size, 16);
    ck_assert(memcmp(raw, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    st_file *file = open_ok(raw, size, "empty");
    ck_assert_uint_eq(st_tensor_count(file), 0);
    ck_assert_ptr_null(st_tensor_at(file, 0));
    ck_assert_ptr_null(st_metadata(file, "x"));
    st_close(file);
    free(raw);
    st_writer_free(w);
}
END_TEST

/* ---- corruption battery ----------------------------------------------- */

START_TEST(every_truncation_and_extension_is_rejected)
{
    size_t size;
    unsigned char *bytes = diffuse_test_read_file(REFERENCE_FILE, &size);
    for (size_t length = 0; length < size; length++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", length);
        expect_format(bytes, length, NULL, what);
    }
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, bytes, size);
    longer[size] = 0;
    expect_format(longer, size + 1, "belong to no tensor", "one byte appended");
    free(longer);
    free(bytes);
}
END_TEST

START_TEST(truncated_files_on_disk_are_rejected)
{
    size_t size;
    unsigned char *bytes = diffuse_test_read_file(REFERENCE_FILE, &size);
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    const size_t lengths[] = {0, 5, 8, 100, size - 1};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        diffuse_test_write_file(path, bytes, lengths[k]);
        diffuse_error err = {{0}};
        st_file *file = (st_file *)&err;
        ck_assert_int_eq(st_open(&file, path, NULL, &err), DIFFUSE_ERROR_FORMAT);
        ck_assert_ptr_null(file);
        ck_assert(err.message[0] != '\0');
    }
    free(bytes);
    diffuse_test_remove_dir(dir);
}
END_TEST

START_TEST(header_length_field_is_checked)
{
    size_t size;
    unsigned char *bytes = diffuse_test_read_file(REFERENCE_FILE, &size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | bytes[i];
    const struct {
        uint64_t length;
        const char *hint;
    } cases[] = {
        {0, "length is 0"},
        {size - 7, "exceeds the"},
        {UINT64_MAX, "exceeds the limit"},
        {ST_MAX_HEADER_BYTES + 1, "exceeds the limit"},
        {n - 9, "not valid JSON"}, /* cuts into the JSON text */
        {n + 8, NULL},             /* swallows data bytes */
        {n - 8, NULL},             /* padding becomes data */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        put_u64_le(bytes, cases[k].length);
        char what[64];
        snprintf(what, sizeof what, "length field %llu", (unsigned long long)cases[k].length);
        expect_format(bytes, size, cases[k].hint, what);
    }
    free(bytes);
}
END_TEST

START_TEST(every_bit_flip_is_survived)
{
    size_t size;
    unsigned char *bytes = diffuse_test_read_file(REFERENCE_FILE, &size);
    size_t rejected = 0, accepted = 0;
    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            bytes[i] ^= (unsigned char)(1u << bit);
            diffuse_error err = {{0}};
            st_file *file = NULL;
            diffuse_status status = st_open_memory(&file, bytes, size, &err);
            ck_assert_msg(status == DIFFUSE_OK || status == DIFFUSE_ERROR_FORMAT,
                          "flip %zu:%d gave %d", i, bit, status);
            if (status == DIFFUSE_OK) {
                accepted++;
                ck_assert_uint_eq(st_tensor_count(file), REF_COUNT);
            } else {
                rejected++;
                ck_assert(err.message[0] != '\0');
            }
            st_close(file);
            bytes[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* Every flip in the length field and in the JSON structure fails; flips
     * in the 133 data bytes (and some inside names/strings) are accepted. */
    ck_assert_uint_ge(accepted, 133 * 8);
    ck_assert_uint_ge(rejected, 64);
    free(bytes);
}
END_TEST

/* One malformed header: the file must be refused with FORMAT and a message
 * containing `hint`. */
typedef struct bad_header {
    const char *json;
    size_t data_size;
    const char *hint;
} bad_header;

#define T_F32_1 "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"

static const bad_header bad_headers[] = {
    {"", 0, "length is 0"},
    {"not json", 0, "start with '{'"},
    {" {}", 0, "start with '{'"},
    {"[]", 0, "start with '{'"},
    {"{", 0, "not valid JSON"},
    {"{}}", 0, "not valid JSON"},
    {"{}  x", 0, "not valid JSON"},
    {"{\"a\":1}", 0, "not a JSON object"},
    {"{\"a\":\"F32\"}", 0, "not a JSON object"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "exactly the fields"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     "exactly the fields"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4, "exactly the fields"},
    {"{\"a\":{}}", 0, "exactly the fields"},
    {"{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is not a string"},
    {"{\"a\":{\"dtype\":\"X99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype"},
    {"{\"a\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4,
     "shape is not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4, "shape is not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}}", 4, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "shape is not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
     "shape is not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,4]}}",
     4, "overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904,4611686018427387904],"
     "\"data_offsets\":[0,0]}}",
     0, "overflows"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
     "overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807,3],\"data_offsets\":[0,4]}}", 4,
     "overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
     "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
     "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}}", 4,
     "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", 4,
     "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4,
     "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "do not lie within"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "do not lie within"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 4, "do not lie within"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
     "\"data_offsets\":[9223372036854775800,9223372036854775804]}}",
     4, "do not lie within"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "span 8 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 4, "span 0 bytes"},
    {"{\"a\":" T_F32_1 ",\"b\":" T_F32_1 "}", 4, "overlaps"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlaps"},
    {"{\"a\":" T_F32_1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
     "belong to no tensor"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "belong to no tensor"},
    {"{\"a\":" T_F32_1 "}", 8, "at the end"},
    {"{}", 4, "at the end"},
    {"{\"__metadata__\":{}}", 1, "at the end"},
    {"{\"a\":" T_F32_1 ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "duplicate key \"a\""},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "entry must have exactly the fields"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate metadata key \"k\""},
    {"{\"__metadata__\":{\"k\":1}}", 0, "is not a string"},
    {"{\"__metadata__\":{\"k\":null}}", 0, "is not a string"},
    {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "is not a string"},
    {"{\"__metadata__\":[\"x\"]}", 0, "not a JSON object"},
    {"{\"__metadata__\":\"x\"}", 0, "not a JSON object"},
    {"{\"__metadata__\":null}", 0, "not a JSON object"},
    {"{\"__metadata__\":{\"k\":[[\"x\"]]}}", 0, "metadata \"k\" is not a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4,
     "shape is not an array"},
    {"{\"\xff\":" T_F32_1 "}", 4, "not valid JSON"},
    {"{\"\xc0\xaf\":" T_F32_1 "}", 4, "not valid JSON"},
    {"{\"\xed\xa0\x80\":" T_F32_1 "}", 4, "not valid JSON"},
    {"{\"a\\u0000b\":" T_F32_1 "}", 4, "not valid JSON"},
    {"{\"\\ud800\":" T_F32_1 "}", 4, "not valid JSON"},
    {"{\"a\":" T_F32_1 ",}", 4, "not valid JSON"},
    {"{'a':" T_F32_1 "}", 4, "not valid JSON"},
};

START_TEST(malformed_headers_are_rejected)
{
    for (size_t k = 0; k < sizeof bad_headers / sizeof bad_headers[0]; k++) {
        size_t size;
        unsigned char *bytes =
            make_file(bad_headers[k].json, strlen(bad_headers[k].json), bad_headers[k].data_size,
                      &size);
        expect_format(bytes, size, bad_headers[k].hint, bad_headers[k].json);
        free(bytes);
    }
}
END_TEST

START_TEST(hostile_nesting_and_nul_bytes_are_rejected)
{
    /* 200 000 levels would overflow a recursive parser's stack; the reader
     * does not recurse and refuses the first bracket where a string must be. */
    size_t depth = 200000, length = 0;
    char *json = malloc(2 * depth + 64);
    length += (size_t)sprintf(json, "{\"__metadata__\":{\"k\":");
    for (size_t i = 0; i < depth; i++)
        json[length++] = '[';
    for (size_t i = 0; i < depth; i++)
        json[length++] = ']';
    length += (size_t)sprintf(json + length, "}}");
    size_t size;
    unsigned char *bytes = make_file(json, length, 0, &size);
    expect_format(bytes, size, "metadata \"k\" is not a string", "deep nesting");
    free(bytes);
    /* Brackets inside strings do not count as nesting. */
    const char *quoted = "{\"__metadata__\":{\"[[[[{{{{\\\"\":\"]]]]}}}}\"}}";
    bytes = make_file(quoted, strlen(quoted), 0, &size);
    st_file *file = open_ok(bytes, size, "brackets in strings");
    ck_assert_str_eq(st_metadata(file, "[[[[{{{{\""), "]]]]}}}}");
    st_close(file);
    free(bytes);
    /* NUL bytes: as padding and inside the JSON. */
    bytes = make_file("{}\0\0\0\0\0\0", 8, 0, &size);
    expect_format(bytes, size, "not valid JSON", "NUL padding");
    free(bytes);
    static const char nul_name[] = "{\"a\0\":" T_F32_1 "}";
    bytes = make_file(nul_name, sizeof nul_name - 1, 4, &size);
    expect_format(bytes, size, "not valid JSON", "NUL in a name");
    free(bytes);
    free(json);
}
END_TEST

START_TEST(valid_foreign_layouts_are_accepted)
{
    size_t size;
    unsigned char *bytes;
    st_file *file;
    const void *data;
    /* Unpadded header, fields in another order, whitespace, tensors listed
     * out of data order. */
    const char *spaced = "{\n  \"b\" : {\"shape\": [1], \"data_offsets\": [4, 8], \"dtype\": \"F32\"},"
                         "\n  \"a\" : {\"data_offsets\": [0, 4], \"dtype\": \"I32\", \"shape\": []}\n}";
    bytes = make_file(spaced, strlen(spaced), 8, &size);
    file = open_ok(bytes, size, "spaced");
    ck_assert_uint_eq(st_tensor_count(file), 2);
    ck_assert_str_eq(st_tensor_at(file, 0)->name, "a");
    ck_assert_uint_eq(st_tensor_at(file, 0)->rank, 0);
    ck_assert_uint_eq(st_tensor_at(file, 0)->element_count, 1);
    st_close(file);
    free(bytes);
    /* A float tensor at an odd offset: found, read with memcpy. */
    const char *odd = "{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[3,7]}}";
    bytes = make_file(odd, strlen(odd), 7, &size);
    const float value = 1.5f;
    memcpy(bytes + size - 4, &value, 4);
    file = open_ok(bytes, size, "odd offset");
    size_t one = 1;
    ck_assert_int_eq(st_find(file, "f", ST_F32, 1, &one, &data, NULL), DIFFUSE_OK);
    float read_back;
    memcpy(&read_back, data, 4);
    ck_assert(read_back == 1.5f);
    st_close(file);
    free(bytes);
    /* Zero-size tensors sharing offsets, huge zero-size shape, BF16, an empty
     * name, empty metadata. */
    const char *zeros =
        "{\"__metadata__\":{},"
        "\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"z2\":{\"dtype\":\"F16\",\"shape\":[0,4611686018427387904],\"data_offsets\":[0,0]},"
        "\"\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
        "\"z3\":{\"dtype\":\"U8\",\"shape\":[2,0],\"data_offsets\":[2,2]}}";
    bytes = make_file(zeros, strlen(zeros), 2, &size);
    file = open_ok(bytes, size, "zero-size tensors");
    ck_assert_uint_eq(st_tensor_count(file), 4);
    ck_assert_str_eq(st_tensor_at(file, 0)->name, "");
    ck_assert_uint_eq(st_lookup(file, "z2")->shape[1], 4611686018427387904ull);
    ck_assert_uint_eq(st_lookup(file, "z2")->element_count, 0);
    st_close(file);
    free(bytes);
}
END_TEST

/* ---- lookups ---------------------------------------------------------- */

START_TEST(find_reports_mismatches_by_name)
{
    st_file *file = NULL;
    ck_assert_int_eq(st_open(&file, REFERENCE_FILE, NULL, NULL), DIFFUSE_OK);
    const size_t shape23[2] = {2, 3}, shape32[2] = {3, 2}, shape6[1] = {6};
    diffuse_error err = {{0}};
    const void *data = &err;

    ck_assert_int_eq(st_find(file, "delta", ST_F32, 2, shape23, &data, &err), DIFFUSE_OK);
    ck_assert_ptr_nonnull(data);

    ck_assert_int_eq(st_find(file, "missing", ST_F32, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_null(data);
    ck_assert_ptr_nonnull(strstr(err.message, "\"missing\" is not in the file"));

    ck_assert_int_eq(st_find(file, "delta", ST_F64, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "\"delta\" is F32[2, 3] in the file, expected F64[2, 3]"));
    ck_assert_int_eq(st_find(file, "delta", ST_F32, 2, shape32, &data, &err),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "expected F32[3, 2]"));
    ck_assert_int_eq(st_find(file, "delta", ST_F32, 1, shape6, &data, &err),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_int_eq(st_find(file, "scalar", ST_F64, 1, shape6, &data, &err),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "is F64[] in the file"));
    ck_assert_int_eq(st_find(file, "scalar", ST_F64, 0, NULL, &data, &err), DIFFUSE_OK);

    /* Bad arguments. */
    ck_assert_int_eq(st_find(NULL, "delta", ST_F32, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, NULL, ST_F32, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, "delta", ST_F32, 2, shape23, NULL, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, "delta", ST_F32, 2, NULL, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, "delta", ST_F32, ST_MAX_RANK + 1, shape23, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, "delta", (st_dtype)99, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_find(file, "delta", (st_dtype)-1, 2, shape23, &data, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(st_lookup(NULL, "delta"));
    ck_assert_ptr_null(st_lookup(file, NULL));
    ck_assert_ptr_null(st_metadata(NULL, "step"));
    ck_assert_ptr_null(st_metadata(file, NULL));
    ck_assert_uint_eq(st_tensor_count(NULL), 0);
    ck_assert_ptr_null(st_tensor_at(NULL, 0));
    st_close(file);
    st_close(NULL);
}
END_TEST

/* ---- metadata numbers ----------------------------------------------------- */

START_TEST(number_parsers_are_strict)
{
    int64_t i = 7;
    uint64_t u = 7;
    double d = 7;
    const char *good_int[] = {"0", "10", "1", "-1", "9223372036854775807",
                              "-9223372036854775808"};
    const int64_t good_int_values[] = {0, 10, 1, -1, INT64_MAX, INT64_MIN};
    for (size_t k = 0; k < sizeof good_int / sizeof good_int[0]; k++) {
        ck_assert_msg(st_parse_int64(good_int[k], &i), "%s", good_int[k]);
        ck_assert(i == good_int_values[k]);
    }
    const char *bad_int[] = {"", "-", "+1", " 1", "1 ", "1x", "0x10", "1.0", "1e3",
                             "9223372036854775808", "-9223372036854775809", "01", "--1", "-0", "-01",
                             "99999999999999999999999"};
    for (size_t k = 0; k < sizeof bad_int / sizeof bad_int[0]; k++)
        ck_assert_msg(!st_parse_int64(bad_int[k], &i), "accepted \"%s\"", bad_int[k]);
    ck_assert(i == INT64_MIN); /* untouched by failures */

    ck_assert(st_parse_uint64("18446744073709551615", &u) && u == UINT64_MAX);
    ck_assert(st_parse_uint64("0", &u) && u == 0);
    const char *bad_uint[] = {"18446744073709551616", "-1", "-0", "", "1 ", "00"};
    for (size_t k = 0; k < sizeof bad_uint / sizeof bad_uint[0]; k++)
        ck_assert_msg(!st_parse_uint64(bad_uint[k], &u), "accepted \"%s\"", bad_uint[k]);

    const char *good_double[] = {"0.5", "-1e-3", "1", "1.7976931348623157e308", "-0.0",
                                 "12345678901234567890", "4.9406564584124654e-324"};
    const double good_double_values[] = {0.5, -1e-3, 1.0, DBL_MAX, -0.0, 12345678901234567890.0,
                                         4.9406564584124654e-324};
    for (size_t k = 0; k < sizeof good_double / sizeof good_double[0]; k++) {
        ck_assert_msg(st_parse_double(good_double[k], &d), "%s", good_double[k]);
        ck_assert(d == good_double_values[k]);
    }
    const char *bad_double[] = {"", "nan", "inf", "-inf", "1e999", " 1", "1 ", ".5", "1.",
                                "0x1p3", "+1", "1,5", "1e", "--1", "01.5", "[1]", "\"1\"", "1 2"};
    for (size_t k = 0; k < sizeof bad_double / sizeof bad_double[0]; k++)
        ck_assert_msg(!st_parse_double(bad_double[k], &d), "accepted \"%s\"", bad_double[k]);
    ck_assert(!st_parse_int64(NULL, &i) && !st_parse_int64("1", NULL));
    ck_assert(!st_parse_uint64(NULL, &u) && !st_parse_uint64("1", NULL));
    ck_assert(!st_parse_double(NULL, &d) && !st_parse_double("1", NULL));
}
END_TEST

/* The double parser converts without the decimal point (strtod on digits
 * and an exponent), so it is exact and ignores the C locale. */
START_TEST(doubles_parse_exactly_in_any_locale)
{
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"0.90000000000000002", 0.9},
        {"0.1e1", 1.0},
        {"123.456e-2", 1.23456},
        {"2.2250738585072011e-308", 2.2250738585072011e-308},
        {"4.9406564584124654e-324", 4.9406564584124654e-324},
        {"1e23", 1e23},
        {"9007199254740993", 9007199254740992.0}, /* ties to even */
        {"1E+2", 100.0},
        {"1e-400", 0.0},
        {"1e-99999999999999999999", 0.0}, /* the exponent saturates */
        {"0.000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000001e100",
         1e10},
    };
    const char *comma = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    for (int pass = 0; pass < (comma != NULL ? 2 : 1); pass++) {
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            double d = -1;
            ck_assert_msg(st_parse_double(cases[k].text, &d), "%s", cases[k].text);
            ck_assert_msg(memcmp(&d, &cases[k].value, sizeof d) == 0, "%s: %.17g", cases[k].text,
                          d);
        }
        setlocale(LC_NUMERIC, "C");
    }
    double d = 0;
    ck_assert(st_parse_double("-0", &d) && signbit(d) && d == 0.0);
    ck_assert(!st_parse_double("1e99999999999999999999", &d));
    char longest[ST_MAX_NUMBER_TEXT + 2];
    memset(longest, '1', sizeof longest - 1);
    longest[ST_MAX_NUMBER_TEXT] = '\0';
    ck_assert(st_parse_double(longest, &d) && d == 1.1111111111111111e99);
    longest[ST_MAX_NUMBER_TEXT] = '1';
    longest[ST_MAX_NUMBER_TEXT + 1] = '\0';
    ck_assert(!st_parse_double(longest, &d)); /* one character too long */
}
END_TEST

/* The check value of RFC 3720 (B.4), and chaining. */
START_TEST(crc32c_matches_its_check_value)
{
    ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c_update(crc32c_update(0, "1234", 4), "56789", 5), 0xE3069283u);
    ck_assert_uint_eq(crc32c_update(0, "", 0), 0);
    unsigned char zeros[32] = {0};
    ck_assert_uint_eq(crc32c_update(0, zeros, sizeof zeros), 0x8A9136AAu);
}
END_TEST

/* Escapes decode to UTF-8 (surrogate pairs included) and checksums are
 * found only where the writer put them. */
START_TEST(header_strings_decode_and_checksums_verify)
{
    const char *json = "{\"__metadata__\":{\"k\\u00e9\\ud83d\\ude00\\n\":\"a\\\"b\\\\c\\/\"}}";
    size_t size;
    unsigned char *bytes = make_file(json, strlen(json), 0, &size);
    st_file *file = open_ok(bytes, size, "escapes");
    ck_assert_str_eq(st_metadata(file, "k\xc3\xa9\xf0\x9f\x98\x80\n"), "a\"b\\c/");
    ck_assert_int_eq(st_verify_checksum(file, "checksum", NULL), DIFFUSE_ERROR_FORMAT);
    st_close(file);
    free(bytes);

    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    const size_t shape[1] = {3};
    const float values[3] = {1, 2, 3};
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 1, shape, values, sizeof values, NULL),
                     DIFFUSE_OK);
    /* A decoy: the same text inside a value comes with escaped quotes. */
    ck_assert_int_eq(st_writer_add_metadata(w, "a", "\"sum\":\"crc32c:", NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_set_checksum(w, "sum", NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_set_checksum(w, "sum", NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_writer_set_checksum(w, "a\"b", NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    void *out = NULL;
    ck_assert_int_eq(st_write_memory(w, &out, &size, NULL), DIFFUSE_OK);
    st_writer_free(w);
    ck_assert_int_eq(st_open_memory(&file, out, size, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_verify_checksum(file, "sum", NULL), DIFFUSE_OK);
    st_close(file);
    unsigned char *damaged = out;
    damaged[size - 1] ^= 0x10; /* the last float */
    ck_assert_int_eq(st_open_memory(&file, damaged, size, NULL), DIFFUSE_OK);
    diffuse_error err = {{0}};
    ck_assert_int_eq(st_verify_checksum(file, "sum", &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, "checksum mismatch"));
    st_close(file);
    free(out);
}
END_TEST

START_TEST(metadata_numbers_round_trip_and_are_checked)
{
    const double doubles[] = {0.1, 1.0 / 3.0, -0.0, 4.9406564584124654e-324, DBL_MAX, -DBL_MIN,
                              1e21, 123456789.0, 2.5e-8};
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    char key[32];
    for (size_t k = 0; k < sizeof doubles / sizeof doubles[0]; k++) {
        snprintf(key, sizeof key, "d%zu", k);
        ck_assert_int_eq(st_writer_add_metadata_double(w, key, doubles[k], NULL), DIFFUSE_OK);
    }
    ck_assert_int_eq(st_writer_add_metadata_int64(w, "i", -5, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_metadata(w, "text", "abc", NULL), DIFFUSE_OK);
    diffuse_error err = {{0}};
    ck_assert_int_eq(st_writer_add_metadata_double(w, "nan", NAN, &err), DIFFUSE_ERROR_NUMERIC);
    ck_assert_int_eq(st_writer_add_metadata_double(w, "inf", -INFINITY, &err),
                     DIFFUSE_ERROR_NUMERIC);
    void *raw = NULL;
    size_t size = 0;
    ck_assert_int_eq(st_write_memory(w, &raw, &size, NULL), DIFFUSE_OK);
    st_file *file = open_ok(raw, size, "metadata numbers");
    /* The shortest text that reads back exactly; whole numbers in full. */
    const char *const texts[] = {"0.1",     "0.3333333333333333", "-0.0",
                                 "5e-324",  "1.7976931348623157e308", "-2.2250738585072014e-308",
                                 "1e21",    "123456789.0",          "2.5e-8"};
    for (size_t k = 0; k < sizeof doubles / sizeof doubles[0]; k++) {
        snprintf(key, sizeof key, "d%zu", k);
        double d = 0;
        ck_assert_int_eq(st_metadata_double(file, key, -DBL_MAX, DBL_MAX, &d, &err), DIFFUSE_OK);
        ck_assert_msg(memcmp(&d, &doubles[k], sizeof d) == 0, "%s: %.17g != %.17g (\"%s\")", key,
                      d, doubles[k], st_metadata(file, key));
        ck_assert_str_eq(st_metadata(file, key), texts[k]);
    }
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    ck_assert_int_eq(st_metadata_int64(file, "i", -5, -5, &i, &err), DIFFUSE_OK);
    ck_assert_int_eq(i, -5);
    ck_assert_int_eq(st_metadata_int64(file, "i", 0, 10, &i, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, "\"i\" = \"-5\" is outside [0, 10]"));
    ck_assert_int_eq(st_metadata_uint64(file, "i", UINT64_MAX, &u, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(st_metadata_int64(file, "text", 0, 10, &i, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, "\"text\" = \"abc\" is not an integer"));
    ck_assert_int_eq(st_metadata_double(file, "text", 0, 1, &d, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(st_metadata_double(file, "d0", 0.2, 1, &d, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(st_metadata_int64(file, "absent", 0, 10, &i, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, "\"absent\" is missing"));
    ck_assert_int_eq(st_metadata_uint64(file, "absent", 1, &u, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(st_metadata_double(file, "absent", 0, 1, &d, &err), DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(st_metadata_int64(file, "i", 10, 0, &i, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_metadata_double(file, "d0", NAN, 1, &d, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_metadata_int64(NULL, "i", 0, 1, &i, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_metadata_int64(file, NULL, 0, 1, &i, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_metadata_uint64(file, "i", 1, NULL, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_metadata_double(file, "d0", 0, 1, NULL, &err),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    st_close(file);
    free(raw);
    st_writer_free(w);
}
END_TEST

/* ---- writer arguments ------------------------------------------------- */

START_TEST(writer_rejects_bad_arguments)
{
    st_writer *w = NULL;
    diffuse_error err = {{0}};
    float x[4] = {0};
    size_t shape[ST_MAX_RANK + 1] = {4, 1, 1, 1, 1, 1, 1, 1, 1};
    const diffuse_status bad = DIFFUSE_ERROR_INVALID_ARGUMENT;
    ck_assert_int_eq(st_writer_create(NULL, &err), bad);
    ck_assert_int_eq(st_writer_create(&w, &err), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(NULL, "x", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, NULL, ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "__metadata__", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "bad\xff", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_ptr_nonnull(strstr(err.message, "UTF-8"));
    ck_assert_int_eq(st_writer_add_tensor(w, "\xc0\x80", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "\xed\xa0\x80", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "\xf4\x90\x80\x80", ST_F32, 1, shape, x, 16, &err),
                     bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "\xe2\x82", ST_F32, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "x", (st_dtype)15, 1, shape, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, ST_MAX_RANK + 1, shape, x, 16, &err),
                     bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 1, NULL, x, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 1, shape, NULL, 16, &err), bad);
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 1, shape, x, 12, &err), bad);
    ck_assert_ptr_nonnull(strstr(err.message, "byte_size 12 does not match"));
    const size_t huge[2] = {(size_t)1 << 62, 8};
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 2, huge, x, 16, &err), bad);
    const size_t too_big_dim[2] = {0, (size_t)INT64_MAX + 1};
    ck_assert_int_eq(st_writer_add_tensor(w, "x", ST_F32, 2, too_big_dim, NULL, 0, &err), bad);
    /* Valid: UTF-8 name, and a duplicate of it refused. */
    ck_assert_int_eq(st_writer_add_tensor(w, "\xf0\x9f\x98\x80", ST_F32, 1, shape, x, 16, &err),
                     DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "\xf0\x9f\x98\x80", ST_F32, 1, shape, x, 16, &err),
                     bad);
    ck_assert_ptr_nonnull(strstr(err.message, "already added"));
    ck_assert_int_eq(st_writer_add_metadata(NULL, "k", "v", &err), bad);
    ck_assert_int_eq(st_writer_add_metadata(w, NULL, "v", &err), bad);
    ck_assert_int_eq(st_writer_add_metadata(w, "", "v", &err), bad);
    ck_assert_int_eq(st_writer_add_metadata(w, "k", NULL, &err), bad);
    ck_assert_int_eq(st_writer_add_metadata(w, "k", "\x80", &err), bad);
    ck_assert_int_eq(st_writer_add_metadata(w, "k", "v", &err), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_metadata(w, "k", "w", &err), bad);
    ck_assert_int_eq(st_writer_add_metadata_int64(w, NULL, 1, &err), bad);
    ck_assert_int_eq(st_writer_add_metadata_uint64(NULL, "u", 1, &err), bad);
    ck_assert_int_eq(st_writer_add_metadata_double(w, NULL, 1.0, &err), bad);
    void *bytes = &err;
    size_t size;
    ck_assert_int_eq(st_write_memory(NULL, &bytes, &size, &err), bad);
    ck_assert_ptr_null(bytes);
    ck_assert_int_eq(st_write_memory(w, NULL, &size, &err), bad);
    ck_assert_int_eq(st_write_memory(w, &bytes, NULL, &err), bad);
    ck_assert_int_eq(st_write_file(NULL, "/tmp/x", &err), bad);
    ck_assert_int_eq(st_write_file(w, NULL, &err), bad);
    ck_assert_int_eq(st_write_file(w, "", &err), bad);
    ck_assert_int_eq(st_write_file(w, "/tmp/", &err), bad);
    st_writer_free(w);
    st_writer_free(NULL);
    ck_assert_ptr_null(st_dtype_name((st_dtype)15));
    ck_assert_uint_eq(st_dtype_size((st_dtype)15), 0);
    ck_assert_str_eq(st_dtype_name(ST_BF16), "BF16");
    ck_assert_uint_eq(st_dtype_size(ST_F64), 8);
}
END_TEST

START_TEST(reader_reports_io_errors)
{
    diffuse_error err = {{0}};
    st_file *file = (st_file *)&err;
    ck_assert_int_eq(st_open(&file, "/nonexistent/dir/x.safetensors", NULL, &err), DIFFUSE_ERROR_IO);
    ck_assert_ptr_null(file);
    ck_assert_ptr_nonnull(strstr(err.message, strerror(ENOENT)));
    char dir[256];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    ck_assert_int_eq(st_open(&file, dir, NULL, &err), DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "not a regular file"));
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(st_open(&file, fifo, NULL, &err), DIFFUSE_ERROR_IO); /* and does not hang */
    ck_assert_ptr_nonnull(strstr(err.message, "not a regular file"));
    ck_assert_int_eq(st_open(&file, NULL, NULL, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_open(NULL, dir, NULL, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_open_memory(&file, NULL, 16, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(st_open_memory(NULL, "x", 1, &err), DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* ---- atomic replacement ---------------------------------------------- */

static st_writer *writer_with_bytes(size_t count, unsigned char fill, unsigned char **storage)
{
    *storage = malloc(count);
    memset(*storage, fill, count);
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    ck_assert_int_eq(st_writer_add_tensor(w, "bytes", ST_U8, 1, &count, *storage, count, NULL),
                     DIFFUSE_OK);
    return w;
}

START_TEST(atomic_write_into_missing_directory_fails_cleanly)
{
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/missing/model.safetensors", dir);
    unsigned char *storage;
    st_writer *w = writer_with_bytes(16, 1, &storage);
    diffuse_error err = {{0}};
    ck_assert_int_eq(st_write_file(w, path, &err), DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, strerror(ENOENT)));
    ck_assert_int_eq(diffuse_test_count_entries(dir), 0);
    st_writer_free(w);
    free(storage);
    diffuse_test_remove_dir(dir);
}
END_TEST

START_TEST(atomic_write_over_a_directory_fails_cleanly)
{
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/target", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    unsigned char *storage;
    st_writer *w = writer_with_bytes(16, 1, &storage);
    diffuse_error err = {{0}};
    ck_assert_int_eq(st_write_file(w, path, &err), DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "cannot rename"));
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert(S_ISDIR(info.st_mode));
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1); /* the directory, no temporary */
    ck_assert_int_eq(diffuse_test_count_entries(path), 0);
    st_writer_free(w);
    free(storage);
    diffuse_test_remove_dir(path);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* A real I/O failure once the temporary file reaches the limit (see
 * diffuse_test_limit_file_size). */
START_TEST(failed_write_leaves_old_file_byte_identical)
{
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unsigned char *old_storage, *new_storage;
    st_writer *old_writer = writer_with_bytes(1000, 0xAA, &old_storage);
    ck_assert_int_eq(st_write_file(old_writer, path, NULL), DIFFUSE_OK);
    size_t old_size;
    unsigned char *old_bytes = diffuse_test_read_file(path, &old_size);

    st_writer *new_writer = writer_with_bytes(1 << 20, 0x55, &new_storage);
    diffuse_test_file_limit limit;
    diffuse_test_limit_file_size(&limit, 64 * 1024);
    diffuse_error err = {{0}};
    diffuse_status status = st_write_file(new_writer, path, &err);
    diffuse_test_unlimit_file_size(&limit);

    ck_assert_int_eq(status, DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, strerror(EFBIG)));
    size_t now_size;
    unsigned char *now_bytes = diffuse_test_read_file(path, &now_size);
    ck_assert_uint_eq(now_size, old_size);
    ck_assert(memcmp(now_bytes, old_bytes, old_size) == 0);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1);

    /* Without the limit the same write replaces the file completely. */
    ck_assert_int_eq(st_write_file(new_writer, path, NULL), DIFFUSE_OK);
    st_file *file = NULL;
    ck_assert_int_eq(st_open(&file, path, NULL, NULL), DIFFUSE_OK);
    ck_assert_uint_eq(st_lookup(file, "bytes")->byte_size, 1 << 20);
    ck_assert_uint_eq(((const unsigned char *)st_lookup(file, "bytes")->data)[12345], 0x55);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1);
    st_close(file);
    free(now_bytes);
    free(old_bytes);
    st_writer_free(old_writer);
    st_writer_free(new_writer);
    free(old_storage);
    free(new_storage);
    diffuse_test_remove_dir(dir);
}
END_TEST

START_TEST(atomic_file_direct_use)
{
    char dir[256], path[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/plain.txt", dir);
    atomic_file file;
    ck_assert_int_eq(atomic_file_begin(&file, path, NULL), DIFFUSE_OK);
    /* O_TMPFILE: the temporary has no name; elsewhere it is hidden. */
    ck_assert_int_eq(diffuse_test_count_entries(dir), file.anonymous ? 0 : 1);
    ck_assert_int_eq(atomic_file_write(&file, "hello", 5, NULL), DIFFUSE_OK);
    atomic_file_abort(&file); /* changed our mind: nothing remains */
    atomic_file_abort(&file);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 0);
    ck_assert_int_eq(atomic_file_write(&file, "x", 1, NULL), DIFFUSE_ERROR_STATE);
    ck_assert_int_eq(atomic_file_commit(&file, NULL), DIFFUSE_ERROR_STATE);

    ck_assert_int_eq(atomic_file_begin(&file, path, NULL), DIFFUSE_OK);
    ck_assert_int_eq(atomic_file_write(&file, "hello", 5, NULL), DIFFUSE_OK);
    ck_assert_int_eq(atomic_file_commit(&file, NULL), DIFFUSE_OK);
    atomic_file_abort(&file); /* no-op after a commit */
    size_t size;
    unsigned char *bytes = diffuse_test_read_file(path, &size);
    ck_assert_uint_eq(size, 5);
    ck_assert(memcmp(bytes, "hello", 5) == 0);
    free(bytes);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1);

    ck_assert_int_eq(atomic_file_begin(NULL, path, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(atomic_file_begin(&file, "", NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    atomic_file_abort(&file);
    atomic_file_abort(NULL);
    /* A relative path (current directory) works too. */
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(atomic_file_begin(&file, "relative.txt", NULL), DIFFUSE_OK);
    ck_assert_int_eq(atomic_file_commit(&file, NULL), DIFFUSE_OK);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 2);
    diffuse_test_remove_dir(dir);
}
END_TEST

START_TEST(swap_bytes_reverses_each_element)
{
    unsigned char b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    st_swap_bytes(b, 2, 4);
    ck_assert(memcmp(b, "\4\3\2\1\10\7\6\5", 8) == 0);
    st_swap_bytes(b, 2, 4);
    st_swap_bytes(b, 1, 8);
    ck_assert(memcmp(b, "\10\7\6\5\4\3\2\1", 8) == 0);
    st_swap_bytes(b, 4, 2);
    ck_assert(memcmp(b, "\7\10\5\6\3\4\1\2", 8) == 0);
    st_swap_bytes(b, 8, 1);
    ck_assert(memcmp(b, "\7\10\5\6\3\4\1\2", 8) == 0);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *suite = suite_create("safetensors");
    TCase *interop = tcase_create("interop");
    tcase_add_test(interop, reads_python_reference_file);
    tcase_add_test(interop, writes_bytes_identical_to_python_reference);
    suite_add_tcase(suite, interop);

    TCase *round = tcase_create("round_trip");
    tcase_add_test(round, round_trip_all_dtypes_bitwise);
    tcase_add_test(round, layout_is_aligned_and_padded);
    tcase_add_test(round, empty_writer_gives_padded_empty_object);
    tcase_add_test(round, metadata_numbers_round_trip_and_are_checked);
    tcase_add_test(round, number_parsers_are_strict);
    tcase_add_test(round, doubles_parse_exactly_in_any_locale);
    tcase_add_test(round, crc32c_matches_its_check_value);
    tcase_add_test(round, header_strings_decode_and_checksums_verify);
    tcase_add_test(round, swap_bytes_reverses_each_element);
    suite_add_tcase(suite, round);

    TCase *corrupt = tcase_create("corruption");
    tcase_add_test(corrupt, every_truncation_and_extension_is_rejected);
    tcase_add_test(corrupt, truncated_files_on_disk_are_rejected);
    tcase_add_test(corrupt, header_length_field_is_checked);
    tcase_add_test(corrupt, every_bit_flip_is_survived);
    tcase_add_test(corrupt, malformed_headers_are_rejected);
    tcase_add_test(corrupt, hostile_nesting_and_nul_bytes_are_rejected);
    tcase_add_test(corrupt, valid_foreign_layouts_are_accepted);
    suite_add_tcase(suite, corrupt);

    TCase *api = tcase_create("api");
    tcase_add_test(api, find_reports_mismatches_by_name);
    tcase_add_test(api, writer_rejects_bad_arguments);
    tcase_add_test(api, reader_reports_io_errors);
    suite_add_tcase(suite, api);

    TCase *atomic = tcase_create("atomic");
    tcase_add_test(atomic, atomic_write_into_missing_directory_fails_cleanly);
    tcase_add_test(atomic, atomic_write_over_a_directory_fails_cleanly);
    tcase_add_test(atomic, failed_write_leaves_old_file_byte_identical);
    tcase_add_test(atomic, atomic_file_direct_use);
    suite_add_tcase(suite, atomic);
    return suite;
}

int main(void)
{
    return diffuse_test_run(safetensors_suite());
}
