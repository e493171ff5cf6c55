#!/usr/bin/env python3
"""Classifier guidance from Python: a torch classifier steers an
unconditional libdiffuse model (Dhariwal & Nichol 2021).

    python3 examples/python/classifier_guidance.py [STEPS [OUT.png]]

1. libdiffuse trains an unconditional DDPM on the 8 Gaussians (no labels).
2. torch trains a small classifier p(y | x_t, t) on noised data,
   x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε with the same schedule, y = the mode of x_0.
3. The sampler asks the classifier for ∇_x log p(y | x_t, t) at every step
   (Sampler.classifier) and shifts ε̂ by −√(1−ᾱ_t)·s·∇: samples requested
   for class k move to mode k, more so as the scale s grows.

Prints, for each s, the fraction of samples whose nearest mode is the one
asked for (1/8 without guidance), and draws those of classes 0 and 2.
Needs torch (Debian's python3-torch) and numpy.
"""

import math
import os
import sys

import numpy
import torch

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "bindings", "python"))
import diffuse  # noqa: E402

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
out = sys.argv[2] if len(sys.argv) > 2 else "classifier_guidance.png"
MODES, T = 8, 1000
torch.manual_seed(0)

# ---- 1. the unconditional diffusion model (libdiffuse) ----------------------
schedule = diffuse.Schedule("linear", T)
model = diffuse.Model(2, hidden_width=128, hidden_layers=3, seed=1)
optimizer = diffuse.Optimizer(model, learning_rate=2e-3, weight_decay=0.0, ema_decay=0.995)
trainer = diffuse.Trainer(model, schedule, optimizer, batch_size=256, seed=1,
                          data=diffuse.toy2d.Stream("8gaussians", seed=1))
trainer.train(steps)
print("diffusion model: %d steps" % steps)

# ---- 2. the noisy classifier (torch) ----------------------------------------
alpha_bar = torch.tensor(numpy.asarray(schedule.table("alpha_bar")), dtype=torch.float32)


def features(x, t):
    """x_t and a small embedding of t (the classifier must know the noise level)."""
    s = (t.float() / T)[:, None]
    return torch.cat([x, torch.cos(math.pi * s), torch.sin(math.pi * s), s], dim=1)


classifier = torch.nn.Sequential(torch.nn.Linear(5, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64),
                                 torch.nn.SiLU(), torch.nn.Linear(64, MODES))
adam = torch.optim.Adam(classifier.parameters(), lr=3e-3)
for step in range(max(200, steps // 4)):
    x0, y = diffuse.toy2d.sample("8gaussians", 512, seed=2, first_index=512 * step, labels=True)
    x0, y = torch.from_numpy(x0), torch.from_numpy(y).long()
    t = torch.randint(0, T, (512,))
    a = alpha_bar[t][:, None]
    xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0)
    loss = torch.nn.functional.cross_entropy(classifier(features(xt, t)), y)
    adam.zero_grad()
    loss.backward()
    adam.step()
print("classifier: cross-entropy %.3f on noisy data" % loss.item())


def grad_log_p(x_t, t, labels):
    """∇_x log p(labels | x_t, t) for the batch: the sampler's callback."""
    x = torch.from_numpy(x_t).requires_grad_(True)
    log_p = torch.log_softmax(classifier(features(x, torch.from_numpy(t))), dim=1)
    log_p.gather(1, torch.from_numpy(labels).long()[:, None]).sum().backward()
    return x.grad.numpy()


# ---- 3. guided sampling -----------------------------------------------------
def nearest_mode(points):
    angles = numpy.arctan2(points[:, 1], points[:, 0])
    return numpy.round(angles / (math.pi / 4)).astype(int) % MODES


labels = numpy.arange(800, dtype=numpy.int32) % MODES
panels, names = [], []
print("classifier scale s   nearest mode is the requested one")
with diffuse.Sampler(model, schedule, use_ema=True, seed=3, method="ddim", steps=100,
                     spacing="trailing") as sampler:
    sampler.classifier = grad_log_p
    for scale in (0.0, 1.0, 3.0, 10.0):
        sampler.classifier_scale = scale
        samples = sampler.run(len(labels), labels=labels)
        hit = float(numpy.mean(nearest_mode(samples) == labels))
        print("  %16g   %5.1f%%" % (scale, 100 * hit))
        panels.append(samples)
        names.append("s = %g" % scale)

# one panel per scale: the samples of classes 0 and 2 (east and north modes)
chosen = (labels == 0) | (labels == 2)
diffuse.plot.scatter_png(out, [p[chosen] for p in panels], extent=2.5)
print("wrote %s (classes 0 and 2; panels %s)" % (out, ", ".join(names)))
