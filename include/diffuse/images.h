/*
 * libdiffuse — image data sets: the IDX files of MNIST and Fashion-MNIST, as
 * a ready data source for the trainer.
 *
 * IDX (LeCun et al.): a big-endian header — two zero bytes, a type byte
 * (0x08: unsigned bytes, the only type these data sets use), the number of
 * dimensions k, then k 32-bit sizes — followed by the values, row-major.
 * An image file has k = 3 (count, height, width; one channel); a label file
 * k = 1 (count). Files may be gzip-compressed (read through zlib) or raw.
 * Debian's dataset-fashion-mnist installs the four Fashion-MNIST files in
 * /usr/share/datasets/fashion-mnist.
 *
 * A diffuse_images holds the whole set in memory as bytes (count·H·W, 47 MB
 * for the 60,000 training images) and hands out rows as floats scaled to
 * [−1, 1]: x = p/127.5 − 1 for the pixel value p in 0..255, the range the
 * network's Gaussian noise is matched to.
 *
 * As a trainer's data source (diffuse_images_data), it serves every image
 * once per epoch in an order shuffled per epoch (Fisher–Yates driven by
 * Philox stream (seed, epoch)), or in file order when shuffling is off; a
 * batch never crosses the end of an epoch (the epoch's last one may be
 * smaller), and the next epoch follows at once. Its
 * position (rows served since the start) can be read and set, so that a
 * resumed training run gets the same batches as one that never stopped.
 *
 * Ownership: the caller owns the handle (diffuse_images_free). Threads: a
 * handle is used by one thread at a time.
 */
#ifndef DIFFUSE_IMAGES_H
#define DIFFUSE_IMAGES_H

#include "diffuse/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_images diffuse_images;

/* The largest set the reader accepts, in pixels (count·channels·H·W), and
 * the largest side. Larger headers are refused before anything is read. */
#define DIFFUSE_IMAGES_MAX_PIXELS ((uint64_t)1 << 32)
#define DIFFUSE_IMAGES_MAX_SIDE 65536

/* Loads the image file `images_path` and, unless `labels_path` is NULL, its
 * label file (one label per image). Shuffling starts on with seed 0.
 * Errors: INVALID_ARGUMENT (out or images_path NULL), IO (a file cannot be
 * opened or read), FORMAT (not an IDX file of the expected kind: bad magic,
 * dimensions, a type other than unsigned bytes; a header whose sizes are
 * zero or overflow; truncated data, or data after the end; a corrupt gzip
 * stream), OUT_OF_RANGE (larger than DIFFUSE_IMAGES_MAX_PIXELS or
 * DIFFUSE_IMAGES_MAX_SIDE), MISMATCH (the label file's count differs from
 * the image file's), NO_MEMORY. *out = NULL on failure; the message names
 * the file. */
DIFFUSE_API diffuse_status diffuse_images_load_idx(diffuse_images **out, const char *images_path,
                                                   const char *labels_path);

/* Frees the set. NULL is a no-op. */
DIFFUSE_API void diffuse_images_free(diffuse_images *images);

/* Message of the last failing call on `images` ("" if none). */
DIFFUSE_API const char *diffuse_images_last_error(const diffuse_images *images);

/* The number of images and their shape (channels, height, width), and
 * whether labels were loaded (1) or not (0). Any out-pointer may be NULL.
 * Errors: INVALID_ARGUMENT (images NULL). */
DIFFUSE_API diffuse_status diffuse_images_shape(const diffuse_images *images, size_t *count,
                                                size_t *channels, size_t *height,
                                                size_t *width, int *has_labels);

/* Copies images first … first+n−1 (in file order) into `pixels` (n·C·H·W
 * floats in [−1, 1]) and, unless `labels` is NULL, their labels. Errors:
 * INVALID_ARGUMENT (images or pixels NULL, n = 0), OUT_OF_RANGE (past the
 * end), STATE (labels asked for but none were loaded). */
DIFFUSE_API diffuse_status diffuse_images_get(const diffuse_images *images, size_t first,
                                              size_t n, float *pixels, int32_t *labels);

/* Shuffling per epoch on (1, the default) or off (0: file order), and its
 * seed. Takes effect from the next epoch the data source starts. Errors:
 * INVALID_ARGUMENT (images NULL, shuffle not 0 or 1). */
DIFFUSE_API diffuse_status diffuse_images_set_shuffle(diffuse_images *images, int shuffle,
                                                      uint64_t seed);

/* The data source's position: rows served since the start (epoch ·
 * count + rows of the current epoch). Setting it (any value) makes the next
 * batch start there, in that epoch's order. Errors: INVALID_ARGUMENT (a
 * pointer NULL). */
DIFFUSE_API diffuse_status diffuse_images_position(const diffuse_images *images,
                                                   uint64_t *position);
DIFFUSE_API diffuse_status diffuse_images_seek(diffuse_images *images, uint64_t position);

/* A diffuse_data_fn (diffuse/train.h) serving the set; `user` must be the
 * diffuse_images handle:
 *     diffuse_trainer_set_data(trainer, diffuse_images_data, images);
 * It fills up to `capacity` rows (never across an epoch's end) with their
 * labels (0 when none were loaded) and returns how many. It fails (−1, with
 * a message) when `dim` is not C·H·W. */
DIFFUSE_API int diffuse_images_data(void *user, float *x, int32_t *labels, size_t capacity,
                                    size_t dim, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_IMAGES_H */
