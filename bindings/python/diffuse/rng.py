"""Rng: the counter-based Philox4x32-10 generator (diffuse/rng.h)."""

import ctypes

from ._buffers import float_output
from ._capi import C
from ._handle import Handle


class Rng(Handle):
    """A position in the reproducible stream (seed, stream) of random values.

        with diffuse.Rng(seed=1) as rng:
            noise = rng.normal(1000)

    Drawing 7 then 9 values gives the same 16 values as drawing 16 at once;
    uniform and normal draws share one position."""

    def __init__(self, seed=0, stream=0):
        pointer = ctypes.c_void_p()
        C.diffuse_rng_create(ctypes.byref(pointer), seed, stream)
        self._adopt(pointer, C.diffuse_rng_free)

    def uniform(self, n=None, out=None):
        """n values uniform on (0, 1) (or fill the float32 buffer `out`)."""
        return self._draw(C.diffuse_rng_uniform, n, out)

    def normal(self, n=None, out=None):
        """n standard normal values (or fill the float32 buffer `out`)."""
        return self._draw(C.diffuse_rng_normal, n, out)

    def _draw(self, function, n, out):
        if n is None:
            if out is None:
                raise TypeError("give the number of values n, or an out buffer")
            n = memoryview(out).nbytes // 4
        result, pointer = float_output(out, "out", n, (n,))
        function(self._h, pointer, n)
        return result

    def state(self):
        """(seed, stream, position): the whole state of the generator."""
        seed, stream, position = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        C.diffuse_rng_get_state(self._h, ctypes.byref(seed), ctypes.byref(stream),
                                ctypes.byref(position))
        return seed.value, stream.value, position.value

    @property
    def seed(self):
        return self.state()[0]

    @property
    def stream(self):
        return self.state()[1]

    @property
    def position(self):
        """Index of the next value drawn; settable (jumping costs nothing)."""
        return self.state()[2]

    @position.setter
    def position(self, value):
        C.diffuse_rng_set_position(self._h, value)

    def _describe(self):
        return "seed=%d stream=%d position=%d" % self.state()
