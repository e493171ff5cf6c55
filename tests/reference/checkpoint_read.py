#!/usr/bin/env python3
"""Opens a libdiffuse checkpoint with nothing but the Python standard library
and checks that it is a valid safetensors file with the documented content
(src/io/checkpoint.h, include/diffuse/model.h), independently of the C reader.

    python3 tests/reference/checkpoint_read.py FILE.safetensors [...]

Exit status 0 when every file passes; the first problem is printed otherwise.

Integrity: format_version 2 files carry metadata "checksum" =
"crc32c:<8 lowercase hex digits>", the CRC-32C (Castagnoli) of the data
section followed by the length field and header without those 8 digits;
check_checksum() below checks it. format_version 1 files (libdiffuse 0.1)
have no checksum.

The same few lines open the weights in numpy (for users, not needed here):

    import json, struct, numpy as np
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    def tensor(name):
        entry = header[name]
        begin, end = entry["data_offsets"]
        dtype = {"F32": "<f4", "F64": "<f8"}[entry["dtype"]]
        return np.frombuffer(data[begin:end], dtype).reshape(entry["shape"])
    weight = tensor("input.weight")            # [hidden_width, dim]
    metadata = header["__metadata__"]          # {"model.hidden_width": "128", ...}
"""

import array
import json
import math
import struct
import sys

DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}

SCHEDULE_OPTIONS = {
    "linear": ["beta_start", "beta_end", "zero_terminal_snr"],
    "scaled_linear": ["beta_start", "beta_end", "zero_terminal_snr"],
    "cosine": ["cosine_offset", "max_beta", "zero_terminal_snr"],
    "sigmoid": ["beta_start", "beta_end", "sigmoid_range", "zero_terminal_snr"],
    "custom": ["zero_terminal_snr"],
}
MLP_OPTIONS = ["hidden_width", "hidden_layers", "time_embed_dim", "activation", "residual",
               "seed", "prediction", "time_max_period"]
OPTIMIZER_OPTIONS = ["learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "clip_norm",
                     "ema_decay", "warmup_steps", "decay", "decay_steps", "min_learning_rate"]
TRAINER_OPTIONS = ["batch_size", "seed", "threads"]
# Enum options, stored by the names of their values (libdiffuse 0.1, format
# version 1, wrote their numbers), and the integer options, stored as integers
# (0.1 wrote schedule.zero_terminal_snr as "0.0").
NAMED_OPTIONS = {"model.activation": ["silu", "gelu"],
                 "model.prediction": ["epsilon", "v", "x0"],
                 "optimizer.decay": ["none", "cosine", "linear"],
                 "trainer.decoder": ["discrete", "continuous"]}
INTEGER_OPTIONS = {"model.hidden_width", "model.hidden_layers", "model.time_embed_dim",
                   "model.residual", "model.seed", "schedule.zero_terminal_snr",
                   "optimizer.warmup_steps", "optimizer.decay_steps"}


def crc32c(data, crc=0):
    """CRC-32C, reflected polynomial 0x82F63B78; crc32c(b"123456789") == 0xE3069283."""
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


class Invalid(Exception):
    pass


def require(condition, message):
    if not condition:
        raise Invalid(message)


def no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    require(len(keys) == len(set(keys)), "duplicate JSON key among %r" % keys)
    return dict(pairs)


def read_safetensors(path):
    """(metadata, {name: (dtype, shape, bytes)}, raw file) after the structural checks."""
    with open(path, "rb") as f:
        raw = f.read()
    require(len(raw) >= 8, "shorter than the 8-byte header length")
    n = struct.unpack("<Q", raw[:8])[0]
    require(8 + n <= len(raw), "header length %d exceeds the file" % n)
    require((8 + n) % 8 == 0, "data section does not start at a multiple of 8")
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    require(all(isinstance(v, str) for v in metadata.values()), "metadata values must be strings")
    tensors, end = {}, 0
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        require(set(entry) == {"dtype", "shape", "data_offsets"}, "%s: fields %r" % (name, entry))
        begin, stop = entry["data_offsets"]
        count = 1
        for dim in entry["shape"]:
            count *= dim
        require(begin == end, "%s: begins at %d, previous tensor ended at %d" % (name, begin, end))
        require(stop - begin == count * DTYPE_SIZES[entry["dtype"]], "%s: size" % name)
        require(begin % DTYPE_SIZES[entry["dtype"]] == 0, "%s: not aligned" % name)
        tensors[name] = (entry["dtype"], list(entry["shape"]), data[begin:stop])
        end = stop
    require(end == len(data), "data section has %d trailing bytes" % (len(data) - end))
    return metadata, tensors, raw


def check_checksum(raw, metadata):
    """The stored digits against crc32c(data + head without the digits)."""
    value = metadata.get("checksum", "")
    require(len(value) == 15 and value.startswith("crc32c:"), "checksum %r" % value)
    marker = b'"checksum":"crc32c:'
    at = raw.index(marker) + len(marker)
    data_start = 8 + struct.unpack("<Q", raw[:8])[0]
    computed = crc32c(raw[data_start:] + raw[:at] + raw[at + 8:data_start])
    require(raw[at:at + 8].decode("ascii") == "%08x" % computed,
            "checksum mismatch: stored %s, computed %08x" % (value, computed))


