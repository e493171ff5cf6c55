"""The built-in 2-D toy data sets (diffuse/toy2d.h)."""

import ctypes

from ._buffers import float_output, int32_result_from_pointer
from ._capi import C
from ._handle import enum_member
from .enums import Toy2D

NAMES = ("swiss_roll", "two_moons", "8gaussians", "checkerboard")


def from_name(name):
    """The Toy2D member called `name` ("swiss_roll", "two_moons", "8gaussians",
    "checkerboard"); InvalidArgumentError listing them otherwise."""
    kind = ctypes.c_int()
    C.diffuse_toy2d_from_name(name.encode(), ctypes.byref(kind))
    return enum_member(Toy2D, kind.value)


def _kind(kind):
    return from_name(kind) if isinstance(kind, str) else int(kind)


def name(kind):
    """The library's name of a data set (None for an unknown value)."""
    return C.diffuse_toy2d_name(_kind(kind))


def sample(kind, n, seed=0, first_index=0, out=None, labels=False):
    """Points first_index .. first_index+n-1 of data set `kind` (a Toy2D
    member or name) for `seed`: an (n, 2) float32 array (flat array('f')
    without numpy), or written into `out`. Point i depends only on (kind,
    seed, first_index + i). With labels=True, (points, classes): each point's
    class as int32 (the mode of 8gaussians, the moon, the square; see
    classes())."""
    result, pointer = float_output(out, "out", 2 * n, (n, 2))
    if not labels:
        C.diffuse_toy2d_sample(_kind(kind), seed, first_index, n, pointer)
        return result
    classes = (ctypes.c_int32 * n)()
    C.diffuse_toy2d_sample_labeled(_kind(kind), seed, first_index, n, pointer, classes)
    return result, int32_result_from_pointer(classes, n)


def classes(kind):
    """How many classes sample(..., labels=True) gives for `kind` (8, 2, 8, 1)."""
    count = ctypes.c_size_t()
    C.diffuse_toy2d_classes(_kind(kind), ctypes.byref(count))
    return count.value


class Stream:
    """A data source for Trainer.data: consecutive points of a data set, so a
    run is reproducible from the seed alone (what the C demo does).

        trainer.data = diffuse.toy2d.Stream("swiss_roll", seed=1)

    With labels=True it hands out (points, classes) batches, for a model with
    classes (class-conditional training).
    """

    def __init__(self, kind="swiss_roll", seed=0, first_index=0, labels=False):
        self.kind = _kind(kind)
        self.seed = seed
        self.position = first_index  # index of the next point handed out
        self.labels = labels

    def __call__(self, capacity):
        batch = sample(self.kind, capacity, self.seed, self.position, labels=self.labels)
        self.position += capacity
        return batch
