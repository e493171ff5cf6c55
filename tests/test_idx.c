/* The IDX reader and the image data source (include/diffuse/images.h):
 * small files written here (raw and gzip), every malformed header and
 * truncation a file can have, the per-epoch shuffling and its position, a
 * trainer fed by it, and Debian's Fashion-MNIST when it is installed. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <diffuse/images.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "test_support.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

enum { COUNT = 7, H = 3, W = 4, PIXELS = COUNT * H * W };

static char dir[256];

static void setup(void)
{
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
}

static void teardown(void)
{
    diffuse_test_remove_dir(dir);
}

/* An IDX header: 00 00 <type> <rank>, then the big-endian sizes. */
static size_t header(unsigned char *out, unsigned type, size_t rank, const uint32_t *dims)
{
    out[0] = out[1] = 0;
    out[2] = (unsigned char)type;
    out[3] = (unsigned char)rank;
    for (size_t k = 0; k < rank; k++) {
        unsigned char *b = out + 4 + 4 * k;
        b[0] = (unsigned char)(dims[k] >> 24);
        b[1] = (unsigned char)(dims[k] >> 16);
        b[2] = (unsigned char)(dims[k] >> 8);
        b[3] = (unsigned char)dims[k];
    }
    return 4 + 4 * rank;
}

static const char *path_of(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Writes `name` (gzip-compressed when `gzip`): a header and `values`. */
static const char *write_idx(const char *name, unsigned type, size_t rank, const uint32_t *dims,
                             const unsigned char *values, size_t count, int gzip)
{
    unsigned char bytes[4096];
    size_t size = header(bytes, type, rank, dims);
    ck_assert_uint_le(size + count, sizeof bytes);
    memcpy(bytes + size, values, count);
    size += count;
    const char *path = path_of(name);
    if (!gzip) {
        diffuse_test_write_file(path, bytes, size);
    } else {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, bytes, (unsigned)size), (int)size);
        ck_assert_int_eq(gzclose(f), Z_OK);
    }
    return path;
}

static unsigned char pixel(size_t k)
{
    return (unsigned char)(k * 37 % 256);
}

/* The valid pair: COUNT images of H×W and their labels 0..COUNT−1 (x 3 mod 10). */
static void write_valid(const char *images, const char *labels, int gzip)
{
    unsigned char values[PIXELS], classes[COUNT];
    for (size_t k = 0; k < PIXELS; k++)
        values[k] = pixel(k);
    for (size_t i = 0; i < COUNT; i++)
        classes[i] = (unsigned char)(i * 3 % 10);
    write_idx(images, 0x08, 3, (const uint32_t[]){COUNT, H, W}, values, PIXELS, gzip);
    write_idx(labels, 0x08, 1, (const uint32_t[]){COUNT}, classes, COUNT, gzip);
}

static diffuse_images *load_valid(int gzip)
{
    write_valid("images", "labels", gzip);
    char images[512];
    snprintf(images, sizeof images, "%s", path_of("images"));
    diffuse_images *im = NULL;
    ck_assert_int_eq(diffuse_images_load_idx(&im, images, path_of("labels")), DIFFUSE_OK);
    return im;
}

static void check_contents(diffuse_images *im)
{
    size_t count, channels, height, width;
    int has_labels;
    ck_assert_int_eq(diffuse_images_shape(im, &count, &channels, &height, &width, &has_labels),
                     DIFFUSE_OK);
    ck_assert_uint_eq(count, COUNT);
    ck_assert_uint_eq(channels, 1);
    ck_assert_uint_eq(height, H);
    ck_assert_uint_eq(width, W);
    ck_assert_int_eq(has_labels, 1);
    float x[PIXELS];
    int32_t labels[COUNT];
    ck_assert_int_eq(diffuse_images_get(im, 0, COUNT, x, labels), DIFFUSE_OK);
    for (size_t k = 0; k < PIXELS; k++)
        ck_assert_float_eq_tol(x[k], pixel(k) / 127.5 - 1.0, 1e-7);
    for (size_t i = 0; i < COUNT; i++)
        ck_assert_int_eq(labels[i], (int32_t)(i * 3 % 10));
}

START_TEST(raw_and_gzip_files_load_scaled_to_minus_one_one)
{
    for (int gzip = 0; gzip <= 1; gzip++) {
        diffuse_images *im = load_valid(gzip);
        check_contents(im);
        diffuse_images_free(im);
    }
}
END_TEST

/* ---- Malformed files ------------------------------------------------------ */

typedef struct bad_file {
    const char *name;
    unsigned char bytes[64];
    size_t size;
    diffuse_status status;
    const char *message;
} bad_file;

