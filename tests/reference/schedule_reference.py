#!/usr/bin/python3
"""Reference values for the schedule, forward and posterior units.

An independent implementation of the DDPM math in double precision, written
from the papers (Ho et al. 2020; Nichol & Dhariwal 2021; Lin et al. 2024,
Algorithm 1) with nothing but Python's standard library. It writes three C
headers next to this script:

    schedule_reference.h   every table at t in {0, 1, T/2, T-2, T-1} for each case
    forward_reference.h    q_sample, q(x_t|x_0) and q(x_t|x_{t-1}) for fixed rows
    posterior_reference.h  posterior mean/variance and the eps/x0/v conversions

Run it from anywhere: `python3 tests/reference/schedule_reference.py`.
The output is deterministic (CI regenerates the headers and diffs them).

Conventions: 0-based t = 0 .. T-1, alpha_bar_{-1} := 1. The clipped posterior
log-variance at t = 0 is log(posterior_variance[1]) and, when T = 1,
log(beta[0]).
"""

import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# Enum values of include/diffuse/schedule.h.
KINDS = {"linear": 0, "scaled_linear": 1, "cosine": 2, "sigmoid": 3, "custom": 4}
OPT_BETA_START, OPT_BETA_END, OPT_COSINE_OFFSET, OPT_MAX_BETA, OPT_SIGMOID_RANGE, \
    OPT_ZERO_TERMINAL_SNR = range(6)
TABLES = ["beta", "alpha", "alpha_bar", "alpha_bar_prev", "sqrt_alpha_bar",
          "sqrt_one_minus_alpha_bar", "sqrt_recip_alpha_bar", "sqrt_recipm1_alpha_bar",
          "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef_x0",
          "posterior_mean_coef_xt", "snr"]

DEFAULTS = {
    "linear": {"beta_start": 1e-4, "beta_end": 0.02},
    "scaled_linear": {"beta_start": 0.00085, "beta_end": 0.012},
    "cosine": {"s": 0.008, "max_beta": 0.999},
    "sigmoid": {"beta_start": 1e-4, "beta_end": 0.02, "range": 6.0},
    "custom": {},
}
OPTION_KEYS = {OPT_BETA_START: "beta_start", OPT_BETA_END: "beta_end",
               OPT_COSINE_OFFSET: "s", OPT_MAX_BETA: "max_beta",
               OPT_SIGMOID_RANGE: "range", OPT_ZERO_TERMINAL_SNR: "zero_snr"}

CUSTOM_BETAS = [0.02, 0.005, 0.1, 0.3, 0.001, 0.05, 0.5, 0.2, 0.07, 0.9, 0.15, 0.6]


# ---- beta schedules ---------------------------------------------------------

def linspace(a, b, n):
    """n points from a to b inclusive, [a] for n = 1 (numpy.linspace)."""
    if n == 1:
        return [a]
    return [(a * (n - 1 - i) + b * i) / (n - 1) for i in range(n)]


def cosine_betas(steps, s, max_beta):
    """Nichol & Dhariwal 2021, eq. 17 (improved-diffusion's betas_for_alpha_bar)."""
    def alpha_bar(u):  # u = t / T in [0, 1]
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    betas = []
    for i in range(steps):
        t1, t2 = i / steps, (i + 1) / steps
        betas.append(min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta))
    return betas


def make_betas(kind, steps, o):
    if kind == "linear":
        return linspace(o["beta_start"], o["beta_end"], steps)
    if kind == "scaled_linear":
        return [r * r for r in linspace(o["beta_start"] ** 0.5, o["beta_end"] ** 0.5, steps)]
    if kind == "sigmoid":
        span = o["beta_end"] - o["beta_start"]
        return [span / (1 + math.exp(-x)) + o["beta_start"]
                for x in linspace(-o["range"], o["range"], steps)]
    if kind == "cosine":
        return cosine_betas(steps, o["s"], o["max_beta"])
    return list(o["betas"])


def cumprod(values):
    out, acc = [], 1.0
    for v in values:
        acc *= v
        out.append(acc)
    return out


def enforce_zero_terminal_snr(betas):
    """Lin et al. 2024, Algorithm 1, transcribed."""
    alphas = [1 - b for b in betas]
    alphas_bar_sqrt = [math.sqrt(a) for a in cumprod(alphas)]
    first, last = alphas_bar_sqrt[0], alphas_bar_sqrt[-1]
    alphas_bar_sqrt = [a - last for a in alphas_bar_sqrt]
    alphas_bar_sqrt = [a * first / (first - last) for a in alphas_bar_sqrt]
    alphas_bar = [a * a for a in alphas_bar_sqrt]
    alphas = [alphas_bar[0]] + [alphas_bar[i] / alphas_bar[i - 1]
                                for i in range(1, len(alphas_bar))]
    return [1 - a for a in alphas]


