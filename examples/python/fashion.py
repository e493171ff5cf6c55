#!/usr/bin/env python3
"""fashion.py: examples/fashion from Python. Trains a U-Net ε-network on
Fashion-MNIST (Debian's dataset-fashion-mnist) with EMA weights, periodic
atomic checkpoints, --resume and a PNG grid of samples.

    python3 examples/python/fashion.py [the options of build/examples/fashion]

The twin of the C program (examples/fashion/fashion.c and fashion_run.c):
the same options and defaults (--quick, --classes, --label-dropout,
--guidance, --resume, --stop-at, --samples/--samples-out/--labels-out …;
--help lists them) and the same library calls (plus the binding's queries),
so the same flags give byte-identical checkpoints, .npy files and grids
(bindings/python/tests/test_fashion_example.py checks it). Needs numpy. The
library is found as for every binding program (DIFFUSE_LIBRARY, the
installed library, or a build*/ directory of this checkout).
"""

import os
import sys

import numpy as np

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "bindings", "python"))
import diffuse  # noqa: E402

# Fashion-MNIST's labels: T-shirt/top, trouser, pullover, dress, coat,
# sandal, shirt, sneaker, bag, ankle boot.
FASHION_CLASSES = 10
# The grid's and the .npy file's samples come from seeds the training never uses.
GRID_SEED_OFFSET = 7919
SAMPLES_SEED_OFFSET = 104729
SAMPLERS = {"ddpm": "ddpm", "ddim": "ddim", "dpmpp": "dpmpp_2m"}

USAGE = """\
usage: fashion [--quick] [--steps N] [--stop-at N] [--batch N] [--threads N]
               [--seed N] [--base N] [--levels N] [--res-blocks N]
               [--attention MASK] [--heads N] [--groups N] [--dropout Q]
               [--lr R] [--ema D] [--warmup N] [--log-every N]
               [--checkpoint FILE] [--checkpoint-every N] [--resume FILE]
               [--grid FILE.png] [--grid-every N] [--grid-columns N]
               [--sampler ddpm|ddim|dpmpp] [--sample-steps N] [--clip C]
               [--samples N] [--samples-out FILE.npy] [--data DIR]
               [--classes] [--label-dropout P] [--guidance W] [--labels-out FILE.npy]
"""

# (flag, kind, minimum, maximum): fashion.c's option table.
OPTIONS = [("--steps", int, 1, 1e9), ("--stop-at", int, 0, 1e9), ("--batch", int, 1, 65536),
           ("--threads", int, 0, 1024), ("--seed", int, 0, 9007199254740991.0),
           ("--base", int, 2, 4096), ("--levels", int, 1, 5), ("--res-blocks", int, 1, 16),
           ("--attention", int, 0, 31), ("--heads", int, 1, 64), ("--groups", int, 1, 1024),
           ("--dropout", float, 0, 0.99), ("--lr", float, 1e-8, 1), ("--ema", float, 0, 1),
           ("--warmup", int, 0, 1e9), ("--log-every", int, 0, 1e9),
           ("--checkpoint", str, 0, 0), ("--checkpoint-every", int, 0, 1e9),
           ("--resume", str, 0, 0), ("--grid", str, 0, 0), ("--grid-every", int, 0, 1e9),
           ("--grid-columns", int, 1, 64), ("--sampler", "sampler", 0, 0),
           ("--sample-steps", int, 0, 1000), ("--clip", float, 0, 1e6),
           ("--samples", int, 0, 1e6), ("--samples-out", str, 0, 0), ("--data", str, 0, 0),
           ("--label-dropout", float, 0, 1), ("--guidance", float, 0, 1000),
           ("--labels-out", str, 0, 0)]


def default_config():
    """fashion.c's defaults: they fit a 2-core CPU (examples/fashion/README.md)."""
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    return dict(data="/usr/share/datasets/fashion-mnist", steps=2500, stop_at=0, seed=1,
                threads=min(max(cores, 1), 8), batch=32, base=32, levels=2, res_blocks=1,
                attention=2,  # bit 1: 14×14, the lowest resolution at two levels
                heads=4, groups=8, dropout=0.0, lr=1e-3, ema=0.995, warmup=100,
                log_every=50, checkpoint_every=250, checkpoint="fashion.ckpt", resume=None,
                grid="fashion.png", grid_every=500, grid_columns=8, sampler="dpmpp_2m",
                sample_steps=20, clip=1.0, samples=0, samples_out="fashion_samples.npy",
                labels_out="fashion_labels.npy", classes=0, label_dropout=0.1, guidance=3.0)


