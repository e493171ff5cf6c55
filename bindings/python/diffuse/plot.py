"""Scatter plots of 2-D point sets as PNG files, with the standard library
only (zlib + struct); the same layout as the C demo's plots.

    diffuse.plot.scatter_png("toy2d.png", [data, samples])

draws each point set (n×2 float32 buffer, or a list of (x, y) pairs) into its
own square panel, side by side, showing [−extent, extent]² with y up: white
background, light grid lines at integer coordinates, darker axes through 0,
a grey frame, points as 3×3 translucent dots (dense regions look darker).
Points outside the square or not finite are skipped.
"""

import math
import os
import struct
import zlib

from ._buffers import float_input

BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)
GREEN = (44, 160, 44)
RED = (214, 39, 40)
PALETTE = (BLUE, ORANGE, GREEN, RED)

_MARGIN = 10
_DOT_ALPHA = 0.55
_GRID, _AXIS, _FRAME = (232, 232, 232), (195, 195, 195), (150, 150, 150)


def png_bytes(width, height, rgb):
    """An 8-bit RGB PNG of width×height pixels (rgb: 3 bytes a pixel, rows
    top to bottom) as bytes."""
    if width <= 0 or height <= 0 or len(rgb) != 3 * width * height:
        raise ValueError("rgb must hold 3·%d·%d bytes; got %d" % (width, height, len(rgb)))
    stride = 3 * width
    scanlines = b"".join(b"\0" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(scanlines, 9)) + chunk(b"IEND", b""))


def write_png(path, width, height, rgb):
    """Writes png_bytes() to `path` through a temporary file renamed over it,
    so a reader never sees half an image."""
    temporary = "%s.tmp%d" % (path, os.getpid())
    try:
        with open(temporary, "wb") as stream:
            stream.write(png_bytes(width, height, rgb))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


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
