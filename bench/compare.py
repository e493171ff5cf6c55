#!/usr/bin/python3
"""Runs libdiffuse (bench_diffuse) and PyTorch (bench_torch.py) side by side
and prints the markdown table of docs/performance.md. Standard library only.

    bench/compare.py --build-dir build-bench              # the table
    bench/compare.py --build-dir build-bench --explore    # PyTorch's settings

Every measurement is its own process (peak RSS per configuration and side).
Rates are medians over repeats; the repeat counts are printed with the table.
FLOPs are counted from the architecture (2·m·n·k per GEMM, training = 3 ×
forward), see flops_* below.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DIM = 2

# glibc: keep freed blocks in the heap instead of returning them to the
# kernel (trim) and serve large blocks from the heap instead of fresh mmaps,
# which otherwise re-fault every page of PyTorch's per-step temporaries.
# 32 MiB is the largest mmap threshold glibc accepts on 64-bit.
MALLOC_TUNED = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(1 << 25)}

# PyTorch's best settings per total thread count, found with --explore on the
# machine of docs/performance.md (run --explore to check them on another).
# time_dedup: the time branch once per reverse step, as libdiffuse does.
TORCH_BEST = {
    1: {"torch_threads": 1, "blas_threads": 1, "env": dict(MALLOC_TUNED),
        "sample_mode": "prealloc", "grad_mode": "inference_mode", "adam_foreach": 0,
        "time_dedup": 1},
    2: {"torch_threads": 1, "blas_threads": 2, "env": dict(MALLOC_TUNED),
        "sample_mode": "prealloc", "grad_mode": "inference_mode", "adam_foreach": 0,
        "time_dedup": 1},
}

TARGETS = {"train": {128: 2.0, 512: 1.2}, "sample": 2.0, "rss": 0.1}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", required=True)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--widths", default="128,512")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--timesteps", type=int, default=1000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--train-seconds", type=float, default=1.0)
    p.add_argument("--train-repeats", type=int, default=3, help="per process")
    p.add_argument("--sample-repeats", default="128:2,512:1",
                   help="sampling repeats per width and process (each a full N x T run)")
    p.add_argument("--rounds", default="128:3,512:2",
                   help="processes per side and configuration, per width (alternating "
                        "the sides); a plain number applies to every width")
    p.add_argument("--explore", action="store_true",
                   help="measure PyTorch under each candidate setting instead")
    p.add_argument("--sampler", choices=("ddpm", "ddim", "dpmpp"), default="ddpm",
                   help="sampling method of both sides (DDPM over all T steps by default)")
    p.add_argument("--sampler-steps", type=int, default=0,
                   help="timesteps of the method (0: T for ddpm, 50 ddim, 20 dpmpp)")
    p.add_argument("--json", help="also write every raw result to this file")
    p.add_argument("--quiet-wait", type=float, default=QUIET["wait"],
                   help="before each run, wait up to this many seconds for idle CPUs")
    p.add_argument("--retries", type=int, default=QUIET["retries"],
                   help="runs again (at most this often) when other processes used "
                        f"more than {QUIET['others']} cores during a run")
    return p.parse_args()


# ---- FLOPs -------------------------------------------------------------------

def expected_distinct(T, B):
    """E[number of distinct t among B uniform draws from T]: the rows the
    time branch runs on (both sides run it once per distinct timestep)."""
    return T * (1.0 - (1.0 - 1.0 / T) ** B)


def forward_flops(H, L, E, rows, time_rows):
    """2·m·n·k summed over the GEMMs of one forward pass."""
    per_row = DIM * H + L * H * H + H * DIM         # input, blocks, output
    per_time_row = E * H + H * H                    # time branch E → H → H
    return 2.0 * (rows * per_row + time_rows * per_time_row)


def flops_train_step(H, L, E, B, T):
    return 3.0 * forward_flops(H, L, E, B, expected_distinct(T, B))


def sampler_evaluations(a):
    """Network evaluations of one sampling run: the method's list length."""
    if a.sampler_steps:
        return a.sampler_steps
    return {"ddpm": a.timesteps, "ddim": 50, "dpmpp": 20}[a.sampler]


def flops_sampling_run(H, L, E, N, steps):
    return steps * forward_flops(H, L, E, N, 1)  # every row of a step shares t


# ---- Running -----------------------------------------------------------------