def apply_quick(c):
    """--quick: a visibly structured grid in a few minutes (a short EMA: see
    apply_quick in fashion.c)."""
    c.update(steps=500, base=16, attention=0, lr=2e-3, ema=0.98, warmup=30, log_every=50,
             checkpoint_every=0, grid_every=0)


def parse_value(kind, low, high, text):
    """The value of one option as fashion.c's parse_value reads it, or None."""
    if kind is str:
        return text
    if kind == "sampler":
        return SAMPLERS.get(text)
    # strtod's syntax: leading blanks but nothing after the number, hex too
    if text != text.rstrip() or "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            value = float.fromhex(text)
        except ValueError:
            return None
    if not low <= value <= high:  # also refuses NaN
        return None
    if kind is float:
        return value
    return int(value) if value == int(value) else None


def configure(argv):
    """The configuration of a command line (--quick first, as fashion.c
    applies it), or None after printing the usage."""
    c = default_config()
    if "--quick" in argv:
        apply_quick(c)
    specs = {flag: (kind, low, high) for flag, kind, low, high in OPTIONS}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag in ("--help", "-h"):
            sys.stdout.write(USAGE)
            sys.exit(0)
        if flag == "--quick":
            i += 1
            continue
        if flag == "--classes":
            c["classes"] = FASHION_CLASSES
            i += 1
            continue
        value = argv[i + 1] if i + 1 < len(argv) else None
        parsed = None if value is None or flag not in specs else parse_value(*specs[flag], value)
        if parsed is None:
            print("fashion: bad or incomplete option %s%s" % (flag, "" if value is None
                                                             else " " + value), file=sys.stderr)
            sys.stderr.write(USAGE)
            return None
        c[flag[2:].replace("-", "_")] = parsed
        i += 2
    return c


def position_after(steps, batch, count):
    """The data source's position after `steps` steps of `batch` rows: a
    batch never crosses an epoch's end, so an epoch of `count` images takes
    ⌈count/batch⌉ steps, the last one short."""
    per_epoch = (count + batch - 1) // batch
    return steps // per_epoch * count + steps % per_epoch * batch


