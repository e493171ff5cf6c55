#!/usr/bin/python3
"""PyTorch side of the benchmark (see docs/performance.md).

The same network, loss, optimiser and sampler as libdiffuse's DIFFUSE_ARCH_MLP
(include/diffuse/model.h) and bench/bench_diffuse.c, measured the same way:
one configuration per process (so ru_maxrss is that configuration's peak RSS),
training steps/s in repeats of at least --train-seconds after --warmup untimed
steps, and complete sampling runs (N samples x T steps) for samples/s. Prints
one JSON object; bench/compare.py runs it next to bench_diffuse.

Network (d = 2, H = width, L = layers, E = embed, P = 10000, phi = SiLU):
    emb(t) = [cos(t f_k), sin(t f_k)],  f_k = exp(-ln(P) k / (E/2))
    e      = W_t2 phi(W_t1 emb(t) + b_t1) + b_t2
    h_0    = W_in x_t + b_in + e
    h_l    = W_l phi(h_{l-1}) + b_l + h_{l-1},   l = 1..L
    out    = W_out phi(h_L) + b_out
The sinusoidal embedding is computed once for all T timesteps (double, then
float) and looked up per row, which is the cheapest exact way to get it.

Settings that PyTorch's speed depends on (bench/compare.py --explore tries
them; docs/performance.md says which won):
    (0 for a thread count leaves that pool as PyTorch and OpenBLAS set it up)
    --torch-threads K     torch.set_num_threads (OpenMP pool: elementwise ops,
                          Adam, reductions)
    --interop-threads K   torch.set_num_interop_threads
    --blas-threads K      OpenBLAS's own pthread pool (the matrix products),
                          set with openblas_set_num_threads in this process
    --sample-mode module|prealloc
                          module: the nn.Module called under --grad-mode;
                          prealloc: the same arithmetic with preallocated
                          buffers and out=/in-place ops (no allocation per step)
    --grad-mode no_grad|inference_mode   (sampling)
    --adam-foreach 0|1    torch.optim.Adam(foreach=...) multi-tensor update
    --time-dedup 0|1      sampling only: every row of a reverse step has the
                          same t, so compute the time branch for one row and
                          broadcast it (fewer FLOPs; libdiffuse runs the time
                          branch once per distinct t, so compare.py turns this
                          on with --sample-mode prealloc)
The glibc allocator is tuned from the environment (MALLOC_TRIM_THRESHOLD_,
MALLOC_MMAP_THRESHOLD_), which compare.py sets; the values seen are reported.
"""
import argparse
import ctypes
import json
import math
import os
import resource
import statistics
import sys
import time

