#!/usr/bin/env python3
"""Reference values for the optimizer tests (tests/test_optim.c).

An independent, textbook, double-precision implementation of
  - Adam (Kingma & Ba 2015) with L2 weight decay folded into the gradient,
  - AdamW (Loshchilov & Hutter 2019) with decoupled weight decay,
  - decay only of tensors of rank >= 2,
  - global-norm gradient clipping g <- g * min(1, c / ||g||_2),
  - learning rate: linear warm-up lr*(s+1)/W, then cosine or linear decay
    from lr to lr_min over D steps, lr_min afterwards,
  - EMA of the weights, started as a copy of the weights before the first
    step: ema <- d*ema + (1-d)*theta after each step.

Standard library only; deterministic. Writes optim_reference.h next to this
file (or to the path given as the first argument):

    /usr/bin/python3 tests/reference/optim_reference.py

The inputs (initial parameters, gradients) are rounded to float32 before use,
so the C test starts from exactly the same numbers.
"""
import math
import os
import struct
import sys

ADAM, ADAMW = 0, 1
DECAY_NONE, DECAY_COSINE, DECAY_LINEAR = 0, 1, 2

# The test model: (name, offset, shape). Rank = len(shape).
TENSORS = [
    ("layer0.weight", 0, (3, 4)),
    ("layer0.bias", 12, (3,)),
    ("conv.weight", 15, (2, 1, 1, 2)),
    ("conv.bias", 19, (2,)),
    ("out.weight", 21, (1, 3)),
    ("out.bias", 24, (1,)),
]
PARAM_COUNT = 25
STEPS = 5
# Per-step gradient scales: some steps above the clipping threshold, some below.
GRAD_SCALES = [1.0, 0.05, 0.3, 2.0, 0.1]


def to_float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


class Lcg:
    """64-bit linear congruential generator (Knuth's MMIX constants)."""

    def __init__(self, seed):
        self.state = seed

    def uniform(self, lo, hi):
        self.state = (6364136223846793005 * self.state + 1442695040888963407) % 2**64
        return lo + (hi - lo) * (self.state >> 11) / 2**53


def make_inputs():
    rng = Lcg(20240601)
    params = [to_float32(rng.uniform(-1.0, 1.0)) for _ in range(PARAM_COUNT)]
    grads = []
    for s in range(STEPS):
        row = [to_float32(GRAD_SCALES[s] * rng.uniform(-2.0, 2.0)) for _ in range(PARAM_COUNT)]
        row[(3 * s + 7) % PARAM_COUNT] = 0.0  # exact zeros exercise epsilon
        grads.append(row)
    return params, grads


def decay_mask():
    """True for the parameters of tensors of rank >= 2."""
    mask = [False] * PARAM_COUNT
    for _name, offset, shape in TENSORS:
        count = 1
        for dim in shape:
            count *= dim
        for i in range(offset, offset + count):
            mask[i] = len(shape) >= 2
    return mask


def learning_rate(case, s):
    lr, lr_min = case["lr"], case["min_lr"]
    warmup, decay, decay_steps = case["warmup"], case["decay"], case["decay_steps"]
    if s < warmup:
        return lr * (s + 1) / warmup
    if decay == DECAY_NONE:
        return lr
    k = s - warmup
    if k >= decay_steps:
        return lr_min
    p = k / decay_steps
    if decay == DECAY_COSINE:
        return lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * p)) / 2.0
    return lr - (lr - lr_min) * p


def run_case(case, params, grads, steps=STEPS):
    """Returns (theta, m, v, ema or None, [lr_s]) after `steps` steps."""
    mask = decay_mask()
    theta = list(params)
    m = [0.0] * PARAM_COUNT
    v = [0.0] * PARAM_COUNT
    ema = None
    b1, b2, eps, wd = case["beta1"], case["beta2"], case["eps"], case["wd"]
    rates = []
    for s in range(steps):
        g = list(grads[s])
        norm = math.sqrt(sum(x * x for x in g))
        if case["clip"] > 0.0:
            factor = min(1.0, case["clip"] / norm)
            g = [x * factor for x in g]
        lr = learning_rate(case, s)
        rates.append(lr)
        if case["ema"] > 0.0 and ema is None:
            ema = list(theta)
        k = s + 1
        for i in range(PARAM_COUNT):
            gi = g[i]
            if mask[i] and case["kind"] == ADAM:
                gi += wd * theta[i]
            if mask[i] and case["kind"] == ADAMW:
                theta[i] -= lr * wd * theta[i]
            m[i] = b1 * m[i] + (1.0 - b1) * gi
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi
            m_hat = m[i] / (1.0 - b1**k)
            v_hat = v[i] / (1.0 - b2**k)
            theta[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        if ema is not None:
            d = case["ema"]
            ema = [d * e + (1.0 - d) * t for e, t in zip(ema, theta)]
    return theta, m, v, ema, rates


def case(name, kind, **options):
    c = dict(name=name, kind=kind, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
             wd=0.01 if kind == ADAMW else 0.0, clip=0.0, ema=0.0, warmup=0,
             decay=DECAY_NONE, decay_steps=0, min_lr=0.0)
    c.update(options)
    return c


CASES = [
    # Everything at once: decoupled decay, clipping on some steps, EMA,
    # warm-up over steps 0-1, then cosine decay over steps 2-5.
    case("adamw_full", ADAMW, lr=0.01, wd=0.1, clip=1.0, ema=0.9, warmup=2,
         decay=DECAY_COSINE, decay_steps=4, min_lr=0.001),
    # L2 decay through the gradient, other betas/epsilon, linear decay that
    # reaches its floor at step 3.
    case("adam_l2_linear", ADAM, lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, wd=0.05,
         decay=DECAY_LINEAR, decay_steps=3, min_lr=0.005),
    # Clipping on every step but step 1, EMA, no schedule; an epsilon large
    # enough to matter next to sqrt(v_hat).
    case("adam_clip_ema", ADAM, lr=0.005, eps=1e-3, clip=0.5, ema=0.99),
    # The defaults.
    case("adamw_defaults", ADAMW),
]

# (lr, lr_min, warmup, decay, decay_steps, [steps]) for schedule values.
SCHEDULES = [
    (1e-3, 1e-5, 10, DECAY_COSINE, 100, [0, 4, 9, 10, 11, 35, 60, 85, 109, 110, 111, 5000]),
    (0.1, 0.01, 0, DECAY_LINEAR, 50, [0, 1, 25, 49, 50, 51, 1000]),
    (0.3, 0.0, 5, DECAY_NONE, 0, [0, 2, 4, 5, 1000]),
    (0.5, 0.0, 3, DECAY_COSINE, 1, [0, 1, 2, 3, 4, 5]),
    (0.2, 0.2, 0, DECAY_COSINE, 7, [0, 3, 6, 7, 8]),
    (0.01, 0.001, 4, DECAY_LINEAR, 8, [0, 3, 4, 8, 11, 12, 13]),
]


def c_double(x):
    return repr(float(x))


def c_float(x):
    text = "%.9g" % x
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def c_array(values, fmt, indent="    ", per_line=4):
    items = [fmt(x) for x in values]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n" + ",\n".join(indent + "    " + line for line in lines) + "\n" + indent + "}"