def next_due(step, every, end):
    """The next step ≥ `step` at which something is due: a multiple of
    `every` (never when 0), or the end."""
    if every == 0:
        return end
    return min((step // every + 1) * every, end)


class FashionRun:
    """The handles of a run, built fresh or resumed from a trainer checkpoint
    (fashion_run.c's fashion_open)."""

    def __init__(self, c):
        self.c = c
        # The labels are loaded whatever the model: a model without classes
        # ignores them, and a resumed checkpoint decides which it is.
        self.images = diffuse.Images.load_idx(
            os.path.join(c["data"], "train-images-idx3-ubyte.gz"),
            os.path.join(c["data"], "train-labels-idx1-ubyte.gz"))
        self.images.shuffle(True, c["seed"])
        if c["resume"] is not None:
            self._resume()
        else:
            self._build_fresh()
        self.trainer.data = self.images
        self.model = self.trainer.model
        self.schedule = self.trainer.schedule
        with self.model.config as config:
            self.classes = config["classes"]

    def _build_fresh(self):
        c = self.c
        schedule = diffuse.Schedule("linear", 1000)
        channels, height, width = self.images.shape[1:]
        model = diffuse.Model(
            self.images.dim, arch="unet", image_channels=channels, image_height=height,
            image_width=width, base_channels=c["base"], levels=c["levels"],
            res_blocks=c["res_blocks"], attention_levels=c["attention"], heads=c["heads"],
            groups=c["groups"], seed=c["seed"], classes=c["classes"], dropout=c["dropout"])
        # AdamW with a linear warm-up and a cosine decay to 10 % over the run.
        optimizer = diffuse.Optimizer(
            model, "adamw", learning_rate=c["lr"], weight_decay=0.0, ema_decay=c["ema"],
            min_learning_rate=c["lr"] * 0.1, warmup_steps=c["warmup"], decay="cosine",
            decay_steps=c["steps"])
        self.trainer = diffuse.Trainer(model, schedule, optimizer, batch_size=c["batch"],
                                       seed=c["seed"], threads=c["threads"])
        if c["classes"] > 0:  # classifier-free guidance needs the null class trained too
            self.trainer.label_dropout = c["label_dropout"]

    def _resume(self):
        """The handles as the checkpoint left them (batch size, seed, threads
        and every optimizer option included) and the data where its step
        left them, so that the run continues bit-exactly."""
        self.trainer = diffuse.Trainer.load(self.c["resume"])
        steps = self.trainer.step_count
        self.images.position = position_after(steps, self.trainer.batch_size, len(self.images))
        print("resumed %s at step %d" % (self.c["resume"], steps))

    def close(self):
        for handle in (self.trainer, self.trainer.optimizer, self.model, self.schedule,
                       self.images):
            handle.close()

    # ---- training ----------------------------------------------------------

    def progress(self, step, loss, steps_per_second):
        eta = (self.c["steps"] - step) / steps_per_second if steps_per_second > 0 else 0.0
        print("step %7d/%d  mse %.4f  %6.2f it/s  ETA %5.0fs"
              % (step, self.c["steps"], loss, steps_per_second, eta), flush=True)

    def train(self):
        """Trains up to --steps (or --stop-at), writing checkpoints and grids
        on the way and at the end."""
        c = self.c
        step = self.trainer.step_count
        end = c["stop_at"] if 0 < c["stop_at"] < c["steps"] else c["steps"]
        if step >= end and c["grid"] is not None:  # nothing to train: only the grid
            self.write_grid()
            return
        reporter = self.progress if c["log_every"] > 0 else None
        while step < end:
            until = next_due(step, c["checkpoint_every"], end)
            until = next_due(step, c["grid_every"], until)
            self.trainer.train(until - step, progress=reporter, interval=c["log_every"] or None)
            step = until
            self._segment_end_work(step, end)

    def _segment_end_work(self, step, end):
        c = self.c
        at_end = step == end
        if c["checkpoint"] is not None and (
                at_end or (c["checkpoint_every"] and step % c["checkpoint_every"] == 0)):
            self.trainer.save(c["checkpoint"])
            print("saved %s" % c["checkpoint"])
        if c["grid"] is not None and (at_end or (c["grid_every"]
                                                 and step % c["grid_every"] == 0)):
            self.write_grid()

    # ---- sampling ----------------------------------------------------------

    def sample(self, n, seed, labels=None):
        """n samples (n, C, H, W) from the EMA weights with the configured
        sampler (x̂_0 clipped to [−clip, clip], improved-diffusion's
        clip_denoised), guided towards `labels` when given."""
        c = self.c
        # trailing: the list starts at T − 1, where x ~ N(0, I) fits
        with diffuse.Sampler(self.model, self.schedule, use_ema=True, seed=seed,
                             threads=c["threads"], method=c["sampler"], spacing="trailing",
                             steps=c["sample_steps"], clip_x0=c["clip"]) as sampler:
            if labels is None:
                return sampler.run(n)
            sampler.guidance_scale = c["guidance"]
            return sampler.run(n, labels=labels)

    def sample_labels(self, n, per_class):
        """Sample i's class: i // per_class (rows of one class in a grid of
        per_class columns), or i mod K (per_class 0: a balanced set); None
        for an unconditional model."""
        if self.classes == 0:
            return None
        index = np.arange(n, dtype=np.int32)
        return index // per_class if per_class else index % np.int32(self.classes)

    def write_grid(self):
        """A square grid of unconditional samples, or one row per class."""
        c = self.c
        columns = c["grid_columns"]
        n = columns * (self.classes if self.classes > 0 else columns)
        samples = self.sample(n, c["seed"] + GRID_SEED_OFFSET, self.sample_labels(n, columns))
        diffuse.plot.image_grid_png(c["grid"], samples, columns=columns, padding=2)
        print("wrote %s" % c["grid"])

    def write_samples(self):
        """--samples samples to --samples-out as float32 (n, C, H, W) for
        bench/fashion_quality.py; a class-conditional model's sample i is of
        class i mod K, those classes written to --labels-out as int32 (n,)."""
        c = self.c
        n = c["samples"]
        labels = self.sample_labels(n, 0)
        samples = self.sample(n, c["seed"] + SAMPLES_SEED_OFFSET, labels)
        write_npy(c["samples_out"], samples)
        if labels is not None:
            write_npy(c["labels_out"], labels)
        print("wrote %d samples to %s%s" % (n, c["samples_out"], "" if labels is None
                                             else ", their classes to " + c["labels_out"]))


def write_npy(path, values):
    """np.save without np.save's appending of ".npy" to other names."""
    with open(path, "wb") as stream:
        np.save(stream, values)


def main(argv):
    c = configure(argv)
    if c is None:
        return 1
    try:
        run = FashionRun(c)
    except diffuse.DiffuseError as error:
        print("fashion: building the run failed: %s" % error, file=sys.stderr)
        return 1
    try:
        run.train()
        if c["samples"] > 0:
            run.write_samples()
    except (diffuse.DiffuseError, OSError) as error:
        print("fashion: %s" % error, file=sys.stderr)
        return 1
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
