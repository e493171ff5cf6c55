#!/usr/bin/env python3
"""Cross-checks optim_reference.py against PyTorch's own Adam and AdamW.

Not run by ctest (PyTorch is optional): the C test compares the library with
optim_reference.py, and this script shows that optim_reference.py agrees with
torch.optim, in float64, for every case it generates:

    /usr/bin/python3 tests/reference/optim_torch_check.py

torch.optim.Adam's weight_decay is the L2 term g + λθ and AdamW's the
decoupled θ ← θ − lr·λ·θ; the decay mask becomes two parameter groups (rank
>= 2 with λ, the rest with 0). The schedule sets each group's lr before the
step. Clipping is done by hand because torch.nn.utils.clip_grad_norm_ divides
by ‖g‖ + 1e-6 rather than ‖g‖. EMA is done by hand (torch has no built-in).
Exits non-zero on a mismatch.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optim_reference as ref  # noqa: E402


def run_torch(case, params, grads):
    tensors = []  # (parameter, offset, count, decayed)
    for _name, offset, shape in ref.TENSORS:
        count = 1
        for dim in shape:
            count *= dim
        p = torch.tensor(params[offset:offset + count], dtype=torch.float64,
                         requires_grad=True)
        tensors.append((p, offset, count, len(shape) >= 2))
    groups = [
        {"params": [t[0] for t in tensors if t[3]], "weight_decay": case["wd"]},
        {"params": [t[0] for t in tensors if not t[3]], "weight_decay": 0.0},
    ]
    kind = torch.optim.AdamW if case["kind"] == ref.ADAMW else torch.optim.Adam
    opt = kind(groups, lr=case["lr"], betas=(case["beta1"], case["beta2"]), eps=case["eps"])
    ema = None
    for s in range(ref.STEPS):
        g = torch.tensor(grads[s], dtype=torch.float64)
        if case["clip"] > 0.0:
            g = g * min(1.0, case["clip"] / g.norm().item())
        for p, offset, count, _ in tensors:
            p.grad = g[offset:offset + count].clone()
        for group in opt.param_groups:
            group["lr"] = ref.learning_rate(case, s)
        if case["ema"] > 0.0 and ema is None:
            ema = [p.detach().clone() for p, *_ in tensors]
        opt.step()
        if ema is not None:
            d = case["ema"]
            ema = [d * e + (1.0 - d) * p.detach() for e, (p, *_) in zip(ema, tensors)]
    flat = lambda xs: torch.cat([x.reshape(-1) for x in xs]).tolist()  # noqa: E731
    state = [opt.state[p] for p, *_ in tensors]
    return (flat([p.detach() for p, *_ in tensors]), flat([s["exp_avg"] for s in state]),
            flat([s["exp_avg_sq"] for s in state]), flat(ema) if ema is not None else None)


def max_relative_error(a, b):
    scale = max(abs(x) for x in b) or 1.0
    return max(abs(x - y) / scale for x, y in zip(a, b))


def main():
    params, grads = ref.make_inputs()
    worst = 0.0
    for case in ref.CASES:
        expected = ref.run_case(case, params, grads)[:4]
        got = run_torch(case, params, grads)
        errors = [max_relative_error(g, e) for g, e in zip(got, expected) if e is not None]
        print("%-16s torch vs reference: max relative error %.2e" % (case["name"], max(errors)))
        worst = max(worst, max(errors))
    if worst > 1e-12:
        print("MISMATCH")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
