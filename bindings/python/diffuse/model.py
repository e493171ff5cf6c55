"""ModelConfig and Model: the noise-prediction network (diffuse/model.h) and
its checkpoints (diffuse/checkpoint.h)."""

import collections
import ctypes
import warnings

from ._buffers import (float_input, float_output, float_result_from_pointer, float_rows,
                       int32_input, int32_length, int32_result_from_pointer)
from ._capi import C
from ._declarations import PREDICT_FN, ModelCall, NllRequest, NllTerms
from ._handle import (CallbackErrors, Handle, call_with_callbacks, enum_member, enum_value,
                      path_argument, typed_value)
from ._options import option_infos
from .enums import Activation, Architecture, Decoder, Prediction, Variance
from .schedule import Schedule

MAX_DIM = 1 << 24

# Options whose int value is one of these enums (the rest are plain ints,
# RESIDUAL a 0/1 flag).
_ENUM_OPTIONS = {"activation": Activation, "prediction": Prediction}
_BOOL_OPTIONS = ("residual", "learn_variance")

TensorInfo = collections.namedtuple("TensorInfo", "name offset shape")
# The likelihood bound's terms in bits/dim (diffuse/likelihood.h); per-sample
# arrays when asked for.
Nll = collections.namedtuple("Nll", "prior diffusion decoder total")


class _TensorList(list):
    """Model.tensors: a list that can still be called as the method it was."""

    def __call__(self):
        warnings.warn("Model.tensors() is deprecated: it is a property now, model.tensors",
                      DeprecationWarning, stacklevel=2)
        return self


def _option_table(arch):
    """{name: (option value, is_double)} of the options of `arch`, from the library."""
    return {info.name.decode(): (info.option, bool(info.is_double))
            for info in option_infos("diffuse_model_config", arch)}


class ModelConfig(Handle):
    """Architecture, data dimension and options of a model.

        config = diffuse.ModelConfig(2, hidden_width=64, activation="gelu")
        config.hidden_layers = 2            # or config["hidden_layers"] = 2

    Options are named as the library names them (see option_names()); for the
    MLP: hidden_width, hidden_layers, time_embed_dim, activation ("silu",
    "gelu"), residual, seed, prediction ("epsilon", "v", "x0"), time_max_period."""

    def __init__(self, dim, arch="mlp", **options):
        pointer = ctypes.c_void_p()
        C.diffuse_model_config_create(ctypes.byref(pointer),
                                      enum_value(Architecture, arch, "architecture"), dim)
        self._adopt(pointer, C.diffuse_model_config_free)
        names = self.option_names()
        for name, value in options.items():
            if name not in names:
                raise TypeError("unexpected option %r for %s models; their options are: %s"
                                % (name, architecture_name(self.architecture),
                                   ", ".join(names)))
            self[name] = value

    @classmethod
    def _borrowed_from(cls, model):
        """A copy of the configuration a model was built from."""
        borrowed = ctypes.c_void_p()
        C.diffuse_model_get_config(model._h, ctypes.byref(borrowed))
        pointer = ctypes.c_void_p()
        C.diffuse_model_config_copy(ctypes.byref(pointer), borrowed)
        config = cls.__new__(cls)
        config._adopt(pointer, C.diffuse_model_config_free)
        return config

    def copy(self):
        pointer = ctypes.c_void_p()
        C.diffuse_model_config_copy(ctypes.byref(pointer), self._h)
        config = ModelConfig.__new__(ModelConfig)
        config._adopt(pointer, C.diffuse_model_config_free)
        return config

    @property
    def architecture(self):
        arch = ctypes.c_int()
        C.diffuse_model_config_architecture(self._h, ctypes.byref(arch))
        return enum_member(Architecture, arch.value)

    @property
    def dim(self):
        dim = ctypes.c_size_t()
        C.diffuse_model_config_dim(self._h, ctypes.byref(dim))
        return dim.value

    def option_names(self):
        return list(_option_table(self.architecture))

    def _spec(self, name):
        table = _option_table(self.architecture)
        if name not in table:
            raise KeyError("%s models have no option %r; their options are: %s"
                           % (architecture_name(self.architecture), name, ", ".join(table)))
        return table[name]

    def __setitem__(self, name, value):
        option, is_double = self._spec(name)
        if name in _ENUM_OPTIONS:
            value = enum_value(_ENUM_OPTIONS[name], value, name)
        elif name in _BOOL_OPTIONS:
            value = int(bool(value))
        else:
            value = typed_value("double" if is_double else "int", value, name)
        if is_double:
            C.diffuse_model_config_set_double(self._h, option, value)
        else:
            C.diffuse_model_config_set_int(self._h, option, value)

    def __getitem__(self, name):
        option, is_double = self._spec(name)
        if is_double:
            value = ctypes.c_double()
            C.diffuse_model_config_get_double(self._h, option, ctypes.byref(value))
            return value.value
        value = ctypes.c_int64()
        C.diffuse_model_config_get_int(self._h, option, ctypes.byref(value))
        if name in _ENUM_OPTIONS:
            return enum_member(_ENUM_OPTIONS[name], value.value)
        return bool(value.value) if name in _BOOL_OPTIONS else value.value

    def options(self):
        """{name: value} of every option of the architecture."""
        return {name: self[name] for name in self.option_names()}

    def __getattr__(self, name):
        # only reached for names that are not ordinary attributes
        if name.startswith("_") or self.closed or name not in self.option_names():
            raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))
        return self[name]

    def __setattr__(self, name, value):
        if not name.startswith("_") and not self.closed and name in self.option_names():
            self[name] = value
        else:
            super().__setattr__(name, value)

    @staticmethod
    def bounds(name, arch="mlp"):
        """Inclusive (min, max) of option `name` for `arch`."""
        arch = enum_value(Architecture, arch, "architecture")
        option, is_double = ctypes.c_int(), ctypes.c_int()
        C.diffuse_model_config_find_option(arch, name.encode(), ctypes.byref(option),
                                           ctypes.byref(is_double))
        if is_double.value:
            low, high = ctypes.c_double(), ctypes.c_double()
            C.diffuse_model_config_double_bounds(arch, option, ctypes.byref(low),
                                                 ctypes.byref(high))
        else:
            low, high = ctypes.c_int64(), ctypes.c_int64()
            C.diffuse_model_config_int_bounds(arch, option, ctypes.byref(low),
                                              ctypes.byref(high))
        return low.value, high.value

    def _describe(self):
        return "%s dim=%d %s" % (architecture_name(self.architecture), self.dim,
                                 self.options())


