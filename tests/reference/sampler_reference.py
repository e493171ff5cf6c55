#!/usr/bin/python3
"""Reference trajectories for the sampler (DDPM, DDIM, DPM-Solver++ 2M).

An independent double-precision implementation, written from the papers and
the reference implementations' formulas rather than from the C code:

  timesteps  diffusers' set_timesteps (numpy): leading, trailing, linspace
  DDPM       improved-diffusion's respacing (a new chain whose betas are
             1 - abar[t_k] / abar[t_{k-1}] over the kept steps, ascending),
             stepped with its q_posterior mean from x0 (Ho et al. 2020)
  DDIM       Song et al. 2021 eq. 12 / 16 (diffusers DDIMScheduler.step with
             use_clipped_model_output, improved-diffusion ddim_sample)
  DPM++ 2M   Lu et al. 2022 (diffusers DPMSolverMultistepScheduler,
             dpmsolver++, solver_order 2, midpoint), in the lambda/h form
  threshold  Saharia et al. 2022 (diffusers _threshold_sample, numpy quantile)

on a deterministic test model, the exact eps of a Gaussian N(MU, S^2 I) plus
a fixed non-linear perturbation, read as eps, x0 or v. Noise: Philox from
rng_reference.py, as include/diffuse/sampler.h describes. It writes
sampler_reference.h next to this script (deterministic; CI can diff it).

Usage: /usr/bin/python3 tests/reference/sampler_reference.py
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rng_reference  # noqa: E402
import schedule_reference  # noqa: E402

T = 1000
ROWS, DIM, SEED = 3, 4, 7
MU, S = 0.5, 0.8
EPS, X0, V = 0, 1, 2            # diffuse_prediction
DDPM, DDIM, DPMPP = 0, 1, 2     # diffuse_sample_method
LEADING, TRAILING, LINSPACE, KARRAS = 0, 1, 2, 3
BETA, POSTERIOR = 0, 1          # diffuse_variance

ABAR = schedule_reference.schedule("linear", T, {})["alpha_bar"]


# ---- the test model -----------------------------------------------------------

def model_eps(x, t):
    """eps(x, t) per row: the Gaussian's E[eps | x_t] + 0.1 sin(x_{j+1} + t/500)."""
    a = ABAR[t]
    var = a * S * S + 1 - a
    out = []
    for row in x:
        out.append([math.sqrt(1 - a) * (row[j] - math.sqrt(a) * MU) / var
                    + 0.1 * math.sin(row[(j + 1) % DIM] + t / 500.0) for j in range(DIM)])
    return out


def model_output(x, t, kind):
    a = ABAR[t]
    eps = model_eps(x, t)
    x0 = [[(x[i][j] - math.sqrt(1 - a) * eps[i][j]) / math.sqrt(a) for j in range(DIM)]
          for i in range(ROWS)]
    if kind == EPS:
        return eps
    if kind == X0:
        return x0
    return [[math.sqrt(a) * eps[i][j] - math.sqrt(1 - a) * x0[i][j] for j in range(DIM)]
            for i in range(ROWS)]


def estimates(out, x, t, kind):
    """(x0_hat, eps_hat) from the model output (Ho et al.; Salimans & Ho 2022)."""
    a = ABAR[t]
    sa, sb = math.sqrt(a), math.sqrt(1 - a)
    x0 = np.empty((ROWS, DIM))
    eps = np.empty((ROWS, DIM))
    for i in range(ROWS):
        for j in range(DIM):
            f, xt = out[i][j], x[i][j]
            if kind == EPS:
                x0[i, j], eps[i, j] = (xt - sb * f) / sa, f
            elif kind == X0:
                x0[i, j], eps[i, j] = f, (xt - sa * f) / sb
            else:
                x0[i, j], eps[i, j] = sa * xt - sb * f, sb * xt + sa * f
    return x0, eps


def process_x0(x0, o):
    if o.get("percentile", 0) > 0:
        s = np.quantile(np.abs(x0), o["percentile"], axis=1)
        s = np.clip(s, 1.0, o["threshold_max"])[:, None]
        return np.clip(x0, -s, s) / s, True
    if o.get("clip", 0) > 0:
        return np.clip(x0, -o["clip"], o["clip"]), True
    return x0, False


