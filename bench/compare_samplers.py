#!/usr/bin/python3
"""Samples/s of DDPM-1000, DDIM-50 and DPM-Solver++-20, libdiffuse
(bench_diffuse) next to PyTorch running the same method (bench_torch.py), and
the speed-up of each method over DDPM-1000 (docs/performance.md, "Fast
samplers"). Standard library only; the runs are compare.py's (each its own
process, the sides alternating, PyTorch with its best settings for the
thread count, the other processes' load measured), training skipped.

    bench/compare_samplers.py --build-dir build-bench [--widths 128,512]
        [--threads 1] [--rounds 2] [--samples 2000] [--json raw.json]

Each (width, method, side) runs --rounds processes of one complete sampling
run each (N samples over the method's whole list); the table quotes medians.
"""
import argparse
import json
import os
import sys
import time

import compare

METHODS = (("ddpm", 1000), ("ddim", 50), ("dpmpp", 20))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", required=True)
    p.add_argument("--widths", default="128,512")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="processes per side and row")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--json", help="also write every raw result to this file")
    p.add_argument("--quiet-wait", type=float, default=0.0,
                   help="before each run, wait up to this many seconds for idle CPUs")
    p.add_argument("--retries", type=int, default=0,
                   help="runs again (at most this often) when others used > 0.1 core")
    return p.parse_args()


def method_args(a, sampler, steps):
    """The namespace compare.py's helpers read, for one method, no training."""
    return argparse.Namespace(
        build_dir=a.build_dir, layers=3, embed=64, batch=256, timesteps=1000,
        samples=a.samples, train_seconds=0.0, train_repeats=0, sampler=sampler,
        sampler_steps=0 if sampler == "ddpm" else steps)


def measure(a, log):
    best = compare.TORCH_BEST[min(a.threads, max(compare.TORCH_BEST))]
    rows = []
    for width in (int(w) for w in a.widths.split(",")):
        for sampler, steps in METHODS:
            m = method_args(a, sampler, steps)
            lib, torch = [], []
            for _ in range(a.rounds):
                lib.append(compare.run_diffuse(m, a.threads, width, 1, best["env"], log))
                torch.append(compare.run_json(compare.torch_cmd(m, width, 1, best),
                                              compare.torch_env(best), log))
            rows.append((width, sampler, steps, compare.merge(lib), compare.merge(torch)))
    return rows


def table(rows):
    out = ["| width | method (network evaluations) | libdiffuse samples/s | PyTorch samples/s "
           "| lib/torch | × DDPM-1000, libdiffuse | × DDPM-1000, PyTorch | others |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    ddpm = {}
    for width, sampler, steps, lib, torch in rows:
        rate = (compare.median(lib["sample_samples_per_s"]),
                compare.median(torch["sample_samples_per_s"]))
        if sampler == "ddpm":
            ddpm[width] = rate
        base = ddpm.get(width, (float("nan"), float("nan")))
        others = max(lib["others_cores"], torch["others_cores"])
        out.append(f"| {width} | {sampler}, {steps} | {compare.fmt(rate[0], 0)} "
                   f"| {compare.fmt(rate[1], 0)} | {rate[0] / rate[1]:.2f}× "
                   f"| {rate[0] / base[0]:.1f}× | {rate[1] / base[1]:.1f}× | {others:.2f} |")
    out.append("")
    out.append("others: cores other processes used on average during the row's runs (the "
               "worst); lib/torch: libdiffuse ÷ PyTorch of the medians.")
    return "\n".join(out)


def main():
    a = parse_args()
    compare.QUIET["wait"] = a.quiet_wait
    compare.QUIET["retries"] = a.retries
    log = []
    start, load_before = time.time(), os.getloadavg()[0]
    rows = measure(a, log)
    print(table(rows))
    print(f"\nmachine: {compare.machine()}; {a.threads} thread(s); load average "
          f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after; wall time "
          f"{time.time() - start:.0f} s; {a.rounds} processes per side and row, one "
          f"complete run of {a.samples} samples each")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(log, f, indent=1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
