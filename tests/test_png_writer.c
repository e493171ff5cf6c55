/* The examples' PNG writer (examples/common/png_writer.c): files are read back
 * with an independent minimal decoder (bit-wise CRC-32 and Adler-32, stored
 * deflate blocks only) and compared with the pixels written.
 * Needs in tests/CMakeLists.txt:
 *   target_sources(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common/png_writer.c)
 *   target_include_directories(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common) */
/* The examples' PNG writer (examples/common/png_writer.c): files are read
 * back with libpng's reader (signature, chunks and CRCs checked by it) and
 * compared with the pixels written; a smooth image must also come out far
 * smaller than its raw pixels (the writer compresses).
 * Needs in tests/CMakeLists.txt:
 *   target_sources(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common/png_writer.c)
 *   target_include_directories(test_png_writer PRIVATE ${PROJECT_SOURCE_DIR}/examples/common) */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_grid.h"
#include "png_writer.h"
#include "test_support.h"

/* Pixel byte k of the test images. */
static uint8_t pattern_byte(size_t k)
{
    return (uint8_t)((k * 7 + k / 251) & 255);
}

/* Reads `path` and checks its size, format and pixels. */
static void check_png(const char *path, uint32_t width, uint32_t height, uint32_t channels)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&image, path) != 0, "%s", image.message);
    ck_assert_uint_eq(image.width, width);
    ck_assert_uint_eq(image.height, height);
    ck_assert_uint_eq(PNG_IMAGE_PIXEL_CHANNELS(image.format), channels);
    image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    size_t bytes = (size_t)width * height * channels;
    uint8_t *pixels = malloc(bytes);
    ck_assert_ptr_nonnull(pixels);
    ck_assert_msg(png_image_finish_read(&image, NULL, pixels, 0, NULL) != 0, "%s",
                  image.message);
    for (size_t k = 0; k < bytes; k++)
        ck_assert_uint_eq(pixels[k], pattern_byte(k));
    free(pixels);
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

START_TEST(large_images_read_back)
{
    write_and_check(21845, 1, 3);
    write_and_check(300, 200, 3);
    write_and_check(28 * 16, 28 * 8, 1);
}
END_TEST

/* A smooth 400×300 gradient: 360,000 raw bytes, a few kB compressed. */
START_TEST(smooth_images_are_compressed)
{
    char dir[256], path[300];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/gradient.png", dir);
    enum { W = 400, H = 300 };
    uint8_t *rgb = malloc(W * H * 3);
    ck_assert_ptr_nonnull(rgb);
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++)
            for (size_t c = 0; c < 3; c++)
                rgb[(y * W + x) * 3 + c] = (uint8_t)((x + y + 40 * c) * 255 / (W + H + 80));
    ck_assert_int_eq(png_write_rgb(path, rgb, W, H), PNG_WRITER_OK);
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_msg(info.st_size < W * H * 3 / 20, "%lld bytes for %d raw", (long long)info.st_size,
                  W * H * 3);
    free(rgb);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* Two 2×3 gray images, two to a row, padding 1: a 7×4 grid whose cells hold
 * round((x + 1) · 127.5) and whose frame is mid-gray. */
START_TEST(image_grids_place_each_image_in_its_cell)
{
    char dir[256], path[300];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/grid.png", dir);
    const float images[12] = {-1, -0.5f, 0, 0.5f, 1, 2, /* the 2 clips to 1 */
                              0.25f, 0.25f, 0.25f, -0.25f, -0.25f, -0.25f};
    ck_assert_int_eq(image_grid_write(path, images, 2, 1, 2, 3, 2, 1), PNG_WRITER_OK);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    ck_assert_int_ne(png_image_begin_read_from_file(&image, path), 0);
    ck_assert_uint_eq(image.width, 9);
    ck_assert_uint_eq(image.height, 4);
    image.format = PNG_FORMAT_GRAY;
    uint8_t grid[36];
    ck_assert_int_ne(png_image_finish_read(&image, NULL, grid, 0, NULL), 0);
    const uint8_t first_row[9] = {128, 0, 64, 128, 128, 159, 159, 159, 128};
    const uint8_t second_row[9] = {128, 191, 255, 255, 128, 96, 96, 96, 128};
    ck_assert_mem_eq(grid + 9, first_row, 9);
    ck_assert_mem_eq(grid + 18, second_row, 9);
    for (size_t x = 0; x < 9; x++)
        ck_assert_uint_eq(grid[x], 128);
    ck_assert_int_eq(image_grid_write(path, images, 2, 2, 2, 3, 2, 1), PNG_WRITER_ERROR_ARGUMENT);
    ck_assert_int_eq(image_grid_write(path, images, 0, 1, 2, 3, 2, 1), PNG_WRITER_ERROR_ARGUMENT);
    diffuse_test_remove_dir(dir);
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
    tcase_add_test(tc, large_images_read_back);
    tcase_add_test(tc, smooth_images_are_compressed);
    tcase_add_test(tc, image_grids_place_each_image_in_its_cell);
    tcase_add_test(tc, bad_arguments_write_nothing);
    tcase_add_test(tc, io_errors_leave_no_temporary_file);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(png_writer_suite());
}
