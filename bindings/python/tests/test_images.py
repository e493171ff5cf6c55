"""Images: IDX files written here, their pixels and labels, the C data source."""

import gzip
import os
import shutil
import struct
import tempfile
import unittest

from helpers import diffuse, numpy, values


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


class ImagesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.images = os.path.join(self.dir, "images.gz")
        self.labels = os.path.join(self.dir, "labels")
        with gzip.open(self.images, "wb") as f:
            f.write(idx([5, 2, 3], [k * 9 % 256 for k in range(30)]))
        with open(self.labels, "wb") as f:
            f.write(idx([5], [4, 3, 2, 1, 0]))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_pixels_are_scaled_and_labels_kept(self):
        with diffuse.Images.load_idx(self.images, self.labels) as im:
            self.assertEqual(len(im), 5)
            self.assertEqual(im.shape, (5, 1, 2, 3))
            self.assertEqual(im.dim, 6)
            pixels, labels = im.get(1, 2)
            self.assertEqual(list(values(labels)), [3, 2])
            expected = [(k * 9 % 256) / 127.5 - 1.0 for k in range(6, 18)]
            for got, want in zip(values(pixels), expected):
                self.assertAlmostEqual(got, want, places=6)
            if numpy is not None:
                self.assertEqual(pixels.shape, (2, 1, 2, 3))

    def test_errors_name_the_file(self):
        with self.assertRaisesRegex(diffuse.DiffuseIOError, "missing"):
            diffuse.Images.load_idx(os.path.join(self.dir, "missing"))
        with self.assertRaisesRegex(diffuse.MismatchError, "holds 5 labels for 1 images"):
            one = os.path.join(self.dir, "one")
            with open(one, "wb") as f:
                f.write(idx([1, 2, 3], range(6)))
            diffuse.Images.load_idx(one, self.labels)
        with diffuse.Images.load_idx(self.images) as im:
            self.assertFalse(im.has_labels)
            pixels, labels = im.get()
            self.assertIsNone(labels)
            with self.assertRaises(diffuse.OutOfRangeError):
                im.get(4, 2)

    def test_trainer_takes_the_set_as_its_data_source(self):
        with diffuse.Images.load_idx(self.images, self.labels) as im, \
                diffuse.Model(im.dim) as model, diffuse.Schedule("cosine", 50) as schedule:
            im.shuffle(True, seed=3)
            trainer = diffuse.Trainer(model, schedule, data=im, batch_size=2)
            first = trainer.step()
            last = trainer.train(100)
            self.assertLess(last, first)
            # Batches of 2, 2 and 1 per epoch: 101 steps are 33 epochs and 2 steps.
            self.assertEqual(im.position, 33 * 5 + 4)
            trainer.close()


if __name__ == "__main__":
    unittest.main()
