#!/usr/bin/env python3
"""Cross-checks objectives_reference.py against PyTorch, in float64.

Not run by ctest (PyTorch is optional): the C suite compares the library with
objectives_reference.py, and this script shows that the script agrees with
torch for every case it generates: the Gaussian KL with
torch.distributions.kl_divergence, the continuous decoder with
Normal.log_prob, the discretised decoder with Normal.cdf as improved-
diffusion's discretized_gaussian_log_likelihood writes it (exact CDF instead
of its tanh approximation), each derivative in the log-variance by autograd;
the min-SNR-γ weights in diffusers' compute_snr form. Exits non-zero on a
mismatch.

    /usr/bin/python3 tests/reference/objectives_torch_check.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objectives_reference as ref  # noqa: E402

D = torch.float64


def torch_kl(m1, l1, m2, l2):
    l2 = torch.tensor(l2, dtype=D, requires_grad=True)
    p = torch.distributions.Normal(torch.tensor(m1, dtype=D),
                                   torch.exp(0.5 * torch.tensor(l1, dtype=D)))
    q = torch.distributions.Normal(torch.tensor(m2, dtype=D), torch.exp(0.5 * l2))
    value = torch.distributions.kl_divergence(p, q)
    value.backward()
    return value.item(), l2.grad.item()


def torch_decoders(x, m, l):
    results = []
    for discrete in (False, True):
        lv = torch.tensor(l, dtype=D, requires_grad=True)
        normal = torch.distributions.Normal(torch.tensor(m, dtype=D), torch.exp(0.5 * lv))
        xt = torch.tensor(x, dtype=D)
        if not discrete:
            value = -normal.log_prob(xt)
        else:
            plus, minus = normal.cdf(xt + 1.0 / 255.0), normal.cdf(xt - 1.0 / 255.0)
            if x < -0.999:
                p = plus
            elif x > 0.999:
                p = 1.0 - minus
            else:
                p = plus - minus
            value = -torch.log(p.clamp(min=1e-12))
        value.backward()
        results += [value.item(), lv.grad.item()]
    return results


def min_snr_torch(kind, abar, gamma):
    snr = torch.tensor(abar, dtype=D) / (1.0 - torch.tensor(abar, dtype=D))
    clipped = torch.minimum(snr, torch.tensor(gamma, dtype=D))
    weight = {ref.EPSILON: clipped / snr, ref.X0: clipped, ref.V: clipped / (snr + 1.0)}[kind]
    return weight.item()


def close(a, b, rtol):
    return abs(a - b) <= rtol * max(1.0, abs(b))


def main():
    failures = 0
    for case in ref.KL_CASES:
        mine = (ref.kl(*case), ref.d_dl(lambda l: ref.kl(case[0], case[1], case[2], l), case[3]))
        theirs = torch_kl(*case)
        if not (close(mine[0], theirs[0], 1e-12) and close(mine[1], theirs[1], 1e-7)):
            print("KL %s: script %s, torch %s" % (case, mine, theirs))
            failures += 1
    for x, m, l in ref.DECODER_CASES:
        mine = [ref.continuous_nll(x, m, l),
                ref.d_dl(lambda v: ref.continuous_nll(x, m, v), l),
                ref.discretized_nll(x, m, l),
                ref.d_dl(lambda v: ref.discretized_nll(x, m, v), l)]
        theirs = torch_decoders(x, m, l)
        tolerances = (1e-12, 1e-7, 1e-9, 1e-6)
        if not all(close(a, b, r) for a, b, r in zip(mine, theirs, tolerances)):
            print("decoder %s: script %s, torch %s" % ((x, m, l), mine, theirs))
            failures += 1
    for kind in (ref.EPSILON, ref.V, ref.X0):
        for gamma in ref.MIN_SNR_GAMMA:
            for abar in ref.MIN_SNR_ABAR[1:-1]:  # torch gives 0/0 and inf/inf at the ends
                mine = ref.min_snr_weight(kind, abar, gamma)
                theirs = min_snr_torch(kind, abar, gamma)
                if not close(mine, theirs, 1e-12):
                    print("min-SNR kind %d gamma %g abar %g: %r vs %r" % (kind, gamma, abar, mine,
                                                                         theirs))
                    failures += 1
    print("objectives_torch_check: %d mismatches" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
