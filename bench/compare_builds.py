#!/usr/bin/env python3
"""Two builds of bench_diffuse side by side: is a change a slowdown?

    bench/compare_builds.py BASE_BENCH NEW_BENCH [--widths 128,512] [--threads 1,2]
                            [--rounds 5]

BASE_BENCH and NEW_BENCH are bench_diffuse binaries (e.g. the last release's
build and the working tree's). Each round runs base then new (then new then
base in the next round, so neither side always goes first on a warming
machine) for every (width, threads), under the same environment; the table
gives the medians of training steps/s and sampling samples/s over all the
repeats of all rounds, and new/base. Machines are noisy: read ratios within
±5 % as "the same". Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(binary, width, threads, a):
    cmd = [binary, "--width", str(width), "--threads", str(threads),
           "--train-seconds", str(a.train_seconds), "--train-repeats", str(a.train_repeats),
           "--sample-repeats", str(a.sample_repeats), "--samples", str(a.samples)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--widths", default="128,512")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--train-seconds", type=float, default=1.0)
    p.add_argument("--train-repeats", type=int, default=3)
    p.add_argument("--sample-repeats", type=int, default=1)
    p.add_argument("--samples", type=int, default=500)
    a = p.parse_args()
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
          file=sys.stderr)
    print("| width | threads | train steps/s base | new | new/base "
          "| sample/s base | new | new/base |")
    print("|---|---|---|---|---|---|---|---|")
    for width in (int(w) for w in a.widths.split(",")):
        for threads in (int(k) for k in a.threads.split(",")):
            train = {"base": [], "new": []}
            sample = {"base": [], "new": []}
            for r in range(a.rounds):
                order = ("base", "new") if r % 2 == 0 else ("new", "base")
                for side in order:
                    res = run(getattr(a, side), width, threads, a)
                    train[side] += res["train_steps_per_s"]
                    sample[side] += res["sample_samples_per_s"]
                    print(f"  width {width} threads {threads} round {r} {side}: "
                          f"{statistics.median(res['train_steps_per_s']):.1f} steps/s",
                          file=sys.stderr)
            tb, tn = statistics.median(train["base"]), statistics.median(train["new"])
            sb, sn = statistics.median(sample["base"]), statistics.median(sample["new"])
            print(f"| {width} | {threads} | {tb:.1f} | {tn:.1f} | {tn / tb:.3f} "
                  f"| {sb:.0f} | {sn:.0f} | {sn / sb:.3f} |")


if __name__ == "__main__":
    main()
