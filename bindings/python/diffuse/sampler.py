"""Sampler: DDPM, DDIM and DPM-Solver++ 2M over a timestep list, and the
step API for a network run elsewhere (diffuse/sampler.h)."""

import ctypes

from ._buffers import (float_input, float_output, int32_input, int32_result_from_pointer,
                       scalar_timestep)
from ._capi import C
from ._declarations import SAMPLE_PROGRESS_FN
from ._handle import Handle, Options, call_with_callbacks, enum_value, option_property
from ._options import option_table
from .enums import Prediction, SampleMethod, Spacing, Variance


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
    """Draws samples from a model, or steps a loop the caller drives.

        with diffuse.Sampler(model, schedule, use_ema=True, seed=1) as sampler:
            samples = sampler.run(2000)          # shape (2000, dim)

        fast = diffuse.Sampler(model, schedule, method="dpmpp_2m", steps=20,
                               spacing="trailing")

    Step API (diffusers' scheduler style; `net` is any network, e.g. torch):

        s = diffuse.Sampler.standalone(schedule, dim, "epsilon", method="ddim", steps=50)
        x = s.initial_noise(n)
        for t in s:                               # the timestep list
            x = s.step(net(x, t), t, x)

    The sampler borrows the model (keeps it alive) and copies the schedule.
    Options (keyword arguments and properties): method ("ddpm", "ddim",
    "dpmpp_2m"), steps (0: T), spacing ("leading", "trailing", "linspace",
    "karras"),
    eta, final_alpha_one, lower_order_final, variance ("beta",
    "posterior"), clip_x0, threshold_percentile, threshold_max, use_ema,
    seed, threads, chunk_rows. The noise depends only on the seed (not on
    chunks or threads); the same seed, n, chunk_rows and threads give
    bit-identical samples."""

    C_PREFIX = "diffuse_sampler"
    OPTIONS = option_table("diffuse_sampler", presented={
        "variance": Variance, "use_ema": "bool", "method": SampleMethod, "spacing": Spacing,
        "final_alpha_one": "bool", "lower_order_final": "bool"})

    def __init__(self, model, schedule, **options):
        pointer = ctypes.c_void_p()
        C.diffuse_sampler_create(ctypes.byref(pointer), model._h, schedule._h)
        self._adopt(pointer, C.diffuse_sampler_free, borrowed=(model,))
        self.model, self.schedule = model, schedule
        self._model_resource = model._resource  # a callback model's errors land here
        self._dim = model.dim
        self._apply_options(options)

    @classmethod
    def standalone(cls, schedule, dim, prediction="epsilon", **options):
        """A sampler without a model, for the step API only (run() raises
        StateError): rows of `dim` values, model outputs of `prediction`."""
        self = cls.__new__(cls)
        pointer = ctypes.c_void_p()
        C.diffuse_sampler_create_standalone(ctypes.byref(pointer), schedule._h, dim,
                                            enum_value(Prediction, prediction, "prediction"))
        self._adopt(pointer, C.diffuse_sampler_free)
        self.model, self.schedule = None, schedule
        self._model_resource = None
        self._dim = dim
        self._apply_options(options)
        return self

    method = option_property("method", "DDPM, DDIM or DPM-Solver++ 2M (SampleMethod).")
    steps = option_property("steps", "Entries of the spaced timestep list (0: every step).")
    spacing = option_property("spacing", "Leading, trailing or linspace (Spacing).")
    eta = option_property("eta", "DDIM's η in [0, 1] (0: deterministic).")
    final_alpha_one = option_property(
        "final_alpha_one", "DDIM/DPM-Solver++: ᾱ after the last entry is 1 (else ᾱ_0).")
    lower_order_final = option_property(
        "lower_order_final", "DPM-Solver++: first order at the end of lists under 15 entries.")
    variance = option_property("variance", "DDPM's σ² = β' or β̃' (Variance).")
    clip_x0 = option_property("clip_x0", "Clip x̂_0 to [-c, c] (0: off).")
    threshold_percentile = option_property(
        "threshold_percentile", "Dynamic thresholding's percentile p of |x̂_0| (0: off).")
    threshold_max = option_property("threshold_max", "Dynamic thresholding's s_max (≥ 1).")
    use_ema = option_property("use_ema", "Sample with the EMA weights.")
    seed = option_property("seed", "Seed of x_T and of the noise of every step.")
    threads = option_property("threads", "Worker threads (default 1; 0: OpenBLAS's own "
                              "threads, whose count then changes the bits).")
    chunk_rows = option_property("chunk_rows", "Rows denoised together.")

    @property
    def timesteps(self):
        """The timestep list in use (int32 array, decreasing). Assign a
        sequence of ints to use it instead, None to go back to steps/spacing."""
        count = ctypes.c_size_t()
        C.diffuse_sampler_timesteps(self._h, None, 0, ctypes.byref(count))
        values = (ctypes.c_int32 * count.value)()
        C.diffuse_sampler_timesteps(self._h, values, count.value, ctypes.byref(count))
        return int32_result_from_pointer(values, count.value)

    @timesteps.setter
    def timesteps(self, values):
        if values is None:
            C.diffuse_sampler_set_timesteps(self._h, None, 0)
            return
        pointer, count = int32_input(values, "timesteps")
        C.diffuse_sampler_set_timesteps(self._h, pointer, count)

    def __iter__(self):
        """The timesteps of the list, as ints, first to last."""
        return iter([int(t) for t in self.timesteps])

    def __len__(self):
        return len(self.timesteps)

    def initial_noise(self, n, out=None):
        """x ~ N(0, I), (n, dim), the start a run draws for this seed."""
        result, pointer = float_output(out, "out", n * self._dim, (n, self._dim))
        C.diffuse_sampler_initial_noise(self._h, n, pointer)
        return result

    def step(self, model_output, t, x_t, out=None, return_x0=False, variance=None):
        """One step at timestep t (an entry of the list): x_{t_prev} from the
        network's output at (x_t, t) and x_t, both (n, dim) float32 (or n·dim
        values); a new array, or written into `out` (which may be x_t itself).
        With return_x0, (x_prev, x̂_0). DPM-Solver++ continues from the
        previous step when t follows it in the list with the same n.
        `variance`: the network's variance output v, (n, dim), which
        variance="learned" needs (diffuse_sampler_step_variance)."""
        t = scalar_timestep(t, "t")
        x, count, _ = float_input(x_t, "x_t")
        if count % self._dim:
            raise ValueError("x_t must hold a multiple of dim = %d values; got %d"
                             % (self._dim, count))
        n = count // self._dim
        output, _, _ = float_input(model_output, "model_output", count)
        # out may be x_t itself: both then view the same memory, an in-place step.
        result, target = float_output(out, "out", count, (n, self._dim))
        x0_result, x0_pointer = (float_output(None, "x0", count, (n, self._dim))
                                 if return_x0 else (None, None))
        if variance is None:
            C.diffuse_sampler_step(self._h, n, t, output, x, target, x0_pointer)
        else:
            v, _, _ = float_input(variance, "variance", count)
            C.diffuse_sampler_step_variance(self._h, n, t, output, v, x, target, x0_pointer)
        return (result, x0_result) if return_x0 else result

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
        resources = tuple(r for r in (self._resource, self._model_resource) if r is not None)
        try:
            call_with_callbacks(resources, C.diffuse_sampler_run, self._h, n, pointer)
        finally:
            if progress is not None and not self.closed:
                C.diffuse_sampler_set_progress(self._h, SAMPLE_PROGRESS_FN(), None)
                self._keep("progress", None)
        return result

    def _describe(self):
        return "seed=%d dim=%d" % (self.seed, self._dim)
