"""Scatter plots of 2-D point sets and grids of sample images as PNG files.

    diffuse.plot.image_grid_png("grid.png", samples, columns=8)

writes images of shape (n, C, H, W) in [−1, 1] (C = 1 gray, 3 RGB) as the C
examples' grids do (examples/common/image_grid.c): `columns` to a row,
framed and separated by `padding` mid-gray pixels, x ↦ the byte
⌊(clip(x, −1, 1) + 1)·127.5 + 0.5⌋ in float32. Written by libpng when it
is installed (the C examples' bytes, see diffuse._png), else by zlib.

Scatter plots, with the standard library only (zlib + struct); the same
layout as the C demo's plots:

    diffuse.plot.scatter_png("toy2d.png", [data, samples])

draws each point set (n×2 float32 buffer, or a list of (x, y) pairs) into its
own square panel, side by side, showing [−extent, extent]² with y up: white
background, light grid lines at integer coordinates, darker axes through 0,
a grey frame, points as 3×3 translucent dots (dense regions look darker).
Points outside the square or not finite are skipped.
"""

import array
import math

from . import _png
from ._buffers import float_input, numpy

BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)
GREEN = (44, 160, 44)
RED = (214, 39, 40)
PALETTE = (BLUE, ORANGE, GREEN, RED)

_MARGIN = 10
_DOT_ALPHA = 0.55
png_bytes = _png.png_bytes  # public here since the scatter plots

_GRID, _AXIS, _FRAME = (232, 232, 232), (195, 195, 195), (150, 150, 150)


def write_png(path, width, height, rgb):
    """Writes png_bytes() to `path` through a temporary file renamed over it,
    so a reader never sees half an image."""
    _png.write_png(path, width, height, rgb, 3, use_libpng=False)


class _Canvas:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.rgb = bytearray(b"\xff" * (3 * width * height))

    def blend(self, x, y, color, alpha, clip):
        """pixel := pixel + α(color − pixel), inside the clip box (x0, y0, x1, y1)."""
        if not (clip[0] <= x < clip[2] and clip[1] <= y < clip[3]):
            return
        at = 3 * (y * self.width + x)
        for channel in range(3):
            old = self.rgb[at + channel]
            self.rgb[at + channel] = int(round(old + alpha * (color[channel] - old)))

    def rectangle(self, x, y, width, height, color):
        for row in range(y, y + height):
            at = 3 * (row * self.width + x)
            self.rgb[at:at + 3 * width] = bytes(color) * width


def _pairs(points):
    try:
        values, count, _ = float_input(points, "points")
    except TypeError:
        return [(float(x), float(y)) for x, y in points]
    flat = memoryview(values).cast("B").cast("f")
    return zip(flat[0:count:2], flat[1:count:2])


def scatter_png(path, point_sets, size=320, extent=None, colors=PALETTE):
    """Draws each point set into its own panel (size×size pixels, showing
    [−extent, extent]²) and writes the PNG to `path`. Without `extent`, the
    panels fit the first set (e.g. the data), rounded up to a whole number.
    Returns the number of points drawn per panel."""
    point_sets = [list(_pairs(points)) for points in point_sets]
    if extent is None:
        extent = _fitting_extent(point_sets[0] if point_sets else [])
    if not 1 <= len(point_sets) <= 8 or not 32 <= size <= 4096 or not extent > 0:
        raise ValueError("need 1..8 point sets, size 32..4096 and extent > 0")
    canvas = _Canvas(_MARGIN + len(point_sets) * (size + _MARGIN), size + 2 * _MARGIN)
    drawn = []
    for index, points in enumerate(point_sets):
        left = _MARGIN + index * (size + _MARGIN)
        _background(canvas, left, _MARGIN, size, extent)
        drawn.append(_dots(canvas, left, _MARGIN, size, extent, points,
                           colors[index % len(colors)]))
    write_png(path, canvas.width, canvas.height, canvas.rgb)
    return drawn


def _fitting_extent(pairs):
    finite = [abs(v) for pair in pairs for v in pair if math.isfinite(v)]
    return float(max(1, math.ceil(max(finite, default=1.0))))


def _to_pixel(value, size, extent):
    # −extent → 0, +extent → size − 1
    return int(round((value + extent) / (2.0 * extent) * (size - 1)))


