"""Schedule: noise schedules and the forward/posterior formulas that use them
(diffuse/schedule.h, diffuse/forward.h, diffuse/posterior.h).

Batched formulas take float32 arrays of n rows and timesteps `t` (one per
row: a sequence or int32 buffer; a single int applies to every row), the
array first and t second, as Model.predict(x_t, t) and Sampler.step(output,
t, x_t) do: q_sample(x0, t, eps). (Earlier versions took t first; that
order still works, with a DeprecationWarning.)
An input with two or more dimensions has n = its first dimension (len(t)
must then equal it) and rows of the remaining shape, which the second input
must share (or be (n, d), or flat with n·d values); a flat first input has
n = len(t), else 1, rows of d = size / n values. Results are new arrays of
the first input's shape ((n, d) for a flat one; flat array('f') without
numpy), or are written into `out`, which may be one of the inputs (in place).
"""

import ctypes
import warnings

from ._buffers import (double_input, double_result, float_input, float_output, float_rows,
                       int32_input, int32_length, scalar_int, scalar_timestep)
from ._capi import C
from ._handle import Handle, Options, enum_member, enum_value, option_property
from ._options import option_names, option_table
from .enums import ScheduleKind, Table

MAX_STEPS = 1000000


class Schedule(Handle, Options):
    """β_t and every table derived from it, in double precision.

        schedule = diffuse.Schedule("cosine", 1000, max_beta=0.999)
        alpha_bar = schedule.table("alpha_bar")

    Options (keyword arguments and properties; each applies to some kinds
    only): beta_start, beta_end (linear, scaled_linear, sigmoid),
    cosine_offset, max_beta (cosine), sigmoid_range (sigmoid),
    zero_terminal_snr (every kind)."""

    C_PREFIX = "diffuse_schedule"
    OPTIONS = option_table("diffuse_schedule", ScheduleKind, {"zero_terminal_snr": "bool"})

    def __init__(self, kind="linear", steps=1000, **options):
        pointer = ctypes.c_void_p()
        C.diffuse_schedule_create(ctypes.byref(pointer), enum_value(ScheduleKind, kind, "kind"),
                                  steps)
        self._adopt(pointer, C.diffuse_schedule_free)
        self._apply_options(options)

    @classmethod
    def custom(cls, betas, **options):
        """A CUSTOM schedule from the sequence or float64 buffer `betas` (copied)."""
        values, count = double_input(betas, "betas")
        pointer = ctypes.c_void_p()
        C.diffuse_schedule_create_custom(ctypes.byref(pointer), values, count)
        schedule = cls._wrap(pointer)
        schedule._apply_options(options)
        return schedule

    @classmethod
    def _wrap(cls, pointer):
        """A Schedule owning an existing C schedule (from clone or a checkpoint)."""
        schedule = cls.__new__(cls)
        schedule._adopt(pointer, C.diffuse_schedule_free)
        return schedule

    def clone(self):
        """An independent copy (kind, T, options, tables)."""
        pointer = ctypes.c_void_p()
        C.diffuse_schedule_clone(ctypes.byref(pointer), self._h)
        return Schedule._wrap(pointer)

    # ---- options -------------------------------------------------------

    beta_start = option_property("beta_start", "β at t = 0 (linear, scaled_linear, sigmoid).")
    beta_end = option_property("beta_end", "β at t = T-1 (linear, scaled_linear, sigmoid).")
    cosine_offset = option_property("cosine_offset", "s of the cosine schedule.")
    max_beta = option_property("max_beta", "Upper clip of β (cosine).")
    sigmoid_range = option_property("sigmoid_range", "R of the sigmoid schedule.")
    zero_terminal_snr = option_property("zero_terminal_snr",
                                        "Rescale so that ᾱ_{T-1} = 0 (Lin et al. 2024).")

    def _ordered(self, options):
        # BETA_START <= BETA_END must hold after every single C call: when both
        # move up past the current end, the end has to move first.
        items = list(options.items())
        if "beta_start" in options and "beta_end" in options and \
                options["beta_start"] > self.beta_end:
            items.sort(key=lambda item: item[0] != "beta_end")
        return items

    def options(self):
        """{name: value} of the options that apply to this schedule's kind."""
        return {name: self.get_option(name)
                for name in option_names("diffuse_schedule", self.kind)}

    # ---- tables --------------------------------------------------------

    @property
    def steps(self):
        """T, the number of steps."""
        steps = ctypes.c_size_t()
        C.diffuse_schedule_steps(self._h, ctypes.byref(steps))
        return steps.value

    def __len__(self):
        return self.steps

    @property
    def kind(self):
        kind = ctypes.c_int()
        C.diffuse_schedule_get_kind(self._h, ctypes.byref(kind))
        return enum_member(ScheduleKind, kind.value)

    def table(self, table):
        """The whole table (a Table member or name such as "alpha_bar") as T
        float64 values (numpy array, else array('d'))."""
        steps = self.steps
        result, pointer = double_result(steps)
        C.diffuse_schedule_get_table(self._h, enum_value(Table, table, "table"), pointer, steps)
        return result

    def value(self, table, t):
        """Entry t of `table`."""
        value = ctypes.c_double()
        C.diffuse_schedule_value(self._h, enum_value(Table, table, "table"),
                                 scalar_timestep(t, "t"), ctypes.byref(value))
        return value.value

    def _describe(self):
        return "%s T=%d" % (self.kind.name.lower(), self.steps)

    # ---- forward process (diffuse/forward.h) ------------------------------

    def q_sample(self, x0, t, eps, out=None):
        """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε per row."""
        return self._batch(C.diffuse_q_sample, "q_sample", x0, "x0", t, eps, "eps", out)

    def q_sample_rng(self, x0, t, rng, out=None, return_eps=False):
        """x_t with ε drawn from `rng` (one draw of n·d normals).
        Returns x_t, or (x_t, ε) with return_eps=True."""
        x0, t = _array_then_timesteps("q_sample_rng", "x0", x0, t, stacklevel=3)
        rows, shape, t_values, x0_values, count = self._rows(x0, "x0", t)
        result, xt_pointer = float_output(out, "out", count, shape)
        eps, eps_pointer = float_output(None, "eps", count, shape) if return_eps \
            else (None, None)
        C.diffuse_q_sample_rng(self._h, rows, count // rows if rows else 0, t_values, x0_values,
                               rng._h, eps_pointer, xt_pointer)
        return (result, eps) if return_eps else result

    def q_marginal(self, t):
        """(√ᾱ_t, 1 − ᾱ_t): mean coefficient and variance of q(x_t | x_0)."""
        return self._pair(C.diffuse_q_marginal, t)

    def q_step(self, t):
        """(√α_t, β_t): mean coefficient and variance of q(x_t | x_{t−1})."""
        return self._pair(C.diffuse_q_step, t)

    # ---- posterior and conversions (diffuse/posterior.h) -----------------

    def posterior_mean(self, x0, t, xt, out=None):
        """μ̃_t(x_t, x_0) per row."""
        return self._batch(C.diffuse_posterior_mean, "posterior_mean", x0, "x0", t, xt, "xt",
                           out)

    def posterior_variance(self, t):
        """(β̃_t, clipped log β̃_t)."""
        return self._pair(C.diffuse_posterior_variance, t)

    def predict_x0_from_eps(self, xt, t, eps, out=None):
        """x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t per row."""
        return self._batch(C.diffuse_predict_x0_from_eps, "predict_x0_from_eps", xt, "xt", t,
                           eps, "eps", out)

    def predict_eps_from_x0(self, xt, t, x0, out=None):
        """ε = (x_t − √ᾱ_t x_0)/√(1−ᾱ_t) per row."""
        return self._batch(C.diffuse_predict_eps_from_x0, "predict_eps_from_x0", xt, "xt", t,
                           x0, "x0", out)

    def velocity(self, x0, t, eps, out=None):
        """v = √ᾱ_t ε − √(1−ᾱ_t) x_0 per row."""
        return self._batch(C.diffuse_velocity, "velocity", x0, "x0", t, eps, "eps", out)

    def predict_x0_from_v(self, xt, t, v, out=None):
        """x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v per row."""
        return self._batch(C.diffuse_predict_x0_from_v, "predict_x0_from_v", xt, "xt", t, v,
                           "v", out)

    def predict_eps_from_v(self, xt, t, v, out=None):
        """ε = √(1−ᾱ_t) x_t + √ᾱ_t v per row."""
        return self._batch(C.diffuse_predict_eps_from_v, "predict_eps_from_v", xt, "xt", t, v,
                           "v", out)

    def model_mean_from_eps(self, xt, t, eps, out=None):
        """μ_θ = (x_t − β_t/√(1−ᾱ_t) ε)/√α_t per row."""
        return self._batch(C.diffuse_posterior_model_mean, "model_mean_from_eps", xt, "xt", t,
                           eps, "eps", out)

    # ---- helpers ---------------------------------------------------------

    def _rows(self, first, first_name, t):
        """(n, result shape, t array, first array, n·d) for a batch whose rows
        follow `first` (when it has rows) or t."""
        values, count, shape = float_input(first, first_name)
        rows = int32_length(t, "t")
        if len(shape) > 1:
            if rows is not None and rows != shape[0]:
                raise ValueError("t has %d timesteps for the %d rows of %s (shape %s)"
                                 % (rows, shape[0], first_name, tuple(shape)))
            rows = shape[0]
        elif rows is None:
            rows = 1
        if rows and count % rows:
            raise ValueError("%s holds %d values, not a whole number of rows for the %d "
                             "timesteps in t" % (first_name, count, rows))
        if len(shape) <= 1:
            shape = (rows, count // rows if rows else 0)
        t_values, _ = int32_input(t, "t", rows)
        return rows, tuple(shape), t_values, values, count

    def _batch(self, function, method, a, a_name, t, b, b_name, out):
        a, t = _array_then_timesteps(method, a_name, a, t, stacklevel=4)
        rows, shape, t_values, a_values, count = self._rows(a, a_name, t)
        b_values, _ = float_rows(b, b_name, shape[1:], rows)
        result, out_pointer = float_output(out, "out", count, shape)
        function(self._h, rows, count // rows if rows else 0, t_values, a_values, b_values,
                 out_pointer)
        return result

    def _pair(self, function, t):
        first, second = ctypes.c_double(), ctypes.c_double()
        function(self._h, scalar_timestep(t, "t"), ctypes.byref(first), ctypes.byref(second))
        return first.value, second.value


def _is_timesteps(obj):
    """Whether obj reads as timesteps: an int, an integer buffer, or a flat
    sequence of ints (not of floats, nor of rows)."""
    if scalar_int(obj) is not None:
        return True
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(scalar_int(value) is not None for value in obj)
    try:
        return memoryview(obj).format.lstrip("@=<>!") in _INTEGER_FORMATS
    except TypeError:
        return False


_INTEGER_FORMATS = tuple("bBhHiIlLqQ")


def _array_then_timesteps(method, name, first, second, stacklevel):
    """(array, t) of a call (array, t, ...), or of the earlier order
    (t, array, ...), which still works with a DeprecationWarning issued
    `stacklevel` frames up (the caller of the public method)."""
    if _is_timesteps(first) and not _is_timesteps(second):
        warnings.warn("Schedule.%s(t, %s, ...) is deprecated: the array comes first, as in "
                      "Model.predict(x_t, t): Schedule.%s(%s, t, ...)"
                      % (method, name, method, name), DeprecationWarning, stacklevel=stacklevel)
        return second, first
    return first, second
