/* PNG files through libpng's simplified write API (see png_writer.h). */
#include "png_writer.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng compresses the scanlines (deflate, adaptive filters) and computes
 * every chunk's CRC; a "<path>.tmp" written, closed and renamed keeps a
 * reader from seeing half a file. */
static png_writer_status write_png(const char *path, const uint8_t *pixels, uint32_t width,
                                   uint32_t height, uint32_t channels, png_uint_32 format)
{
    if (path == NULL || pixels == NULL || width == 0 || height == 0 ||
        (uint64_t)height * (1 + (uint64_t)width * channels) > PNG_WRITER_MAX_RAW_BYTES)
        return PNG_WRITER_ERROR_ARGUMENT;
    size_t path_length = strlen(path);
    char *temp_path = malloc(path_length + sizeof ".tmp");
    if (temp_path == NULL)
        return PNG_WRITER_ERROR_MEMORY;
    memcpy(temp_path, path, path_length);
    memcpy(temp_path + path_length, ".tmp", sizeof ".tmp");
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = format;
    FILE *file = fopen(temp_path, "wb");
    int ok = file != NULL;
    if (ok) {
        ok = png_image_write_to_stdio(&image, file, 0, pixels, 0, NULL) != 0;
        png_image_free(&image);
        ok = fclose(file) == 0 && ok;
        ok = ok && rename(temp_path, path) == 0;
        if (!ok)
            remove(temp_path);
    }
    free(temp_path);
    return ok ? PNG_WRITER_OK : PNG_WRITER_ERROR_IO;
}

png_writer_status png_write_rgb(const char *path, const uint8_t *rgb, uint32_t width,
                                uint32_t height)
{
    return write_png(path, rgb, width, height, 3, PNG_FORMAT_RGB);
}

png_writer_status png_write_gray(const char *path, const uint8_t *gray, uint32_t width,
                                 uint32_t height)
{
    return write_png(path, gray, width, height, 1, PNG_FORMAT_GRAY);
}

const char *png_writer_status_string(png_writer_status status)
{
    switch (status) {
    case PNG_WRITER_OK:
        return "success";
    case PNG_WRITER_ERROR_ARGUMENT:
        return "invalid argument (NULL pointer, zero size or image too large)";
    case PNG_WRITER_ERROR_MEMORY:
        return "out of memory";
    case PNG_WRITER_ERROR_IO:
        return "the file could not be written";
    }
    return "unknown status";
}
