#!/usr/bin/python3
"""The PyTorch reference of examples/fashion's training recipe, for
bench/fashion_quality.py: the same U-Net, schedule, optimizer, EMA and
sampler in PyTorch, so that the quality table compares libdiffuse's run with
the same method trained elsewhere.

    /usr/bin/python3 bench/fashion_torch.py --check          # the method is the library's
    /usr/bin/python3 bench/fashion_torch.py --samples-out torch_samples.npy
    /usr/bin/python3 bench/fashion_quality.py --samples torch_samples.npy

What is the same as `build/examples/fashion` with the same flags (defaults:
examples/fashion/fashion.c):
  - the network: tests/reference/torch_equivalence.py's ReferenceUNet (the
    equations of include/diffuse/model.h in torch.nn.functional), on the
    library's parameter layout and initial weights (a diffuse.Model built
    with the same options and seed, through bindings/python);
  - the linear schedule β = linspace(1e-4, 0.02, 1000), ᾱ_t = Π (1 − β_s)
    in float64; the loss mean((ε̂(√ᾱ x_0 + √(1−ᾱ) ε, t) − ε)²), t uniform;
  - AdamW (β = 0.9, 0.999, ε = 1e-8, no weight decay), the rate of step s
    lr·(s+1)/W during the warm-up, then lr_min + (lr − lr_min)(1 + cos πp)/2,
    p = (s − W)/steps, lr_min = lr/10 (include/diffuse/optim.h);
  - the EMA ema ← d·ema + (1 − d)·θ after every step, started from θ;
  - batch, steps, threads (torch.set_num_threads); the data are the same
    60,000 images scaled to [−1, 1], reshuffled every epoch (the order is
    torch's, not the library's);
  - sampling from the EMA weights with DPM-Solver++ 2M over the trailing
    list t_i = round(T − i·T/n) − 1, x̂_0 clipped to [−clip, clip], ᾱ' = 1
    after the last entry (first order there).
--check verifies, on a tiny configuration with random weights, that the
torch U-Net's forward and the torch sampler give the library's outputs
(through the binding) to --tolerance, and the rate schedule the library's
optimizer's; it exits 1 otherwise.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from fashion_quality import load  # noqa: E402  (the IDX files, scaled to [-1, 1])
from torch_equivalence import ReferenceUNet, relative_error, unet_weights  # noqa: E402

T = 1000
# The U-Net options ReferenceUNet reads, as the library's model config names them.
UNET_KEYS = ("image_channels", "image_height", "image_width", "base_channels", "levels",
             "res_blocks", "attention_levels", "heads", "groups", "classes", "time_max_period")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, kind, default in (
            ("steps", int, 2500), ("batch", int, 32), ("threads", int, 2), ("seed", int, 1),
            ("base", int, 32), ("levels", int, 2), ("res-blocks", int, 1),
            ("attention", int, 2), ("heads", int, 4), ("groups", int, 8),
            ("lr", float, 1e-3), ("ema", float, 0.995), ("warmup", int, 100),
            ("log-every", int, 50), ("sample-steps", int, 20), ("clip", float, 1.0),
            ("samples", int, 1000), ("sample-batch", int, 100)):
        p.add_argument("--" + name, type=kind, default=default)
    p.add_argument("--samples-out", default="torch_samples.npy")
    p.add_argument("--checkpoint", default="torch_fashion.pt",
                   help="the run's state (weights, EMA, AdamW, data order), saved every "
                   "--checkpoint-every steps and at the end (torch.save; '' for none)")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", help="continue from a --checkpoint file (same options)")
    p.add_argument("--check", action="store_true",
                   help="compare the torch U-Net and sampler with the library's, then exit")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="--check: largest max|torch - library| / max|library| of the forward "
                   "and of one sampler step (default 1e-5)")
    p.add_argument("--run-tolerance", type=float, default=1e-4,
                   help="--check: the same for a whole sampling run (default 1e-4)")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                   help="the build with libdiffuse.so (default: build)")
    return p.parse_args(argv)


def library(build_dir):
    os.environ.setdefault("DIFFUSE_LIBRARY", os.path.join(build_dir, "libdiffuse.so"))
    import diffuse  # noqa: E402  (the binding: layout, initial weights, --check)
    return diffuse


def library_model(diffuse, a):
    """The library's U-Net for these options: the layout and initial weights."""
    return diffuse.Model(784, arch="unet", image_channels=1, image_height=28, image_width=28,
                         base_channels=a.base, levels=a.levels, res_blocks=a.res_blocks,
                         attention_levels=a.attention, heads=a.heads, groups=a.groups,
                         seed=a.seed)