DIM = 2
DATA_ROWS = 65536


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--timesteps", type=int, default=1000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--train-seconds", type=float, default=1.0)
    p.add_argument("--train-repeats", type=int, default=5)
    p.add_argument("--sample-repeats", type=int, default=3)
    p.add_argument("--sample-steps", type=int, default=0,
                   help="run only this many reverse steps per sampling repeat and "
                        "scale to T (for quick exploration; 0 = all T)")
    p.add_argument("--sampler", choices=("ddpm", "ddim", "dpmpp"), default="ddpm",
                   help="ancestral DDPM over all T steps (default), DDIM (eta 0) or "
                        "DPM-Solver++ 2M over --sampler-steps trailing-spaced timesteps")
    p.add_argument("--sampler-steps", type=int, default=0,
                   help="timesteps of ddim/dpmpp (default 50 / 20)")
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--interop-threads", type=int, default=1)
    p.add_argument("--blas-threads", type=int, default=1)
    p.add_argument("--sample-mode", choices=("module", "prealloc"), default="prealloc")
    p.add_argument("--grad-mode", choices=("no_grad", "inference_mode"),
                   default="inference_mode")
    p.add_argument("--adam-foreach", type=int, choices=(0, 1), default=0)
    p.add_argument("--time-dedup", type=int, choices=(0, 1), default=0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


args = parse_args(sys.argv[1:])

import torch  # noqa: E402  (after argument parsing: --help stays fast)
import torch.nn.functional as F  # noqa: E402

silu_out = torch._C._nn.silu  # silu(input, out=...) without a temporary


def openblas():
    """The OpenBLAS that torch's BLAS calls resolve to (libblas.so.3 is
    OpenBLAS on Debian), or None if it is not loaded."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_set_num_threads"):
            return lib
    return None


def configure_threads():
    """Applies the thread settings; 0 leaves a pool as PyTorch set it up."""
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    if args.interop_threads > 0:
        torch.set_num_interop_threads(args.interop_threads)
    blas = openblas()
    if blas is None:
        return {"blas": "not OpenBLAS"}
    if args.blas_threads > 0:
        blas.openblas_set_num_threads(args.blas_threads)
    blas.openblas_get_corename.restype = ctypes.c_char_p
    return {"blas": blas.openblas_get_corename().decode(),
            "blas_threads": blas.openblas_get_num_threads()}


# ---- The model ---------------------------------------------------------------

def embedding_table(T, E, max_period=10000.0):
    """emb(t) for t = 0..T-1 in double, rounded to float (model.h)."""
    half = E // 2
    k = torch.arange(half, dtype=torch.float64)
    freqs = torch.exp(-math.log(max_period) * k / half)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).float()


class DiffusionMLP(torch.nn.Module):
    """libdiffuse's MLP; state_dict names and shapes match model.h."""

    def __init__(self, d, H, L, E, T):
        super().__init__()
        self.time_mlp = torch.nn.Sequential(torch.nn.Linear(E, H), torch.nn.SiLU(),
                                            torch.nn.Linear(H, H))
        self.input = torch.nn.Linear(d, H)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(H, H) for _ in range(L))
        self.output = torch.nn.Linear(H, d)
        self.register_buffer("emb", embedding_table(T, E), persistent=False)

    def forward(self, x, t):
        h = self.input(x) + self.time_mlp(self.emb[t])
        for block in self.blocks:
            h = h + block(F.silu(h))
        return self.output(F.silu(h))


class PreallocatedForward:
    """The model's forward pass with every buffer allocated once, for
    inference: out=/in-place ops, biases folded into the BLAS call
    (addmm with beta = 1 accumulates the residual). Same arithmetic as
    DiffusionMLP.forward up to float rounding order."""

    def __init__(self, model, n, dedup):
        self.m = model
        self.dedup = dedup
        H = model.input.out_features
        rows = 1 if dedup else n
        self.t = torch.empty(n, dtype=torch.int64)
        self.emb = torch.empty(rows, model.emb.shape[1])
        self.th = torch.empty(rows, H)
        self.e = torch.empty(rows, H)
        self.h = torch.empty(n, H)
        self.a = torch.empty(n, H)
        self.out = torch.empty(n, model.output.out_features)

    def __call__(self, x, t):
        m, h, a = self.m, self.h, self.a
        t1, t2 = m.time_mlp[0], m.time_mlp[2]
        if self.dedup:
            self.emb.copy_(m.emb[t:t + 1])
        else:
            self.t.fill_(t)
            torch.index_select(m.emb, 0, self.t, out=self.emb)
        torch.addmm(t1.bias, self.emb, t1.weight.t(), out=self.th)
        silu_out(self.th, out=self.th)
        torch.addmm(t2.bias, self.th, t2.weight.t(), out=self.e)
        self.e.add_(m.input.bias)
        torch.addmm(self.e, x, m.input.weight.t(), out=h)  # e broadcasts if dedup
        for block in m.blocks:
            silu_out(h, out=a)
            h.add_(block.bias)
            h.addmm_(a, block.weight.t())
        silu_out(h, out=a)
        torch.addmm(m.output.bias, a, m.output.weight.t(), out=self.out)
        return self.out


# ---- Schedule, data ----------------------------------------------------------

