"""Trainer: Algorithm 1 of Ho et al. 2020 with a Python data source
(diffuse/train.h), and training checkpoints (diffuse/checkpoint.h)."""

import ctypes

from ._buffers import float_input
from ._capi import C
from ._declarations import DATA_FN, TRAIN_PROGRESS_FN
from ._errors import CancelledError
from ._handle import (Handle, Options, call_with_callbacks, option_property, path_argument,
                      write_message)
from ._options import option_table
from . import images
from .images import Images
from .model import Model
from .enums import Decoder
from .optim import Optimizer
from .schedule import Schedule


class _DataFeeder:
    """The C data callback over a Python data source (see Trainer.data).

    It never lets an exception reach C: it stores it in the trainer's
    `errors`, writes its text into the library's message buffer and returns -1
    (failure), so the training call fails and the wrapper re-raises the
    original exception. So does a trainer closed during the call."""

    def __init__(self, source, dim, resource):
        self.dim = dim
        self.resource = resource
        self._next_batch = self._reader(source)

    def __call__(self, user, x, labels, capacity, dim, message, message_size):
        try:
            rows = self._fill(x, capacity)
            self.resource.check_open("Trainer")
            return rows
        except BaseException as error:  # KeyboardInterrupt too: stop training cleanly
            self.resource.errors.store(error)
            write_message(message, message_size, error)
            return -1

    def _fill(self, x, capacity):
        batch = self._next_batch(capacity)
        if batch is None:
            return 0
        values, count, _ = float_input(batch, "data batch")
        if count % self.dim:
            raise ValueError("data batch holds %d values, not a whole number of rows of dim %d"
                             % (count, self.dim))
        rows = count // self.dim
        if rows > capacity:
            raise ValueError("data batch has %d rows, more than the %d asked for (batch_size)"
                             % (rows, capacity))
        ctypes.memmove(x, values, 4 * count)
        return rows  # 0 rows (an empty batch) is the end of an epoch

    def _reader(self, source):
        if callable(source):
            return source
        try:
            memoryview(source)
        except TypeError:
            return _IterableReader(source)
        return _DatasetReader(source, self.dim)


class _DatasetReader:
    """Consecutive batches of the rows of one float32 buffer; an epoch ends
    after its last row."""

    def __init__(self, source, dim):
        values, count, _ = float_input(source, "data")
        if count == 0 or count % dim:
            raise ValueError("data holds %d values, not a whole, non-zero number of rows of "
                             "dim %d" % (count, dim))
        self._flat = memoryview(values).cast("B").cast("f")  # keeps `values` alive
        self._dim = dim
        self._rows = count // dim
        self._cursor = 0

    def __call__(self, capacity):
        if self._cursor == self._rows:
            self._cursor = 0
            return None
        rows = min(capacity, self._rows - self._cursor)
        start = self._cursor * self._dim
        self._cursor += rows
        return self._flat[start:start + rows * self._dim]


class _IterableReader:
    """next() of an iterable of batches; its end is the end of an epoch, after
    which iteration starts again from iter(source)."""

    def __init__(self, source):
        self._source = source
        self._iterator = None

    def __call__(self, capacity):
        fresh = self._iterator is None
        if fresh:
            self._iterator = iter(self._source)
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = None
            if fresh:
                raise ValueError("the data iterable yielded no batch: an iterator or generator "
                                 "can be consumed only once; pass a re-iterable (a list) or a "
                                 "callable") from None
            return None


class _Progress:
    """The C progress callback over fn(step, loss, steps_per_second)."""

    def __init__(self, function, resource):
        self.function = function
        self.resource = resource
        self.stop_requested = False

    def __call__(self, user, step, loss, steps_per_second):
        try:
            self.stop_requested = bool(self.function(step, loss, steps_per_second))
            self.resource.check_open("Trainer")
            return int(self.stop_requested)
        except BaseException as error:
            self.resource.errors.store(error)
            return 1


