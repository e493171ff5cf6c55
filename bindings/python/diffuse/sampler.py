"""Sampler: ancestral DDPM sampling, Algorithm 2 of Ho et al. 2020
(diffuse/sampler.h)."""

import ctypes

from ._buffers import float_output
from ._capi import C
from ._declarations import SAMPLE_PROGRESS_FN
from ._handle import Handle, Options, call_with_callbacks, option_property
from ._options import option_table
from .enums import Variance


class _Progress:
    """The C progress callback over fn(done, total); a sampler closed by it
    cancels the run (StateError)."""

    def __init__(self, function, resource):
        self.function = function
        self.resource = resource

    def __call__(self, user, done, total):
        try:
            stop = bool(self.function(done, total))
            self.resource.check_open("Sampler")
            return int(stop)
        except BaseException as error:
            self.resource.errors.store(error)
            return 1


class Sampler(Handle, Options):
    """Draws samples from a model.

        with diffuse.Sampler(model, schedule, use_ema=True, seed=1) as sampler:
            samples = sampler.run(2000)          # shape (2000, dim)

    The sampler borrows the model (keeps it alive) and copies the schedule.
    Options (keyword arguments and properties): variance ("beta",
    "posterior"), clip_x0, use_ema, seed, threads, chunk_rows. The noise
    depends only on the seed (not on chunks or threads); the same seed, n,
    chunk_rows and threads give bit-identical samples."""

    C_PREFIX = "diffuse_sampler"
    OPTIONS = option_table("diffuse_sampler", presented={"variance": Variance, "use_ema": "bool"})

    def __init__(self, model, schedule, **options):
        pointer = ctypes.c_void_p()
        C.diffuse_sampler_create(ctypes.byref(pointer), model._h, schedule._h)
        self._adopt(pointer, C.diffuse_sampler_free, borrowed=(model,))
        self.model, self.schedule = model, schedule
        self._model_resource = model._resource  # a callback model's errors land here
        self._dim = model.dim
        self._apply_options(options)

    variance = option_property("variance", "σ_t² = β_t or β̃_t (Variance).")
    clip_x0 = option_property("clip_x0", "Clip x̂_0 to [-c, c] (0: off).")
    use_ema = option_property("use_ema", "Sample with the EMA weights.")
    seed = option_property("seed", "Seed of x_T and of the noise of every step.")
    threads = option_property("threads", "Worker threads (default 1; 0: OpenBLAS's own "
                              "threads, whose count then changes the bits).")
    chunk_rows = option_property("chunk_rows", "Rows denoised together.")

    def run(self, n, out=None, progress=None):
        """n samples: a new (n, dim) float32 array (flat array('f') without
        numpy), or written into the float32 buffer `out` of n·dim values.

        progress(done, total) is called after every reverse step of every
        chunk; a true return value cancels (CancelledError: the output is
        incomplete). An exception raised by it, or by a callback model, is
        re-raised here with its original traceback."""
        result, pointer = float_output(out, "out", n * self._dim, (n, self._dim))
        if progress is not None:
            reporter = _Progress(progress, self._resource)
            c_function = SAMPLE_PROGRESS_FN(reporter)
            C.diffuse_sampler_set_progress(self._h, c_function, None)
            self._keep("progress", c_function, reporter)
        try:
            call_with_callbacks((self._resource, self._model_resource), C.diffuse_sampler_run,
                                self._h, n, pointer)
        finally:
            if progress is not None and not self.closed:
                C.diffuse_sampler_set_progress(self._h, SAMPLE_PROGRESS_FN(), None)
                self._keep("progress", None)
        return result

    def _describe(self):
        return "seed=%d dim=%d" % (self.seed, self._dim)