def generate():
    params, grads = make_inputs()
    out = []
    w = out.append
    w("/* Generated by tests/reference/optim_reference.py; do not edit. */")
    w("#ifndef OPTIM_REFERENCE_H")
    w("#define OPTIM_REFERENCE_H")
    w("")
    w("#define OPTIM_REF_PARAM_COUNT %d" % PARAM_COUNT)
    w("#define OPTIM_REF_STEPS %d" % STEPS)
    w("#define OPTIM_REF_TENSOR_COUNT %d" % len(TENSORS))
    w("")
    w("typedef struct optim_ref_tensor {")
    w("    const char *name;")
    w("    size_t offset, rank, shape[4];")
    w("} optim_ref_tensor;")
    w("")
    w("static const optim_ref_tensor optim_ref_tensors[OPTIM_REF_TENSOR_COUNT] = {")
    for name, offset, shape in TENSORS:
        dims = ", ".join(str(d) for d in shape)
        w('    {"%s", %d, %d, {%s}},' % (name, offset, len(shape), dims))
    w("};")
    w("")
    w("static const float optim_ref_initial_params[OPTIM_REF_PARAM_COUNT] = %s;"
      % c_array(params, c_float, ""))
    w("")
    w("static const float optim_ref_grads[OPTIM_REF_STEPS][OPTIM_REF_PARAM_COUNT] = {")
    for row in grads:
        w("    %s," % c_array(row, c_float, "    "))
    w("};")
    w("")
    w("typedef struct optim_ref_case {")
    w("    const char *name;")
    w("    int kind; /* diffuse_optimizer_kind */")
    w("    double lr, beta1, beta2, eps, weight_decay, clip_norm, ema_decay, min_lr;")
    w("    int warmup, decay, decay_steps;")
    w("    double rates[OPTIM_REF_STEPS]; /* lr_s of steps 0..STEPS-1 */")
    w("    double params[OPTIM_REF_PARAM_COUNT], m[OPTIM_REF_PARAM_COUNT],")
    w("        v[OPTIM_REF_PARAM_COUNT], ema[OPTIM_REF_PARAM_COUNT]; /* after STEPS steps */")
    w("} optim_ref_case;")
    w("")
    w("static const optim_ref_case optim_ref_cases[] = {")
    for c in CASES:
        theta, m, v, ema, rates = run_case(c, params, grads)
        if ema is None:
            ema = [0.0] * PARAM_COUNT
        w("    {")
        w('        "%s", %d,' % (c["name"], c["kind"]))
        w("        %s," % ", ".join(c_double(c[k]) for k in
                                     ("lr", "beta1", "beta2", "eps", "wd", "clip", "ema",
                                      "min_lr")))
        w("        %d, %d, %d," % (c["warmup"], c["decay"], c["decay_steps"]))
        for values in (rates, theta, m, v, ema):
            w("        %s," % c_array(values, c_double, "        ", 3))
        w("    },")
    w("};")
    w("")
    w("typedef struct optim_ref_rate {")
    w("    double lr, min_lr;")
    w("    int warmup, decay, decay_steps;")
    w("    unsigned step;")
    w("    double expected;")
    w("} optim_ref_rate;")
    w("")
    w("static const optim_ref_rate optim_ref_rates[] = {")
    for lr, lr_min, warmup, decay, decay_steps, steps in SCHEDULES:
        c = dict(lr=lr, min_lr=lr_min, warmup=warmup, decay=decay, decay_steps=decay_steps)
        for s in steps:
            w("    {%s, %s, %d, %d, %d, %d, %s}," % (c_double(lr), c_double(lr_min), warmup,
                                                   decay, decay_steps, s,
                                                   c_double(learning_rate(c, s))))
    w("};")
    w("")
    w("#endif")
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "optim_reference.h")
    with open(path, "w") as f:
        f.write(generate())


if __name__ == "__main__":
    main()
