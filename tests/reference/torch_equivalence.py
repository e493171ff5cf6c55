#!/usr/bin/python3
"""The libdiffuse MLP against the same network in PyTorch.

For several configurations this script draws weights, inputs x, timesteps t
and targets, runs the C library's training forward + backward on them and
the same module in PyTorch (in float64, the ground truth, and in float32 for
context), with loss = mean((f(x, t) - target)^2), and compares

    the outputs, the loss, the gradient of every parameter tensor, dloss/dx,
    and diffuse_model_predict's outputs,

each as  max |value - truth| / max |truth|  over the tensor. It fails (exit
status 1) when any of them exceeds --tolerance (default 1e-5).

How the C side is reached: tests/reference/torch_equivalence_driver.c uses
the library's internal training entry points (src/model/model.h, src/nn/mlp.h),
so it is linked against the static archive that every build makes. The
script compiles it itself; the command is, with BUILD the build directory:

    gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc \\
        tests/reference/torch_equivalence_driver.c BUILD/libdiffuse_internal.a \\
        $(pkg-config --libs openblas jansson) -lm -o DRIVER

(plus -fsanitize=address,undefined when BUILD was configured with
DIFFUSE_SANITIZE=ON) and exchanges data with it through two binary files in
a temporary directory (formats in the driver's header comment).

Run from the repository root after building, e.g.

    cmake -S . -B build && cmake --build build
    /usr/bin/python3 tests/reference/torch_equivalence.py --build-dir build

Needs numpy and torch (Debian's python3-numpy, python3-torch 1.13).
"""

import argparse
import math
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER_SOURCE = os.path.join(ROOT, "tests", "reference", "torch_equivalence_driver.c")

SILU, GELU = 0, 1

# dim, width, layers, time_dim, activation, residual, max_period, n, t_max
CASES = [
    dict(dim=2, width=128, layers=3, time_dim=64, activation=SILU, residual=1,
         max_period=10000.0, n=256, t_max=1000),
    dict(dim=2, width=128, layers=3, time_dim=64, activation=GELU, residual=1,
         max_period=10000.0, n=256, t_max=1000),
    # many repeated timesteps, no skip connections
    dict(dim=5, width=48, layers=1, time_dim=16, activation=GELU, residual=0,
         max_period=1000.0, n=77, t_max=10),
    # no hidden blocks; more rows than one prediction chunk (512)
    dict(dim=3, width=32, layers=0, time_dim=8, activation=SILU, residual=1,
         max_period=10000.0, n=600, t_max=5000),
]


class ReferenceMLP(torch.nn.Module):
    """The network of include/diffuse/model.h; its state_dict keys and order
    are the C library's tensor names and layout."""

    def __init__(self, dim, width, layers, time_dim, activation, residual, max_period):
        super().__init__()
        self.time_dim, self.max_period, self.residual = time_dim, max_period, residual
        if activation == SILU:
            self.act = torch.nn.functional.silu
            act_module = torch.nn.SiLU()
        else:
            self.act = lambda h: torch.nn.functional.gelu(h, approximate="tanh")
            act_module = torch.nn.GELU(approximate="tanh")
        self.time_mlp = torch.nn.Sequential(torch.nn.Linear(time_dim, width), act_module,
                                            torch.nn.Linear(width, width))
        self.input = torch.nn.Linear(dim, width)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(layers))
        self.output = torch.nn.Linear(width, dim)

    def embed(self, t, dtype):
        """[cos(t f_k)..., sin(t f_k)...], f_k = exp(-ln(P) k / half), in float64."""
        half = self.time_dim // 2
        k = torch.arange(half, dtype=torch.float64)
        frequencies = torch.exp(-math.log(self.max_period) * k / half)
        angles = t.to(torch.float64)[:, None] * frequencies[None, :]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(dtype)

    def forward(self, x, t):
        h = self.input(x) + self.time_mlp(self.embed(t, x.dtype))
        for block in self.blocks:
            update = block(self.act(h))
            h = h + update if self.residual else update
        return self.output(self.act(h))