def reference_net(model):
    """ReferenceUNet configured as the library's model (its multipliers too)."""
    with model.config as config:
        case = {key: config[key] for key in UNET_KEYS}
        case.update({"level_mult_%d" % l: config["level_mult_%d" % l]
                     for l in range(case["levels"])})
    return ReferenceUNet(case)


def named(model, flat, dtype=torch.float32, grad=False):
    """{C tensor name: tensor} over a flat parameter vector."""
    return {info.name: torch.tensor(np.asarray(flat[info.offset:info.offset
                                                    + math.prod(info.shape)]),
                                    dtype=dtype).reshape(info.shape).requires_grad_(grad)
            for info in model.tensors}


def alpha_bar():
    """ᾱ_t of the linear schedule, float64."""
    return torch.cumprod(1.0 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)


def learning_rate(s, a):
    """The rate of step s (s steps taken): warm-up, then cosine decay over
    --steps to lr/10, as examples/fashion configures the library."""
    low = 0.1 * a.lr
    if s < a.warmup:
        return a.lr * (s + 1) / a.warmup
    p = (s - a.warmup) / a.steps
    return low if p > 1 else low + (a.lr - low) * (1 + math.cos(math.pi * p)) / 2


def trailing(n):
    """round(T − i·T/n) − 1, i = 0 … n−1 (round half to even)."""
    return [round(T - i * T / n) - 1 for i in range(n)]


def lam(ab):
    """λ = log(α/s) = ½ log(ᾱ/(1 − ᾱ))."""
    return 0.5 * math.log(ab / (1.0 - ab))


