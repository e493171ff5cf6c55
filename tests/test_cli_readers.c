/* The diffuse tool's CSV and NPY readers and writers (tools/diffuse/csv.c,
 * npy.c): what each accepts, the message of every kind of bad file (with
 * its line or byte offset), round trips, and hostile inputs (every
 * truncation, every byte flipped, random bytes) that must fail cleanly.
 * Needs in tests/CMakeLists.txt: the sources csv.c npy.c table.c and the
 * include directory tools/diffuse. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "npy.h"
#include "test_support.h"

/* ---- CSV ----------------------------------------------------------------------- */

static table parse_csv_ok(const char *text)
{
    table t;
    char error[512] = "";
    ck_assert_msg(csv_parse("t.csv", text, strlen(text), &t, error, sizeof error) == 0, "%s",
                  error);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_uint_eq(t.shape[0], t.rows);
    ck_assert_uint_eq(t.shape[1], t.cols);
    return t;
}

/* Parsing `length` bytes fails with a message containing `expected`. */
static void parse_fails(table_parser parse, const char *name, const void *data, size_t length,
                        const char *expected)
{
    table t;
    char error[512] = "";
    ck_assert_int_eq(parse(name, data, length, &t, error, sizeof error), -1);
    ck_assert_ptr_null(t.values);
    ck_assert_msg(strstr(error, expected) != NULL, "message \"%s\" lacks \"%s\"", error, expected);
}

static void csv_fails_n(const char *text, size_t length, const char *expected)
{
    parse_fails(csv_parse, "t.csv", text, length, expected);
}

static void csv_fails(const char *text, const char *expected)
{
    csv_fails_n(text, strlen(text), expected);
}

/* `text` parses into rows × cols values equal to `expected`. */
static void expect_csv(const char *text, size_t rows, size_t cols, const float *expected)
{
    table t = parse_csv_ok(text);
    ck_assert_uint_eq(t.rows, rows);
    ck_assert_uint_eq(t.cols, cols);
    for (size_t i = 0; i < rows * cols; i++)
        ck_assert_float_eq(t.values[i], expected[i]);
    table_free(&t);
}

START_TEST(csv_reads_rows_without_a_header)
{
    expect_csv("1,2,3\n-4.5, 5e-1 ,\t6\n", 2, 3, (const float[]){1, 2, 3, -4.5f, 0.5f, 6});
}
END_TEST

START_TEST(csv_skips_a_header_comments_and_trailing_blank_lines)
{
    expect_csv("# numpy.savetxt header\nx,y\r\n1,2\r\n3,4\n\n  \n", 2, 2,
               (const float[]){1, 2, 3, 4});
    expect_csv("1,2", 1, 2, (const float[]){1, 2}); /* no final line end */
}
END_TEST

START_TEST(csv_reads_quoted_fields)
{
    expect_csv("\"x\",\"the \"\"y\"\", quoted\"\n\"1.5\" , \"-2\"\n", 1, 2,
               (const float[]){1.5f, -2});
}
END_TEST

START_TEST(csv_bad_files_name_the_line_and_field)
{
    csv_fails("1,abc\n", "t.csv:1: field 2: \"abc\" is not a number, but other fields");
    csv_fails("x,y\n1,2\n3\n", "t.csv:3: fewer fields than the first line's 2");
    csv_fails("1,2\n3,4,5\n", "t.csv:2: more fields than the first line's 2");
    csv_fails("1,2\n3,\n", "t.csv:2: field 2: empty field");
    csv_fails("1,2\n3,x4\n", "t.csv:2: field 2: \"x4\" is not a number");
    csv_fails("1,2\n3,4 5\n", "t.csv:2: field 2: \"4 5\" is not a number");
    csv_fails("1,2\n3,nan\n", "t.csv:2: field 2: \"nan\" is not finite");
    csv_fails("1,2\ninf,4\n", "t.csv:2: field 1: \"inf\" is not finite");
    csv_fails("1,2\n3,1e39\n", "outside float's range");
    csv_fails("1,2\n\n3,4\n", "t.csv:2: blank line between rows");
    csv_fails("1,2\n\"3,4\n", "t.csv:2: field 1: unterminated quote");
    csv_fails("1,2\n\"3\"x,4\n", "t.csv:2: field 1: unterminated quote, or text after");
    csv_fails("", "no rows of numbers");
    csv_fails("x,y\n", "no rows of numbers");
    csv_fails("# only a comment\n", "no rows of numbers");
    csv_fails_n("1,2\n3,\0\n", 7, "t.csv:2: NUL byte");
}
END_TEST

