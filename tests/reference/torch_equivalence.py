#!/usr/bin/python3
"""The libdiffuse MLP and U-Net against the same networks in PyTorch.

For several configurations this script draws weights, inputs x, timesteps t
and targets, runs the C library's training forward + backward on them and
the same module in PyTorch (in float64, the ground truth, and in float32 for
context), with loss = mean((f(x, t) - target)^2), and compares

    the outputs, the loss, the gradient of every parameter tensor, dloss/dx
    (MLP only), and diffuse_model_predict's outputs,

each as  max |value - truth| / max |truth|  over the tensor. It fails (exit
status 1) when any of them exceeds --tolerance (default 1e-5; the U-Net's
deeper float32 sums get --unet-tolerance, default 1e-4). The U-Net in
PyTorch (ReferenceUNet) is written from the equations of
include/diffuse/model.h with torch.nn.functional, independently of the C
layer list; it reads the parameters by the C tensor names.

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
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER_SOURCE = os.path.join(ROOT, "tests", "reference", "torch_equivalence_driver.c")

SILU, GELU = 0, 1

# dim, width, layers, time_dim, activation, residual, max_period, n, t_max[, classes]
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
    # class-conditional: a label embedding added to h_0
    dict(dim=2, width=64, layers=2, time_dim=16, activation=SILU, residual=1,
         max_period=10000.0, n=300, t_max=1000, classes=5),
]


class ReferenceMLP(torch.nn.Module):
    """The network of include/diffuse/model.h; its state_dict keys and order
    are the C library's tensor names and layout."""

    def __init__(self, dim, width, layers, time_dim, activation, residual, max_period,
                 classes=0):
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
        # K + 1 rows (the null class last), after the output layer as in C
        self.label_emb = torch.nn.Embedding(classes + 1, width) if classes else None

    def embed(self, t, dtype):
        """[cos(t f_k)..., sin(t f_k)...], f_k = exp(-ln(P) k / half), in float64."""
        half = self.time_dim // 2
        k = torch.arange(half, dtype=torch.float64)
        frequencies = torch.exp(-math.log(self.max_period) * k / half)
        angles = t.to(torch.float64)[:, None] * frequencies[None, :]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(dtype)

    def forward(self, x, t, labels=None):
        h = self.input(x) + self.time_mlp(self.embed(t, x.dtype))
        if self.label_emb is not None:
            h = h + self.label_emb(labels)
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
                         case["activation"], case["residual"], case["max_period"],
                         case.get("classes", 0))
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
    classes = case.get("classes", 0)
    labels = rng.integers(0, classes, size=n).astype(np.int32) if classes else None
    return model, params, flat, x, (t, labels), target


def run_c(driver, workdir, case, flat, x, t_labels, target):
    n, dim = case["n"], case["dim"]
    t, labels = t_labels
    count = sum(p.size for p in flat)
    header = np.array([dim, case["width"], case["layers"], case["time_dim"], case["activation"],
                       case["residual"], n, count, case.get("classes", 0)], dtype="<i8")
    in_path, out_path = os.path.join(workdir, "in.bin"), os.path.join(workdir, "out.bin")
    with open(in_path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array([case["max_period"]], dtype="<f8").tobytes())
        for p in flat:
            f.write(p.astype("<f4").tobytes())
        f.write(x.astype("<f4").tobytes())
        f.write(t.astype("<i4").tobytes())
        if labels is not None:
            f.write(labels.astype("<i4").tobytes())
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


def run_torch(model, params, flat, x, t_labels, target, dtype):
    t, labels = t_labels
    model = model.to(dtype)
    with torch.no_grad():
        for (name, _, _), value in zip(params, flat):
            model.state_dict()[name].copy_(torch.from_numpy(value).to(dtype))
    model.zero_grad()
    xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
    out = model(xt, torch.from_numpy(t.astype(np.int64)),
                None if labels is None else torch.from_numpy(labels.astype(np.int64)))
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

    return report(f"case {index}", case, rows, tolerance)


