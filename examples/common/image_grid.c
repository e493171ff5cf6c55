/* Sample grids as PNG files (see image_grid.h). */
#include "image_grid.h"

#include <stdint.h>
#include <stdlib.h>

#define GRID_BACKGROUND 128

static uint8_t to_byte(float x)
{
    float clipped = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
    return (uint8_t)((clipped + 1.0f) * 127.5f + 0.5f);
}

/* Image i's planes into the interleaved grid at its cell. */
static void place(uint8_t *grid, size_t grid_width, const float *image, size_t channels,
                  size_t height, size_t width, size_t top, size_t left)
{
    for (size_t y = 0; y < height; y++)
        for (size_t x = 0; x < width; x++)
            for (size_t c = 0; c < channels; c++)
                grid[((top + y) * grid_width + left + x) * channels + c] =
                    to_byte(image[(c * height + y) * width + x]);
}

png_writer_status image_grid_write(const char *path, const float *images, size_t n,
                                   size_t channels, size_t height, size_t width, size_t columns,
                                   size_t padding)
{
    if (images == NULL || n == 0 || (channels != 1 && channels != 3) || height == 0 ||
        width == 0 || columns == 0 || height > UINT16_MAX || width > UINT16_MAX ||
        columns > UINT16_MAX || padding > UINT16_MAX)
        return PNG_WRITER_ERROR_ARGUMENT;
    size_t rows = (n + columns - 1) / columns;
    uint64_t grid_width = columns * (width + padding) + padding;
    uint64_t grid_height = rows * (height + padding) + padding;
    if (grid_width > UINT32_MAX || grid_height > UINT32_MAX ||
        grid_width * grid_height * channels > PNG_WRITER_MAX_RAW_BYTES)
        return PNG_WRITER_ERROR_ARGUMENT;
    uint8_t *grid = malloc((size_t)(grid_width * grid_height * channels));
    if (grid == NULL)
        return PNG_WRITER_ERROR_MEMORY;
    for (size_t k = 0; k < grid_width * grid_height * channels; k++)
        grid[k] = GRID_BACKGROUND;
    for (size_t i = 0; i < n; i++)
        place(grid, (size_t)grid_width, images + i * channels * height * width, channels, height,
              width, padding + (i / columns) * (height + padding),
              padding + (i % columns) * (width + padding));
    png_writer_status status =
        channels == 1 ? png_write_gray(path, grid, (uint32_t)grid_width, (uint32_t)grid_height)
                      : png_write_rgb(path, grid, (uint32_t)grid_width, (uint32_t)grid_height);
    free(grid);
    return status;
}