START_TEST(csv_messages_clip_long_fields)
{
    char text[2100] = "1,";
    memset(text + 2, 'z', 2000);
    strcpy(text + 2002, "\n");
    table t;
    char error[512];
    ck_assert_int_eq(csv_parse("t.csv", text, strlen(text), &t, error, sizeof error), -1);
    ck_assert_ptr_nonnull(strstr(error, "zzz...\""));
    ck_assert_uint_lt(strlen(error), 300);
}
END_TEST

START_TEST(csv_write_reads_back_exactly)
{
    enum { ROWS = 300, COLS = 3 };
    float *values = diffuse_test_uniform_floats(ROWS * COLS, 3, 0, -1e6f, 1e6f);
    values[0] = 1e-40f; /* subnormal */
    values[1] = -FLT_MAX;
    values[2] = 0.1f;
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    ck_assert_ptr_nonnull(stream);
    ck_assert_int_eq(csv_write(stream, values, ROWS, COLS), 0);
    fclose(stream);
    table t = parse_csv_ok(text);
    ck_assert_uint_eq(t.rows, ROWS);
    ck_assert_int_eq(memcmp(t.values, values, sizeof(float) * ROWS * COLS), 0);
    table_free(&t);
    free(text);
    free(values);
}
END_TEST

/* Random bytes, and random lines of CSV-like characters, never crash or
 * leak, and a success always has a consistent shape. */
START_TEST(csv_hostile_inputs_fail_cleanly)
{
    static const char alphabet[] = "0123456789.,-+e\"\r\n #\tx";
    float *u = diffuse_test_uniform_floats(4000 * 64, 11, 0, 0.0f, 1.0f);
    for (int trial = 0; trial < 4000; trial++) {
        char text[64];
        size_t length = (size_t)(u[trial * 64] * 63);
        for (size_t k = 0; k < length; k++) {
            float v = u[trial * 64 + 1 + k];
            text[k] = trial % 2 ? (char)(v * 256) : alphabet[(size_t)(v * (sizeof alphabet - 1))];
        }
        table t;
        char error[256];
        if (csv_parse("t.csv", text, length, &t, error, sizeof error) == 0) {
            ck_assert_uint_ge(t.rows, 1);
            ck_assert_uint_ge(t.cols, 1);
            for (size_t k = 0; k < t.rows * t.cols; k++)
                ck_assert(isfinite(t.values[k]));
            table_free(&t);
        } else {
            ck_assert_ptr_nonnull(strstr(error, "t.csv:"));
        }
    }
    free(u);
}
END_TEST

/* ---- NPY ----------------------------------------------------------------------- */

/* An .npy file: version, the header dictionary (padded to 64 here), then
 * `data_size` bytes of data. malloc'd; *size receives its length. */
static unsigned char *make_npy(int version, const char *dict, const void *data, size_t data_size,
                               size_t *size)
{
    size_t preamble = version == 1 ? 10 : 12, header = strlen(dict) + 1;
    while ((preamble + header) % 64 != 0)
        header++;
    unsigned char *file = malloc(preamble + header + data_size + 1);
    ck_assert_ptr_nonnull(file);
    memcpy(file, "\x93NUMPY", 6);
    file[6] = (unsigned char)version;
    file[7] = 0;
    for (size_t b = 0; b < preamble - 8; b++)
        file[8 + b] = (unsigned char)(header >> (8 * b));
    memset(file + preamble, ' ', header);
    memcpy(file + preamble, dict, strlen(dict));
    file[preamble + header - 1] = '\n';
    if (data_size > 0)
        memcpy(file + preamble + header, data, data_size);
    *size = preamble + header + data_size;
    return file;
}

