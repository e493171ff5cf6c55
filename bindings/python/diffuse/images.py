"""Image data sets: MNIST / Fashion-MNIST IDX files (diffuse/images.h).

    train = diffuse.Images.load_idx(
        "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
        "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")
    pixels, labels = train.get(0, 16)        # (16, 1, 28, 28) in [-1, 1], (16,)
    trainer.data = train                     # served by the C data source

Pixels are scaled to [-1, 1] (p/127.5 - 1). As a trainer's data source the
set is served in an order shuffled per epoch (seeded; `shuffle(False)` for
file order), through the library's own C function: no Python runs per batch.
"""

import array
import ctypes

from ._buffers import float_output, numpy
from ._capi import C, library
from ._declarations import DATA_FN
from ._handle import Handle

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

# The library's data function, as a callback pointer the trainer can take.
DATA_FUNCTION = DATA_FN(("diffuse_images_data", library))


def _path(path):
    return None if path is None else str(path).encode()


class Images(Handle):
    """A set of images (and optionally labels) held by the library."""

    def __init__(self, pointer):
        self._adopt(pointer, C.diffuse_images_free)

    @classmethod
    def load_idx(cls, images_path, labels_path=None):
        """Loads an IDX image file (raw or gzip) and optionally its label file."""
        pointer = ctypes.c_void_p()
        C.diffuse_images_load_idx(ctypes.byref(pointer), _path(images_path), _path(labels_path))
        return cls(pointer)

    @classmethod
    def fashion_mnist(cls, split="train"):
        """Debian's Fashion-MNIST (package dataset-fashion-mnist): "train"
        (60,000 images) or "test" (10,000), with labels."""
        prefix = {"train": "train", "test": "t10k"}[split]
        return cls.load_idx("%s/%s-images-idx3-ubyte.gz" % (FASHION_MNIST, prefix),
                            "%s/%s-labels-idx1-ubyte.gz" % (FASHION_MNIST, prefix))

    def _shape(self):
        count, channels, height, width = (ctypes.c_size_t() for _ in range(4))
        has_labels = ctypes.c_int()
        C.diffuse_images_shape(self._h, ctypes.byref(count), ctypes.byref(channels),
                               ctypes.byref(height), ctypes.byref(width),
                               ctypes.byref(has_labels))
        return count.value, channels.value, height.value, width.value, bool(has_labels.value)

    def __len__(self):
        return self._shape()[0]

    @property
    def shape(self):
        """(count, channels, height, width)."""
        return self._shape()[:4]

    @property
    def dim(self):
        """channels · height · width: the model dimension that trains on it."""
        _, channels, height, width, _ = self._shape()
        return channels * height * width

    @property
    def has_labels(self):
        return self._shape()[4]

    def get(self, first=0, n=None):
        """(pixels, labels) of images first .. first+n-1 in file order:
        pixels of shape (n, C, H, W) float32 in [-1, 1] (flat array('f')
        without numpy), labels int32 (None when no labels were loaded)."""
        count, channels, height, width, has_labels = self._shape()
        n = count - first if n is None else n
        size = channels * height * width
        pixels, pointer = float_output(None, "pixels", n * size, (n, channels, height, width))
        labels, label_pointer = None, None
        if has_labels:
            labels = (numpy.empty(n, dtype=numpy.int32) if numpy is not None
                      else array.array("i", bytes(4 * n)))
            label_pointer = (ctypes.c_int32 * n).from_buffer(memoryview(labels))
        C.diffuse_images_get(self._h, first, n, pointer, label_pointer)
        return pixels, labels

    def shuffle(self, enabled=True, seed=0):
        """Per-epoch shuffling of the data source on (seeded) or off."""
        C.diffuse_images_set_shuffle(self._h, int(bool(enabled)), seed)

    @property
    def position(self):
        """Rows the data source has served; settable, to resume a run."""
        position = ctypes.c_uint64()
        C.diffuse_images_position(self._h, ctypes.byref(position))
        return position.value

    @position.setter
    def position(self, value):
        C.diffuse_images_seek(self._h, value)