#define HDR3(c, h, w)                                                                      \
    0, 0, 8, 3, (c) >> 24, ((c) >> 16) & 255, ((c) >> 8) & 255, (c) & 255, (h) >> 24,        \
        ((h) >> 16) & 255, ((h) >> 8) & 255, (h) & 255, (w) >> 24, ((w) >> 16) & 255,       \
        ((w) >> 8) & 255, (w) & 255

static const bad_file bad_files[] = {
    {"empty", {0}, 0, DIFFUSE_ERROR_FORMAT, "truncated"},
    {"short_magic", {0, 0}, 2, DIFFUSE_ERROR_FORMAT, "truncated"},
    {"bad_magic", {1, 2, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9}, 17, DIFFUSE_ERROR_FORMAT,
     "bad magic"},
    {"float_type", {0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 20,
     DIFFUSE_ERROR_FORMAT, "value type 0x0d"},
    {"labels_as_images", {0, 0, 8, 1, 0, 0, 0, 2, 4, 5}, 10, DIFFUSE_ERROR_FORMAT,
     "1 dimensions, expected 3"},
    {"truncated_header", {0, 0, 8, 3, 0, 0, 0, 1, 0, 0}, 10, DIFFUSE_ERROR_FORMAT, "truncated"},
    {"zero_count", {HDR3(0u, 2u, 2u)}, 16, DIFFUSE_ERROR_FORMAT, "dimension 0 is 0"},
    {"zero_height", {HDR3(1u, 0u, 2u), 1, 2}, 18, DIFFUSE_ERROR_FORMAT, "dimension 1 is 0"},
    {"overflowing_dims", {HDR3(0xffffffffu, 60000u, 60000u)}, 16, DIFFUSE_ERROR_OUT_OF_RANGE,
     "more than 4294967296 values"},
    {"side_too_large", {HDR3(1u, 1u, 70000u)}, 16, DIFFUSE_ERROR_OUT_OF_RANGE,
     "dimension 2 = 70000 is above 65536"},
    {"lying_count", {HDR3(100000000u, 28u, 28u), 1, 2, 3}, 19, DIFFUSE_ERROR_OUT_OF_RANGE,
     "more than"},
    {"truncated_data", {HDR3(2u, 2u, 2u), 1, 2, 3, 4, 5}, 21, DIFFUSE_ERROR_FORMAT, "truncated"},
    /* 784 MB claimed over 3 bytes: refused when the data runs out, having
     * allocated only what a first read needs (src/data/idx.c). */
    {"lying_header", {HDR3(1000000u, 28u, 28u), 1, 2, 3}, 19, DIFFUSE_ERROR_FORMAT, "truncated"},
    {"trailing_data", {HDR3(1u, 2u, 2u), 1, 2, 3, 4, 5}, 21, DIFFUSE_ERROR_FORMAT,
     "data continues after"},
    {"corrupt_gzip", {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0x00, 0x13}, 15,
     DIFFUSE_ERROR_FORMAT, ""},
};

START_TEST(malformed_image_files_are_refused_with_a_reason)
{
    const bad_file *b = &bad_files[_i];
    const char *path = path_of(b->name);
    diffuse_test_write_file(path, b->bytes, b->size);
    diffuse_images *im = (diffuse_images *)&im; /* must come back NULL */
    diffuse_status status = diffuse_images_load_idx(&im, path, NULL);
    ck_assert_msg(status == b->status, "%s: %s (%s)", b->name, diffuse_status_name(status),
                  diffuse_last_error());
    ck_assert_ptr_null(im);
    ck_assert_msg(strstr(diffuse_last_error(), b->message) != NULL &&
                      strstr(diffuse_last_error(), b->name) != NULL,
                  "%s: message \"%s\" lacks \"%s\" or the file name", b->name,
                  diffuse_last_error(), b->message);
}
END_TEST

START_TEST(label_file_must_match_the_images)
{
    write_valid("images", "labels", 0);
    unsigned char classes[COUNT + 1] = {0};
    write_idx("few_labels", 0x08, 1, (const uint32_t[]){COUNT - 1}, classes, COUNT - 1, 0);
    write_idx("label_images", 0x08, 3, (const uint32_t[]){COUNT, 1, 1}, classes, COUNT, 0);
    char images[512];
    snprintf(images, sizeof images, "%s", path_of("images"));
    diffuse_images *im = NULL;
    ck_assert_int_eq(diffuse_images_load_idx(&im, images, path_of("few_labels")),
                     DIFFUSE_ERROR_MISMATCH);
    ck_assert_msg(strstr(diffuse_last_error(), "holds 6 labels for 7 images") != NULL, "%s",
                  diffuse_last_error());
    ck_assert_int_eq(diffuse_images_load_idx(&im, images, path_of("label_images")),
                     DIFFUSE_ERROR_FORMAT);
    ck_assert_int_eq(diffuse_images_load_idx(&im, images, path_of("missing")), DIFFUSE_ERROR_IO);
    ck_assert_int_eq(diffuse_images_load_idx(&im, path_of("missing"), NULL), DIFFUSE_ERROR_IO);
    ck_assert_msg(strstr(diffuse_last_error(), "No such file") != NULL, "%s",
                  diffuse_last_error());
    ck_assert_int_eq(diffuse_images_load_idx(&im, dir, NULL), DIFFUSE_ERROR_IO);
    ck_assert_int_eq(diffuse_images_load_idx(&im, NULL, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_images_load_idx(NULL, images, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(im);
}
END_TEST

START_TEST(get_checks_its_range)
{
    diffuse_images *im = load_valid(0);
    float x[PIXELS];
    int32_t labels[COUNT];
    ck_assert_int_eq(diffuse_images_get(im, COUNT - 1, 2, x, labels), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_images_get(im, SIZE_MAX, 2, x, NULL), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_images_get(im, 0, 0, x, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_images_get(im, 0, 1, NULL, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_images_set_shuffle(im, 2, 0), DIFFUSE_ERROR_INVALID_ARGUMENT);
    diffuse_images_free(im);
    /* Without labels: asking for them is a state error. */
    char images[512];
    snprintf(images, sizeof images, "%s", path_of("images"));
    ck_assert_int_eq(diffuse_images_load_idx(&im, images, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_images_get(im, 0, 1, x, labels), DIFFUSE_ERROR_STATE);
    ck_assert_int_eq(diffuse_images_get(im, 0, 1, x, NULL), DIFFUSE_OK);
    diffuse_images_free(im);
}
END_TEST

/* ---- The data source -------------------------------------------------- */

/* The index of each served row, recognised by its first pixel (unique here). */
static void serve(diffuse_images *im, size_t capacity, size_t rows, int *indices, int32_t *labels)
{
    float x[COUNT * H * W];
    int32_t batch_labels[COUNT];
    char message[128];
    for (size_t served = 0; served < rows;) {
        int got = diffuse_images_data(im, x, batch_labels, capacity, H * W, message,
                                      sizeof message);
        ck_assert_int_gt(got, 0);
        for (int i = 0; i < got; i++, served++) {
            int index = -1;
            for (int k = 0; k < COUNT; k++)
                if (x[(size_t)i * H * W] == (float)(pixel((size_t)k * H * W) / 127.5 - 1.0))
                    index = k;
            ck_assert_int_ge(index, 0);
            indices[served] = index;
            labels[served] = batch_labels[i];
        }
    }
}

START_TEST(each_epoch_is_a_seeded_permutation)
{
    diffuse_images *im = load_valid(0);
    ck_assert_int_eq(diffuse_images_set_shuffle(im, 1, 42), DIFFUSE_OK);
    int order[3 * COUNT];
    int32_t labels[3 * COUNT];
    serve(im, 3, 3 * COUNT, order, labels); /* batches of 3, 3, 1 per epoch */
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[COUNT] = {0};
        for (int i = 0; i < COUNT; i++) {
            int index = order[epoch * COUNT + i];
            seen[index]++;
            ck_assert_int_eq(labels[epoch * COUNT + i], index * 3 % 10);
        }
        for (int k = 0; k < COUNT; k++)
            ck_assert_int_eq(seen[k], 1);
    }
    ck_assert_msg(memcmp(order, order + COUNT, sizeof(int) * COUNT) != 0 ||
                      memcmp(order + COUNT, order + 2 * COUNT, sizeof(int) * COUNT) != 0,
                  "the epochs all have one order");
    uint64_t position;
    ck_assert_int_eq(diffuse_images_position(im, &position), DIFFUSE_OK);
    ck_assert_uint_eq(position, 3 * COUNT);
    /* Seeking back replays the same rows, in the same order. */
    int again[2 * COUNT];
    ck_assert_int_eq(diffuse_images_seek(im, COUNT + 2), DIFFUSE_OK);
    serve(im, 4, 2 * COUNT - 2, again, labels);
    ck_assert_mem_eq(again, order + COUNT + 2, sizeof(int) * (2 * COUNT - 2));
    /* The same seed gives the same orders in a new handle. */
    diffuse_images *other = load_valid(1);
    ck_assert_int_eq(diffuse_images_set_shuffle(other, 1, 42), DIFFUSE_OK);
    serve(other, 7, COUNT, again, labels);
    ck_assert_mem_eq(again, order, sizeof(int) * COUNT);
    diffuse_images_free(other);
    diffuse_images_free(im);
}
END_TEST

START_TEST(without_shuffling_rows_come_in_file_order)
{
    diffuse_images *im = load_valid(0);
    ck_assert_int_eq(diffuse_images_set_shuffle(im, 0, 0), DIFFUSE_OK);
    int order[2 * COUNT];
    int32_t labels[2 * COUNT];
    serve(im, 5, 2 * COUNT, order, labels);
    for (int i = 0; i < 2 * COUNT; i++)
        ck_assert_int_eq(order[i], i % COUNT);
    diffuse_images_free(im);
}
END_TEST

START_TEST(data_source_refuses_another_dim)
{
    diffuse_images *im = load_valid(0);
    float x[PIXELS];
    int32_t labels[COUNT];
    char message[128] = "";
    ck_assert_int_eq(diffuse_images_data(im, x, labels, 2, H * W + 1, message, sizeof message),
                     -1);
    ck_assert_msg(strstr(message, "dim 13 is not the images' C·H·W = 12") != NULL, "%s",
                  message);
    ck_assert_int_eq(diffuse_images_data(NULL, x, labels, 2, H * W, message, sizeof message), -1);
    diffuse_images_free(im);
}
END_TEST

START_TEST(a_trainer_learns_from_the_data_source)
{
    diffuse_images *im = load_valid(1);
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_COSINE, 50, 0);
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, H * W), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, model, schedule, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_BATCH_SIZE, 4), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_data(trainer, diffuse_images_data, im), DIFFUSE_OK);
    double first = 0.0, last = 0.0;
    ck_assert_int_eq(diffuse_trainer_step(trainer, &first), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(trainer, 300, &last), DIFFUSE_OK);
    ck_assert_msg(last < first, "loss %g after 300 steps, %g at the first", last, first);
    uint64_t position;
    ck_assert_int_eq(diffuse_images_position(im, &position), DIFFUSE_OK);
    ck_assert_uint_ge(position, 301 * 3); /* batches of 4 and the epochs' last of 3 */
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    diffuse_schedule_free(schedule);
    diffuse_images_free(im);
}
END_TEST

/* ---- Debian's Fashion-MNIST --------------------------------------------- */

static void check_fashion(const char *images, const char *labels, size_t expected)
{
    char image_path[256], label_path[256];
    snprintf(image_path, sizeof image_path, "%s/%s", FASHION_DIR, images);
    snprintf(label_path, sizeof label_path, "%s/%s", FASHION_DIR, labels);
    diffuse_images *im = NULL;
    ck_assert_msg(diffuse_images_load_idx(&im, image_path, label_path) == DIFFUSE_OK, "%s",
                  diffuse_last_error());
    size_t count, channels, height, width;
    ck_assert_int_eq(diffuse_images_shape(im, &count, &channels, &height, &width, NULL),
                     DIFFUSE_OK);
    ck_assert_uint_eq(count, expected);
    ck_assert_uint_eq(channels * height * width, 28 * 28);
    int32_t *classes = malloc(count * sizeof *classes);
    float *x = malloc(count * 28 * 28 * sizeof *x);
    ck_assert_int_eq(diffuse_images_get(im, 0, count, x, classes), DIFFUSE_OK);
    size_t per_class[10] = {0};
    for (size_t i = 0; i < count; i++) {
        ck_assert_int_ge(classes[i], 0);
        ck_assert_int_le(classes[i], 9);
        per_class[classes[i]]++;
    }
    for (int c = 0; c < 10; c++) /* the classes are balanced */
        ck_assert_uint_eq(per_class[c], expected / 10);
    free(x);
    free(classes);
    diffuse_images_free(im);
}

START_TEST(debian_fashion_mnist_loads)
{
    struct stat info;
    if (stat(FASHION_DIR, &info) != 0) {
        printf("dataset-fashion-mnist is not installed: skipped\n");
        return;
    }
    check_fashion("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000);
    check_fashion("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000);
}
END_TEST

static Suite *idx_suite(void)
{
    Suite *suite = suite_create("idx");
    TCase *tc = tcase_create("images");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, raw_and_gzip_files_load_scaled_to_minus_one_one);
    tcase_add_loop_test(tc, malformed_image_files_are_refused_with_a_reason, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, label_file_must_match_the_images);
    tcase_add_test(tc, get_checks_its_range);
    tcase_add_test(tc, each_epoch_is_a_seeded_permutation);
    tcase_add_test(tc, without_shuffling_rows_come_in_file_order);
    tcase_add_test(tc, data_source_refuses_another_dim);
    tcase_add_test(tc, a_trainer_learns_from_the_data_source);
    tcase_add_test(tc, debian_fashion_mnist_loads);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(idx_suite());
}