static const float SIX[6] = {1, 2, 3, 4, 5, 6.5f};

static table parse_npy_ok(const unsigned char *file, size_t size)
{
    table t;
    char error[512] = "";
    ck_assert_msg(npy_parse("t.npy", file, size, &t, error, sizeof error) == 0, "%s", error);
    return t;
}

static void npy_fails(const unsigned char *file, size_t size, const char *expected)
{
    parse_fails(npy_parse, "t.npy", file, size, expected);
}

/* The header `dict` with SIX as data fails with `expected`. */
static void npy_header_fails(const char *dict, const char *expected)
{
    size_t size;
    unsigned char *file = make_npy(1, dict, SIX, sizeof SIX, &size);
    npy_fails(file, size, expected);
    free(file);
}

START_TEST(npy_reads_float32_and_float64_in_both_versions)
{
    size_t size;
    unsigned char *file = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                   SIX, sizeof SIX, &size);
    table t = parse_npy_ok(file, size);
    ck_assert_uint_eq(t.rows, 2);
    ck_assert_uint_eq(t.cols, 3);
    ck_assert_uint_eq(t.rank, 2);
    ck_assert_int_eq(memcmp(t.values, SIX, sizeof SIX), 0);
    table_free(&t);
    free(file);
    double wide[6];
    for (int i = 0; i < 6; i++)
        wide[i] = SIX[i];
    file = make_npy(2, "{\"shape\":(6,),\"fortran_order\":False,\"descr\":\"<f8\"}", wide,
                    sizeof wide, &size);
    t = parse_npy_ok(file, size);
    ck_assert_uint_eq(t.rows, 6);
    ck_assert_uint_eq(t.cols, 1);
    ck_assert_uint_eq(t.rank, 1);
    ck_assert_int_eq(memcmp(t.values, SIX, sizeof SIX), 0);
    table_free(&t);
    free(file);
}
END_TEST

START_TEST(npy_reads_image_shapes)
{
    size_t size;
    unsigned char *file =
        make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 1, 2), }", SIX,
                 sizeof SIX, &size);
    table t = parse_npy_ok(file, size);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_uint_eq(t.cols, 6);
    ck_assert_uint_eq(t.rank, 4);
    ck_assert_uint_eq(t.shape[1], 3);
    ck_assert_uint_eq(t.shape[3], 2);
    table_free(&t);
    free(file);
}
END_TEST

START_TEST(npy_bad_headers_name_the_offset)
{
    npy_header_fails("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
                     "t.npy: offset 20: dtype '>f4' is not supported");
    npy_header_fails("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
                     "dtype '<i4' is not supported");
    npy_header_fails("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                     "Fortran-order arrays are not supported");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "a 0-d array");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", "a size of 0");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 2, 3), }",
                     "more than 4 dimensions");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }",
                     "expected ',' or ')'");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False}", "lacks 'descr'");
    npy_header_fails("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
                     "key repeated");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}",
                     "unknown key");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk",
                     "unexpected bytes after the header's dictionary");
    npy_header_fails("['descr']", "the header is not a dictionary");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (281474976710656, "
                     "281474976710656)}",
                     "the shape is too large");
    npy_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999)}",
                     "size too large");
}
END_TEST

START_TEST(npy_bad_files_name_the_offset)
{
    size_t size;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    unsigned char *file = make_npy(1, dict, SIX, sizeof SIX, &size);
    npy_fails(file, size - 1,
              "t.npy: offset 151: truncated: the shape needs 24 bytes of data, "
              "the file has 23");
    free(file);
    unsigned char seven[28] = {0};
    file = make_npy(1, dict, seven, sizeof seven, &size);
    npy_fails(file, size, "t.npy: offset 152: bytes after the data");
    file[6] = 3;
    npy_fails(file, size, "t.npy: offset 6: format version 3.0 is not supported");
    file[0] = 'N';
    npy_fails(file, size, "t.npy: offset 0: not an .npy file");
    free(file);
    float bad[6];
    memcpy(bad, SIX, sizeof bad);
    bad[4] = NAN;
    file = make_npy(1, dict, bad, sizeof bad, &size);
    npy_fails(file, size, "t.npy: offset 144: value 4 (row 1) is not finite");
    free(file);
    double big[2] = {1.0, 1e300};
    file = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", big, sizeof big,
                    &size);
    npy_fails(file, size, "t.npy: offset 136: value 1 (row 1) is not finite or outside float's");
    file[8] = 0xff; /* a header longer than the file */
    npy_fails(file, size, "offset 8: the header runs past the end of the file");
    free(file);
}
END_TEST

