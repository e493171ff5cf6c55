/* Image data sets and their data source (see include/diffuse/images.h). */
#include "diffuse/images.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"
#include "util/error.h"
#include "util/philox.h"

/* Philox streams of the epoch orders: TAG + epoch ("images" in ASCII keeps
 * them away from the trainer's and sampler's small stream numbers). */
#define IMAGES_STREAM_TAG UINT64_C(0x696d616765730000)

struct diffuse_images {
    diffuse_error error;
    idx_array pixels;     /* count × H × W bytes */
    idx_array labels;     /* count bytes, or empty */
    size_t count, channels, height, width;
    bool shuffle;
    uint64_t seed;
    uint64_t position;    /* rows served since the start */
    uint64_t order_epoch; /* the epoch `order` holds; UINT64_MAX: none yet */
    uint32_t *order;      /* this epoch's image indices */
};

static diffuse_status check_labels(diffuse_images *im, const char *labels_path)
{
    if (labels_path == NULL)
        return DIFFUSE_OK;
    diffuse_status status = idx_read(&im->error, labels_path, 1, DIFFUSE_IMAGES_MAX_PIXELS,
                                     DIFFUSE_IMAGES_MAX_SIDE, &im->labels);
    if (status == DIFFUSE_OK && im->labels.count != im->count)
        status = diffuse_fail(&im->error, DIFFUSE_ERROR_MISMATCH,
                              "label file \"%s\" holds %llu labels for %zu images", labels_path,
                              (unsigned long long)im->labels.count, im->count);
    return status;
}

static diffuse_status load(diffuse_images *im, const char *images_path, const char *labels_path)
{
    diffuse_status status = idx_read(&im->error, images_path, 3, DIFFUSE_IMAGES_MAX_PIXELS,
                                     DIFFUSE_IMAGES_MAX_SIDE, &im->pixels);
    if (status != DIFFUSE_OK)
        return status;
    if (im->pixels.dims[0] == UINT32_MAX)
        return diffuse_fail(&im->error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "IDX file \"%s\" holds %u images, more than the data source can "
                            "order", images_path, im->pixels.dims[0]);
    im->count = im->pixels.dims[0];
    im->channels = 1;
    im->height = im->pixels.dims[1];
    im->width = im->pixels.dims[2];
    if ((status = check_labels(im, labels_path)) != DIFFUSE_OK)
        return status;
    im->order = malloc(im->count * sizeof *im->order);
    if (im->order == NULL)
        return diffuse_fail(&im->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate the order of %zu images", im->count);
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_images_load_idx(diffuse_images **out, const char *images_path,
                                                   const char *labels_path)
{
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, out, "out")) != DIFFUSE_OK)
        return status;
    *out = NULL;
    if ((status = diffuse_check_pointer(NULL, images_path, "images_path")) != DIFFUSE_OK)
        return status;
    diffuse_images *im = calloc(1, sizeof *im);
    if (im == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate an image set");
    im->shuffle = true;
    im->order_epoch = UINT64_MAX;
    if ((status = load(im, images_path, labels_path)) != DIFFUSE_OK) {
        diffuse_fail(NULL, status, "%s", im->error.message);
        diffuse_images_free(im);
        return status;
    }
    *out = im;
    return DIFFUSE_OK;
}

DIFFUSE_API void diffuse_images_free(diffuse_images *images)
{
    if (images == NULL)
        return;
    idx_free(&images->pixels);
    idx_free(&images->labels);
    free(images->order);
    free(images);
}

DIFFUSE_API const char *diffuse_images_last_error(const diffuse_images *images)
{
    return diffuse_error_message(images == NULL ? NULL : &images->error);
}

DIFFUSE_API diffuse_status diffuse_images_shape(const diffuse_images *images, size_t *count,
                                                size_t *channels, size_t *height,
                                                size_t *width, int *has_labels)
{
    diffuse_status status = diffuse_check_pointer(NULL, images, "images");
    if (status != DIFFUSE_OK)
        return status;
    if (count != NULL)
        *count = images->count;
    if (channels != NULL)
        *channels = images->channels;
    if (height != NULL)
        *height = images->height;
    if (width != NULL)
        *width = images->width;
    if (has_labels != NULL)
        *has_labels = images->labels.values != NULL;
    return DIFFUSE_OK;
}

/* x = p/127.5 − 1: the bytes 0..255 onto [−1, 1]. */
static void copy_image(const diffuse_images *im, size_t index, float *x)
{
    size_t size = im->channels * im->height * im->width;
    const uint8_t *p = im->pixels.values + index * size;
    for (size_t k = 0; k < size; k++)
        x[k] = (float)((double)p[k] / 127.5 - 1.0);
}

