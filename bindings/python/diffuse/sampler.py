"""Sampler: DDPM, DDIM and DPM-Solver++ 2M over a timestep list, and the
step API for a network run elsewhere (diffuse/sampler.h)."""

import ctypes

from ._buffers import (float_input, float_output, float_result_from_pointer, float_rows,
                       int32_input, int32_result_from_pointer, scalar_int, scalar_timestep,
                       shape_size)
from ._capi import C
from ._declarations import CLASSIFIER_FN, SAMPLE_PROGRESS_FN
from ._handle import (Handle, Options, call_with_callbacks, enum_value, option_property,
                      write_message)
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


class _Classifier:
    """The C classifier callback over fn(x_t, t, labels) -> ∇_x log p(y|x_t, t).

    fn gets copies: x_t (n, dim) float32, t and labels (n,) int32, and returns
    any float32 buffer of n·dim values (a numpy array; for torch,
    tensor.detach().numpy()). An exception is stored and re-raised from
    run() (the library then sees a failure and leaves `out` untouched)."""

    def __init__(self, function, resource):
        self.function = function
        self.resource = resource

    def __call__(self, user, n, dim, x_t, t, labels, gradient, message, message_size):
        try:
            x = float_result_from_pointer(x_t, n * dim, (n, dim))
            g = self.function(x, int32_result_from_pointer(t, n),
                              int32_result_from_pointer(labels, n))
            values, count, _ = float_input(g, "classifier gradient", n * dim)
            ctypes.memmove(gradient, values, 4 * count)
            self.resource.check_open("Sampler")
            return 0
        except BaseException as error:
            self.resource.errors.store(error)
            write_message(message, message_size, error)
            return -1


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
    bit-identical samples.

    Conditional sampling ("Conditional sampling" in diffuse/sampler.h):

        with diffuse.Sampler(model, schedule, guidance_scale=4.0) as sampler:
            samples = sampler.run(800, labels=numpy.arange(800) % 8)

    labels: an int (every sample) or one integer per sample; label (the
    option) does the same for every run. guidance_scale w: classifier-free
    guidance ε̂ = ε̂_∅ + w (ε̂_c − ε̂_∅), w = 1 plain conditional (the
    paper's w' is w − 1); guidance_rescale φ (Lin et al. 2023); guidance_t_max
    m: guide only the steps with t < m (0: all); classifier:
    fn(x_t, t, labels) returning ∇_x log p(y | x_t, t), scaled by
    classifier_scale (Dhariwal & Nichol 2021)."""

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
        self._set_shape(model.sample_shape)
        self._classifier = None
        self._apply_options(options)

    @classmethod
    def standalone(cls, schedule, dim, prediction="epsilon", **options):
        """A sampler without a model, for the step API only (run() raises
        StateError): rows of `dim` values (an int, or a sample shape such as
        (C, H, W), the shape of its results' rows), model outputs of
        `prediction`."""
        self = cls.__new__(cls)
        sample_shape = (dim,) if scalar_int(dim) is not None else tuple(dim)
        pointer = ctypes.c_void_p()
        C.diffuse_sampler_create_standalone(ctypes.byref(pointer), schedule._h,
                                            shape_size(sample_shape),
                                            enum_value(Prediction, prediction, "prediction"))
        self._adopt(pointer, C.diffuse_sampler_free)
        self.model, self.schedule = None, schedule
        self._model_resource = None
        self._set_shape(sample_shape)
        self._classifier = None
        self._apply_options(options)
        return self

    def _set_shape(self, sample_shape):
        self._sample_shape = sample_shape
        self._dim = shape_size(sample_shape)

    @property
    def sample_shape(self):
        """The shape of one sample (the model's sample_shape); results have
        shape (n,) + sample_shape."""
        return self._sample_shape

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
    label = option_property("label", "The class of every sample (−1: none).")
    guidance_scale = option_property(
        "guidance_scale", "Classifier-free guidance w (1: plain conditional, 0: unconditional).")
    guidance_rescale = option_property("guidance_rescale", "Guidance rescale φ in [0, 1].")
    classifier_scale = option_property("classifier_scale", "Classifier guidance's scale s.")
    guidance_t_max = option_property(
        "guidance_t_max", "Classifier-free guidance only at steps with t < m (0: every step).")

    @property
    def classifier(self):
        """The classifier of classifier guidance: fn(x_t, t, labels) returning
        ∇_x log p(labels | x_t, t) as n·dim float32 values, or None."""
        return self._classifier

    @classifier.setter
    def classifier(self, function):
        if function is None:
            C.diffuse_sampler_set_classifier(self._h, CLASSIFIER_FN(), None)
            self._keep("classifier", None)
        else:
            wrapper = _Classifier(function, self._resource)
            c_function = CLASSIFIER_FN(wrapper)
            C.diffuse_sampler_set_classifier(self._h, c_function, None)
            self._keep("classifier", c_function, wrapper)
        self._classifier = function

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
        """x ~ N(0, I), (n,) + sample_shape, the start a run draws for this seed."""
        result, pointer = float_output(out, "out", n * self._dim, (n,) + self._sample_shape)
        C.diffuse_sampler_initial_noise(self._h, n, pointer)
        return result

    def step(self, model_output, t, x_t, out=None, return_x0=False, variance=None):
        """One step at timestep t (an entry of the list): x_{t_prev} from the
        network's output at (x_t, t) and x_t, both (n,) + sample_shape float32
        (or (n, dim), or n·dim values); a new array of that shape, or written
        into `out` (which may be x_t itself).
        With return_x0, (x_prev, x̂_0). DPM-Solver++ continues from the
        previous step when t follows it in the list with the same n.
        `variance`: the network's variance output v, (n, dim), which
        variance="learned" needs (diffuse_sampler_step_variance)."""
        t = scalar_timestep(t, "t")
        x, n = float_rows(x_t, "x_t", self._sample_shape)
        output, _ = float_rows(model_output, "model_output", self._sample_shape, n)
        count, shape = n * self._dim, (n,) + self._sample_shape
        # out may be x_t itself: both then view the same memory, an in-place step.
        result, target = float_output(out, "out", count, shape)
        x0_result, x0_pointer = (float_output(None, "x0", count, shape)
                                 if return_x0 else (None, None))
        if variance is None:
            C.diffuse_sampler_step(self._h, n, t, output, x, target, x0_pointer)
        else:
            v, _, _ = float_input(variance, "variance", count)
            C.diffuse_sampler_step_variance(self._h, n, t, output, v, x, target, x0_pointer)
        return (result, x0_result) if return_x0 else result

    def run(self, n, out=None, progress=None, labels=None):
        """n samples: a new float32 array of shape (n,) + sample_shape ((n, dim)
        for an MLP; flat array('f') without numpy), or written into the
        float32 buffer `out` of n·dim values.
        labels: the class of every sample (an int) or of each (n integers,
        any int buffer or sequence); see "Conditional sampling" above.

        progress(done, total) is called after every reverse step of every
        chunk; a true return value cancels (CancelledError: the output is
        incomplete). An exception raised by it, or by a callback model, is
        re-raised here with its original traceback."""
        label_values = None if labels is None else int32_input(labels, "labels", n)[0]
        result, pointer = float_output(out, "out", n * self._dim, (n,) + self._sample_shape)
        if progress is not None:
            reporter = _Progress(progress, self._resource)
            c_function = SAMPLE_PROGRESS_FN(reporter)
            C.diffuse_sampler_set_progress(self._h, c_function, None)
            self._keep("progress", c_function, reporter)
        resources = tuple(r for r in (self._resource, self._model_resource) if r is not None)
        try:
            if label_values is None:
                call_with_callbacks(resources, C.diffuse_sampler_run, self._h, n, pointer)
            else:
                call_with_callbacks(resources, C.diffuse_sampler_run_labels, self._h, n,
                                    label_values, pointer)
        finally:
            if progress is not None and not self.closed:
                C.diffuse_sampler_set_progress(self._h, SAMPLE_PROGRESS_FN(), None)
                self._keep("progress", None)
        return result

    def _describe(self):
        return "seed=%d dim=%d" % (self.seed, self._dim)
