"""Trainer: Algorithm 1 of Ho et al. 2020 with a Python data source
(diffuse/train.h), and training checkpoints (diffuse/checkpoint.h)."""

import ctypes

from ._buffers import float_rows, int32_input, shape_size
from ._capi import C
from ._declarations import DATA_FN, TRAIN_PROGRESS_FN
from ._errors import CancelledError, MismatchError, Status
from ._handle import (Handle, Options, call_with_callbacks, option_property, path_argument,
                      write_message)
from ._options import option_table
from . import images
from .images import Images
from .data import Dataset, IterableReader
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

    def __init__(self, source, sample_shape, resource):
        self.sample_shape = sample_shape
        self.resource = resource
        self._next_batch = self._reader(source)

    def __call__(self, user, x, labels, capacity, dim, message, message_size):
        try:
            rows = self._fill(x, labels, capacity)
            self.resource.check_open("Trainer")
            return rows
        except BaseException as error:  # KeyboardInterrupt too: stop training cleanly
            self.resource.errors.store(error)
            write_message(message, message_size, error)
            return -1

    def _fill(self, x, labels, capacity):
        batch = self._next_batch(capacity)
        if batch is None:
            return 0
        batch, classes = batch if isinstance(batch, tuple) else (batch, None)
        values, rows = float_rows(batch, "data batch", self.sample_shape)
        if rows > capacity:
            raise MismatchError("data batch has %d rows, more than the %d asked for "
                                "(batch_size)" % (rows, capacity), Status.MISMATCH)
        ctypes.memmove(x, values, 4 * rows * shape_size(self.sample_shape))
        if classes is not None:  # one int label per row
            label_values, _ = int32_input(classes, "labels", rows)
            ctypes.memmove(labels, label_values, 4 * rows)
        return rows  # 0 rows (an empty batch) is the end of an epoch

    def _reader(self, source):
        if isinstance(source, Dataset):
            return source._reader(self.sample_shape)
        if callable(source):
            return source
        if isinstance(source, tuple):
            return Dataset(source[0], labels=source[1])._reader(self.sample_shape)
        try:
            memoryview(source)
        except TypeError:
            return IterableReader(source)
        return Dataset(source)._reader(self.sample_shape)


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
    threading), label_dropout (classifier-free guidance's probability of
    training a row on the null class; a model with classes only). See
    `data` for the data sources and their labels.

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
        self._sample_shape = model.sample_shape
        self._data = None

    batch_size = option_property("batch_size", "Rows per step.")
    seed = option_property("seed", "Seed of the t and ε draws.")
    threads = option_property("threads", "Worker threads per step (default 1; 0: OpenBLAS's "
                              "own threads, whose count then changes the bits).")
    label_dropout = option_property(
        "label_dropout", "Probability p that a row trains the null class instead of its own "
        "(classifier-free guidance; 0: off).")
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

        - a float32 buffer holding the whole data set (n rows, see
          step_batch for the shapes): it is diffuse.Dataset(buffer), served
          in batches in an order shuffled anew every epoch (seeded: seed 0;
          Dataset(buffer, shuffle=False) for the rows in order, seed= for
          another order);
        - a diffuse.Dataset;
        - a callable fn(capacity) returning a batch of at most `capacity` rows
          (any buffer or list, see Schedule), or None / an empty batch at the
          end of an epoch; it orders (and shuffles) the rows itself;
        - an iterable of batches: a re-iterable (a list, or any object whose
          iter() starts again) is repeated every epoch; an iterator (a
          generator) can be read only once, so a finite one serves one epoch
          and the next raises StateError (an infinite one never ends);
        - a diffuse.Images set, served by the library's own data function
          (shuffled per epoch; no Python runs per batch).

        Labels, for a model with classes: a batch may be a tuple
        (x, labels) with one integer per row (any int buffer, numpy array or
        sequence), and a whole data set the tuple (x, labels) or
        diffuse.Dataset(x, labels=labels) (so an iterable of batches must not
        be a tuple: use a list). Each label must be in [0, classes)
        (OutOfRangeError otherwise); a batch without labels trains class 0 on
        every row.

        A batch of the wrong shape, or of more rows than asked for, raises
        MismatchError (a ValueError); an iterable without any batch
        InvalidArgumentError. An exception raised by the source itself is
        re-raised from the training call with its original traceback. None
        clears the source."""
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
            feeder = _DataFeeder(source, self._sample_shape, self._resource)
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

    def step_batch(self, x0, labels=None):
        """One step on the given batch of n rows without the data source:
        float32 of shape (n,) + model.sample_shape, (n, dim) or flat, with
        one integer label per row when given (else a model with classes
        trains its null class); returns its loss."""
        values, rows = float_rows(x0, "x0", self._sample_shape)
        loss = ctypes.c_double()
        if labels is None:
            C.diffuse_trainer_step_batch(self._h, rows, values, ctypes.byref(loss))
        else:
            label_values, _ = int32_input(labels, "labels", rows)
            C.diffuse_trainer_step_batch_labels(self._h, rows, values, label_values,
                                                ctypes.byref(loss))
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
