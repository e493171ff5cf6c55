/* The example programs' PNG writer (not part of libdiffuse), on libpng
 * (Debian's libpng-dev): 8-bit RGB or grayscale files, compressed (the
 * toy2d demo's 820×430 plot is ~40 kB, against 1.1 MB for the raw pixels
 * the hand-written stored-deflate writer it replaces produced).
 *
 * The file is written to "<path>.tmp" first and renamed over `path` only
 * once complete, so a reader never sees a half-written image (rename is
 * atomic on POSIX file systems; the data are not fsync'ed). On failure the
 * temporary file is removed and `path` is untouched.
 *
 * Thread-safety: the functions keep no global state; two threads may write
 * different paths at once. */
#ifndef EXAMPLES_PNG_WRITER_H
#define EXAMPLES_PNG_WRITER_H

#include <stdint.h>

typedef enum png_writer_status {
    PNG_WRITER_OK = 0,
    PNG_WRITER_ERROR_ARGUMENT = 1, /* NULL pointer, zero size, image too large */
    PNG_WRITER_ERROR_MEMORY = 2,   /* could not allocate the temporary file name */
    PNG_WRITER_ERROR_IO = 3        /* could not create, write, close or rename the file */
} png_writer_status;

/* Largest image accepted: height · (1 + width · channels) ≤ 2^30 bytes of
 * raw scanlines (keeps the single IDAT chunk far below PNG's 2^31 − 1). */
#define PNG_WRITER_MAX_RAW_BYTES ((uint64_t)1 << 30)

/* Writes `rgb` (width × height pixels, 3 bytes each: R, G, B; rows top to
 * bottom, no padding) as an 8-bit truecolour PNG to `path`. */
png_writer_status png_write_rgb(const char *path, const uint8_t *rgb, uint32_t width,
                                uint32_t height);

/* The same for a grayscale image (one byte a pixel, 0 = black). */
png_writer_status png_write_gray(const char *path, const uint8_t *gray, uint32_t width,
                                 uint32_t height);

/* Fixed English text for a status ("unknown status" for other values). */
const char *png_writer_status_string(png_writer_status status);

#endif