def cpu_times():
    """(idle, busy) seconds of all CPUs together since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return idle / tick, (sum(fields) - idle) / tick


def idle_share(seconds=0.5):
    """Fraction of all CPUs that was idle over `seconds`."""
    idle0, busy0 = cpu_times()
    time.sleep(seconds)
    idle1, busy1 = cpu_times()
    return (idle1 - idle0) / max(1e-9, (idle1 - idle0) + (busy1 - busy0))


# The machine may be shared. Before each run, wait up to `wait` s for the
# CPUs to be `idle`; after it, if other processes used more than `others`
# cores on average meanwhile, run it again (at most `retries` times) and keep
# the cleanest run. Two-thread runs on two cores are very sensitive to this:
# one preempted OpenBLAS thread stalls every GEMM of the step.
QUIET = {"wait": 30.0, "idle": 0.9, "others": 0.1, "retries": 2}


def wait_until_quiet():
    deadline = time.time() + QUIET["wait"]
    idle = idle_share()
    while idle < QUIET["idle"] and time.time() < deadline:
        idle = idle_share()
    return idle


def run_once(cmd, env_extra):
    idle_before = wait_until_quiet()
    env = dict(os.environ)
    env.update(env_extra)
    start = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, busy0 = cpu_times()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    _, busy1 = cpu_times()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    wall = time.time() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update({
        "wall_s": wall,
        "cpu_per_wall": cpu / wall,                          # this process's cores
        "others_cores": max(0.0, (busy1 - busy0) - cpu) / wall,  # everyone else's
        "idle_before": idle_before,
        "load_after": os.getloadavg()[0],
        "env_extra": env_extra,
    })
    print(f"  {wall:6.1f}s  own cores {result['cpu_per_wall']:.2f}  others "
          f"{result['others_cores']:.2f}  idle before {idle_before:.2f}  "
          f"{' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    return result


def run_json(cmd, env_extra, log):
    """run_once, repeated while other processes disturbed it (see QUIET)."""
    best = run_once(cmd, env_extra)
    for _ in range(QUIET["retries"]):
        if best["others_cores"] <= QUIET["others"]:
            break
        again = run_once(cmd, env_extra)
        if again["others_cores"] < best["others_cores"]:
            best = again
    log.append(best)
    return best


def common_args(a, width, sample_repeats):
    return ["--width", str(width), "--layers", str(a.layers), "--embed", str(a.embed),
            "--batch", str(a.batch), "--timesteps", str(a.timesteps), "--samples",
            str(a.samples), "--train-seconds", str(a.train_seconds), "--train-repeats",
            str(a.train_repeats), "--sample-repeats", str(sample_repeats),
            "--sampler", a.sampler, "--sampler-steps", str(a.sampler_steps)]


def run_sgemm(a, threads, width, log):
    cmd = [os.path.join(a.build_dir, "bench", "bench_sgemm"), "--threads", str(threads),
           "--width", str(width), "--batch", str(a.batch), "--samples", str(a.samples),
           "--repeats", "3"]
    r = run_json(cmd, {"OPENBLAS_NUM_THREADS": str(threads)}, log)
    return {s["name"]: statistics.median(s["gflops"]) for s in r["shapes"]}, r


def run_diffuse(a, threads, width, sample_repeats, env, log):
    cmd = [os.path.join(a.build_dir, "bench", "bench_diffuse"), "--threads", str(threads)]
    cmd += common_args(a, width, sample_repeats)
    return run_json(cmd, {**env, "OPENBLAS_NUM_THREADS": str(threads)}, log)


def torch_cmd(a, width, sample_repeats, s, extra=()):
    return ([sys.executable, os.path.join(HERE, "bench_torch.py"), "--torch-threads",
             str(s["torch_threads"]), "--blas-threads", str(s["blas_threads"]),
             "--sample-mode", s["sample_mode"], "--grad-mode", s["grad_mode"],
             "--adam-foreach", str(s["adam_foreach"]),
             "--time-dedup", str(s["time_dedup"])]
            + common_args(a, width, sample_repeats) + list(extra))


def torch_env(s):
    """The environment of a PyTorch run: its pools sized as set (0 = leave
    the variable unset, as installed)."""
    if s["torch_threads"] == 0:
        return dict(s["env"])
    return {**s["env"], "OPENBLAS_NUM_THREADS": str(s["blas_threads"]),
            "OMP_NUM_THREADS": str(s["torch_threads"])}


def median(values):
    return statistics.median(values) if values else float("nan")


# ---- The comparison table ----------------------------------------------------

def merge(results):
    """One result from the rounds of a (side, width, threads): every repeat
    of every round, the largest peak RSS, the smallest CPU/wall."""
    merged = dict(results[0])
    for key in ("train_steps_per_s", "sample_samples_per_s"):
        merged[key] = [v for r in results for v in r[key]]
    merged["peak_rss_kib"] = max(r["peak_rss_kib"] for r in results)
    merged["cpu_per_wall"] = min(r["cpu_per_wall"] for r in results)
    merged["others_cores"] = max(r["others_cores"] for r in results)
    return merged


def per_width(text, width, default):
    """"128:3,512:2" → 3 for width 128; a plain "2" → 2 for every width."""
    if ":" not in text:
        return int(text)
    table = dict((int(k), int(v)) for k, v in (item.split(":") for item in text.split(",")))
    return table.get(width, default)


def compare(a, log):
    widths = [int(w) for w in a.widths.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    rows, peaks = [], {}
    for width in widths:
        reps = per_width(a.sample_repeats, width, 1)
        rounds = per_width(a.rounds, width, 2)
        for k in threads:
            peaks[(width, k)], _ = run_sgemm(a, k, width, log)
            best = TORCH_BEST[min(k, max(TORCH_BEST))]
            c_runs, t_runs = [], []
            for _ in range(rounds):  # alternate the sides: both see the same noise
                c_runs.append(run_diffuse(a, k, width, reps, best["env"], log))
                t_runs.append(run_json(torch_cmd(a, width, reps, best), torch_env(best), log))
            rows.append((width, k, merge(c_runs), merge(t_runs)))
    return rows, peaks


def fmt(x, digits=0):
    return f"{x:,.{digits}f}" if x == x else "n/a"


def table(a, rows, peaks):
    out = []
    out.append("| width | threads | side | train steps/s | train GFLOP/s (% peak) "
               "| sample samples/s | sample GFLOP/s (% peak) | peak RSS MB | others "
               "| lib/torch: train | sample | RSS |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for width, k, c, t in rows:
        peak = peaks[(width, k)]["square"]
        f_train = flops_train_step(width, a.layers, a.embed, a.batch, a.timesteps)
        f_sample = flops_sampling_run(width, a.layers, a.embed, a.samples,
                                      sampler_evaluations(a))
        med = {}
        for side, r in (("libdiffuse", c), ("PyTorch", t)):
            tr = median(r["train_steps_per_s"])
            sa = median(r["sample_samples_per_s"])
            med[side] = (tr, sa, r["peak_rss_kib"] / 1024.0, r["others_cores"])
        ratio = [med["libdiffuse"][i] / med["PyTorch"][i] for i in range(3)]
        for side in ("libdiffuse", "PyTorch"):
            tr, sa, rss, cpu = med[side]
            g_train = tr * f_train * 1e-9
            g_sample = sa / a.samples * f_sample * 1e-9
            ratios = ("| " + " | ".join([f"{ratio[0]:.2f}×", f"{ratio[1]:.2f}×",
                                          f"{ratio[2]:.3f}×"]) + " |"
                      if side == "libdiffuse" else "| | | |")
            out.append(f"| {width} | {k} | {side} | {fmt(tr, 1)} | {fmt(g_train, 1)} "
                       f"({100 * g_train / peak:.0f}%) | {fmt(sa, 1)} | {fmt(g_sample, 1)} "
                       f"({100 * g_sample / peak:.0f}%) | {fmt(rss, 1)} | {cpu:.2f} {ratios}")
        goal = TARGETS["train"].get(width, TARGETS["train"][512])
        verdicts.append(
            f"width {width}, {k} thread(s): training {ratio[0]:.2f}× (target ≥ {goal}×: "
            f"{'met' if ratio[0] >= goal else 'MISSED'}), sampling {ratio[1]:.2f}× "
            f"(target ≥ {TARGETS['sample']}×: "
            f"{'met' if ratio[1] >= TARGETS['sample'] else 'MISSED'}), peak RSS "
            f"{ratio[2]:.3f}× (target ≤ {TARGETS['rss']}×: "
            f"{'met' if ratio[2] <= TARGETS['rss'] else 'MISSED'})")
    out.append("")
    out.append("others: cores used on average by other processes during that side's runs "
               "(the worst round); lib/torch: libdiffuse ÷ PyTorch of the medians.")
    out.append("")
    out.append("OpenBLAS sgemm (GFLOP/s, median of 3; \"peak\" above = square 1024³):")
    out.append("")
    names = ["square", "fwd_train", "bwd_dx", "bwd_dw", "fwd_sample"]
    out.append("| width | threads | " + " | ".join(names) + " |")
    out.append("|---|---|" + "---:|" * len(names))
    for (width, k), p in sorted(peaks.items()):
        out.append(f"| {width} | {k} | " + " | ".join(f"{p[n]:.1f}" for n in names) + " |")
    out.append("")
    out.extend(f"- {v}" for v in verdicts)
    return "\n".join(out)


# ---- Exploring PyTorch's settings ------------------------------------------

def explore_candidates():
    """(label, settings, extra env). Starts from PyTorch as installed and
    changes one thing at a time, then the thread splits on top of the best
    single-thread settings."""
    untuned = {"torch_threads": 0, "blas_threads": 0, "env": {}, "sample_mode": "module",
               "grad_mode": "no_grad", "adam_foreach": 0, "time_dedup": 0}
    tuned = dict(TORCH_BEST[1])
    cands = [
        ("as installed (defaults, module, no_grad)", untuned),
        ("+ malloc tuned", {**untuned, "env": dict(MALLOC_TUNED)}),
        ("+ malloc tuned + inference_mode", {**untuned, "env": dict(MALLOC_TUNED),
                                             "grad_mode": "inference_mode"}),
        ("1 torch / 1 BLAS thread, module", {**untuned, "torch_threads": 1, "blas_threads": 1}),
        ("1/1, module + malloc tuned", {**untuned, "torch_threads": 1, "blas_threads": 1,
                                        "env": dict(MALLOC_TUNED)}),
        ("1/1, prealloc out=, malloc default", {**tuned, "env": {}, "time_dedup": 0}),
        ("1/1, prealloc out=, malloc tuned", {**tuned, "time_dedup": 0}),
        ("1/1, prealloc + time dedup, malloc tuned", {**tuned, "time_dedup": 1}),
        ("1/1, tuned, Adam foreach", {**tuned, "time_dedup": 1, "adam_foreach": 1}),
        ("2 torch / 1 BLAS, tuned", {**tuned, "time_dedup": 1, "torch_threads": 2}),
        ("1 torch / 2 BLAS, tuned", {**tuned, "time_dedup": 1, "blas_threads": 2}),
        ("2 torch / 2 BLAS, tuned", {**tuned, "time_dedup": 1, "torch_threads": 2,
                                     "blas_threads": 2}),
        ("2 torch / 2 BLAS, tuned, OMP_WAIT_POLICY=PASSIVE",
         {**tuned, "time_dedup": 1, "torch_threads": 2, "blas_threads": 2,
          "env": {**MALLOC_TUNED, "OMP_WAIT_POLICY": "PASSIVE"}}),
    ]
    return cands


def explore(a, log):
    """Each candidate at each width, (largest --rounds) times, interleaved
    (round 1 of every candidate, then round 2 ...) so that a noisy minute
    hurts all candidates alike. Sampling times the first 100 (width ≤ 128)
    or 20 reverse steps of each run and scales to T."""
    widths = [int(w) for w in a.widths.split(",")]
    cands = explore_candidates()
    results = {}
    for _ in range(max(per_width(a.rounds, w, 2) for w in widths)):
        for width in widths:
            steps = 100 if width <= 128 else 20
            for i, (label, s) in enumerate(cands):
                cmd = torch_cmd(a, width, 3, s, ["--sample-steps", str(steps)])
                if s["torch_threads"] == 0:  # as installed: no interop setting either
                    cmd += ["--interop-threads", "0"]
                results.setdefault((width, i), []).append(run_json(cmd, torch_env(s), log))
    lines = ["| width | PyTorch setting | threads torch/BLAS | train steps/s "
             "| sample samples/s | peak RSS MB |", "|---|---|---|---:|---:|---:|"]
    for width in widths:
        for i, (label, s) in enumerate(cands):
            r = merge(results[(width, i)])
            st = r["settings"]
            lines.append(f"| {width} | {label} | {st['torch_threads']}/{st.get('blas_threads')} "
                         f"| {median(r['train_steps_per_s']):.1f} "
                         f"| {median(r['sample_samples_per_s']):.1f} "
                         f"| {r['peak_rss_kib'] / 1024:.0f} |")
    return "\n".join(lines)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.platform()}"


def main():
    a = parse_args()
    QUIET["wait"] = a.quiet_wait
    QUIET["retries"] = a.retries
    log = []
    start = time.time()
    load_before = os.getloadavg()[0]
    print(f"machine: {machine()}; load average before: {load_before:.2f}", file=sys.stderr)
    if a.explore:
        text = explore(a, log)
    else:
        rows, peaks = compare(a, log)
        text = table(a, rows, peaks)
    print(text)
    if a.explore:
        rounds = max(per_width(a.rounds, int(w), 2) for w in a.widths.split(","))
        method = (f"processes per candidate: {rounds}, each training "
                  f"{a.train_repeats} repeats of ≥ {a.train_seconds} s and "
                  f"sampling {a.samples} rows 3 times over the first 100 (H ≤ 128) or 20 "
                  f"reverse steps, scaled to {a.timesteps}")
    else:
        method = (f"processes per side and configuration (alternating): {a.rounds}; training: "
                  f"median of processes × {a.train_repeats} repeats of ≥ {a.train_seconds} s; "
                  f"sampling: {a.samples} samples × {sampler_evaluations(a)} steps of {a.sampler}, "
                  f"median of processes × "
                  f"{a.sample_repeats} runs (per width)")
    print(f"\nmachine: {machine()}; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; wall time {time.time() - start:.0f} s; {method}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