def linear_schedule(T):
    """DDPM linear betas 1e-4..0.02 and the tables the loops need (double)."""
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alphas = 1.0 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    return {
        "sqrt_ab": alpha_bar.sqrt().float(),
        "sqrt_1mab": (1.0 - alpha_bar).sqrt().float(),
        # x_{t-1} = (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z
        "eps_coef": (betas / (1.0 - alpha_bar).sqrt()).tolist(),
        "inv_sqrt_alpha": (1.0 / alphas.sqrt()).tolist(),
        "sigma": betas.sqrt().tolist(),
        "alpha_bar": alpha_bar.tolist(),
    }


def swiss_roll(n, generator):
    """toy2d.h's SWISS_ROLL (another random stream: only the timing matters)."""
    s = 1.5 * math.pi + 3.0 * math.pi * torch.rand(n, generator=generator)
    raw = torch.stack([s * torch.cos(s), s * torch.sin(s)], dim=1)
    raw += 0.25 * torch.randn(n, 2, generator=generator)
    return (raw - torch.tensor([2.0, 2.0 / (3.0 * math.pi)])) / 7.0


# ---- Measurements ------------------------------------------------------------

def measure_training(model, sched, data):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=0.0, foreach=bool(args.adam_foreach))
    B, T = args.batch, args.timesteps
    cursor = [0]

    def step():
        if cursor[0] + B > DATA_ROWS:
            cursor[0] = 0
        x0 = data[cursor[0]:cursor[0] + B]
        cursor[0] += B
        t = torch.randint(0, T, (B,))
        eps = torch.randn(B, DIM)
        x_t = sched["sqrt_ab"][t, None] * x0 + sched["sqrt_1mab"][t, None] * eps
        loss = F.mse_loss(model(x_t, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    loss = None
    for _ in range(args.warmup):
        loss = step()
    rates, counts = [], []
    for _ in range(args.train_repeats):
        steps, start = 0, time.perf_counter()
        while True:
            loss = step()
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.train_seconds:
                break
        rates.append(steps / elapsed)
        counts.append(steps)
    return rates, (float(loss) if loss is not None else float("nan"))


def sample(forward, sched, n, steps, generator):
    """Ancestral DDPM sampling (sigma^2 = beta) through the last `steps` of
    the T reverse steps."""
    T = args.timesteps
    x = torch.randn(n, DIM, generator=generator)
    z = torch.empty(n, DIM)
    for t in range(T - 1, T - 1 - steps, -1):
        eps = forward(x, t)
        x.sub_(eps, alpha=sched["eps_coef"][t]).mul_(sched["inv_sqrt_alpha"][t])
        if t > 0:
            z.normal_(generator=generator)
            x.add_(z, alpha=sched["sigma"][t])
    return x


def trailing(T, n):
    """diffusers' trailing spacing: round(T - i T/n) - 1, i = 0 .. n-1."""
    return [int(round(T - i * T / n)) - 1 for i in range(n)]


def fast_sample(forward, sched, n, generator):
    """DDIM (eta = 0; Song et al. 2021 eq. 12) or DPM-Solver++ 2M (Lu et al.
    2022, diffusers' midpoint form, first order at the first and the last
    step, to alpha_bar = 1), in the eps parametrisation:
        x0 = (x - s eps) / a,  a = sqrt(ab), s = sqrt(1 - ab)
        DDIM:  x' = a' x0 + s' eps
        DPM++: x' = (s'/s) x - a'(exp(-h) - 1) D,  h = lambda' - lambda,
               D = x0, or (1 + 1/(2r)) x0 - 1/(2r) x0_prev, r = h_prev / h."""
    ab = sched["alpha_bar"]
    ts = trailing(args.timesteps, args.sampler_steps)
    x = torch.randn(n, DIM, generator=generator)
    x0 = torch.empty(n, DIM)
    previous = torch.empty(n, DIM)
    lam = [0.5 * math.log(ab[t] / (1 - ab[t])) for t in ts]
    for i, t in enumerate(ts):
        eps = forward(x, t)
        a, s = math.sqrt(ab[t]), math.sqrt(1 - ab[t])
        last = i + 1 == len(ts)
        a_next, s_next = (1.0, 0.0) if last else (math.sqrt(ab[ts[i + 1]]),
                                                   math.sqrt(1 - ab[ts[i + 1]]))
        torch.add(x, eps, alpha=-s, out=x0).div_(a)
        if args.sampler == "ddim":
            x.copy_(x0).mul_(a_next).add_(eps, alpha=s_next)
            continue
        # -a'(exp(-h) - 1) = a' - a s'/s
        x.mul_(s_next / s)
        coef = a_next - a * s_next / s
        if i == 0 or last:
            x.add_(x0, alpha=coef)
        else:
            k = (lam[i + 1] - lam[i]) / (2 * (lam[i] - lam[i - 1]))
            x.add_(x0, alpha=coef * (1 + k)).add_(previous, alpha=-coef * k)
        previous.copy_(x0)
    return x


def measure_sampling(model, sched):
    n = args.samples
    if args.sampler == "ddpm" and args.sampler_steps not in (0, args.timesteps):
        sys.exit("bench_torch: ddpm runs every step here (no respacing); --sampler-steps 0")
    if args.sampler != "ddpm":
        if args.sample_steps:
            sys.exit("bench_torch: --sample-steps (a partial DDPM run) needs --sampler ddpm")
        args.sampler_steps = args.sampler_steps or {"ddim": 50, "dpmpp": 20}[args.sampler]
    steps = args.sample_steps if args.sample_steps > 0 else args.timesteps
    if args.sample_mode == "prealloc":
        forward = PreallocatedForward(model, n, args.time_dedup)
    elif args.time_dedup:
        sys.exit("bench_torch: --time-dedup needs --sample-mode prealloc")
    else:
        t_rows = [None]

        def forward(x, t):
            if t_rows[0] is None:
                t_rows[0] = torch.empty(n, dtype=torch.int64)
            return model(x, t_rows[0].fill_(t))
    context = torch.inference_mode if args.grad_mode == "inference_mode" else torch.no_grad
    generator = torch.Generator().manual_seed(args.seed + 1)
    rates, seconds, x = [], [], None
    with context():
        for _ in range(args.sample_repeats):
            start = time.perf_counter()
            if args.sampler == "ddpm":
                x = sample(forward, sched, n, steps, generator)
                elapsed = (time.perf_counter() - start) * args.timesteps / steps
            else:
                x = fast_sample(forward, sched, n, generator)
                elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            seconds.append(elapsed)
    moments = {}
    if x is not None:
        moments = {"sample_mean": x.mean(0).tolist(), "sample_std": x.std(0).tolist()}
    return rates, seconds, moments


def main():
    threads = configure_threads()
    torch.manual_seed(args.seed)
    model = DiffusionMLP(DIM, args.width, args.layers, args.embed, args.timesteps)
    sched = linear_schedule(args.timesteps)
    data = swiss_roll(DATA_ROWS, torch.Generator().manual_seed(args.seed))
    train_rates, last_loss = measure_training(model, sched, data)
    sample_rates, sample_seconds, moments = measure_sampling(model, sched)
    result = {
        "side": "pytorch", "version": torch.__version__, "width": args.width,
        "layers": args.layers, "embed": args.embed, "batch": args.batch,
        "timesteps": args.timesteps, "samples": args.samples,
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": args.train_seconds,
        "settings": {
            "torch_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "sample_mode": args.sample_mode, "grad_mode": args.grad_mode,
            "adam_foreach": args.adam_foreach, "time_dedup": args.time_dedup,
            "sample_steps": args.sample_steps or args.timesteps,
            "sampler": args.sampler,
            "sampler_steps": args.sampler_steps or args.timesteps,
            "env": {k: os.environ[k] for k in sorted(os.environ)
                    if k.startswith(("MALLOC_", "OMP_", "GOMP_", "OPENBLAS_", "MKL_"))},
            **threads,
        },
        "train_steps_per_s": train_rates, "sample_samples_per_s": sample_rates,
        "sample_seconds": sample_seconds, "last_loss": last_loss, **moments,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if train_rates:
        result["train_median"] = statistics.median(train_rates)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
