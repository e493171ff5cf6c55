#!/usr/bin/env python3
"""Train a DDPM on the 2-D swiss roll and sample from it, from Python.

    python3 examples/python/toy2d.py [STEPS [OUT.png]]

Writes the data and the samples side by side into toy2d.png (standard library
only: numpy is used when present, never needed) and prints the energy
distance between samples and fresh data (0 is a perfect match). The recipe is
the C demo's (examples/toy2d). The library is found through DIFFUSE_LIBRARY,
the copy bundled in the installed package, the installed library, or the
newest build*/ directory of this checkout; the package is the installed
`diffuse`, else the one in bindings/python.
"""

import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "bindings", "python"))
import diffuse  # noqa: E402

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
out = sys.argv[2] if len(sys.argv) > 2 else "toy2d.png"


def report(step, loss, steps_per_second):
    print("step %6d/%d  mse %.4f  %6.0f it/s" % (step, steps, loss, steps_per_second))


# ---- the user code: train, sample, plot --------------------------------------
schedule = diffuse.Schedule("linear", 1000)
model = diffuse.Model(2, hidden_width=128, hidden_layers=3, seed=1)
optimizer = diffuse.Optimizer(model, learning_rate=2e-3, weight_decay=0.0, ema_decay=0.995,
                              warmup_steps=100, decay="cosine", decay_steps=steps,
                              min_learning_rate=1e-4)
trainer = diffuse.Trainer(model, schedule, optimizer, batch_size=256, seed=1,
                          data=diffuse.toy2d.Stream("swiss_roll", seed=1))
trainer.train(steps, progress=report)
samples = diffuse.Sampler(model, schedule, use_ema=True, seed=1).run(2000)
data = diffuse.toy2d.sample("swiss_roll", 2000, seed=1000004)  # fresh points
diffuse.plot.scatter_png(out, [data, samples])
print("wrote %s; energy distance samples-data %.4f"
      % (out, diffuse.metrics.energy_distance(samples, data, dim=2)))
