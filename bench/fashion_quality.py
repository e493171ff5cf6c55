#!/usr/bin/python3
"""Quality of Fashion-MNIST samples, as a Fréchet distance in a classifier's
features and the spread of the classes it sees (Debian's python3-torch and
python3-numpy; the data from dataset-fashion-mnist).

    bench/fashion_quality.py --reference                # the floor and the ceiling
    bench/fashion_quality.py --samples s.npy [--labels l.npy]

Samples from the Fashion-MNIST example (examples/fashion/README.md):
    build/examples/fashion --resume fashion.ckpt --samples 1000 --samples-out s.npy

samples: float32 (n, 1, 28, 28) (or (n, 784)) in [-1, 1], as the library's
sampler writes them (np.save). Reported (JSON on stdout):
  frechet      Fréchet distance between the Gaussians fitted to the
               classifier's penultimate features (128-d) of the samples and of
               N test images (N = min(n, --n));
  floor        the same between N test images and N training images (what
               perfect samples would score), ceiling: N images of uniform noise;
  entropy      of the histogram of predicted classes, in bits (log2 10 = 3.32
               when every class is equally frequent: full mode coverage);
  class_match  with --labels (the class each sample was asked for): the
               fraction the classifier assigns to its requested class.

The classifier (two 3×3 convolutions, 32 and 64 channels, each with ReLU and
2×2 max-pooling, then 128 → 10) is trained once, seeded, for 2 epochs with
Adam and cached in ~/.cache/libdiffuse (about 0.9 test accuracy); delete the
file to train it again. Nothing here uses libdiffuse: the IDX files are read
by numpy directly.
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
CACHE = os.path.expanduser("~/.cache/libdiffuse/fashion_classifier.pt")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(split):
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx("%s/%s-images-idx3-ubyte.gz" % (DATA, prefix))
    labels = read_idx("%s/%s-labels-idx1-ubyte.gz" % (DATA, prefix))
    x = images.astype(np.float32)[:, None] / 127.5 - 1.0  # the library's scaling
    return x, labels.astype(np.int64)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def train_classifier():
    torch.manual_seed(0)
    x, y = load("train")
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(2):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 128):
            batch = order[start:start + 128]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    torch.save(model.state_dict(), CACHE)
    return model


def classifier():
    model = Classifier()
    if os.path.exists(CACHE):
        model.load_state_dict(torch.load(CACHE))
    else:
        print("training the classifier once (cached in %s)" % CACHE, file=sys.stderr)
        model = train_classifier()
    return model.eval()


@torch.no_grad()
def features_and_classes(model, x):
    feats, classes = [], []
    for start in range(0, len(x), 500):
        f = model.features(torch.from_numpy(np.ascontiguousarray(x[start:start + 500])))
        feats.append(f.double().numpy())
        classes.append(model.head(f).argmax(1).numpy())
    return np.concatenate(feats), np.concatenate(classes)


def _sqrt_psd(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(f1, f2):
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrt_psd(s1)
    cross = _sqrt_psd(r1 @ s2 @ r1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * cross))


def entropy_bits(classes):
    p = np.bincount(classes, minlength=10) / len(classes)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", help=".npy of samples, (n, 1, 28, 28) in [-1, 1]")
    parser.add_argument("--labels", help=".npy of the class each sample was asked for")
    parser.add_argument("--reference", action="store_true", help="floor and ceiling only")
    parser.add_argument("--n", type=int, default=1000, help="images per side (default 1000)")
    a = parser.parse_args()
    if not a.reference and not a.samples:
        parser.error("give --samples or --reference")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = classifier()
    test_x, test_y = load("test")
    rng = np.random.default_rng(0)
    result = {}
    if a.samples:
        samples = np.load(a.samples).astype(np.float32).reshape(-1, 1, 28, 28)
        n = min(len(samples), a.n)
        samples = samples[:n]
    else:
        n = a.n
    test_f, test_c = features_and_classes(model, test_x[rng.permutation(len(test_x))[:n]])
    if a.reference:
        train_x, _ = load("train")
        train_f, _ = features_and_classes(model, train_x[rng.permutation(len(train_x))[:n]])
        noise = rng.uniform(-1, 1, size=(n, 1, 28, 28)).astype(np.float32)
        noise_f, _ = features_and_classes(model, noise)
        _, all_c = features_and_classes(model, test_x)
        result.update(n=n, floor=frechet(test_f, train_f), ceiling=frechet(test_f, noise_f),
                      test_entropy=entropy_bits(test_c),
                      classifier_accuracy=float((all_c == test_y).mean()))
    if a.samples:
        f, c = features_and_classes(model, samples)
        result.update(n=n, frechet=frechet(f, test_f), entropy=entropy_bits(c))
        if a.labels:
            requested = np.load(a.labels).astype(np.int64)[:n]
            result["class_match"] = float((c == requested).mean())
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
