"""Data sources for Trainer.data: an in-memory data set shuffled per epoch,
and the rules for iterables.

    trainer.data = points                              # Dataset(points): shuffled, seed 0
    trainer.data = diffuse.Dataset(points, seed=7)     # another order
    trainer.data = diffuse.Dataset(points, shuffle=False)   # rows in order

An epoch is one pass over the rows; each epoch's order is a permutation drawn
from (seed, epoch) by Python's random module (the same with and without
numpy), so a run is reproducible and every epoch differs.
"""

import array
import collections.abc
import random

from ._buffers import float_input, int32_input, numpy, row_count, shape_size
from ._errors import InvalidArgumentError, StateError, Status


class Dataset:
    """The rows of one float32 array (any buffer or list of rows), served as
    a trainer's data source in batches of at most batch_size rows; an epoch
    ends after its last row (a last, shorter batch included).

    shuffle (default True): a new order of the rows every epoch, drawn from
    (seed, epoch); False serves them in their order. The rows are copied
    when the source is read-only or strided, else read in place (changing
    the array changes the data).

    labels (a model with classes): one integer per row (any int buffer,
    numpy array or sequence), served with its row as (x, labels) batches."""

    def __init__(self, x, shuffle=True, seed=0, labels=None):
        self._values, self._count, self._shape = float_input(x, "data")
        if self._count == 0:
            raise InvalidArgumentError("data holds no values: a data set needs at least one "
                                       "row", Status.INVALID_ARGUMENT)
        self._labels = labels
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.epoch = 0  # epochs completed since the trainer started reading

    def _reader(self, sample_shape):
        """The batch function a trainer calls, for rows of `sample_shape`."""
        rows = row_count(self._shape, self._count, "data", sample_shape)
        labels = None
        if self._labels is not None:  # one per row: wrong length or non-integers raise here
            values, _ = int32_input(self._labels, "labels", rows)
            labels = memoryview(values).cast("B").cast("i")
        return _ShuffledRows(self, rows, shape_size(sample_shape), labels)


def _order(rows, shuffle, seed, epoch):
    order = list(range(rows))
    if shuffle:
        # A str seed is hashed by SHA-512: the same order in every process.
        random.Random("diffuse.Dataset:%d:%d" % (seed, epoch)).shuffle(order)
    return order


class _ShuffledRows:
    """Consecutive batches of a Dataset's rows in each epoch's order."""

    def __init__(self, dataset, rows, dim, labels):
        self._dataset = dataset
        self._labels = labels
        self._rows, self._dim = rows, dim
        raw = memoryview(dataset._values).cast("B")  # keeps the values alive
        self._matrix = (numpy.frombuffer(raw, dtype=numpy.float32).reshape(rows, dim)
                        if numpy is not None else raw)
        self._start_epoch()

    def _start_epoch(self):
        self._order = _order(self._rows, self._dataset.shuffle, self._dataset.seed,
                             self._dataset.epoch)
        self._cursor = 0

    def __call__(self, capacity):
        if self._cursor == self._rows:
            self._dataset.epoch += 1
            self._start_epoch()
            return None
        chosen = self._order[self._cursor:self._cursor + capacity]
        self._cursor += len(chosen)
        if self._labels is None:
            return self._gather(chosen)
        return self._gather(chosen), array.array("i", (self._labels[row] for row in chosen))

    def _gather(self, chosen):
        if numpy is not None:
            return self._matrix[chosen]
        size = 4 * self._dim
        batch = array.array("f")
        for row in chosen:
            batch.frombytes(self._matrix[row * size:(row + 1) * size])
        return batch


class IterableReader:
    """next() of an iterable of batches; its end is the end of an epoch.

    A re-iterable (a list, or an object whose iter() starts again) is
    repeated: each epoch iterates it afresh. An iterator (a generator, whose
    iter() is itself) can be read once: its batches are served until it is
    exhausted, and the next epoch then fails with StateError (pass a list,
    a re-iterable, or a callable to train longer). An infinite generator
    never ends. An iterable that yields no batch at all is an
    InvalidArgumentError."""

    def __init__(self, source):
        self._source = source
        self._one_shot = isinstance(source, collections.abc.Iterator)
        self._iterator = None
        self._epochs = 0

    def __call__(self, capacity):
        fresh = self._iterator is None
        if fresh:
            if self._one_shot and self._epochs:
                raise StateError(
                    "the data iterator (%s) is exhausted after its one epoch: an iterator or "
                    "generator can be read only once; pass a list, a re-iterable or a callable "
                    "to train for more epochs" % type(self._source).__name__, Status.STATE)
            self._iterator = iter(self._source)
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = None
            if fresh:
                raise InvalidArgumentError(
                    "the data iterable (%s) yielded no batch" % type(self._source).__name__,
                    Status.INVALID_ARGUMENT) from None
            self._epochs += 1
            return None