def architecture_name(arch):
    """"mlp", "callback" ... for an Architecture."""
    name = ctypes.c_char_p()
    C.diffuse_model_architecture_name(enum_value(Architecture, arch, "architecture"),
                                      ctypes.byref(name))
    return name.value.decode()


class Model(Handle):
    """The ε-network f_θ(x_t, t).

        model = diffuse.Model(2, hidden_width=128, hidden_layers=3, seed=1)
        eps = model.predict(x_t, t)

    Built from `dim` and options (those of ModelConfig), or from a ModelConfig
    (config=...). Model.callback() wraps a Python function instead."""

    def __init__(self, dim=None, arch="mlp", config=None, **options):
        if config is None:
            if dim is None:
                raise TypeError("Model() needs the data dimension dim (or config=)")
            with ModelConfig(dim, arch, **options) as own:
                self._create(own)
        elif dim is not None or options:
            raise TypeError("give either config= or dim and options, not both")
        else:
            self._create(config)

    def _create(self, config):
        pointer = ctypes.c_void_p()
        C.diffuse_model_create(ctypes.byref(pointer), config._h)
        self._adopt(pointer, C.diffuse_model_free)

    @property
    def warning(self):
        """Advice on a valid configuration known not to work ("" if none):
        a hidden_width below dim. Creating the model also issues it as a
        DiffuseWarning (the library's log)."""
        size = C.diffuse_model_warning(self._h, None, 0)
        if size == 0:
            return ""
        buffer = ctypes.create_string_buffer(size)
        C.diffuse_model_warning(self._h, buffer, size)
        return buffer.value.decode("utf-8")

    @classmethod
    def _wrap(cls, pointer):
        model = cls.__new__(cls)
        model._adopt(pointer, C.diffuse_model_free)
        return model

    @classmethod
    def callback(cls, dim, function, prediction="epsilon"):
        """A model whose prediction is function(x_t, t) -> n×dim floats, or
        function(x_t, t, labels) for a call that carries class labels
        (predict(..., labels=...)).

        x_t (n×dim float32), t and labels (n int32) are copies the function
        may keep; it returns an array-like of n·dim float32 values (numpy
        array, array('f'), list of rows ...). An exception it raises is
        re-raised from the predict() or Sampler.run() call that called it."""
        model = cls.__new__(cls)
        errors = CallbackErrors()
        owner = []  # the model's resource, once it exists (not the model: no cycle)

        def predict(user, call_pointer, width):
            try:
                call = call_pointer.contents
                n = call.n
                inputs = [float_result_from_pointer(call.x_t, n * width, (n, width)),
                          int32_result_from_pointer(call.t, n)]
                if call.labels:
                    inputs.append(int32_result_from_pointer(call.labels, n))
                values, _ = float_rows(function(*inputs), "prediction", (width,), n)
                owner[0].check_open("Model")
                ctypes.memmove(call.out, values, 4 * n * width)
                return 0
            except BaseException as error:  # never let an exception reach C
                errors.store(error)
                return 1

        c_function = PREDICT_FN(predict)
        pointer = ctypes.c_void_p()
        C.diffuse_model_create_callback(ctypes.byref(pointer), dim,
                                        enum_value(Prediction, prediction, "prediction"),
                                        c_function, None)
        model._adopt(pointer, C.diffuse_model_free)
        model._resource.errors = errors
        owner.append(model._resource)
        model._keep("predict", c_function, function)
        return model

    # ---- description -------------------------------------------------

    @property
    def dim(self):
        return self._size(C.diffuse_model_dim)

    @property
    def param_count(self):
        """Number of float parameters (0 for a callback model)."""
        return self._size(C.diffuse_model_param_count)

    @property
    def sample_shape(self):
        """The shape of one sample: (C, H, W) for a U-Net (its image_channels,
        image_height, image_width), else (dim,). Inputs of n rows may have
        shape (n,) + sample_shape, (n, dim) or be flat; results have shape
        (n,) + sample_shape."""
        if self.architecture != Architecture.UNET:
            return (self.dim,)
        with self.config as config:
            return tuple(config[name] for name in ("image_channels", "image_height",
                                                    "image_width"))

    @property
    def architecture(self):
        return enum_member(Architecture, self._enum(C.diffuse_model_architecture))

    @property
    def prediction(self):
        return enum_member(Prediction, self._enum(C.diffuse_model_prediction))

    @property
    def config(self):
        """A copy of the configuration the model was built from."""
        return ModelConfig._borrowed_from(self)

    @property
    def tensors(self):
        """The parameter layout: a list of TensorInfo(name, offset, shape).

        A property, like params (what describes a handle and takes no
        argument is a property; what takes arguments or acts is a method).
        Calling it, model.tensors(), the spelling before, still works with
        a DeprecationWarning."""
        count = self._size(C.diffuse_model_tensor_count)
        infos = []
        for index in range(count):
            name, offset, rank = ctypes.c_char_p(), ctypes.c_size_t(), ctypes.c_size_t()
            shape = (ctypes.c_size_t * 4)()
            C.diffuse_model_tensor_info(self._h, index, ctypes.byref(name), ctypes.byref(offset),
                                        ctypes.byref(rank), shape)
            infos.append(TensorInfo(name.value.decode(), offset.value,
                                    tuple(shape[:rank.value])))
        return _TensorList(infos)

    # ---- parameters ----------------------------------------------------

    @property
    def params(self):
        """A copy of the parameters (param_count float32); assign a buffer of
        the same size to replace them."""
        return self._read(C.diffuse_model_get_params)

    @params.setter
    def params(self, values):
        self._write(C.diffuse_model_set_params, values)

    @property
    def has_ema(self):
        flag = ctypes.c_int()
        C.diffuse_model_has_ema(self._h, ctypes.byref(flag))
        return bool(flag.value)

    @property
    def ema_params(self):
        """A copy of the EMA parameters (StateError before an optimizer with
        EMA has stepped); assignable like params."""
        return self._read(C.diffuse_model_get_ema_params)

    @ema_params.setter
    def ema_params(self, values):
        self._write(C.diffuse_model_set_ema_params, values)

    def _read(self, function):
        count = self.param_count
        result, pointer = float_output(None, "params", count, (count,))
        function(self._h, pointer, count)
        return result

    def _write(self, function, values):
        pointer, count, _ = float_input(values, "params")
        function(self._h, pointer, count)

    # ---- prediction ------------------------------------------------------

    def predict(self, x_t, t, out=None, labels=None, return_variance=False):
        """f_θ(x_t, t) for n rows of float32 values (current weights, not the
        EMA), of shape (n,) + sample_shape (also accepted: (n, dim), flat);
        the result has shape (n,) + sample_shape. t: one timestep per row, or
        one int for every row; labels (optional): one class label per row, or
        one int for every row. With return_variance (a model with
        learn_variance): (f, v), v the variance output, of the same shape."""
        sample_shape = self.sample_shape
        values, rows = float_rows(x_t, "x_t", sample_shape)
        count = rows * self.dim
        t_rows = int32_length(t, "t")
        if t_rows is not None and t_rows != rows:
            raise ValueError("t has %d timesteps for %d rows of x_t" % (t_rows, rows))
        t_values, _ = int32_input(t, "t", rows)
        result, pointer = float_output(out, "out", count, (rows,) + sample_shape)
        label_values = None  # kept referenced until the call returns
        if labels is not None:
            label_rows = int32_length(labels, "labels")
            if label_rows is not None and label_rows != rows:
                raise ValueError("labels has %d entries for %d rows of x_t" % (label_rows, rows))
            label_values, _ = int32_input(labels, "labels", rows)
        variance, variance_pointer = (
            float_output(None, "variance", count, (rows,) + sample_shape)
            if return_variance else (None, None))
        call = ModelCall(size=ctypes.sizeof(ModelCall), n=rows, x_t=values, t=t_values,
                         labels=label_values, out=pointer, out_variance=variance_pointer)
        call_with_callbacks((self._resource,), C.diffuse_model_predict, self._h,
                            ctypes.byref(call))
        return (result, variance) if return_variance else result

    # ---- likelihood (diffuse/likelihood.h) ---------------------------------

    def nll(self, x0, schedule, variance="beta", decoder="discrete", seed=0, use_ema=False,
            labels=None, per_sample=False):
        """The negative log-likelihood bound of the rows of x0 in bits/dim:
        Nll(prior, diffusion, decoder, total) with L_T, Σ L_{t−1} and L_0
        averaged over the rows (with per_sample, each a list of the rows'
        values instead). variance: "beta", "posterior" or "learned";
        decoder: "discrete" (data on the 256-level grid of [-1, 1]) or
        "continuous". T model calls per row."""
        values, rows = float_rows(x0, "x0", self.sample_shape)
        label_values = None if labels is None else int32_input(labels, "labels", rows)[0]
        terms = (NllTerms * rows)() if per_sample else None
        request = NllRequest(size=ctypes.sizeof(NllRequest), n=rows, x0=values,
                             labels=label_values,
                             variance=enum_value(Variance, variance, "variance"),
                             decoder=enum_value(Decoder, decoder, "decoder"), seed=seed,
                             use_ema=int(bool(use_ema)), per_sample=terms)
        mean = NllTerms()
        call_with_callbacks((self._resource,), C.diffuse_model_nll, self._h, schedule._h,
                            ctypes.byref(request), ctypes.byref(mean))
        if per_sample:
            return Nll(*([getattr(row, field) for row in terms] for field in Nll._fields))
        return Nll(mean.prior, mean.diffusion, mean.decoder, mean.total)

    # ---- checkpoints (diffuse/checkpoint.h) --------------------------------

    def set_schedule(self, schedule):
        """Declares `schedule` the one this model belongs to (None forgets it).

        A model remembers the schedule it was trained or loaded with, and
        Sampler(model, other) and save(path, other) raise MismatchError for
        any other; this is the explicit override."""
        C.diffuse_model_set_schedule(self._h, None if schedule is None else schedule._h)

    def save(self, path, schedule):
        """Saves architecture, weights (and EMA weights) and the schedule's
        configuration as a safetensors file, atomically."""
        C.diffuse_model_save(self._h, schedule._h, path_argument(path))

    @classmethod
    def load(cls, path):
        """(model, schedule) from a file written by save() or Trainer.save()."""
        model, schedule = ctypes.c_void_p(), ctypes.c_void_p()
        C.diffuse_model_load(path_argument(path), ctypes.byref(model), ctypes.byref(schedule))
        return cls._wrap(model), Schedule._wrap(schedule)

    # ---- helpers ---------------------------------------------------------

    def _size(self, function):
        value = ctypes.c_size_t()
        function(self._h, ctypes.byref(value))
        return value.value

    def _enum(self, function):
        value = ctypes.c_int()
        function(self._h, ctypes.byref(value))
        return value.value

    def _describe(self):
        return "%s dim=%d params=%d" % (architecture_name(self.architecture), self.dim,
                                        self.param_count)
