"""toy2d data sets, metrics, and the standard-library PNG scatter plot."""

import os
import struct
import tempfile
import unittest
import zlib

from helpers import diffuse, values


class Toy2DTest(unittest.TestCase):
    def test_names_round_trip(self):
        for kind in diffuse.Toy2D:
            name = diffuse.toy2d.name(kind)
            self.assertEqual(diffuse.toy2d.from_name(name), kind)
        self.assertEqual(diffuse.toy2d.NAMES,
                         tuple(diffuse.toy2d.name(kind) for kind in diffuse.Toy2D))
        self.assertIsNone(diffuse.toy2d.name(99))
        with self.assertRaises(diffuse.InvalidArgumentError) as caught:
            diffuse.toy2d.from_name("spiral")
        self.assertIn("swiss_roll", caught.exception.message)

    def test_points_depend_only_on_their_index(self):
        whole = values(diffuse.toy2d.sample("checkerboard", 16, seed=3))
        parts = (values(diffuse.toy2d.sample(diffuse.Toy2D.CHECKERBOARD, 7, seed=3))
                 + values(diffuse.toy2d.sample("checkerboard", 9, seed=3, first_index=7)))
        self.assertEqual(parts, whole)
        self.assertTrue(all(-2.0 <= v <= 2.0 for v in whole))

    def test_stream_hands_out_consecutive_points(self):
        stream = diffuse.toy2d.Stream("two_moons", seed=4)
        got = values(stream(5)) + values(stream(3))
        self.assertEqual(got, values(diffuse.toy2d.sample("two_moons", 8, seed=4)))
        self.assertEqual(stream.position, 8)

    def test_errors(self):
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.toy2d.sample("two_moons", 0)
        with self.assertRaises(diffuse.OutOfRangeError):
            diffuse.toy2d.sample("two_moons", 2, first_index=2 ** 64 - 1)


class MetricsTest(unittest.TestCase):
    def test_energy_distance(self):
        a = diffuse.toy2d.sample("8gaussians", 300, seed=1)
        b = diffuse.toy2d.sample("8gaussians", 300, seed=2)
        c = diffuse.toy2d.sample("swiss_roll", 300, seed=2)
        same = diffuse.metrics.energy_distance(a, b, dim=2)
        different = diffuse.metrics.energy_distance(a, c, dim=2)
        self.assertLess(abs(same), 0.05)
        self.assertGreater(different, 10 * abs(same))
        with self.assertRaisesRegex(ValueError, "give dim"):
            diffuse.metrics.energy_distance(values(a), values(b))
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.metrics.energy_distance([1.0, 2.0], [1.0, 2.0], dim=2)  # one row each

    def test_sample_moments(self):
        mean, cov = diffuse.metrics.sample_moments([[1.0, 2.0], [3.0, 6.0]])
        self.assertEqual(values(mean), [2.0, 4.0])
        self.assertEqual(values(cov), [2.0, 4.0, 4.0, 8.0])
        mean, cov = diffuse.metrics.sample_moments([1.0, 3.0], dim=1, covariance=False)
        self.assertEqual((values(mean), cov), ([2.0], None))
        with self.assertRaises(diffuse.NumericError):
            diffuse.metrics.sample_moments([[float("inf"), 0.0], [0.0, 0.0]])


def read_png(path):
    """(width, height, rows of RGB bytes), checking signature, CRCs and zlib."""
    with open(path, "rb") as stream:
        data = stream.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, = struct.unpack(">I", data[position:position + 4])
        tag = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        crc, = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.setdefault(tag, b"")
        chunks[tag] += body
        position += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    rows = [raw[y * stride + 1:(y + 1) * stride] for y in range(height)]
    assert all(raw[y * stride] == 0 for y in range(height))
    return width, height, rows


class PlotTest(unittest.TestCase):
    def test_png_of_two_panels(self):
        points = [(0.0, 0.0), (1.0, 1.0), (9.0, 0.0), (float("nan"), 0.0)]
        data = diffuse.toy2d.sample("two_moons", 50)
        inside = sum(1 for x, y in zip(values(data)[0::2], values(data)[1::2])
                     if abs(x) <= 3 and abs(y) <= 3)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "plot.png")
            drawn = diffuse.plot.scatter_png(path, [points, data], size=64, extent=3.0)
            width, height, rows = read_png(path)
            self.assertEqual(os.listdir(directory), ["plot.png"])
        self.assertEqual(drawn, [2, inside])
        self.assertEqual((width, height), (10 + 2 * (64 + 10), 64 + 20))
        centre = 10 + 32 - 1 + 1  # pixel of x = 0: round(3/6 * 63) = 32
        pixel = rows[10 + 63 - 32][3 * centre:3 * centre + 3]
        self.assertNotEqual(bytes(pixel), b"\xff\xff\xff")  # a dot at the origin
        self.assertEqual(bytes(rows[0][:3]), b"\xff\xff\xff")  # white margin

    def test_extent_fits_the_first_set(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "plot.png")
            drawn = diffuse.plot.scatter_png(path, [[(4.5, -1.0), (0.0, 0.0)], [(6.0, 0.0)]],
                                             size=32)
        self.assertEqual(drawn, [2, 0])  # extent 5: the second set's point is outside

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            diffuse.plot.scatter_png("x.png", [])
        with self.assertRaises(ValueError):
            diffuse.plot.png_bytes(2, 2, b"\0" * 11)


if __name__ == "__main__":
    unittest.main()
