"""diffuse.plot.image_grid_png: the layout, the byte of a value, both PNG
encoders (libpng and the zlib fallback) and the argument checks."""

import array
import os
import struct
import tempfile
import unittest
import zlib

from helpers import diffuse, numpy


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def decode_png(path):
    """(width, height, channels, rows of bytes) of an 8-bit gray or RGB PNG,
    every filter type undone (PNG 1.2, section 6), CRCs checked."""
    with open(path, "rb") as stream:
        data = stream.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, = struct.unpack(">I", data[position:position + 4])
        tag, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        crc, = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks[tag] = chunks.get(tag, b"") + body
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and color in (0, 2) and interlace == 0 and b"IEND" in chunks
    channels = 3 if color == 2 else 1
    raw, stride = zlib.decompress(chunks[b"IDAT"]), channels * width
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def floats(values):
    if numpy is not None:
        return numpy.array(values, dtype=numpy.float32)
    return array.array("f", values)


class ImageGridTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.path = os.path.join(self.directory, "grid.png")

    def tearDown(self):
        for name in os.listdir(self.directory):
            os.remove(os.path.join(self.directory, name))
        os.rmdir(self.directory)

    def grid(self, values, **options):
        return diffuse.plot.image_grid_png(self.path, floats(values), **options)

    def test_layout_and_bytes_of_gray_images(self):
        # three 1×2×2 images, two to a row, 1 pixel of padding: 7×7 pixels;
        # bytes ⌊(clip(x) + 1)·127.5 + 0.5⌋: −1 → 0, 1 → 255, 0 → 128,
        # 0.5 → 191, −0.999 → 0 (from 0.6275), beyond ±1 clipped
        images = [-1, 1, 0, 0.5,   2, -2, -0.999, 1,   0, 0, 0, 0]
        size = self.grid(images, columns=2, padding=1, image_shape=(1, 2, 2))
        width, height, channels, rows = decode_png(self.path)
        self.assertEqual((size, width, height, channels), ((7, 7), 7, 7, 1))
        self.assertEqual(rows[0], bytes([128] * 7))
        self.assertEqual(rows[1], bytes([128, 0, 255, 128, 255, 0, 128]))
        self.assertEqual(rows[2], bytes([128, 128, 191, 128, 0, 255, 128]))
        self.assertEqual(rows[4], bytes([128, 128, 128, 128, 128, 128, 128]))
        self.assertEqual(rows[6], bytes([128] * 7))
        self.assertEqual(os.listdir(self.directory), ["grid.png"])  # no temporary left

    def test_rgb_planes_are_interleaved(self):
        # one 3×1×2 image: planes R = (1, −1), G = (−1, 1), B = (0, 0)
        self.grid([1, -1, -1, 1, 0, 0], columns=1, padding=0, image_shape=(3, 1, 2))
        self.assertEqual(decode_png(self.path)[3], [bytes([255, 0, 128, 0, 255, 128])])

    @unittest.skipIf(numpy is None, "the (n, C, H, W) shape of a numpy array")
    def test_shape_of_a_numpy_array(self):
        images = numpy.zeros((5, 1, 3, 4), dtype=numpy.float32)
        self.assertEqual(diffuse.plot.image_grid_png(self.path, images, columns=2),
                         (2 * 6 + 2, 3 * 5 + 2))

    def test_both_encoders_give_the_same_pixels(self):
        values = [((k * 37) % 200) / 100.0 - 1.0 for k in range(2 * 3 * 5 * 4)]
        self.grid(values, columns=2, image_shape=(3, 5, 4))
        with_libpng = decode_png(self.path)
        saved = diffuse._png.HAVE_LIBPNG
        diffuse._png.HAVE_LIBPNG = False
        try:
            self.grid(values, columns=2, image_shape=(3, 5, 4))
        finally:
            diffuse._png.HAVE_LIBPNG = saved
        self.assertEqual(decode_png(self.path), with_libpng)

    def test_bad_arguments(self):
        for values, options in (([0.0] * 8, dict(image_shape=(2, 2, 2))),  # 2 channels
                                ([0.0] * 7, dict(image_shape=(1, 2, 2))),  # not whole images
                                ([], dict(image_shape=(1, 2, 2))),
                                ([0.0] * 4, dict(image_shape=(1, 2, 2), columns=0)),
                                ([0.0] * 4, dict(image_shape=(1, 2, 2), padding=-1)),
                                ([0.0] * 4, {})):  # a flat buffer without image_shape
            with self.assertRaises(ValueError, msg=repr(options)):
                self.grid(values, **options)
        self.assertEqual(os.listdir(self.directory), [])
        with self.assertRaises(ValueError):
            diffuse.plot.png_bytes(2, 2, b"\0" * 4, channels=2)


if __name__ == "__main__":
    unittest.main()