static int32_t label_of(const diffuse_images *im, size_t index)
{
    return im->labels.values != NULL ? im->labels.values[index] : 0;
}

DIFFUSE_API diffuse_status diffuse_images_get(const diffuse_images *images, size_t first,
                                              size_t n, float *pixels, int32_t *labels)
{
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, images, "images")) ||
        (status = diffuse_check_pointer(NULL, pixels, "pixels")))
        return status;
    diffuse_error *error = (diffuse_error *)&images->error; /* the handle's slot, as getters do */
    if (n == 0)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT, "n must be at least 1");
    if (first > images->count || n > images->count - first)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "images %zu … %zu are past the end of the %zu images", first,
                            first + (n - 1), images->count);
    if (labels != NULL && images->labels.values == NULL)
        return diffuse_fail(error, DIFFUSE_ERROR_STATE, "no labels were loaded");
    size_t size = images->channels * images->height * images->width;
    for (size_t i = 0; i < n; i++) {
        copy_image(images, first + i, pixels + i * size);
        if (labels != NULL)
            labels[i] = label_of(images, first + i);
    }
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_images_set_shuffle(diffuse_images *images, int shuffle,
                                                      uint64_t seed)
{
    diffuse_status status = diffuse_check_pointer(NULL, images, "images");
    if (status != DIFFUSE_OK)
        return status;
    if (shuffle != 0 && shuffle != 1)
        return diffuse_fail(&images->error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "shuffle = %d is not 0 or 1", shuffle);
    images->shuffle = shuffle;
    images->seed = seed;
    images->order_epoch = UINT64_MAX; /* the order is recomputed with the new setting */
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_images_position(const diffuse_images *images,
                                                   uint64_t *position)
{
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, images, "images")) ||
        (status = diffuse_check_pointer(NULL, position, "position")))
        return status;
    *position = images->position;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_images_seek(diffuse_images *images, uint64_t position)
{
    diffuse_status status = diffuse_check_pointer(NULL, images, "images");
    if (status == DIFFUSE_OK)
        images->position = position;
    return status;
}

/* A uniform index in [0, bound) from a 32-bit word: ⌊w · bound / 2³²⌋
 * (bias below bound/2³², 1.4e-5 for 60,000 images). */
static uint32_t scaled_index(uint32_t word, uint32_t bound)
{
    return (uint32_t)(((uint64_t)word * bound) >> 32);
}

/* The order of `epoch`: the file order, or a Fisher–Yates shuffle of it
 * whose i-th swap partner is word i of Philox stream (seed, TAG + epoch). */
static void make_order(diffuse_images *im, uint64_t epoch)
{
    for (size_t i = 0; i < im->count; i++)
        im->order[i] = (uint32_t)i;
    uint32_t counter[4] = {0, 0, (uint32_t)(IMAGES_STREAM_TAG + epoch),
                           (uint32_t)((IMAGES_STREAM_TAG + epoch) >> 32)};
    uint32_t key[2] = {(uint32_t)im->seed, (uint32_t)(im->seed >> 32)}, words[4];
    for (size_t i = im->count - 1; im->shuffle && i > 0; i--) {
        size_t w = (im->count - 1 - i) % 4;
        if (w == 0) {
            uint64_t block = (im->count - 1 - i) / 4;
            counter[0] = (uint32_t)block;
            counter[1] = (uint32_t)(block >> 32);
            philox4x32_10(counter, key, words);
        }
        uint32_t j = scaled_index(words[w], (uint32_t)(i + 1));
        uint32_t swap = im->order[i];
        im->order[i] = im->order[j];
        im->order[j] = swap;
    }
    im->order_epoch = epoch;
}

DIFFUSE_API int diffuse_images_data(void *user, float *x, int32_t *labels, size_t capacity,
                                    size_t dim, char *message, size_t message_size)
{
    diffuse_images *im = user;
    size_t size = im != NULL ? im->channels * im->height * im->width : 0;
    if (im == NULL || x == NULL || labels == NULL || dim != size) {
        if (message != NULL && message_size > 0)
            snprintf(message, message_size,
                     im == NULL ? "diffuse_images_data: user must be the diffuse_images handle"
                                : "diffuse_images_data: the model's dim %zu is not the images' "
                                  "C·H·W = %zu",
                     dim, size);
        return -1;
    }
    uint64_t epoch = im->position / im->count;
    size_t offset = (size_t)(im->position % im->count), rows = im->count - offset;
    if (capacity < rows)
        rows = capacity;
    if (im->order_epoch != epoch)
        make_order(im, epoch);
    for (size_t i = 0; i < rows; i++) {
        copy_image(im, im->order[offset + i], x + i * size);
        labels[i] = label_of(im, im->order[offset + i]);
    }
    im->position += rows;
    return (int)rows;
}
