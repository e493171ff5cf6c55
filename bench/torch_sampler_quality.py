#!/usr/bin/python3
"""The quality PyTorch's samplers (bench_torch.py's DDPM, DDIM and
DPM-Solver++ 2M, trailing lists) reach with the EMA weights of a model
libdiffuse trained (a checkpoint from examples/toy2d --save or
diffuse_model_save), measured as the quality suite measures libdiffuse's
(tests/test_quality.c): over draws k = 0 … D−1, 2,000 samples against 2,000
fresh points of toy2d seed s + k + 1000003 (s: the training seed), the
energy distance (the library's, through the Python binding) and k-NN
precision (k = 3, Kynkäänniemi et al. 2019, as toy2d_recipe.c computes it),
means and standard errors. docs/performance.md puts them next to
libdiffuse's.

    PYTHONPATH=bindings/python DIFFUSE_LIBRARY=build/libdiffuse.so \\
        bench/torch_sampler_quality.py --checkpoint swiss.safetensors --data swiss_roll
"""
import argparse
import os
import statistics
import sys

import numpy as np
import torch

import diffuse

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = (("ddpm", 0), ("ddim", 50), ("dpmpp", 20))
EVALUATION_SEED_OFFSET = 1000003  # toy2d_recipe.c's TOY2D_EVALUATION_SEED_OFFSET
N = 2000
K = 3


def load_bench_torch():
    """bench_torch.py parses its command line when imported: give it one."""
    saved, sys.argv = sys.argv, [os.path.join(HERE, "bench_torch.py")]
    sys.path.insert(0, HERE)
    try:
        import bench_torch
    finally:
        sys.argv = saved
    return bench_torch


def torch_model(bench_torch, path):
    """bench_torch's DiffusionMLP with the checkpoint's EMA weights (the
    state_dict names are libdiffuse's tensor names)."""
    model, schedule = diffuse.Model.load(path)
    ema = np.asarray(model.ema_params, dtype=np.float32)
    state = {}
    for info in model.tensors:
        size = int(np.prod(info.shape))
        state[info.name] = torch.from_numpy(ema[info.offset:info.offset + size].reshape(info.shape))
    H, E = state["time_mlp.0.weight"].shape
    L = sum(1 for name in state if name.startswith("blocks.") and name.endswith(".weight"))
    T = schedule.steps
    net = bench_torch.DiffusionMLP(2, H, L, E, T)
    net.load_state_dict(state)
    return net, T


def knn_precision(samples, data):
    """Share of samples inside some data point's ball (radius: its distance
    to its K-th nearest other data point)."""
    d = data.astype(np.float64)
    d2 = ((d[:, None, :] - d[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    radius2 = np.sort(d2, axis=1)[:, K - 1]
    s = samples.astype(np.float64)
    s2 = ((s[:, None, :] - d[None, :, :]) ** 2).sum(-1)
    return float(np.mean((s2 <= radius2[None, :]).any(axis=1)))


def run(bench_torch, net, T, method, steps, seed):
    a = bench_torch.args
    a.timesteps, a.sampler, a.sampler_steps = T, method, steps
    sched = bench_torch.linear_schedule(T)
    t_rows = torch.empty(N, dtype=torch.int64)

    def forward(x, t):
        return net(x, t_rows.fill_(t))

    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        if method == "ddpm":
            x = bench_torch.sample(forward, sched, N, T, generator)
        else:
            x = bench_torch.fast_sample(forward, sched, N, generator)
    return x.numpy().astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="swiss_roll, two_moons, 8gaussians")
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--training-seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(1)
    bench_torch = load_bench_torch()
    net, T = torch_model(bench_torch, a.checkpoint)
    for method, steps in METHODS:
        ed, precision = [], []
        for k in range(a.draws):
            seed = a.training_seed + k
            data = np.asarray(diffuse.toy2d.sample(a.data, N, seed=seed + EVALUATION_SEED_OFFSET),
                              dtype=np.float32).reshape(N, 2)
            x = run(bench_torch, net, T, method, steps, seed)
            ed.append(diffuse.metrics.energy_distance(x, data))
            precision.append(knn_precision(x, data))
        se = statistics.stdev(ed) / len(ed) ** 0.5 if len(ed) > 1 else float("nan")
        print(f"{a.data} PyTorch {method}-{steps or T}: mean of {a.draws} draws: energy "
              f"distance {statistics.mean(ed):.5f} ± {se:.5f}, precision "
              f"{statistics.mean(precision):.4f}")


if __name__ == "__main__":
    main()