def integer(metadata, key):
    require(key in metadata, "metadata %s is missing" % key)
    text = metadata[key]
    require(text == str(int(text)), "metadata %s = %r is not a canonical integer" % (key, text))
    return int(text)


def number(metadata, key):
    require(key in metadata, "metadata %s is missing" % key)
    value = float(metadata[key])
    require(math.isfinite(value), "metadata %s is not finite" % key)
    return value


def option_value(metadata, key, version):
    """An option's value, checked to be in the form its type has in `version`."""
    if version == 1:
        return number(metadata, key)
    if key in NAMED_OPTIONS:
        names = NAMED_OPTIONS[key]
        require(metadata.get(key) in names, "metadata %s = %r is not one of %s"
                % (key, metadata.get(key), ", ".join(names)))
        return names.index(metadata[key])
    if key in INTEGER_OPTIONS:
        return integer(metadata, key)
    return number(metadata, key)


def mlp_layout(metadata):
    """Names and shapes of include/diffuse/model.h's MLP layout, in order."""
    d = integer(metadata, "model.dim")
    h = integer(metadata, "model.hidden_width")
    layers = integer(metadata, "model.hidden_layers")
    e = integer(metadata, "model.time_embed_dim")
    layout = [("time_mlp.0.weight", [h, e]), ("time_mlp.0.bias", [h]),
              ("time_mlp.2.weight", [h, h]), ("time_mlp.2.bias", [h]),
              ("input.weight", [h, d]), ("input.bias", [h])]
    for block in range(layers):
        layout += [("blocks.%d.weight" % block, [h, h]), ("blocks.%d.bias" % block, [h])]
    return layout + [("output.weight", [d, h]), ("output.bias", [d])]


def floats(tensors, name, shape, dtype="F32"):
    require(name in tensors, "tensor %s is missing" % name)
    found_dtype, found_shape, raw = tensors[name]
    require((found_dtype, found_shape) == (dtype, shape),
            "tensor %s is %s%r, expected %s%r" % (name, found_dtype, found_shape, dtype, shape))
    values = array.array("f" if dtype == "F32" else "d", raw)
    if sys.byteorder == "big":
        values.byteswap()
    require(all(math.isfinite(v) for v in values), "tensor %s has a non-finite value" % name)
    return values


def check(path):
    assert crc32c(b"123456789") == 0xE3069283
    metadata, tensors, raw = read_safetensors(path)
    require(metadata.get("format") == "libdiffuse-checkpoint", "format is not ours")
    version = integer(metadata, "format_version")
    require(version in (1, 2), "unknown format_version %d" % version)
    if version == 2:
        check_checksum(raw, metadata)
    kind = metadata.get("kind")
    require(kind in ("model", "trainer"), "kind %r" % kind)
    require(metadata.get("model.architecture") == "mlp", "only the MLP layout is known here")
    for name in MLP_OPTIONS:
        option_value(metadata, "model." + name, version)
    expected = set()
    layout = mlp_layout(metadata)
    has_ema = "ema." + layout[0][0] in tensors
    param_count = 0
    for name, shape in layout:
        floats(tensors, name, shape)
        expected.add(name)
        if has_ema:
            floats(tensors, "ema." + name, shape)
            expected.add("ema." + name)
        param_count += len(tensors[name][2]) // 4

    schedule = metadata.get("schedule.kind")
    require(schedule in SCHEDULE_OPTIONS, "schedule.kind %r" % schedule)
    steps = integer(metadata, "schedule.steps")
    for name in SCHEDULE_OPTIONS[schedule]:
        option_value(metadata, "schedule." + name, version)
    if schedule == "custom":
        betas = floats(tensors, "schedule.betas", [steps], "F64")
        require(all(0 < b <= 1 for b in betas), "a custom beta is outside (0, 1]")
        expected.add("schedule.betas")

    if kind == "trainer":
        require(metadata.get("optimizer.kind") in ("adam", "adamw"), "optimizer.kind")
        for name in OPTIMIZER_OPTIONS:
            option_value(metadata, "optimizer." + name, version)
        integer(metadata, "optimizer.step")
        for option in TRAINER_OPTIONS:
            integer(metadata, "trainer." + option)
        floats(tensors, "optimizer.first_moment", [param_count])
        second = floats(tensors, "optimizer.second_moment", [param_count])
        require(min(second) >= 0, "a second moment is negative")
        expected |= {"optimizer.first_moment", "optimizer.second_moment"}
    require(set(tensors) == expected, "unexpected tensors %r" % sorted(set(tensors) - expected))
    return "%s: %s checkpoint, mlp d=%s H=%s L=%s, %d parameters%s, %s schedule T=%d" % (
        path, kind, metadata["model.dim"], metadata["model.hidden_width"],
        metadata["model.hidden_layers"], param_count, " + EMA" if has_ema else "", schedule,
        steps)


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[3].strip())
        return 2
    for path in paths:
        try:
            print(check(path))
        except (Invalid, ValueError, KeyError, TypeError, OSError) as error:
            print("%s: INVALID: %s" % (path, error))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