START_TEST(npy_write_reads_back_exactly)
{
    char dir[256], path[300], error[512];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/x.npy", dir);
    const size_t shape[4] = {3, 1, 1, 2};
    ck_assert_int_eq(npy_write(path, SIX, 4, shape, error, sizeof error), 0);
    size_t size;
    unsigned char *file = diffuse_test_read_file(path, &size);
    ck_assert_uint_eq((size - sizeof SIX) % 64, 0);
    ck_assert_ptr_nonnull(strstr((const char *)file + 10, "'shape': (3, 1, 1, 2), }"));
    table t = parse_npy_ok(file, size);
    ck_assert_uint_eq(t.rank, 4);
    ck_assert_int_eq(memcmp(t.values, SIX, sizeof SIX), 0);
    table_free(&t);
    free(file);
    ck_assert_int_eq(npy_write(path, SIX, 1, (const size_t[]){6}, error, sizeof error), 0);
    file = diffuse_test_read_file(path, &size);
    ck_assert_ptr_nonnull(strstr((const char *)file + 10, "'shape': (6,), }"));
    free(file);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* Every truncation of a valid file fails; every byte set to each of a few
 * values either fails with a message or gives a consistent table. */
START_TEST(npy_hostile_inputs_fail_cleanly)
{
    size_t size;
    unsigned char *file = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                   SIX, sizeof SIX, &size);
    table t;
    char error[256];
    for (size_t length = 0; length < size; length++)
        ck_assert_int_eq(npy_parse("t.npy", file, length, &t, error, sizeof error), -1);
    static const unsigned char values[] = {0, ' ', '\n', '(', ')', ',', '9', 0x7f, 0xff};
    for (size_t at = 0; at < size; at++) {
        unsigned char saved = file[at];
        for (size_t v = 0; v < sizeof values; v++) {
            file[at] = values[v];
            if (npy_parse("t.npy", file, size, &t, error, sizeof error) == 0) {
                ck_assert_uint_eq(t.rows * t.cols * sizeof(float), sizeof SIX);
                table_free(&t);
            } else {
                ck_assert_ptr_nonnull(strstr(error, "t.npy: offset "));
            }
        }
        file[at] = saved;
    }
    free(file);
}
END_TEST

static Suite *cli_readers_suite(void)
{
    Suite *suite = suite_create("cli_readers");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, csv_reads_rows_without_a_header);
    tcase_add_test(tc, csv_skips_a_header_comments_and_trailing_blank_lines);
    tcase_add_test(tc, csv_reads_quoted_fields);
    tcase_add_test(tc, csv_bad_files_name_the_line_and_field);
    tcase_add_test(tc, csv_messages_clip_long_fields);
    tcase_add_test(tc, csv_write_reads_back_exactly);
    tcase_add_test(tc, csv_hostile_inputs_fail_cleanly);
    suite_add_tcase(suite, tc);
    tc = tcase_create("npy");
    tcase_add_test(tc, npy_reads_float32_and_float64_in_both_versions);
    tcase_add_test(tc, npy_reads_image_shapes);
    tcase_add_test(tc, npy_bad_headers_name_the_offset);
    tcase_add_test(tc, npy_bad_files_name_the_offset);
    tcase_add_test(tc, npy_write_reads_back_exactly);
    tcase_add_test(tc, npy_hostile_inputs_fail_cleanly);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(cli_readers_suite());
}
