#!/usr/bin/python3
"""Energy distance and k-NN precision of 2-D samples (.npy files from
`diffuse sample --out`) against fresh points of a built-in toy2d set, as the
quality suite measures them (docs/performance.md, "Quality each reaches").

    PYTHONPATH=bindings/python DIFFUSE_LIBRARY=build/libdiffuse.so \\
        bench/toy2d_sample_quality.py --data swiss_roll ddpm_1.npy ddpm_2.npy ...

Each file is paired with its own fresh data (seed 100 + its position, from
1); the data-vs-data row (a second fresh set, seed 200 + position) is the
floor. Prints the mean ED ± its standard error and the mean precision.
"""

import argparse

import numpy as np

import diffuse


def knn_precision(samples, data, k=3):
    """Share of samples inside the k-NN ball of some data point (Kynkäänniemi
    et al. 2019): radius_j = distance from data point j to its k-th nearest
    other data point."""
    between_data = np.sqrt(((data[:, None] - data[None]) ** 2).sum(-1))
    radius = np.sort(between_data, 1)[:, k]
    to_data = np.sqrt(((samples[:, None] - data[None]) ** 2).sum(-1))
    return float((to_data <= radius[None]).any(1).mean())


def summary(name, scores):
    scores = np.array(scores)
    error = scores[:, 0].std(ddof=1) / np.sqrt(len(scores)) if len(scores) > 1 else 0.0
    print("%-24s ED %.5f ± %.5f  precision %.4f" % (name, scores[:, 0].mean(), error,
                                                    scores[:, 1].mean()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="swiss_roll")
    parser.add_argument("samples", nargs="+")
    args = parser.parse_args()
    kind = diffuse.toy2d.from_name(args.data)
    scores, floor = [], []
    for position, path in enumerate(args.samples, 1):
        samples = np.load(path).reshape(-1, 2)
        n = len(samples)
        data = np.asarray(diffuse.toy2d.sample(kind, n, seed=100 + position)).reshape(-1, 2)
        other = np.asarray(diffuse.toy2d.sample(kind, n, seed=200 + position)).reshape(-1, 2)
        scores.append((diffuse.metrics.energy_distance(samples, data), knn_precision(samples, data)))
        floor.append((diffuse.metrics.energy_distance(other, data), knn_precision(other, data)))
    summary("samples", scores)
    summary("fresh data (the floor)", floor)


if __name__ == "__main__":
    main()
