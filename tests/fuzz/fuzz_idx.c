/* libFuzzer harness for the IDX reader and the image data source
 * (include/diffuse/images.h). Build and run: see tests/fuzz/README.md; with
 * replay.c it is a plain program that replays the committed corpus (ctest).
 *
 * The input's first byte chooses how the rest is used: as an image file
 * alone, or split at byte 1's position into an image file and a label file.
 * The files go through the file system (raw, or gzip when the bytes say so:
 * zlib decides, as for a user's file). Checked, besides what
 * ASan/UBSan/LeakSanitizer catch:
 *  1. a load either succeeds with a consistent shape or fails with a known
 *     status, a message naming the file, and *out = NULL;
 *  2. what loads serves its rows: every pixel in [−1, 1], labels 0..255,
 *     and one epoch of the shuffled data source serves exactly `count`
 *     rows in batches that never cross its end. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <diffuse/diffuse.h>

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

/* The files of one input, in a directory made once per process. */
static char image_path[64], label_path[64];

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(data, 1, size, f) == size);
    REQUIRE(fclose(f) == 0);
}

static void make_paths(void)
{
    if (image_path[0] != '\0')
        return;
    char dir[] = "/tmp/diffuse-fuzz-idx-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(image_path, sizeof image_path, "%s/images", dir);
    snprintf(label_path, sizeof label_path, "%s/labels", dir);
}

/* Rule 2 on a set that loaded; sets larger than a few MB are only shaped. */
static void serve(diffuse_images *im)
{
    size_t count, channels, height, width;
    int has_labels;
    REQUIRE(diffuse_images_shape(im, &count, &channels, &height, &width, &has_labels) == 0);
    size_t size = channels * height * width;
    REQUIRE(count > 0 && size > 0);
    if (count * size > ((size_t)1 << 20) || count > 4096)
        return;
    float *x = malloc(count * size * sizeof *x);
    int32_t *labels = malloc(count * sizeof *labels);
    REQUIRE(x != NULL && labels != NULL);
    REQUIRE(diffuse_images_get(im, 0, count, x, has_labels ? labels : NULL) == DIFFUSE_OK);
    for (size_t k = 0; k < count * size; k++)
        REQUIRE(x[k] >= -1.0f && x[k] <= 1.0f);
    for (size_t i = 0; has_labels && i < count; i++)
        REQUIRE(labels[i] >= 0 && labels[i] <= 255);
    char message[128];
    size_t served = 0;
    while (served < count) {
        int got = diffuse_images_data(im, x, labels, 5, size, message, sizeof message);
        REQUIRE(got > 0 && served + (size_t)got <= count);
        served += (size_t)got;
    }
    uint64_t position;
    REQUIRE(diffuse_images_position(im, &position) == DIFFUSE_OK && position == count);
    free(labels);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    make_paths();
    bool with_labels = data[0] & 1;
    size_t split = with_labels ? 2 + (size_t)data[1] * (size - 2) / 255 : size;
    write_file(image_path, data + 2, split - 2);
    if (with_labels)
        write_file(label_path, data + split, size - split);
    diffuse_images *im = (diffuse_images *)&im;
    diffuse_status status = diffuse_images_load_idx(&im, image_path,
                                                    with_labels ? label_path : NULL);
    REQUIRE(status >= DIFFUSE_OK && status <= DIFFUSE_ERROR_UNSUPPORTED);
    if (status != DIFFUSE_OK) {
        REQUIRE(im == NULL);
        const char *message = diffuse_last_error();
        REQUIRE(strstr(message, image_path) != NULL || strstr(message, label_path) != NULL);
        return 0;
    }
    serve(im);
    diffuse_images_free(im);
    return 0;
}