def schedule(kind, steps, options):
    o = dict(DEFAULTS[kind])
    o.update(options)
    if kind == "custom":
        o.setdefault("betas", CUSTOM_BETAS)
    betas = make_betas(kind, steps, o)
    if o.get("zero_snr"):
        betas = enforce_zero_terminal_snr(betas)
    return tables(betas)


def tables(betas):
    """Every table of include/diffuse/schedule.h, as {name: list}."""
    steps = len(betas)
    alphas = [1 - b for b in betas]
    ab = cumprod(alphas)
    ab_prev = [1.0] + ab[:-1]
    inf = float("inf")
    var = [(1 - ab_prev[t]) / (1 - ab[t]) * betas[t] for t in range(steps)]
    logvar = [math.log(v) if t > 0 else None for t, v in enumerate(var)]
    logvar[0] = logvar[1] if steps > 1 else math.log(betas[0])
    return {
        "beta": betas,
        "alpha": alphas,
        "alpha_bar": ab,
        "alpha_bar_prev": ab_prev,
        "sqrt_alpha_bar": [math.sqrt(a) for a in ab],
        "sqrt_one_minus_alpha_bar": [math.sqrt(1 - a) for a in ab],
        "sqrt_recip_alpha_bar": [1 / math.sqrt(a) if a > 0 else inf for a in ab],
        "sqrt_recipm1_alpha_bar": [math.sqrt(1 / a - 1) if a > 0 else inf for a in ab],
        "posterior_variance": var,
        "posterior_log_variance_clipped": logvar,
        "posterior_mean_coef_x0": [math.sqrt(ab_prev[t]) * betas[t] / (1 - ab[t])
                                   for t in range(steps)],
        "posterior_mean_coef_xt": [math.sqrt(alphas[t]) * (1 - ab_prev[t]) / (1 - ab[t])
                                   for t in range(steps)],
        "snr": [a / (1 - a) for a in ab],
    }


# ---- C output -----------------------------------------------------------------

def c_double(x):
    if x is None or math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return repr(float(x))


def c_array(values, per_line=4, indent="    "):
    items = [c_double(v) for v in values]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n" + ",\n".join(indent + "    " + line for line in lines) + "\n" + indent + "}"


def write_header(name, guard, body):
    text = ("/* Generated by tests/reference/schedule_reference.py -- do not edit.\n"
            " * Regenerate: python3 tests/reference/schedule_reference.py */\n"
            "#ifndef %s\n#define %s\n\n"
            "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n\n%s\n#endif\n"
            % (guard, guard, body))
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(text)


# A case: (name, kind, steps, [(option, value), ...] applied in order).
SCHEDULE_CASES = [
    ("linear_1000", "linear", 1000, []),
    ("scaled_linear_1000", "scaled_linear", 1000, []),
    ("cosine_1000", "cosine", 1000, []),
    ("sigmoid_1000", "sigmoid", 1000, []),
    ("custom_12", "custom", 12, []),
    ("linear_1000_zero_snr", "linear", 1000, [(OPT_ZERO_TERMINAL_SNR, 1)]),
    ("cosine_1000_zero_snr", "cosine", 1000, [(OPT_ZERO_TERMINAL_SNR, 1)]),
    ("custom_12_zero_snr", "custom", 12, [(OPT_ZERO_TERMINAL_SNR, 1)]),
    ("linear_50_options", "linear", 50, [(OPT_BETA_START, 1e-3), (OPT_BETA_END, 0.05)]),
    ("scaled_linear_7_options", "scaled_linear", 7,
     [(OPT_BETA_END, 0.03), (OPT_BETA_START, 0.001)]),
    ("sigmoid_9_options", "sigmoid", 9,
     [(OPT_BETA_START, 1e-3), (OPT_BETA_END, 0.05), (OPT_SIGMOID_RANGE, 3.0)]),
    ("cosine_20_options", "cosine", 20, [(OPT_COSINE_OFFSET, 0.02), (OPT_MAX_BETA, 0.5)]),
    ("cosine_10_max_beta_1", "cosine", 10, [(OPT_MAX_BETA, 1.0)]),
    ("linear_1", "linear", 1, []),
    ("linear_2_zero_snr", "linear", 2, [(OPT_ZERO_TERMINAL_SNR, 1)]),
]


