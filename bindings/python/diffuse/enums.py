"""The C API's enumerations (values fixed forever by the headers).

Wherever the binding takes one of these, it also accepts the member's name as
a case-insensitive string ("cosine", "COSINE") or the plain int. The option
enums (ScheduleOption, ModelOption, OptimizerOption, TrainerOption,
SamplerOption) are read from the library's option introspection at import.
"""

import enum

from ._options import option_enum


class ScheduleKind(enum.IntEnum):
    LINEAR = 0
    SCALED_LINEAR = 1
    COSINE = 2
    SIGMOID = 3
    CUSTOM = 4


class Table(enum.IntEnum):
    BETA = 0
    ALPHA = 1
    ALPHA_BAR = 2
    ALPHA_BAR_PREV = 3
    SQRT_ALPHA_BAR = 4
    SQRT_ONE_MINUS_ALPHA_BAR = 5
    SQRT_RECIP_ALPHA_BAR = 6
    SQRT_RECIPM1_ALPHA_BAR = 7
    POSTERIOR_VARIANCE = 8
    POSTERIOR_LOG_VARIANCE_CLIPPED = 9
    POSTERIOR_MEAN_COEF_X0 = 10
    POSTERIOR_MEAN_COEF_XT = 11
    SNR = 12


class Architecture(enum.IntEnum):
    MLP = 0
    CALLBACK = 1
    UNET = 2


class Prediction(enum.IntEnum):
    EPSILON = 0
    V = 1
    X0 = 2


class Activation(enum.IntEnum):
    SILU = 0
    GELU = 1


class OptimizerKind(enum.IntEnum):
    ADAM = 0
    ADAMW = 1


class LRDecay(enum.IntEnum):
    NONE = 0
    COSINE = 1
    LINEAR = 2


class Variance(enum.IntEnum):
    BETA = 0
    POSTERIOR = 1
    LEARNED = 2


class Decoder(enum.IntEnum):
    DISCRETE = 0
    CONTINUOUS = 1


class SampleMethod(enum.IntEnum):
    DDPM = 0
    DDIM = 1
    DPMPP_2M = 2


class Spacing(enum.IntEnum):
    LEADING = 0
    TRAILING = 1
    LINSPACE = 2
    KARRAS = 3


class Toy2D(enum.IntEnum):
    SWISS_ROLL = 0
    TWO_MOONS = 1
    EIGHT_GAUSSIANS = 2
    CHECKERBOARD = 3


ScheduleOption = option_enum("ScheduleOption", "diffuse_schedule", ScheduleKind)
ModelOption = option_enum("ModelOption", "diffuse_model_config", Architecture)
OptimizerOption = option_enum("OptimizerOption", "diffuse_optimizer", OptimizerKind)
TrainerOption = option_enum("TrainerOption", "diffuse_trainer")
SamplerOption = option_enum("SamplerOption", "diffuse_sampler")


class PeerPhase(enum.IntEnum):
    """diffuse_peer_phase (train.h): the two exchanges of a step shared by
    several processes (diffuse_trainer_set_peers; libdiffuse_mpi uses it),
    and the reports of finished gradients between them
    (diffuse_trainer_set_peer_ready)."""
    BATCH = 0
    GRADIENTS = 1
    GRADIENTS_READY = 2


class LogLevel(enum.IntEnum):
    WARNING = 1
