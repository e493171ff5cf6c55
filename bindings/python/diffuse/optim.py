"""Optimizer: Adam/AdamW with clipping, learning-rate schedule and EMA
(diffuse/optim.h)."""

import ctypes

from ._capi import C
from ._handle import Handle, Options, enum_member, enum_value, option_property
from ._options import option_table
from .enums import LRDecay, OptimizerKind


class Optimizer(Handle, Options):
    """The optimizer for one model's parameters.

        optimizer = diffuse.Optimizer(model, "adamw", learning_rate=2e-3,
                                      ema_decay=0.995, warmup_steps=100,
                                      decay="cosine", decay_steps=5000)

    Every option is a keyword argument and a property and may change at any
    time: learning_rate, beta1, beta2, epsilon, weight_decay, clip_norm,
    ema_decay, warmup_steps, decay ("none", "cosine", "linear"), decay_steps,
    min_learning_rate."""

    C_PREFIX = "diffuse_optimizer"
    OPTIONS = option_table("diffuse_optimizer", OptimizerKind, {"decay": LRDecay})

    def __init__(self, model, kind="adamw", **options):
        pointer = ctypes.c_void_p()
        C.diffuse_optimizer_create(ctypes.byref(pointer),
                                   enum_value(OptimizerKind, kind, "optimizer kind"), model._h)
        self._adopt(pointer, C.diffuse_optimizer_free)
        self._apply_options(options)

    @classmethod
    def _wrap(cls, pointer):
        optimizer = cls.__new__(cls)
        optimizer._adopt(pointer, C.diffuse_optimizer_free)
        return optimizer

    learning_rate = option_property("learning_rate", "Peak learning rate lr.")
    beta1 = option_property("beta1", "Adam's β1.")
    beta2 = option_property("beta2", "Adam's β2.")
    epsilon = option_property("epsilon", "Adam's ε.")
    weight_decay = option_property("weight_decay", "λ (decoupled for AdamW).")
    clip_norm = option_property("clip_norm", "Global gradient-norm clip (0: off).")
    ema_decay = option_property("ema_decay", "EMA decay of the weights (0: no EMA).")
    warmup_steps = option_property("warmup_steps", "Linear warm-up steps.")
    decay = option_property("decay", "Learning-rate decay after warm-up (LRDecay).")
    decay_steps = option_property("decay_steps", "Steps of decay after the warm-up.")
    min_learning_rate = option_property("min_learning_rate", "Floor of the decay.")

    @property
    def kind(self):
        kind = ctypes.c_int()
        C.diffuse_optimizer_get_kind(self._h, ctypes.byref(kind))
        return enum_member(OptimizerKind, kind.value)

    @property
    def step_count(self):
        """Steps taken since creation or the last reset()."""
        steps = ctypes.c_uint64()
        C.diffuse_optimizer_step_count(self._h, ctypes.byref(steps))
        return steps.value

    @property
    def current_learning_rate(self):
        """The rate the next step will use (after warm-up and decay)."""
        rate = ctypes.c_double()
        C.diffuse_optimizer_current_learning_rate(self._h, ctypes.byref(rate))
        return rate.value

    def reset(self):
        """Zeroes the moments and the step count; keeps the options."""
        C.diffuse_optimizer_reset(self._h)

    def _describe(self):
        return "%s steps=%d" % (self.kind.name.lower(), self.step_count)
