/* The examples' PNG writer (examples/common/png_writer.c): files are read back
 * with an independent minimal decoder (bit-wise CRC-32 and Adler-32, stored
 * deflate blocks only) and compared with the pixels written.
 * Needs in tests/CMakeLists.txt:
 *   target_sources(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common/png_writer.c)
 *   target_include_directories(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "png_writer.h"
#include "test_support.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* CRC-32 bit by bit (no table): the definition in the PNG specification. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t adler32_plain(const uint8_t *p, size_t n)
{
    uint64_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (uint32_t)(b << 16 | a);
}

/* Pixel byte k of the test images. */
static uint8_t pattern_byte(size_t k)
{
    return (uint8_t)((k * 7 + k / 251) & 255);
}

/* Decodes `path` (which must be an 8-bit PNG of our kind: IHDR, one IDAT of
 * stored blocks, IEND) and checks it holds the pattern. */
static void check_png(const char *path, uint32_t width, uint32_t height, uint32_t channels)
{
    size_t size, pos = 8;
    uint8_t *file = diffuse_test_read_file(path, &size);
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    ck_assert_mem_eq(file, signature, 8);
    const char *expected_types[3] = {"IHDR", "IDAT", "IEND"};
    const uint8_t *idat = NULL;
    size_t idat_length = 0;
    for (int c = 0; c < 3; c++) {
        ck_assert_uint_le(pos + 12, size);
        uint32_t length = be32(file + pos);
        ck_assert_uint_le(pos + 12 + length, size);
        ck_assert_mem_eq(file + pos + 4, expected_types[c], 4);
        ck_assert_uint_eq(be32(file + pos + 8 + length), crc32_bitwise(file + pos + 4, 4 + length));
        const uint8_t *body = file + pos + 8;
        if (c == 0) {
            ck_assert_uint_eq(length, 13);
            ck_assert_uint_eq(be32(body), width);
            ck_assert_uint_eq(be32(body + 4), height);
            ck_assert_uint_eq(body[8], 8);
            ck_assert_uint_eq(body[9], channels == 3 ? 2 : 0);
            ck_assert(body[10] == 0 && body[11] == 0 && body[12] == 0);
        } else if (c == 1) {
            idat = body;
            idat_length = length;
        } else {
            ck_assert_uint_eq(length, 0);
        }
        pos += 12 + length;
    }
    ck_assert_uint_eq(pos, size);

    /* zlib: header, stored blocks, Adler-32 of the inflated bytes */
    ck_assert_uint_ge(idat_length, 2 + 5 + 4);
    ck_assert_uint_eq(idat[0], 0x78);
    ck_assert_uint_eq((idat[0] * 256u + idat[1]) % 31u, 0);
    ck_assert_uint_eq(idat[1] & 0x20u, 0); /* no preset dictionary */
    size_t raw_size = (size_t)height * (1 + (size_t)width * channels), raw_used = 0;
    uint8_t *raw = malloc(raw_size);
    ck_assert_ptr_nonnull(raw);
    size_t z = 2;
    int final = 0;
    while (!final) {
        ck_assert_uint_le(z + 5, idat_length - 4);
        ck_assert_uint_eq(idat[z] & 0x06u, 0); /* BTYPE 00: stored */
        final = idat[z] & 1;
        unsigned len = idat[z + 1] | idat[z + 2] << 8, nlen = idat[z + 3] | idat[z + 4] << 8;
        ck_assert_uint_eq(len ^ nlen, 0xFFFFu);
        ck_assert_uint_le(raw_used + len, raw_size);
        ck_assert_uint_le(z + 5 + len, idat_length - 4);
        memcpy(raw + raw_used, idat + z + 5, len);
        raw_used += len;
        z += 5 + len;
    }
    ck_assert_uint_eq(z + 4, idat_length);
    ck_assert_uint_eq(raw_used, raw_size);
    ck_assert_uint_eq(be32(idat + z), adler32_plain(raw, raw_size));

    size_t row = (size_t)width * channels;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *line = raw + y * (1 + row);
        ck_assert_uint_eq(line[0], 0); /* filter type None */
        for (size_t k = 0; k < row; k++)
            ck_assert_uint_eq(line[1 + k], pattern_byte(y * row + k));
    }
    free(raw);
    free(file);
}

static void write_and_check(uint32_t width, uint32_t height, uint32_t channels)
{
    char dir[256], path[300], temp[310];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/image.png", dir);
    snprintf(temp, sizeof temp, "%s.tmp", path);
    size_t bytes = (size_t)width * height * channels;
    uint8_t *pixels = malloc(bytes);
    ck_assert_ptr_nonnull(pixels);
    for (size_t k = 0; k < bytes; k++)
        pixels[k] = pattern_byte(k);
    png_writer_status status = channels == 3 ? png_write_rgb(path, pixels, width, height)
                                             : png_write_gray(path, pixels, width, height);
    ck_assert_int_eq(status, PNG_WRITER_OK);
    ck_assert_int_ne(access(temp, F_OK), 0);
    check_png(path, width, height, channels);
    free(pixels);
    remove(path);
    rmdir(dir);
}

START_TEST(small_images_read_back)
{
    write_and_check(1, 1, 3);
    write_and_check(17, 5, 3);
    write_and_check(9, 4, 1);
}
END_TEST

/* Raw sizes around the 65535-byte stored-block limit and several blocks. */
START_TEST(block_boundaries_read_back)
{
    write_and_check(21844, 1, 3); /* 65533 raw bytes: one block */
    write_and_check(65534, 1, 1); /* 65535: exactly one full block */
    write_and_check(21845, 1, 3); /* 65536: a full block and a 1-byte one */
    write_and_check(300, 200, 3); /* 180200: three blocks */
}
END_TEST

START_TEST(bad_arguments_write_nothing)
{
    char dir[256], path[300];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/x.png", dir);
    uint8_t px[3] = {1, 2, 3};
    ck_assert_int_eq(png_write_rgb(NULL, px, 1, 1), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(png_write_rgb(path, NULL, 1, 1), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(png_write_rgb(path, px, 0, 1), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(png_write_gray(path, px, 1, 0), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(png_write_rgb(path, px, 20000, 20000), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(png_write_gray(path, px, UINT32_MAX, UINT32_MAX),
                     PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_str_ne(png_writer_status_string(PNG_WRITER_ERROR_ARGUMENT), "unknown status");
    ck_assert_str_eq(png_writer_status_string((png_writer_status)99), "unknown status");
    rmdir(dir);
}
END_TEST

/* A failed rename (the target is a directory) leaves no temporary file. */
START_TEST(io_errors_leave_no_temporary_file)
{
    char dir[256], path[300];
    uint8_t px[3] = {1, 2, 3};
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/missing/x.png", dir);
    ck_assert_int_eq(png_write_rgb(path, px, 1, 1), PNG_WRITER_ERROR_IO);
    snprintf(path, sizeof path, "%s/adir", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(png_write_rgb(path, px, 1, 1), PNG_WRITER_ERROR_IO);
    snprintf(path, sizeof path, "%s/adir.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/adir", dir);
    rmdir(path);
    rmdir(dir);
}
END_TEST

static Suite *png_writer_suite(void)
{
    Suite *suite = suite_create("png_writer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, small_images_read_back);
    tcase_add_test(tc, block_boundaries_read_back);
    tcase_add_test(tc, bad_arguments_write_nothing);
    tcase_add_test(tc, io_errors_leave_no_temporary_file);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(png_writer_suite());
}
