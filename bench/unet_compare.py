#!/usr/bin/python3
"""The U-Net benchmark: bench/bench_unet (libdiffuse) and
bench/bench_unet_torch.py (PyTorch CPU) with the same options, interleaved
round by round (ours, theirs, ours, ...) so that both see the same machine
load; prints a markdown table of medians over every repeat of every round.

    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_BUILD_BENCH=ON \\
        -DDIFFUSE_BUILD_TESTS=OFF -DDIFFUSE_BUILD_EXAMPLES=OFF
    cmake --build build-bench --target bench_unet diffuse
    bench/unet_compare.py [--rounds 2] [--json raw.json] [-- OPTIONS FOR BOTH SIDES]

OPTIONS (both programs): --batch 64 --samples 64 --sample-steps 10
--threads 2 --repeats 5 --train-steps 3 --base 32 --levels 3 --res-blocks 2
--attention 4 (the issue's configuration: 28×28, multipliers 1, 2, 2, 2
ResBlocks per level, attention at 7×7), --conv-channels 64 --conv-side 28
--conv-batch 16.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median(results, *path):
    values = []
    for r in results:
        for key in path:
            r = r[key]
        values.extend(r)
    return statistics.median(values)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("rest", nargs="*", help="options for both programs (after --)")
    a = p.parse_args()
    ours_cmd = [os.path.join(a.build_dir, "bench", "bench_unet")] + a.rest
    torch_cmd = [sys.executable, os.path.join(ROOT, "bench", "bench_unet_torch.py"),
                 "--build-dir", a.build_dir] + a.rest
    ours, theirs = [], []
    for r in range(a.rounds):
        print(f"round {r + 1}/{a.rounds}: libdiffuse", file=sys.stderr)
        ours.append(run(ours_cmd))
        print(f"round {r + 1}/{a.rounds}: pytorch", file=sys.stderr)
        theirs.append(run(torch_cmd))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"libdiffuse": ours, "pytorch": theirs}, f, indent=1)
    rows = [("training steps/s", ("train_steps_per_s",), 1.0),
            ("sampling images/s (T = 1000)", ("sample_image_steps_per_s",), 1e-3),
            ("conv 3×3 forward GFLOP/s (1 thread)", ("conv", "forward_gflops"), 1.0),
            ("conv 3×3 backward GFLOP/s (1 thread)", ("conv", "backward_gflops"), 1.0)]
    o, t = ours[0], theirs[0]
    print(f"OpenBLAS kernel {o['corename']}; torch {t['torch']} (mkldnn {t['mkldnn']}); "
          f"{o['threads']} threads, batch {o['batch']}; medians of {a.rounds} interleaved "
          f"rounds")
    print()
    print("| | libdiffuse | PyTorch | ratio |")
    print("|---|---:|---:|---:|")
    for label, path, scale in rows:
        mo, mt = median(ours, *path) * scale, median(theirs, *path) * scale
        print(f"| {label} | {mo:.4g} | {mt:.4g} | {mo / mt:.2f}× |")
    rss_o = statistics.median(r["peak_rss_kib"] for r in ours) / 1024
    rss_t = statistics.median(r["peak_rss_kib"] for r in theirs) / 1024
    print(f"| peak RSS MiB | {rss_o:.0f} | {rss_t:.0f} | {rss_o / rss_t:.2f}× |")
    print(f"| sgemm [C, 9C]·[9C, H·W] GFLOP/s (1 thread) | "
          f"{median(ours, 'conv', 'sgemm_same_shape_gflops'):.4g} | | |")
    print(f"| sgemm 1024³ GFLOP/s (1 thread) | {median(ours, 'conv', 'sgemm_1024_gflops'):.4g} "
          f"| | |")


if __name__ == "__main__":
    main()