def noise(t):
    return np.array([[rng_reference.normal(SEED, t + 1, i * DIM + j) for j in range(DIM)]
                     for i in range(ROWS)])


# ---- timesteps (diffusers set_timesteps) --------------------------------------

def sigma_to_t(sigma, log_sigmas):
    """diffusers' _sigma_to_t, transcribed."""
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma - log_sigmas[:, np.newaxis]
    low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low, high = log_sigmas[low_idx], log_sigmas[high_idx]
    w = np.clip((low - log_sigma) / (low - high), 0, 1)
    return ((1 - w) * low_idx + w * high_idx).reshape(sigma.shape)


def karras(n, rho=7.0):
    """diffusers' use_karras_sigmas timesteps (_convert_to_karras), with
    alpha_bar = 0 read as a quarter of the smallest positive one; repeated
    entries kept once."""
    ab = np.array(ABAR)
    ab = np.where(ab > 0, ab, ab[ab > 0].min() / 4)
    sigmas = ((1 - ab) / ab) ** 0.5
    log_sigmas = np.log(sigmas)
    sigma_min, sigma_max = sigmas[0], sigmas[-1]
    ramp = np.linspace(0, 1, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    ks = (max_inv + ramp * (min_inv - max_inv)) ** rho
    ts = np.array([sigma_to_t(np.array(k), log_sigmas) for k in ks]).round().astype(np.int64)
    out = []
    for t in ts.tolist():
        if not out or out[-1] != t:
            out.append(t)
    return out


def timesteps(spacing, n):
    if spacing == KARRAS:
        return karras(n)
    if spacing == LINSPACE:
        return np.linspace(0, T - 1, n).round()[::-1].astype(np.int64).tolist()
    if spacing == LEADING:
        return (np.arange(0, n) * (T // n)).round()[::-1].astype(np.int64).tolist()
    return (np.round(np.arange(T, 0, -T / n)) - 1).astype(np.int64).tolist()[:n]


# ---- the methods ----------------------------------------------------------------

def ddpm(x, out, k, ts, kind, o):
    """improved-diffusion: the respaced chain over sorted(ts), q_posterior."""
    use = sorted(ts)
    betas, last = [], 1.0
    for t in use:
        betas.append(1 - ABAR[t] / last)
        last = ABAR[t]
    t = ts[k]
    m = use.index(t)
    ab, ab_prev = ABAR[t], (ABAR[use[m - 1]] if m > 0 else 1.0)
    beta = betas[m]
    x0, _ = estimates(out, x, t, kind)
    x0, _ = process_x0(x0, o)
    mean = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + \
        (math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)) * np.array(x)
    if m == 0:
        return mean, x0
    var = beta if o.get("variance", BETA) == BETA else (1 - ab_prev) / (1 - ab) * beta
    return mean + math.sqrt(var) * noise(t), x0


def prev_alpha_bar(k, ts, o):
    if k + 1 < len(ts):
        return ABAR[ts[k + 1]]
    return 1.0 if o.get("final_one", 1) else ABAR[0]


def ddim(x, out, k, ts, kind, o):
    t = ts[k]
    ab, ab_prev = ABAR[t], prev_alpha_bar(k, ts, o)
    x0, eps = estimates(out, x, t, kind)
    x0, processed = process_x0(x0, o)
    if processed:  # use_clipped_model_output
        eps = (np.array(x) - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    variance = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)
    std = o.get("eta", 0.0) * math.sqrt(variance)
    prev = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - std ** 2) * eps
    if std > 0:
        prev = prev + std * noise(t)
    return prev, x0


def dpmpp(x, out, k, ts, kind, o, history):
    t = ts[k]
    ab, ab_prev = ABAR[t], prev_alpha_bar(k, ts, o)
    x0, _ = estimates(out, x, t, kind)
    x0, _ = process_x0(x0, o)
    last = k == len(ts) - 1
    lower = last and (o.get("final_one", 1) or (o.get("lower_final", 1) and len(ts) < 15))
    first_order = not history or lower
    x = np.array(x)
    if ab_prev == 1.0:  # sigma_t = 0, lambda_t = inf: the limit is D0
        prev = x0
    else:
        def lam(a):
            return math.log(math.sqrt(a)) - math.log(math.sqrt(1 - a))
        alpha_t, sigma_t = math.sqrt(ab_prev), math.sqrt(1 - ab_prev)
        sigma_s0 = math.sqrt(1 - ab)
        h = lam(ab_prev) - lam(ab)
        if first_order:
            prev = (sigma_t / sigma_s0) * x - alpha_t * (math.exp(-h) - 1.0) * x0
        else:
            m1, t1 = history
            h0 = lam(ab) - lam(ABAR[t1])
            r0 = h0 / h
            d0, d1 = x0, (1.0 / r0) * (x0 - m1)
            prev = ((sigma_t / sigma_s0) * x - alpha_t * (math.exp(-h) - 1.0) * d0
                    - 0.5 * alpha_t * (math.exp(-h) - 1.0) * d1)
    history[:] = [x0, t]
    return prev, x0


def trajectory(case, kind):
    """x after every step, starting from x ~ N(0, I) (Philox stream 0)."""
    ts = case["list"]
    o = case["options"]
    x = [[rng_reference.normal(SEED, 0, i * DIM + j) for j in range(DIM)] for i in range(ROWS)]
    states, history = [], []
    for k, t in enumerate(ts):
        out = model_output(x, t, kind)
        if case["method"] == DDPM:
            x, _ = ddpm(x, out, k, ts, kind, o)
        elif case["method"] == DDIM:
            x, _ = ddim(x, out, k, ts, kind, o)
        else:
            x, _ = dpmpp(x, out, k, ts, kind, o, history)
        x = x.tolist()
        states.append(x)
    return states


CASES = [
    ("ddpm_every_beta", DDPM, LEADING, 0, {"variance": BETA}),
    ("ddpm_every_posterior", DDPM, LEADING, 0, {"variance": POSTERIOR}),
    ("ddpm_leading50_beta", DDPM, LEADING, 50, {"variance": BETA}),
    ("ddpm_trailing25_posterior_clip", DDPM, TRAILING, 25, {"variance": POSTERIOR, "clip": 1.0}),
    ("ddpm_list", DDPM, None, [999, 700, 400, 123, 5], {"variance": BETA}),
    ("ddim_leading50", DDIM, LEADING, 50, {}),
    ("ddim_trailing20_eta05", DDIM, TRAILING, 20, {"eta": 0.5}),
    ("ddim_linspace10_eta1_final_a0", DDIM, LINSPACE, 10, {"eta": 1.0, "final_one": 0}),
    ("ddim_list_threshold", DDIM, None, [999, 700, 400, 123, 5],
     {"percentile": 0.9, "threshold_max": 1.5}),
    ("dpmpp_leading20", DPMPP, LEADING, 20, {}),
    ("dpmpp_trailing10", DPMPP, TRAILING, 10, {}),
    ("dpmpp_trailing25_final_a0_second_order", DPMPP, TRAILING, 25,
     {"final_one": 0, "lower_final": 0}),
    ("dpmpp_trailing8_final_a0_lower", DPMPP, TRAILING, 8, {"final_one": 0}),
    ("dpmpp_leading20_threshold", DPMPP, LEADING, 20, {"percentile": 0.95, "threshold_max": 2.0}),
    ("dpmpp_karras20", DPMPP, KARRAS, 20, {}),
    ("ddim_karras50", DDIM, KARRAS, 50, {}),
]
MAX_CHECKPOINTS = 12


def checkpoints(count):
    """The steps recorded: all of short lists, about every count/10th else, and the last."""
    if count <= MAX_CHECKPOINTS:
        return list(range(count))
    stride = -(-count // (MAX_CHECKPOINTS - 1))
    return sorted(set(list(range(0, count, stride)) + [count - 1]))


# ---- exact-score moments ----------------------------------------------------------
#
# With the exact eps of data N(GAUSS_MU, GAUSS_S^2) every estimate is affine in
# x_t, so each method's chain is affine in x_T plus independent Gaussian noise:
# x = p x_T + q + N(0, w). Starting from x_T ~ N(0, 1) the samples are
# N(q, p^2 + w): the moments a method must reproduce, computed here exactly.
# They differ from the data's where the method itself is biased (DDIM's few
# steps shrink the variance; every deterministic method keeps the prior's
# mismatch sqrt(abar_{T-1}) mu), so the report lists both.

GAUSS_MU, GAUSS_S = 1.5, 0.5
EXACT_STEPS = (1000, 100, 50, 20)
EXACT_METHODS = [("ddpm_beta", DDPM, {"variance": BETA}),
                 ("ddpm_posterior", DDPM, {"variance": POSTERIOR}),
                 ("ddim", DDIM, {}),
                 ("ddim_eta1", DDIM, {"eta": 1.0}),
                 ("dpmpp", DPMPP, {})]


def gauss_estimates(t):
    """x0_hat = c0 + c1 x, eps_hat = e0 + e1 x (E[. | x_t] of the Gaussian)."""
    a = ABAR[t]
    v = a * GAUSS_S ** 2 + 1 - a
    e1, e0 = math.sqrt(1 - a) / v, -math.sqrt(1 - a) * math.sqrt(a) * GAUSS_MU / v
    c1 = (1 - math.sqrt(1 - a) * e1) / math.sqrt(a)
    c0 = -math.sqrt(1 - a) * e0 / math.sqrt(a)
    return (c0, c1), (e0, e1)


def exact_moments(method, ts, o):
    """(mean, std) of the samples the chain gives on the exact score."""
    p, q, w = 1.0, 0.0, 0.0
    previous = None  # DPM-Solver++: x0_hat of the previous entry, as (p, q, w), and its t
    for k, t in enumerate(ts):
        a, ap = ABAR[t], prev_alpha_bar(k, ts, o) if method != DDPM else (
            ABAR[ts[k + 1]] if k + 1 < len(ts) else 1.0)
        (c0, c1), (e0, e1) = gauss_estimates(t)
        x0 = (c1 * p, c0 + c1 * q, c1 * c1 * w)
        if method == DDPM:
            beta = 1 - a / ap
            ca, cb = math.sqrt(ap) * beta / (1 - a), math.sqrt(1 - beta) * (1 - ap) / (1 - a)
            gain, shift = ca * c1 + cb, ca * c0
            var = 0.0 if k + 1 == len(ts) else (
                beta if o["variance"] == BETA else (1 - ap) / (1 - a) * beta)
            p, q, w = gain * p, gain * q + shift, gain * gain * w + var
        elif method == DDIM:
            var = o.get("eta", 0.0) ** 2 * (1 - ap) / (1 - a) * (1 - a / ap)
            d = math.sqrt(1 - ap - var)
            gain, shift = math.sqrt(ap) * c1 + d * e1, math.sqrt(ap) * c0 + d * e0
            p, q, w = gain * p, gain * q + shift, gain * gain * w + var
        else:  # deterministic: w stays 0
            cx = math.sqrt(1 - ap) / math.sqrt(1 - a)
            cd = math.sqrt(ap) - math.sqrt(a) * math.sqrt(1 - ap) / math.sqrt(1 - a)
            kk = 0.0
            if previous is not None and k + 1 < len(ts):
                def lam(x):
                    return 0.5 * math.log(x / (1 - x))
                kk = (lam(ap) - lam(a)) / (2 * (lam(a) - lam(ABAR[previous[1]])))
            dp = (1 + kk) * x0[0] - (kk * previous[0][0] if kk else 0.0)
            dq = (1 + kk) * x0[1] - (kk * previous[0][1] if kk else 0.0)
            previous = (x0, t)
            p, q = cx * p + cd * dp, cx * q + cd * dq
    return q, math.sqrt(p * p + w)


def moments_lines():
    lines = ["", "/* Exact-score moments: data N(MU, S^2), trailing spacing. */",
             "#define SAMPLER_REF_GAUSS_MU %s" % repr(GAUSS_MU),
             "#define SAMPLER_REF_GAUSS_S %s" % repr(GAUSS_S), "",
             "typedef struct sampler_ref_moments {",
             "    const char *name;",
             "    int method, variance;",
             "    double eta;",
             "    size_t steps;",
             "    double mean, std; /* of the samples on the exact score */",
             "} sampler_ref_moments;", "",
             "static const sampler_ref_moments sampler_ref_exact[] = {"]
    for name, method, o in EXACT_METHODS:
        for n in EXACT_STEPS:
            mean, std = exact_moments(method, timesteps(TRAILING, n), o)
            lines.append("    {\"%s/%d\", %d, %d, %s, %d, %s, %s}," % (
                name, n, method, o.get("variance", BETA), repr(float(o.get("eta", 0.0))), n,
                repr(mean), repr(std)))
    return lines + ["};"]


def c_double(x):
    return repr(float(x))


def header():
    lines = ["/* Generated by tests/reference/sampler_reference.py -- do not edit.",
             " * Regenerate: /usr/bin/python3 tests/reference/sampler_reference.py */",
             "#ifndef DIFFUSE_SAMPLER_REFERENCE_H", "#define DIFFUSE_SAMPLER_REFERENCE_H", "",
             "#include <stddef.h>", "#include <stdint.h>", "",
             "#define SAMPLER_REF_T %d" % T, "#define SAMPLER_REF_ROWS %d" % ROWS,
             "#define SAMPLER_REF_DIM %d" % DIM, "#define SAMPLER_REF_SEED %d" % SEED,
             "#define SAMPLER_REF_MU %s" % c_double(MU), "#define SAMPLER_REF_S %s" % c_double(S),
             "#define SAMPLER_REF_MAX_CHECKPOINTS %d" % MAX_CHECKPOINTS, "",
             "typedef struct sampler_ref_case {",
             "    const char *name;",
             "    int method, prediction; /* diffuse_sample_method, diffuse_prediction */",
             "    int spacing;            /* diffuse_spacing, or -1: `list` given explicitly */",
             "    size_t steps;           /* STEPS (0: T) */",
             "    int variance, final_one, lower_final;",
             "    double eta, clip, percentile, threshold_max;",
             "    size_t count;           /* list entries */",
             "    const int32_t *list;",
             "    size_t checkpoint_count;",
             "    size_t checkpoints[SAMPLER_REF_MAX_CHECKPOINTS]; /* step indices */",
             "    /* x after step checkpoints[c] */",
             "    double x[SAMPLER_REF_MAX_CHECKPOINTS][SAMPLER_REF_ROWS * SAMPLER_REF_DIM];",
             "} sampler_ref_case;", ""]
    body = []
    for name, method, spacing, steps, o in CASES:
        if isinstance(steps, list):
            ts, steps_opt, spacing_c = steps, 0, -1
        else:
            ts = timesteps(spacing, steps if steps else T)
            steps_opt, spacing_c = steps, spacing
        lines.append("static const int32_t sampler_ref_list_%s[%d] = {%s};"
                     % (name, len(ts), ", ".join(str(t) for t in ts)))
        for kind in (EPS, X0, V):
            states = trajectory({"list": ts, "method": method, "options": o}, kind)
            marks = checkpoints(len(ts))
            xs = ",\n        ".join("{" + ", ".join(c_double(v) for row in states[c] for v in row)
                                    + "}" for c in marks)
            body.append(
                "    {\"%s/%s\", %d, %d, %d, %d, %d, %d, %d, %s, %s, %s, %s, %d, sampler_ref_list_%s,"
                "\n     %d, {%s},\n       {%s}}," % (
                    name, ("eps", "x0", "v")[kind], method, kind, spacing_c, steps_opt,
                    o.get("variance", BETA), o.get("final_one", 1), o.get("lower_final", 1),
                    c_double(o.get("eta", 0.0)), c_double(o.get("clip", 0.0)),
                    c_double(o.get("percentile", 0.0)), c_double(o.get("threshold_max", 1.0)),
                    len(ts), name, len(marks), ", ".join(str(c) for c in marks), xs))
    lines += ["", "static const sampler_ref_case sampler_ref_cases[] = {"] + body + ["};"]
    lines += moments_lines() + ["", "#endif", ""]
    return "\n".join(lines)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "sampler_reference.h")
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(header())


if __name__ == "__main__":
    main()