def build_driver(build_dir, workdir):
    archive = os.path.join(build_dir, "libdiffuse_internal.a")
    if not os.path.exists(archive):
        sys.exit(f"{archive} not found: build the library first (cmake --build {build_dir})")
    libs = subprocess.run(["pkg-config", "--libs", "openblas", "jansson"], check=True,
                          capture_output=True, text=True).stdout.split()
    flags = []
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as f:
            if any(line.strip() == "DIFFUSE_SANITIZE:BOOL=ON" for line in f):
                flags.append("-fsanitize=address,undefined")
    driver = os.path.join(workdir, "torch_equivalence_driver")
    command = ([os.environ.get("CC", "gcc"), "-std=c11", "-O2", "-D_POSIX_C_SOURCE=200809L",
                "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "src")] + flags +
               [DRIVER_SOURCE, archive] + libs + ["-lm", "-o", driver])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("compiling the driver failed:\n" + shlex.join(command) + "\n" + result.stderr)
    return driver


def draw_case(case, seed):
    """Weights uniform(+-1/sqrt(fan_in)) like nn.Linear, inputs, timesteps, targets."""
    rng = np.random.default_rng(seed)
    model = ReferenceMLP(case["dim"], case["width"], case["layers"], case["time_dim"],
                         case["activation"], case["residual"], case["max_period"])
    params = []
    for name, tensor in model.state_dict().items():
        fan_in = tensor.shape[1] if tensor.dim() == 2 else None
        params.append((name, tuple(tensor.shape), fan_in))
    flat = []
    fan_in = None
    for name, shape, own_fan_in in params:
        fan_in = own_fan_in or fan_in  # a bias follows its weight
        bound = 1.0 / math.sqrt(fan_in)
        flat.append(rng.uniform(-bound, bound, size=shape).astype(np.float32))
    n, dim = case["n"], case["dim"]
    x = rng.standard_normal((n, dim)).astype(np.float32)
    t = rng.integers(0, case["t_max"], size=n).astype(np.int32)
    target = rng.standard_normal((n, dim)).astype(np.float32)
    return model, params, flat, x, t, target


def run_c(driver, workdir, case, flat, x, t, target):
    n, dim = case["n"], case["dim"]
    count = sum(p.size for p in flat)
    header = np.array([dim, case["width"], case["layers"], case["time_dim"], case["activation"],
                       case["residual"], n, count], dtype="<i8")
    in_path, out_path = os.path.join(workdir, "in.bin"), os.path.join(workdir, "out.bin")
    with open(in_path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array([case["max_period"]], dtype="<f8").tobytes())
        for p in flat:
            f.write(p.astype("<f4").tobytes())
        f.write(x.astype("<f4").tobytes())
        f.write(t.astype("<i4").tobytes())
        f.write(target.astype("<f4").tobytes())
    result = subprocess.run([driver, in_path, out_path], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("the driver failed:\n" + result.stderr)
    data = open(out_path, "rb").read()
    offset = 0

    def take(dtype, size):
        nonlocal offset
        array = np.frombuffer(data, dtype=dtype, count=size, offset=offset)
        offset += array.nbytes
        return array

    out = take("<f4", n * dim).reshape(n, dim)
    loss = float(take("<f8", 1)[0])
    grads = take("<f4", count)
    d_x = take("<f4", n * dim).reshape(n, dim)
    predicted = take("<f4", n * dim).reshape(n, dim)
    if offset != len(data):
        sys.exit("unexpected driver output size")
    return out, loss, grads, d_x, predicted


def run_torch(model, params, flat, x, t, target, dtype):
    model = model.to(dtype)
    with torch.no_grad():
        for (name, _, _), value in zip(params, flat):
            model.state_dict()[name].copy_(torch.from_numpy(value).to(dtype))
    model.zero_grad()
    xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
    out = model(xt, torch.from_numpy(t.astype(np.int64)))
    loss = ((out - torch.from_numpy(target).to(dtype)) ** 2).mean()
    loss.backward()
    named = dict(model.named_parameters())
    grads = [named[name].grad.detach().numpy().astype(np.float64).ravel()
             for name, _, _ in params]
    return (out.detach().numpy().astype(np.float64), float(loss),
            grads, xt.grad.numpy().astype(np.float64))


def relative_error(value, truth):
    value = np.asarray(value, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    scale = max(float(np.max(np.abs(truth))), 1e-30)
    return float(np.max(np.abs(value - truth))) / scale


def compare(case, index, driver, workdir, tolerance):
    model, params, flat, x, t, target = draw_case(case, seed=1000 + index)
    c_out, c_loss, c_grads, c_dx, c_predicted = run_c(driver, workdir, case, flat, x, t, target)
    truth = run_torch(model, params, flat, x, t, target, torch.float64)
    single = run_torch(model, params, flat, x, t, target, torch.float32)

    sizes = [p.size for p in flat]
    c_split = np.split(c_grads, np.cumsum(sizes)[:-1])
    rows = [("output", relative_error(c_out, truth[0]), relative_error(single[0], truth[0])),
            ("predict", relative_error(c_predicted, truth[0]), relative_error(single[0], truth[0])),
            ("loss", relative_error(c_loss, truth[1]), relative_error(single[1], truth[1])),
            ("d_x", relative_error(c_dx, truth[3]), relative_error(single[3], truth[3]))]
    for (name, _, _), c_grad, true_grad, single_grad in zip(params, c_split, truth[2], single[2]):
        rows.append(("grad " + name, relative_error(c_grad, true_grad),
                     relative_error(single_grad, true_grad)))

    title = ", ".join(f"{key}={value}" for key, value in case.items())
    print(f"case {index}: {title}")
    print(f"    {'quantity':28} {'C vs float64':>14} {'torch f32 vs f64':>17}")
    worst = 0.0
    for name, c_error, torch_error in rows:
        flag = "" if c_error <= tolerance else "   <-- exceeds tolerance"
        print(f"    {name:28} {c_error:14.3e} {torch_error:17.3e}{flag}")
        worst = max(worst, c_error)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build",
                        help="CMake build directory with libdiffuse_internal.a (default: build)")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="largest accepted max|C - truth| / max|truth| (default: 1e-5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    build_dir = os.path.abspath(args.build_dir)
    with tempfile.TemporaryDirectory(prefix="diffuse-torch-") as workdir:
        driver = build_driver(build_dir, workdir)
        worst = max(compare(case, i, driver, workdir, args.tolerance)
                    for i, case in enumerate(CASES))
    verdict = "PASS" if worst <= args.tolerance else "FAIL"
    print(f"{verdict}: largest relative error {worst:.3e} (tolerance {args.tolerance:.1e})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
