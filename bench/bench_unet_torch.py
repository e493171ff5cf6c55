#!/usr/bin/python3
"""PyTorch side of the U-Net benchmark (bench/unet_compare.py runs it next to
bench/bench_unet.c, with the same options; the comment at the top of
bench_unet.c says what each figure is).

The network is tests/reference/torch_equivalence.py's ReferenceUNet (the
equations of include/diffuse/model.h in torch.nn.functional, the one the
torch-equivalence test checks the library against), on parameters laid out
as the library's model (names and shapes read through the Python binding,
bindings/python), so both sides run the same architecture. Training: AdamW
(foreach), MSE on ε, random t; sampling: DDIM (η = 0) steps under
torch.inference_mode. Convolutions go through PyTorch's own CPU kernels
(oneDNN when this build has it: torch.backends.mkldnn.is_available() is
reported).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("batch", 64), ("samples", 64), ("sample-steps", 10), ("threads", 2),
                          ("repeats", 5), ("train-steps", 3), ("base", 32), ("levels", 3),
                          ("res-blocks", 2), ("attention", 4), ("conv-channels", 64),
                          ("conv-side", 28), ("conv-batch", 16)):
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    return p.parse_args(argv)


def case_of(a):
    mult = {0: 1, 1: 2, 2: 2, 3: 2, 4: 2}
    case = dict(image_channels=1, image_height=28, image_width=28, base_channels=a.base,
                levels=a.levels, res_blocks=a.res_blocks, attention_levels=a.attention, heads=4,
                groups=8, classes=0, time_max_period=10000.0)
    case.update({f"level_mult_{l}": mult[l] for l in range(a.levels)})
    return case


def layout(a):
    os.environ.setdefault("DIFFUSE_LIBRARY", os.path.join(a.build_dir, "libdiffuse.so"))
    import diffuse  # noqa: E402 (the binding, for the parameter layout only)
    options = dict(base_channels=a.base, levels=a.levels, res_blocks=a.res_blocks,
                   attention_levels=a.attention)
    model = diffuse.Model(784, arch="unet", **options)
    return [(info.name, info.shape) for info in model.tensors()]


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conv_part(a):
    """One thread, like the library's figure: forward, then backward
    (weights + input), in GFLOP/s."""
    torch.set_num_threads(1)
    c, s, n = a.conv_channels, a.conv_side, a.conv_batch
    x = torch.rand(n, c, s, s, requires_grad=True)
    w = torch.rand(c, c, 3, 3, requires_grad=True)
    b = torch.rand(c, requires_grad=True)
    flops = 2.0 * c * 9 * c * s * s * n
    forward, backward = [], []
    torch.nn.functional.conv2d(x, w, b, padding=1).sum().backward()  # warm-up
    for _ in range(a.repeats):
        with torch.no_grad():
            forward.append(flops / timed(lambda: torch.nn.functional.conv2d(x, w, b, padding=1))
                           * 1e-9)
        y = torch.nn.functional.conv2d(x, w, b, padding=1)
        g = torch.ones_like(y)
        backward.append(2 * flops / timed(lambda: y.backward(g)) * 1e-9)
    return {"channels": c, "side": s, "batch": n, "forward_gflops": forward,
            "backward_gflops": backward, "threads": 1}


def schedule():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


def train_part(a, net, params, alpha_bar):
    optimizer = torch.optim.AdamW(list(params.values()), lr=1e-3, foreach=True)
    x0 = torch.rand(a.batch, 1, 28, 28) * 2 - 1

    def step():
        t = torch.randint(0, 1000, (a.batch,))
        eps = torch.randn_like(x0)
        ab = alpha_bar[t][:, None, None, None]
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = torch.mean((net.forward(params, x_t, t, None) - eps) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rates = []
    for r in range(-1, a.repeats):
        seconds = timed(lambda: [step() for _ in range(a.train_steps)])
        if r >= 0:
            rates.append(a.train_steps / seconds)
    return rates


def sample_part(a, net, params, alpha_bar):
    ts = [round(999 - i * 1000 / a.sample_steps) for i in range(a.sample_steps)]

    def run():
        with torch.inference_mode():
            x = torch.randn(a.samples, 1, 28, 28)
            for i, t in enumerate(ts):
                tt = torch.full((a.samples,), t, dtype=torch.int64)
                eps = net.forward(params, x, tt, None)
                ab = alpha_bar[t]
                ab_next = alpha_bar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
                x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
                x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps

    rates = []
    for r in range(-1, a.repeats):
        seconds = timed(run)
        if r >= 0:
            rates.append(a.samples * a.sample_steps / seconds)
    return rates


def main(argv):
    a = parse_args(argv)
    from torch_equivalence import ReferenceUNet  # noqa: E402
    shapes = layout(a)
    result = {"side": "pytorch", "torch": torch.__version__,
              "mkldnn": torch.backends.mkldnn.is_available(), "threads": a.threads,
              "batch": a.batch, "conv": conv_part(a)}
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    params = {}
    for name, shape in shapes:
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
        params[name] = ((torch.rand(shape) * 2 - 1) / math.sqrt(fan_in)).requires_grad_()
    net, alpha_bar = ReferenceUNet(case_of(a)), schedule()
    result["train_steps_per_s"] = train_part(a, net, params, alpha_bar)
    result["sample_image_steps_per_s"] = sample_part(a, net, params, alpha_bar)
    result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
