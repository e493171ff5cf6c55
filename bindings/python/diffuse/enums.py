"""The C API's enumerations (values fixed forever by the headers).

Wherever the binding takes one of these, it also accepts the member's name as
a case-insensitive string ("cosine", "COSINE") or the plain int.
"""

import enum


class ScheduleKind(enum.IntEnum):
    LINEAR = 0
    SCALED_LINEAR = 1
    COSINE = 2
    SIGMOID = 3
    CUSTOM = 4


class ScheduleOption(enum.IntEnum):
    BETA_START = 0
    BETA_END = 1
    COSINE_OFFSET = 2
    MAX_BETA = 3
    SIGMOID_RANGE = 4
    ZERO_TERMINAL_SNR = 5


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


class Prediction(enum.IntEnum):
    EPSILON = 0
    V = 1
    X0 = 2


class Activation(enum.IntEnum):
    SILU = 0
    GELU = 1


class ModelOption(enum.IntEnum):
    HIDDEN_WIDTH = 0
    HIDDEN_LAYERS = 1
    TIME_EMBED_DIM = 2
    ACTIVATION = 3
    RESIDUAL = 4
    SEED = 5
    PREDICTION = 6
    TIME_MAX_PERIOD = 7


class OptimizerKind(enum.IntEnum):
    ADAM = 0
    ADAMW = 1


class LRDecay(enum.IntEnum):
    NONE = 0
    COSINE = 1
    LINEAR = 2


class OptimizerOption(enum.IntEnum):
    LEARNING_RATE = 0
    BETA1 = 1
    BETA2 = 2
    EPSILON = 3
    WEIGHT_DECAY = 4
    CLIP_NORM = 5
    EMA_DECAY = 6
    WARMUP_STEPS = 7
    DECAY = 8
    DECAY_STEPS = 9
    MIN_LEARNING_RATE = 10


class TrainerOption(enum.IntEnum):
    BATCH_SIZE = 0
    SEED = 1
    THREADS = 2


class Variance(enum.IntEnum):
    BETA = 0
    POSTERIOR = 1


class SamplerOption(enum.IntEnum):
    VARIANCE = 0
    CLIP_X0 = 1
    USE_EMA = 2
    SEED = 3
    THREADS = 4
    CHUNK_ROWS = 5


class Toy2D(enum.IntEnum):
    SWISS_ROLL = 0
    TWO_MOONS = 1
    EIGHT_GAUSSIANS = 2
    CHECKERBOARD = 3
