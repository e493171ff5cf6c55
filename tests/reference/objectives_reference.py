#!/usr/bin/python3
"""Reference values for the training objectives and the likelihood terms.

An independent double-precision implementation written from the papers with
nothing but Python's standard library:

  * min-SNR-gamma weights (Hang et al. 2023): with SNR = abar/(1 - abar),
        eps: min(SNR, g)/SNR    x0: min(SNR, g)    v: min(SNR, g)/(SNR + 1),
    in the SNR form itself (the library uses another form that never
    divides by zero), with the limits at SNR = 0 and SNR = inf taken here by
    hand: eps 1 and 0, x0 0 and g, v 0 and 0.
  * the Gaussian terms of the variational bound (Ho et al. 2020 eq. 5,
    Nichol & Dhariwal 2021 §3.1): KL(N(m1, e^l1) || N(m2, e^l2)), the
    continuous decoder -log N(x; m, e^l) and the discretised decoder (the
    mass of x's bin, width 2/255, on the 256-level grid of [-1, 1], the outer
    bins open), each with its derivative in l by a central difference
    (h = 1e-5), not by the closed form the library uses.

It writes objectives_reference.h next to this script. Run it from anywhere:
`python3 tests/reference/objectives_reference.py`. The output is
deterministic (CI regenerates it and diffs).
"""

import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# diffuse_prediction of include/diffuse/model.h
EPSILON, V, X0 = 0, 1, 2


def min_snr_weight(kind, abar, gamma):
    if abar == 0.0:  # SNR = 0
        return {EPSILON: 1.0, X0: 0.0, V: 0.0}[kind]
    if abar == 1.0:  # SNR = inf
        return {EPSILON: 0.0, X0: gamma, V: 0.0}[kind]
    snr = abar / (1.0 - abar)
    clipped = min(snr, gamma)
    return {EPSILON: clipped / snr, X0: clipped, V: clipped / (snr + 1.0)}[kind]


def c_double(x):
    return repr(float(x))


def c_array(values, per_line=4):
    items = [c_double(v) for v in values]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n    " + ",\n    ".join(lines) + "\n}"


MIN_SNR_ABAR = [0.0, 1e-300, 1e-6, 0.05, 1.0 / 6.0, 0.5, 5.0 / 6.0, 0.9, 0.9999, 1.0 - 1e-12,
                1.0]
MIN_SNR_GAMMA = [0.5, 1.0, 5.0, 1e6]


def min_snr_section():
    out = ["#define MIN_SNR_REF_ABARS %d" % len(MIN_SNR_ABAR),
           "#define MIN_SNR_REF_GAMMAS %d" % len(MIN_SNR_GAMMA),
           "static const double min_snr_ref_abar[%d] = %s;" % (len(MIN_SNR_ABAR),
                                                              c_array(MIN_SNR_ABAR)),
           "static const double min_snr_ref_gamma[%d] = %s;" % (len(MIN_SNR_GAMMA),
                                                               c_array(MIN_SNR_GAMMA))]
    # [(kind·GAMMAS + gamma)·ABARS + abar], kind in diffuse_prediction order (eps, v, x0)
    values = [min_snr_weight(kind, a, g) for kind in (EPSILON, V, X0) for g in MIN_SNR_GAMMA
              for a in MIN_SNR_ABAR]
    out.append("static const double min_snr_ref_weight[%d] = %s;" % (len(values), c_array(values)))
    return "\n".join(out)


def kl(m1, l1, m2, l2):
    return 0.5 * (-1.0 + l2 - l1 + math.exp(l1 - l2) + (m1 - m2) ** 2 * math.exp(-l2))


def continuous_nll(x, m, l):
    return 0.5 * (math.log(2.0 * math.pi) + l + (x - m) ** 2 * math.exp(-l))


def cdf(u):
    return 0.5 * math.erfc(-u / math.sqrt(2.0))


def discretized_nll(x, m, l):
    s = math.exp(0.5 * l)
    lo, hi = (x - m - 1.0 / 255.0) / s, (x - m + 1.0 / 255.0) / s
    if x < -0.999:
        p = cdf(hi)
    elif x > 0.999:
        p = 1.0 - cdf(lo) if lo < 0 else cdf(-lo)
    else:
        p = cdf(hi) - cdf(lo) if lo <= 0 else cdf(-lo) - cdf(-hi)
    return -math.log(max(p, 1e-12))


def d_dl(f, l, h=1e-5):
    return (f(l + h) - f(l - h)) / (2.0 * h)


KL_CASES = [(0.0, 0.0, 0.0, 0.0), (0.3, -2.0, -0.1, -1.5), (1.2, -9.2, 1.19, -8.5),
            (-0.7, -4.0, 0.4, -6.0), (2.0, 0.5, -1.0, 1.0)]
# x on the grid of [-1, 1] (k/127.5 - 1), inside and at both edges
DECODER_CASES = [(0.0, 0.01, -9.0), (-1.0, -0.98, -7.0), (1.0, 0.995, -8.0),
                 (127.0 / 127.5 - 1.0, 0.2, -3.0), (40.0 / 127.5 - 1.0, -0.9, -1.0),
                 (200.0 / 127.5 - 1.0, 0.5694, -10.5), (0.2, 0.9, -12.0)]


def terms_section():
    kl_rows = []
    for m1, l1, m2, l2 in KL_CASES:
        kl_rows += [m1, l1, m2, l2, kl(m1, l1, m2, l2), d_dl(lambda l: kl(m1, l1, m2, l), l2)]
    dec_rows = []
    for x, m, l in DECODER_CASES:
        dec_rows += [x, m, l, continuous_nll(x, m, l),
                     d_dl(lambda v: continuous_nll(x, m, v), l), discretized_nll(x, m, l),
                     d_dl(lambda v: discretized_nll(x, m, v), l)]
    return "\n".join([
        "/* {m1, l1, m2, l2, KL, dKL/dl2} */",
        "#define KL_REF_CASES %d" % len(KL_CASES),
        "static const double kl_ref[%d] = %s;" % (len(kl_rows), c_array(kl_rows, 3)),
        "/* {x, mean, l, continuous nll, its d/dl, discretised nll, its d/dl} */",
        "#define DECODER_REF_CASES %d" % len(DECODER_CASES),
        "static const double decoder_ref[%d] = %s;" % (len(dec_rows), c_array(dec_rows, 3))])


def main():
    body = "\n\n".join([min_snr_section(), terms_section()])
    text = ("/* Generated by tests/reference/objectives_reference.py -- do not edit.\n"
            " * Regenerate: python3 tests/reference/objectives_reference.py */\n"
            "#ifndef DIFFUSE_OBJECTIVES_REFERENCE_H\n#define DIFFUSE_OBJECTIVES_REFERENCE_H\n\n"
            "%s\n\n#endif\n" % body)
    with open(os.path.join(HERE, "objectives_reference.h"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