def report(label, case, rows, tolerance, width=28):
    """Prints the table of (quantity, C error, torch float32 error) rows;
    returns the largest C error."""
    title = ", ".join(f"{key}={value}" for key, value in case.items())
    print(f"{label}: {title}")
    print(f"    {'quantity':{width}} {'C vs float64':>14} {'torch f32 vs f64':>17}")
    worst = 0.0
    for name, c_error, torch_error in rows:
        flag = "" if c_error <= tolerance else "   <-- exceeds tolerance"
        print(f"    {name:{width}} {c_error:14.3e} {torch_error:17.3e}{flag}")
        worst = max(worst, c_error)
    return worst


# The U-Net's options (diffuse_model_option values) and the cases: one with
# attention (at two levels) and classes, one without either. Dropout stays
# at 0 (PyTorch's masks are not the library's).
UNET_OPTIONS = dict(image_channels=8, image_height=9, image_width=10, base_channels=11,
                    levels=12, level_mult_0=13, level_mult_1=14, level_mult_2=15,
                    res_blocks=18, attention_levels=19, heads=20, groups=22, classes=23,
                    time_max_period=7)
UNET_CASES = [
    dict(image_channels=1, image_height=8, image_width=8, base_channels=8, levels=3,
         level_mult_0=1, level_mult_1=2, level_mult_2=2, res_blocks=2, attention_levels=6,
         heads=2, groups=4, classes=3, time_max_period=10000.0, n=4, t_max=1000),
    dict(image_channels=3, image_height=4, image_width=6, base_channels=6, levels=2,
         level_mult_0=1, level_mult_1=2, res_blocks=1, attention_levels=0, heads=1, groups=3,
         classes=0, time_max_period=10000.0, n=3, t_max=1000),
]