def case_tables(kind, steps, settings):
    options = {OPTION_KEYS[k]: v for k, v in settings}
    return schedule(kind, steps, options)


def points(steps):
    return sorted({t for t in (0, 1, steps // 2, steps - 2, steps - 1) if 0 <= t < steps})


def schedule_header():
    out = ["#define SCHEDULE_REF_TABLE_COUNT %d" % len(TABLES),
           "#define SCHEDULE_REF_MAX_POINTS 5",
           "#define SCHEDULE_REF_MAX_OPTIONS 3", "",
           "typedef struct schedule_ref_option {",
           "    int option;  /* diffuse_schedule_option */",
           "    double value; /* set with _set_int for ZERO_TERMINAL_SNR, else _set_double */",
           "} schedule_ref_option;", "",
           "typedef struct schedule_ref_case {",
           "    const char *name;",
           "    int kind; /* diffuse_schedule_kind */",
           "    size_t steps;",
           "    size_t option_count;",
           "    schedule_ref_option options[SCHEDULE_REF_MAX_OPTIONS]; /* in this order */",
           "    size_t point_count;",
           "    size_t points[SCHEDULE_REF_MAX_POINTS];",
           "    /* values[p][k] = table k (diffuse_schedule_table) at t = points[p] */",
           "    double values[SCHEDULE_REF_MAX_POINTS][SCHEDULE_REF_TABLE_COUNT];",
           "} schedule_ref_case;", "",
           "static const double schedule_ref_custom_betas[%d] = %s;" %
           (len(CUSTOM_BETAS), c_array(CUSTOM_BETAS, indent="")), "",
           "static const schedule_ref_case schedule_ref_cases[] = {"]
    for name, kind, steps, settings in SCHEDULE_CASES:
        tab = case_tables(kind, steps, settings)
        pts = points(steps)
        opts = ", ".join("{%d, %s}" % (k, c_double(v)) for k, v in settings) or "{0, 0.0}"
        rows = ",\n".join("            " + c_array([tab[k][t] for k in TABLES], 3, "            ")
                           for t in pts)
        out.append("    {\"%s\", %d, %d, %d, {%s}, %d, {%s},\n        {\n%s\n        }}," %
                   (name, KINDS[kind], steps, len(settings), opts, len(pts),
                    ", ".join(str(t) for t in pts), rows))
    out.append("};")
    return "\n".join(out) + "\n"


# ---- forward / posterior rows -------------------------------------------------

ROW_T = [0, 1, 500, 998, 999]
ROW_D = 3
ROW_CASES = [
    ("linear", "linear", 1000, []),
    ("cosine", "cosine", 1000, []),
    ("linear_zero_snr", "linear", 1000, [(OPT_ZERO_TERMINAL_SNR, 1)]),
]


def exact_floats(seed, count):
    """Values k/32 with |k| <= 48: exactly representable as float."""
    return [((i * 37 + seed * 11) % 97 - 48) / 32 for i in range(count)]


def row_inputs():
    count = len(ROW_T) * ROW_D
    return {"x0": exact_floats(1, count), "eps": exact_floats(2, count),
            "xt": exact_floats(3, count), "v": exact_floats(4, count)}


def per_element(f):
    """Applies f(t, i) to every element of the n x d batch."""
    return [f(ROW_T[i // ROW_D], i) for i in range(len(ROW_T) * ROW_D)]


def row_header_common(prefix):
    inputs = row_inputs()
    out = ["#define %s_N %d" % (prefix.upper(), len(ROW_T)),
           "#define %s_D %d" % (prefix.upper(), ROW_D), "",
           "static const int32_t %s_t[%d] = {%s};" % (prefix, len(ROW_T),
                                                 ", ".join(map(str, ROW_T)))]
    for key in ("x0", "eps", "xt", "v"):
        out.append("static const float %s_%s[%d] = %s;" %
                   (prefix, key, len(inputs[key]),
                    c_array(inputs[key], 6, "")))
    return inputs, out


def case_struct(prefix, fields):
    lines = ["typedef struct %s_case {" % prefix, "    const char *name;", "    int kind;",
             "    size_t steps;", "    int zero_terminal_snr;"]
    lines += ["    double %s;" % f for f in fields]
    lines.append("} %s_case;" % prefix)
    return lines


def forward_header():
    inputs, out = row_header_common("forward_ref")
    n, d = len(ROW_T), ROW_D
    out.append("")
    out += case_struct("forward_ref", ["xt[%d]" % (n * d), "marginal_mean[%d]" % n,
                                       "marginal_variance[%d]" % n, "step_mean[%d]" % n,
                                       "step_variance[%d]" % n])
    out += ["", "static const forward_ref_case forward_ref_cases[] = {"]
    for name, kind, steps, settings in ROW_CASES:
        tab = case_tables(kind, steps, settings)
        ab, alpha, beta = tab["alpha_bar"], tab["alpha"], tab["beta"]
        x0, eps = inputs["x0"], inputs["eps"]
        xt = per_element(lambda t, i: math.sqrt(ab[t]) * x0[i] + math.sqrt(1 - ab[t]) * eps[i])
        fields = [xt, [math.sqrt(ab[t]) for t in ROW_T], [1 - ab[t] for t in ROW_T],
                  [math.sqrt(alpha[t]) for t in ROW_T], [beta[t] for t in ROW_T]]
        zero_snr = int(any(k == OPT_ZERO_TERMINAL_SNR for k, _ in settings))
        out.append("    {\"%s\", %d, %d, %d,\n%s}," %
                   (name, KINDS[kind], steps, zero_snr,
                    ",\n".join("     " + c_array(f, 4, "     ") for f in fields)))
    out.append("};")
    return "\n".join(out) + "\n"


def posterior_header():
    inputs, out = row_header_common("posterior_ref")
    n, d = len(ROW_T), ROW_D
    names = ["mean", "x0_from_eps", "eps_from_x0", "velocity", "x0_from_v", "eps_from_v",
             "model_mean"]
    out += ["", "/* Arguments: mean(x0, xt), x0_from_eps(xt, eps), eps_from_x0(xt, x0),",
            " * velocity(x0, eps), x0_from_v(xt, v), eps_from_v(xt, v), model_mean(xt, eps).",
            " * NAN marks rows where the formula divides by zero (zero terminal SNR). */"]
    out += case_struct("posterior_ref", ["%s[%d]" % (k, n * d) for k in names] +
                       ["variance[%d]" % n, "log_variance[%d]" % n])
    out += ["", "static const posterior_ref_case posterior_ref_cases[] = {"]
    x0, eps, xt, v = inputs["x0"], inputs["eps"], inputs["xt"], inputs["v"]
    nan = float("nan")
    for name, kind, steps, settings in ROW_CASES:
        tab = case_tables(kind, steps, settings)
        ab, abp, alpha, beta = tab["alpha_bar"], tab["alpha_bar_prev"], tab["alpha"], tab["beta"]

        def mean(t, i):
            return (math.sqrt(abp[t]) * beta[t] / (1 - ab[t]) * x0[i]
                    + math.sqrt(alpha[t]) * (1 - abp[t]) / (1 - ab[t]) * xt[i])

        def x0_from_eps(t, i):
            return (xt[i] - math.sqrt(1 - ab[t]) * eps[i]) / math.sqrt(ab[t]) if ab[t] else nan

        def model_mean(t, i):
            if alpha[t] == 0:
                return nan
            return (xt[i] - beta[t] / math.sqrt(1 - ab[t]) * eps[i]) / math.sqrt(alpha[t])

        fields = [
            per_element(mean),
            per_element(x0_from_eps),
            per_element(lambda t, i: (xt[i] - math.sqrt(ab[t]) * x0[i]) / math.sqrt(1 - ab[t])),
            per_element(lambda t, i: math.sqrt(ab[t]) * eps[i] - math.sqrt(1 - ab[t]) * x0[i]),
            per_element(lambda t, i: math.sqrt(ab[t]) * xt[i] - math.sqrt(1 - ab[t]) * v[i]),
            per_element(lambda t, i: math.sqrt(1 - ab[t]) * xt[i] + math.sqrt(ab[t]) * v[i]),
            per_element(model_mean),
            [tab["posterior_variance"][t] for t in ROW_T],
            [tab["posterior_log_variance_clipped"][t] for t in ROW_T],
        ]
        zero_snr = int(any(k == OPT_ZERO_TERMINAL_SNR for k, _ in settings))
        out.append("    {\"%s\", %d, %d, %d,\n%s}," %
                   (name, KINDS[kind], steps, zero_snr,
                    ",\n".join("     " + c_array(f, 4, "     ") for f in fields)))
    out.append("};")
    return "\n".join(out) + "\n"


def main():
    write_header("schedule_reference.h", "DIFFUSE_SCHEDULE_REFERENCE_H", schedule_header())
    write_header("forward_reference.h", "DIFFUSE_FORWARD_REFERENCE_H", forward_header())
    write_header("posterior_reference.h", "DIFFUSE_POSTERIOR_REFERENCE_H", posterior_header())


if __name__ == "__main__":
    main()