class Trainer(Handle, Options):
    """Trains `model` on data from a Python source.

        trainer = diffuse.Trainer(model, schedule, optimizer, data=points, batch_size=256)
        loss = trainer.train(5000)

    The trainer borrows the model and the optimizer (created with default
    AdamW options when not given): it keeps them alive, and they stay usable
    (`trainer.model`, `trainer.optimizer`). Options: batch_size, seed,
    threads (default 1; the bits depend only on it, not on OpenBLAS's
    threading). See `data` for the data sources.

    Every loss it returns or reports is the batch's per-element mean
    L = 1/(n·dim) Σ w_i (target − prediction)², as torch's mse_loss: the
    per-row squared norm divided by dim (w_i = 1 unless min_snr_gamma is
    set); a model that learns its variance adds λ·T·L_vlb (see vlb_weight,
    diffuse/train.h)."""

    C_PREFIX = "diffuse_trainer"
    OPTIONS = option_table("diffuse_trainer", presented={"decoder": Decoder})

    def __init__(self, model, schedule, optimizer=None, data=None, **options):
        if optimizer is None:
            optimizer = Optimizer(model)
        pointer = ctypes.c_void_p()
        C.diffuse_trainer_create(ctypes.byref(pointer), model._h, schedule._h, optimizer._h)
        self._adopt_parts(pointer, model, schedule, optimizer)
        self._apply_options(options)
        if data is not None:
            self.data = data

    def _adopt_parts(self, pointer, model, schedule, optimizer):
        self._adopt(pointer, C.diffuse_trainer_free, borrowed=(model, optimizer))
        self.model, self.schedule, self.optimizer = model, schedule, optimizer
        self._dim = model.dim
        self._data = None

    batch_size = option_property("batch_size", "Rows per step.")
    seed = option_property("seed", "Seed of the t and ε draws.")
    threads = option_property("threads", "Worker threads per step (default 1; 0: OpenBLAS's "
                              "own threads, whose count then changes the bits).")
    min_snr_gamma = option_property(
        "min_snr_gamma", "γ of min-SNR-γ loss weighting (Hang et al. 2023), 0 = off: each row's "
        "squared error weighted by min(SNR, γ)/SNR (ε), min(SNR, γ) (x0) or "
        "min(SNR, γ)/(SNR + 1) (v).")
    vlb_weight = option_property(
        "vlb_weight", "λ of L_hybrid = L_simple + λ L_vlb for a model that learns its variance "
        "(default 0.001).")
    decoder = option_property(
        "decoder", "Decoder of L_vlb at t = 0 (a Decoder: 'discrete', data on the 256-level grid "
        "of [-1, 1], the default; or 'continuous').")

    @property
    def data(self):
        """The data source; set it to

        - a callable fn(capacity) returning a batch of at most `capacity` rows
          of dim float32 values (any buffer or list, see Schedule), or None /
          an empty batch at the end of an epoch;
        - a float32 buffer holding the whole data set (n×dim), served in
          consecutive batches, an epoch ending after its last row;
        - an iterable of batches (a list, or any object whose iter() starts
          again; a generator works for one epoch only);
        - a diffuse.Images set, served by the library's own data function
          (shuffled per epoch; no Python runs per batch).

        An exception raised by the source is re-raised from the training
        call with its original traceback. None clears the source."""
        return self._data

    @data.setter
    def data(self, source):
        if source is None:
            C.diffuse_trainer_set_data(self._h, DATA_FN(), None)
            self._keep("data", None)
        elif isinstance(source, Images):
            C.diffuse_trainer_set_data(self._h, images.DATA_FUNCTION, source._h)
            self._keep("data", source)
        else:
            feeder = _DataFeeder(source, self._dim, self._resource)
            c_function = DATA_FN(feeder)
            C.diffuse_trainer_set_data(self._h, c_function, None)
            self._keep("data", c_function, feeder)
        self._data = source

    def step(self):
        """One step on a batch from the data source; returns its loss."""
        loss = ctypes.c_double()
        call_with_callbacks((self._resource,), C.diffuse_trainer_step, self._h,
                            ctypes.byref(loss))
        return loss.value

    def step_batch(self, x0):
        """One step on the given batch (n×dim float32) without the data
        source; returns its loss."""
        values, count, _ = float_input(x0, "x0")
        if count % self._dim:
            raise ValueError("x0 holds %d values, not a whole number of rows of dim %d"
                             % (count, self._dim))
        loss = ctypes.c_double()
        C.diffuse_trainer_step_batch(self._h, count // self._dim, values, ctypes.byref(loss))
        return loss.value

    def train(self, steps, progress=None, interval=None):
        """Runs `steps` steps; returns the loss of the last one.

        progress(step, loss, steps_per_second) is called every `interval`
        steps (default: a tenth of the run) and after the last; a true return
        value stops training early (train then returns normally with the
        loss of the last step; the completed steps are kept)."""
        reporter = None
        if progress is not None:
            reporter = _Progress(progress, self._resource)
            c_function = TRAIN_PROGRESS_FN(reporter)
            C.diffuse_trainer_set_progress(self._h, c_function, None,
                                           interval or max(1, steps // 10))
            self._keep("progress", c_function, reporter)
        loss = ctypes.c_double()
        try:
            call_with_callbacks((self._resource,), C.diffuse_trainer_train, self._h, steps,
                                ctypes.byref(loss))
        except CancelledError:
            if reporter is None or not reporter.stop_requested:
                raise
        finally:
            if reporter is not None and not self.closed:
                C.diffuse_trainer_set_progress(self._h, TRAIN_PROGRESS_FN(), None, 1)
                self._keep("progress", None)
        return loss.value

    @property
    def step_count(self):
        """Steps completed so far (the optimizer's step count)."""
        steps = ctypes.c_uint64()
        C.diffuse_trainer_step_count(self._h, ctypes.byref(steps))
        return steps.value

    def save(self, path):
        """Saves model, schedule, optimizer state and trainer options, so that
        Trainer.load() resumes bit-exactly (the data source is not saved)."""
        C.diffuse_trainer_save(self._h, path_argument(path))

    @classmethod
    def load(cls, path):
        """A Trainer restored from save(), with its .model, .schedule and
        .optimizer. Set its data source again before training."""
        pointers = [ctypes.c_void_p() for _ in range(4)]
        C.diffuse_trainer_load(path_argument(path), *[ctypes.byref(p) for p in pointers])
        model, schedule, optimizer = (Model._wrap(pointers[0]), Schedule._wrap(pointers[1]),
                                      Optimizer._wrap(pointers[2]))
        trainer = cls.__new__(cls)
        trainer._adopt_parts(pointers[3], model, schedule, optimizer)
        return trainer

    def _describe(self):
        return "steps=%d batch_size=%d" % (self.step_count, self.batch_size)