def _background(canvas, left, top, size, extent):
    step = 1.0
    while extent / step > 10:  # at most 10 grid lines per half axis
        step *= 2.0
    value = -math.floor(extent / step) * step
    while value <= extent:
        color = _AXIS if value == 0 else _GRID
        offset = _to_pixel(value, size, extent)
        canvas.rectangle(left + offset, top, 1, size, color)
        canvas.rectangle(left, top + size - 1 - offset, size, 1, color)
        value += step
    for x, y, width, height in ((left, top, size, 1), (left, top + size - 1, size, 1),
                                (left, top, 1, size), (left + size - 1, top, 1, size)):
        canvas.rectangle(x, y, width, height, _FRAME)


def _dots(canvas, left, top, size, extent, pairs, color):
    clip = (left, top, left + size, top + size)
    drawn = 0
    for x, y in pairs:
        if not (abs(x) <= extent and abs(y) <= extent):  # also drops NaN
            continue
        px = left + _to_pixel(x, size, extent)
        py = top + size - 1 - _to_pixel(y, size, extent)
        for k in range(9):
            canvas.blend(px + k % 3 - 1, py + k // 3 - 1, color, _DOT_ALPHA, clip)
        drawn += 1
    return drawn


_GRID_BACKGROUND = 128
_MAX_SIDE = 65535  # image_grid.c's bounds on a side, the columns and the padding
_MAX_RAW_BYTES = 1 << 30  # png_writer.h's PNG_WRITER_MAX_RAW_BYTES


def image_grid_png(path, images, columns=8, padding=2, image_shape=None):
    """Writes n images as a grid PNG, `columns` to a row (the last row may be
    short). images: float32 of shape (n, C, H, W) (numpy or any buffer), or
    flat/other shapes with image_shape=(C, H, W). Returns (width, height)
    of the PNG."""
    values, count, shape = float_input(images, "images")
    channels, height, width = _image_shape(shape, image_shape)
    size = channels * height * width
    if count == 0 or count % size != 0:
        raise ValueError("images hold %d values, not a positive multiple of %d·%d·%d"
                         % (count, channels, height, width))
    if not (1 <= columns <= _MAX_SIDE and 0 <= padding <= _MAX_SIDE):
        raise ValueError("need 1 <= columns <= %d and 0 <= padding <= %d"
                         % (_MAX_SIDE, _MAX_SIDE))
    n = count // size
    rows = (n + columns - 1) // columns
    grid_width = columns * (width + padding) + padding
    grid_height = rows * (height + padding) + padding
    if grid_height * (1 + grid_width * channels) > _MAX_RAW_BYTES:
        raise ValueError("a grid of %d×%d pixels is too large" % (grid_width, grid_height))
    pixels = _image_bytes(values, count)
    grid = bytearray([_GRID_BACKGROUND]) * (grid_width * grid_height * channels)
    for i in range(n):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        image = pixels[i * size:(i + 1) * size]
        for y in range(height):
            # the planes of row y interleaved: pixel x's C bytes side by side
            row = bytearray(width * channels)
            for c in range(channels):
                start = (c * height + y) * width
                row[c::channels] = image[start:start + width]
            at = ((top + y) * grid_width + left) * channels
            grid[at:at + width * channels] = row
    _png.write_png(path, grid_width, grid_height, grid, channels)
    return grid_width, grid_height


def _image_shape(shape, image_shape):
    shape = tuple(image_shape) if image_shape is not None else tuple(shape or ())[1:]
    if len(shape) != 3 or shape[0] not in (1, 3) or not all(0 < s <= _MAX_SIDE
                                                            for s in shape[1:]):
        raise ValueError("images must have shape (n, C, H, W) with C = 1 or 3 (or give "
                         "image_shape=(C, H, W)); got image shape %r" % (shape,))
    return shape


def _image_bytes(values, count):
    """The bytes ⌊(clip(x, −1, 1) + 1)·127.5 + 0.5⌋ in float32 arithmetic, as
    image_grid.c's to_byte computes them."""
    if numpy is not None:
        x = numpy.ctypeslib.as_array(values, (count,)).astype(numpy.float32)
        x = (numpy.clip(x, numpy.float32(-1), numpy.float32(1)) + numpy.float32(1)) \
            * numpy.float32(127.5) + numpy.float32(0.5)
        return x.astype(numpy.uint8).tobytes()
    # float32 rounding of each double result: exact for one + or × of floats
    rounded = array.array("f", [min(1.0, max(-1.0, v)) + 1.0 for v in values])
    rounded = array.array("f", [v * 127.5 for v in rounded])
    return bytes(int(v) for v in array.array("f", [v + 0.5 for v in rounded]))
