/* A PNG grid of sample images for the example programs (not part of
 * libdiffuse): n images of C×H×W floats in [−1, 1] (C = 1 gray, C = 3 RGB,
 * planar as the models produce them), `columns` to a row, separated and
 * framed by `padding` pixels of mid-gray. Values outside [−1, 1] are
 * clipped; x maps to the byte round((x + 1) · 127.5). */
#ifndef EXAMPLES_IMAGE_GRID_H
#define EXAMPLES_IMAGE_GRID_H

#include <stddef.h>

#include "png_writer.h"

png_writer_status image_grid_write(const char *path, const float *images, size_t n,
                                   size_t channels, size_t height, size_t width, size_t columns,
                                   size_t padding);

#endif
