"""libdiffuse from Python: denoising diffusion probabilistic models (DDPM).

    import diffuse
    schedule = diffuse.Schedule("linear", 1000)
    model = diffuse.Model(2, hidden_width=128, hidden_layers=3, seed=1)
    optimizer = diffuse.Optimizer(model, learning_rate=2e-3, ema_decay=0.995)
    trainer = diffuse.Trainer(model, schedule, optimizer, batch_size=256,
                              data=diffuse.toy2d.Stream("swiss_roll", seed=1))
    trainer.train(5000)
    samples = diffuse.Sampler(model, schedule, use_ema=True).run(2000)

A ctypes wrapper of the C library, standard library only; numpy is used for
results when importable (set DIFFUSE_NO_NUMPY=1 to get array('f') results
anyway). The library is found through DIFFUSE_LIBRARY, then the installed
library, then a build tree of the source checkout (see diffuse._library).

Every class is a context manager (close() frees the C object; garbage
collection does it otherwise). Failing calls raise DiffuseError subclasses
carrying the library's message.
"""

from ._version import WRAPPED_VERSION, __version__
from ._library import LibraryNotFoundError, LibraryVersionError
from ._errors import (CallbackError, CancelledError, DiffuseError, DiffuseIOError, FormatError,
                      InvalidArgumentError, MismatchError, NoMemoryError, NumericError,
                      OutOfRangeError, StateError, Status, UnsupportedError)
from ._buffers import HAVE_NUMPY
from ._capi import C as _C
from ._capi import LIBRARY_PATH, LIBRARY_VERSION
from .enums import (Activation, Architecture, Decoder, LogLevel, LRDecay, ModelOption,
                    OptimizerKind, OptimizerOption, PeerPhase, Prediction, SampleMethod,
                    SamplerOption, ScheduleKind, ScheduleOption, Spacing, Table, Toy2D,
                    TrainerOption, Variance)
from .log import DiffuseWarning
from .data import Dataset
from .images import Images
from .rng import Rng
from .schedule import Schedule
from .model import Model, ModelConfig, Nll, TensorInfo, architecture_name
from .optim import Optimizer
from .train import Trainer
from .sampler import Sampler
from . import metrics, plot, toy2d


def version():
    """The loaded library's version string, e.g. "0.2.0"."""
    return _C.diffuse_version_string()


def version_number():
    """The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH."""
    return _C.diffuse_version_number()


def status_string(status):
    """Fixed English text of a status code."""
    return _C.diffuse_status_string(status)


def status_name(status):
    """Symbolic name of a status code ("DIFFUSE_ERROR_IO")."""
    return _C.diffuse_status_name(status)


def last_error():
    """Message of the last failing call made by this thread ("" if none)."""
    return _C.diffuse_last_error()


__all__ = [
    "__version__", "WRAPPED_VERSION", "LIBRARY_PATH", "LIBRARY_VERSION", "HAVE_NUMPY",
    "version", "version_number", "status_string", "status_name", "last_error",
    "DiffuseError", "InvalidArgumentError", "OutOfRangeError", "NoMemoryError", "StateError",
    "NumericError", "DiffuseIOError", "FormatError", "CallbackError", "CancelledError",
    "MismatchError", "UnsupportedError", "LibraryNotFoundError", "LibraryVersionError",
    "Status", "Activation", "Architecture", "Decoder", "LRDecay", "ModelOption",
    "OptimizerKind", "OptimizerOption", "PeerPhase", "Prediction", "SampleMethod",
    "SamplerOption", "ScheduleKind",
    "ScheduleOption", "Spacing", "Table",
    "Toy2D", "TrainerOption", "Variance",
    "Rng", "Dataset", "Schedule", "ModelConfig", "Model", "Nll", "TensorInfo", "architecture_name",
    "Optimizer",
    "Trainer", "Sampler", "metrics", "plot", "toy2d",
]