class ReferenceUNet:
    """include/diffuse/model.h's U-Net with torch.nn.functional on a dict of
    named parameters (the C tensor names)."""

    def __init__(self, case):
        self.c = case
        self.mult = [case[f"level_mult_{l}"] for l in range(case["levels"])]

    def embed(self, t, dtype):
        half = self.c["base_channels"] // 2
        k = torch.arange(half, dtype=torch.float64)
        frequencies = torch.exp(-math.log(self.c["time_max_period"]) * k / half)
        angles = t.to(torch.float64)[:, None] * frequencies[None, :]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(dtype)

    def conv(self, p, name, x, stride=1):
        w = p[name + ".weight"]
        return F.conv2d(x, w, p[name + ".bias"], stride=stride, padding=w.shape[-1] // 2)

    def norm(self, p, name, x):
        return F.group_norm(x, self.c["groups"], p[name + ".weight"], p[name + ".bias"], 1e-5)

    def resblock(self, p, name, x, e):
        h = self.conv(p, name + ".in_layers.2", F.silu(self.norm(p, name + ".in_layers.0", x)))
        h = h + F.linear(F.silu(e), p[name + ".emb_layers.1.weight"],
                         p[name + ".emb_layers.1.bias"])[:, :, None, None]
        h = self.conv(p, name + ".out_layers.3", F.silu(self.norm(p, name + ".out_layers.0", h)))
        skip = name + ".skip_connection"
        return h + (self.conv(p, skip, x) if skip + ".weight" in p else x)

    def attention(self, p, name, x):
        n, c, hh, ww = x.shape
        heads, d = self.c["heads"], c // self.c["heads"]
        qkv = self.conv(p, name + ".qkv", self.norm(p, name + ".norm", x)).reshape(n, 3, heads, d,
                                                                                  hh * ww)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        a = torch.softmax(torch.einsum("nhci,nhcj->nhij", q, k) / math.sqrt(d), dim=-1)
        o = torch.einsum("nhcj,nhij->nhci", v, a).reshape(n, c, hh, ww)
        return x + self.conv(p, name + ".proj_out", o)

    def block(self, p, name, x, e, level):
        x = self.resblock(p, name + ".0", x, e)
        if self.c["attention_levels"] >> level & 1:
            x = self.attention(p, name + ".1", x)
        return x

    def forward(self, p, x, t, labels):
        c = self.c
        e = F.linear(F.silu(F.linear(self.embed(t, x.dtype), p["time_embed.0.weight"],
                                     p["time_embed.0.bias"])),
                     p["time_embed.2.weight"], p["time_embed.2.bias"])
        if c["classes"] > 0:
            e = e + p["label_emb.weight"][labels]
        h = self.conv(p, "input_blocks.0.0", x)
        skips, block = [h], 1
        for level in range(c["levels"]):
            for _ in range(c["res_blocks"]):
                h = self.block(p, f"input_blocks.{block}", h, e, level)
                skips.append(h)
                block += 1
            if level + 1 < c["levels"]:
                h = self.conv(p, f"input_blocks.{block}.0.op", h, stride=2)
                skips.append(h)
                block += 1
        h = self.resblock(p, "middle_block.0", h, e)
        h = self.attention(p, "middle_block.1", h)
        h = self.resblock(p, "middle_block.2", h, e)
        block = 0
        for level in reversed(range(c["levels"])):
            for r in range(c["res_blocks"] + 1):
                h = self.block(p, f"output_blocks.{block}", torch.cat([h, skips.pop()], 1), e,
                               level)
                if level > 0 and r == c["res_blocks"]:
                    up = 2 if c["attention_levels"] >> level & 1 else 1
                    h = self.conv(p, f"output_blocks.{block}.{up}.conv",
                                  F.interpolate(h, scale_factor=2, mode="nearest"))
                block += 1
        return self.conv(p, "out.2", F.silu(self.norm(p, "out.0", h)))


def unet_config_bytes(case):
    entries = [(UNET_OPTIONS[key], 1 if key == "time_max_period" else 0, float(value))
               for key, value in case.items() if key in UNET_OPTIONS]
    data = np.array([len(entries)], dtype="<i8").tobytes()
    for option, is_double, value in entries:
        data += np.array([option, is_double], dtype="<i8").tobytes()
        data += np.array([value], dtype="<f8").tobytes()
    return data


def unet_weights(names, rng):
    """Weights by the C names: convolutions and linear layers ±1/√fan_in
    (weight and bias), GroupNorm γ on (0.5, 1.5) and β on (−0.5, 0.5) (not
    1 and 0, so that their gradients are tested in general position), the
    label embedding N(0, 1)."""
    pieces, bound = [], 1.0
    for name, shape in names:
        size = int(np.prod(shape))
        if name.startswith("label_emb"):
            pieces.append(rng.standard_normal(size))
        elif len(shape) == 1 and name.endswith(".weight"):
            pieces.append(rng.uniform(0.5, 1.5, size))
            bound = 0.5
        else:
            if name.endswith(".weight"):
                bound = 1.0 / math.sqrt(np.prod(shape[1:]))
            pieces.append(rng.uniform(-bound, bound, size))
    return np.concatenate(pieces).astype(np.float32)


def compare_unet(case, index, driver, workdir, tolerance):
    rng = np.random.default_rng(2000 + index)
    c, n = case, case["n"]
    dim = c["image_channels"] * c["image_height"] * c["image_width"]
    labels = rng.integers(0, c["classes"], size=n).astype(np.int32) if c["classes"] else None
    x = rng.standard_normal((n, dim)).astype(np.float32)
    t = rng.integers(0, c["t_max"], size=n).astype(np.int32)
    target = rng.standard_normal((n, dim)).astype(np.float32)
    in_path, out_path = os.path.join(workdir, "unet.bin"), os.path.join(workdir, "unet.out")
    names_path = os.path.join(workdir, "names.txt")

    def run(params):
        with open(in_path, "wb") as f:
            f.write(np.array([dim], dtype="<i8").tobytes())
            f.write(unet_config_bytes(c))
            f.write(np.array([n, params.size, labels is not None], dtype="<i8").tobytes())
            f.write(params.astype("<f4").tobytes())
            f.write(x.astype("<f4").tobytes())
            f.write(t.astype("<i4").tobytes())
            if labels is not None:
                f.write(labels.astype("<i4").tobytes())
            f.write(target.astype("<f4").tobytes())
        result = subprocess.run([driver, "--unet", in_path, out_path, names_path],
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit("the driver failed:\n" + result.stderr)
        names = [(line.split()[0], tuple(int(d) for d in line.split()[1:]))
                 for line in open(names_path, encoding="utf-8")]
        if params.size == 0:
            return names
        data = open(out_path, "rb").read()
        out = np.frombuffer(data, "<f4", n * dim, 0).reshape(n, dim)
        loss = float(np.frombuffer(data, "<f8", 1, out.nbytes)[0])
        grads = np.frombuffer(data, "<f4", params.size, out.nbytes + 8)
        predicted = np.frombuffer(data, "<f4", n * dim,
                                  out.nbytes + 8 + grads.nbytes).reshape(n, dim)
        return out, loss, grads, predicted

    names = run(np.zeros(0, dtype=np.float32))  # the layout first
    params = unet_weights(names, rng)
    c_out, c_loss, c_grads, c_predicted = run(params)
    sizes = [int(np.prod(shape)) for _, shape in names]
    count = params.size
    model = ReferenceUNet(c)

    def torch_run(dtype):
        p = {}
        for (name, shape), piece in zip(names, np.split(params, np.cumsum(sizes)[:-1])):
            p[name] = torch.from_numpy(piece.astype(np.float64)).to(dtype).reshape(
                shape).requires_grad_(True)
        xt = torch.from_numpy(x).to(dtype).reshape(n, c["image_channels"], c["image_height"],
                                                   c["image_width"])
        lab = torch.from_numpy(labels.astype(np.int64)) if labels is not None else None
        out = model.forward(p, xt, torch.from_numpy(t.astype(np.int64)), lab).reshape(n, dim)
        loss = ((out - torch.from_numpy(target).to(dtype)) ** 2).mean()
        loss.backward()
        return (out.detach().numpy().astype(np.float64), float(loss),
                [p[name].grad.numpy().astype(np.float64).ravel() for name, _ in names])

    truth, single = torch_run(torch.float64), torch_run(torch.float32)
    c_split = np.split(c_grads, np.cumsum(sizes)[:-1])
    rows = [("output", relative_error(c_out, truth[0]), relative_error(single[0], truth[0])),
            ("predict", relative_error(c_predicted, truth[0]),
             relative_error(single[0], truth[0])),
            ("loss", relative_error(c_loss, truth[1]), relative_error(single[1], truth[1]))]
    for (name, _), c_grad, true_grad, single_grad in zip(names, c_split, truth[2], single[2]):
        rows.append(("grad " + name, relative_error(c_grad, true_grad),
                     relative_error(single_grad, true_grad)))
    return report(f"U-Net case {index} ({count} parameters)", case, rows, tolerance, width=44)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build",
                        help="CMake build directory with libdiffuse_internal.a (default: build)")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="largest accepted max|C - truth| / max|truth| (default: 1e-5)")
    parser.add_argument("--unet-tolerance", type=float, default=1e-4,
                        help="the same for the U-Net cases (default: 1e-4)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    build_dir = os.path.abspath(args.build_dir)
    with tempfile.TemporaryDirectory(prefix="diffuse-torch-") as workdir:
        driver = build_driver(build_dir, workdir)
        worst = max(compare(case, i, driver, workdir, args.tolerance)
                    for i, case in enumerate(CASES))
        worst_unet = max(compare_unet(case, i, driver, workdir, args.unet_tolerance)
                         for i, case in enumerate(UNET_CASES))
    ok = worst <= args.tolerance and worst_unet <= args.unet_tolerance
    print(f"{'PASS' if ok else 'FAIL'}: largest relative error MLP {worst:.3e} (tolerance "
          f"{args.tolerance:.1e}), U-Net {worst_unet:.3e} (tolerance {args.unet_tolerance:.1e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