@torch.no_grad()
def dpmpp_2m(predict, x, ab, timesteps, clip, trace=None):
    """DPM-Solver++ 2M (x_0 form, include/diffuse/sampler.h) from x = x_T,
    ε̂ = predict(x, t): x' = (s'/s) x + (α' − α s'/s) D, D = x̂_0 at the first
    and the last step (ᾱ' = 1), else (1 + k) x̂_0 − k x̂_0^{prev},
    k = 1/(2r) = h/(2 h_prev). `trace` (a list) gets (t, x_t, ε̂) of every step."""
    previous = None
    for i, t in enumerate(timesteps):
        a = float(ab[t])
        a_next = float(ab[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
        eps = predict(x, t)
        if trace is not None:
            trace.append((t, x, eps))
        x0 = math.sqrt(1.0 / a) * x - math.sqrt(1.0 / a - 1.0) * eps
        if clip > 0:
            x0 = x0.clamp(-clip, clip)
        alpha, s, alpha_next, s_next = (math.sqrt(a), math.sqrt(1 - a), math.sqrt(a_next),
                                        math.sqrt(1 - a_next))
        d = x0
        if previous is not None and i + 1 < len(timesteps):
            k = (lam(a_next) - lam(a)) / (2.0 * (lam(a) - lam(float(ab[timesteps[i - 1]]))))
            d = (1 + k) * x0 - k * previous
        x = (s_next / s) * x + (alpha_next - alpha * s_next / s) * d
        previous = x0
    return x


def predictor(net, params):
    """ε̂(x, t) of the torch U-Net at one timestep t for every row."""
    return lambda x, t: net.forward(params, x, torch.full((x.shape[0],), t, dtype=torch.int64),
                                    None)


def initial_state(a, model):
    """The run before its first step: the library's initial weights, EMA
    (a copy), AdamW's state, the data order."""
    params = named(model, model.params, grad=True)
    generator = torch.Generator().manual_seed(a.seed)
    return dict(step=0, params=params, ema={n: p.detach().clone() for n, p in params.items()},
                optimizer=None, generator=generator, order=None, position=0)


def save_state(path, state):
    """torch.save through a temporary file renamed over `path`."""
    temporary = path + ".tmp"
    torch.save({**state, "generator": state["generator"].get_state()}, temporary)
    os.replace(temporary, path)


def load_state(path):
    state = torch.load(path)
    state["generator"] = torch.Generator().set_state(state["generator"])
    return state


def train(a, net, state, data):
    """Trains from state["step"] to --steps, saving the state every
    --checkpoint-every steps and at the end."""
    params, ema = state["params"], state["ema"]
    optimizer = torch.optim.AdamW(list(params.values()), lr=a.lr, betas=(0.9, 0.999),
                                  eps=1e-8, weight_decay=0.0)
    if state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    ab = alpha_bar()
    root, root_m1 = ab.sqrt().float(), (1 - ab).sqrt().float()
    generator, first, start = state["generator"], state["step"], time.time()
    for s in range(first, a.steps):
        if state["order"] is None or state["position"] >= len(data):
            # a new epoch, a new order (a batch never crosses one)
            state.update(order=torch.randperm(len(data), generator=generator), position=0)
        x0 = data[state["order"][state["position"]:state["position"] + a.batch]]
        state["position"] += a.batch
        t = torch.randint(0, T, (len(x0),), generator=generator)
        eps = torch.randn(x0.shape, generator=generator)
        x_t = root[t][:, None, None, None] * x0 + root_m1[t][:, None, None, None] * eps
        loss = torch.mean((net.forward(params, x_t, t, None) - eps) ** 2)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(s, a)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for name, p in params.items():
                ema[name].mul_(a.ema).add_(p.detach(), alpha=1 - a.ema)
        state.update(step=s + 1, optimizer=optimizer.state_dict())
        if a.log_every and ((s + 1) % a.log_every == 0 or s + 1 == a.steps):
            rate = (s + 1 - first) / (time.time() - start)
            print("step %7d/%d  mse %.4f  %6.2f it/s  ETA %5.0fs"
                  % (s + 1, a.steps, loss.item(), rate, (a.steps - s - 1) / rate), flush=True)
        if a.checkpoint and ((a.checkpoint_every and (s + 1) % a.checkpoint_every == 0)
                             or s + 1 == a.steps):
            save_state(a.checkpoint, state)
    return ema


def sample(a, net, ema):
    generator = torch.Generator().manual_seed(a.seed + 104729)
    ab, timesteps, out = alpha_bar(), trailing(a.sample_steps), []
    for first in range(0, a.samples, a.sample_batch):
        x = torch.randn((min(a.sample_batch, a.samples - first), 1, 28, 28),
                        generator=generator)
        out.append(dpmpp_2m(predictor(net, ema), x, ab, timesteps, a.clip).numpy())
    return np.concatenate(out).astype(np.float32)


def check(a, diffuse):
    """Tiny U-Net, random weights: the forward, the sampler's steps, whole
    sampling runs and the rate schedule against the library. Returns True
    when every error is within its tolerance."""
    tiny = argparse.Namespace(**{**vars(a), "base": 8, "heads": 2, "groups": 4, "steps": 6,
                                 "warmup": 2})
    model = library_model(diffuse, tiny)
    net = reference_net(model)
    rng = np.random.default_rng(5)
    weights = unet_weights([(i.name, i.shape) for i in model.tensors], rng)
    model.params = weights
    p, n = named(model, weights), 6
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, T, n).astype(np.int32)
    forward = net.forward(p, torch.from_numpy(x), torch.from_numpy(t.astype(np.int64)), None)
    schedule = diffuse.Schedule("linear", T)
    options = dict(method="dpmpp_2m", steps=tiny.sample_steps, spacing="trailing",
                   clip_x0=tiny.clip)
    sampler = diffuse.Sampler(model, schedule, seed=3, **options)
    noise = torch.from_numpy(np.asarray(sampler.initial_noise(n)))
    trace, library_samples = [], sampler.run(n)
    samples = dpmpp_2m(predictor(net, p), noise, alpha_bar(), trailing(tiny.sample_steps),
                       tiny.clip, trace)
    rows = [("U-Net forward", relative_error(forward.detach().numpy(), model.predict(x, t)),
             a.tolerance),
            ("alpha_bar", relative_error(alpha_bar().numpy(), schedule.table("alpha_bar")),
             a.tolerance),
            ("timesteps", float(list(sampler.timesteps) != trailing(tiny.sample_steps)), 0.0),
            ("sampler steps, same eps", step_error(diffuse, schedule, options, trace, samples),
             a.tolerance),
            # 20 network calls: float32 round-off, the library's and torch's alike, grows
            # along the chain (the float64 run is printed for comparison)
            ("whole run, torch float32", relative_error(samples.numpy(), library_samples),
             a.run_tolerance),
            ("whole run, torch float64", relative_error(dpmpp_2m(
                predictor(net, named(model, weights, torch.float64)), noise.double(),
                alpha_bar(), trailing(tiny.sample_steps), tiny.clip).numpy(), library_samples),
             a.run_tolerance),
            ("learning-rate schedule", rate_error(diffuse, model, schedule, tiny), a.tolerance)]
    print("    %-26s %10s %10s" % ("torch against the library", "rel. error", "tolerance"))
    for name, error, tolerance in rows:
        print("    %-26s %10.3e %10.1e%s" % (name, error, tolerance,
                                             "" if error <= tolerance else "   <-- too large"))
    return all(error <= tolerance for _, error, tolerance in rows)


def step_error(diffuse, schedule, options, trace, samples):
    """The library's step (diffuse_sampler_step) on the torch run's x_t and
    ε̂ at every entry against the torch step's result."""
    stepper = diffuse.Sampler.standalone(schedule, (1, 28, 28), "epsilon", **options)
    results = [x for _, x, _ in trace[1:]] + [samples]
    return max(relative_error(stepper.step(eps.numpy(), t, x.numpy()), result.numpy())
               for (t, x, eps), result in zip(trace, results))


def rate_error(diffuse, model, schedule, a):
    """The library optimizer's rate at each step (as examples/fashion sets it
    up) against learning_rate()."""
    optimizer = diffuse.Optimizer(model, "adamw", learning_rate=a.lr, weight_decay=0.0,
                                  min_learning_rate=0.1 * a.lr, warmup_steps=a.warmup,
                                  decay="cosine", decay_steps=a.steps)
    trainer = diffuse.Trainer(model, schedule, optimizer, batch_size=2,
                              data=np.zeros((4, 1, 28, 28), dtype=np.float32))
    worst = 0.0
    for s in range(a.steps + 2):
        worst = max(worst, relative_error(optimizer.current_learning_rate, learning_rate(s, a)))
        trainer.step()
    return worst


def main(argv):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    diffuse = library(os.path.abspath(a.build_dir))
    if a.check:
        passed = check(a, diffuse)
        print("PASS" if passed else "FAIL")
        return 0 if passed else 1
    model = library_model(diffuse, a)
    net = reference_net(model)
    state = load_state(a.resume) if a.resume else initial_state(a, model)
    start, first = time.time(), state["step"]
    ema = train(a, net, state, torch.from_numpy(load("train")[0]))
    print("trained steps %d-%d in %.0f s" % (first + 1, a.steps, time.time() - start),
          flush=True)
    start = time.time()
    samples = sample(a, net, ema)
    np.save(a.samples_out, samples)
    print("wrote %d samples to %s (%.0f s)" % (len(samples), a.samples_out, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
