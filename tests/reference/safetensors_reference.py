#!/usr/bin/python3
"""Independent safetensors reference for tests/test_safetensors.c.

Writes tests/reference/safetensors_reference.safetensors with the standard
library only (struct + json), in the canonical layout libdiffuse's writer
promises (src/io/safetensors.h):
  - data order: element size descending, then name (UTF-8 bytes);
  - compact JSON, "__metadata__" first with sorted keys, then the tensors in
    data order, non-ASCII written as UTF-8;
  - header padded with spaces so that the data section starts at a multiple
    of 8.
The C test reads this file (interop: C reads Python) and writes the same
tensors itself, expecting identical bytes (interop: Python reads C).

The tensor values are defined by the formulas in TENSORS below; the C test
uses the same formulas. The output is deterministic, so CI can regenerate it
and diff.

Usage:
  safetensors_reference.py [OUTPUT]     write the reference file
                                        (default: next to this script)
  safetensors_reference.py --check FILE validate FILE with the standard
                                        library; if numpy is installed, decode
                                        every tensor with it and, if FILE holds
                                        the reference tensors, compare them and
                                        the metadata with the formulas
"""
import json
import os
import struct
import sys

# dtype -> (struct format character, bytes per element, numpy dtype string)
DTYPES = {
    "F64": ("d", 8, "<f8"), "I64": ("q", 8, "<i8"), "U64": ("Q", 8, "<u8"),
    "F32": ("f", 4, "<f4"), "I32": ("i", 4, "<i4"), "U32": ("I", 4, "<u4"),
    "I16": ("h", 2, "<i2"), "U16": ("H", 2, "<u2"), "F16": ("e", 2, "<f2"),
    "U8": ("B", 1, "u1"), "I8": ("b", 1, "i1"), "BOOL": ("?", 1, "?"),
}

# name -> (dtype, shape, values). Values are exact in their dtype, or (the
# float32 ones) rounded the same way by struct and by a C (float) cast.
TENSORS = {
    "alpha": ("F64", [2, 2], [(i + 1) / 7 for i in range(4)]),
    "scalar": ("F64", [], [-42.5]),
    "beta": ("I64", [3], [-2**63, -1, 2**63 - 1]),
    "gamma": ("U64", [2], [0, 2**64 - 1]),
    "delta": ("F32", [2, 3], [(i - 2.5) / 4 for i in range(6)]),
    "empty": ("F32", [0, 3], []),
    "epsilon": ("I32", [2, 2], [-2**31, -1, 0, 2**31 - 1]),
    "third": ("F32", [1], [1 / 3]),
    "\u03b5.weight": ("F32", [1], [2.0]),
    "zeta": ("U8", [5], [0, 1, 127, 128, 255]),
}

METADATA = {
    "step": "1234",
    "lr": "0.001",
    "format": "pt",
    "note": "h\u00e9llo \"quoted\" \\ back\nline\ttab",
}


def element_count(shape):
    count = 1
    for dim in shape:
        count *= dim
    return count


def layout_key(name):
    return (-DTYPES[TENSORS[name][0]][1], name.encode("utf-8"))


def serialize():
    header = {}
    if METADATA:
        header["__metadata__"] = {k: METADATA[k] for k in
                                  sorted(METADATA, key=lambda k: k.encode("utf-8"))}
    data = bytearray()
    for name in sorted(TENSORS, key=layout_key):
        dtype, shape, values = TENSORS[name]
        assert len(values) == element_count(shape), name
        fmt, size, _ = DTYPES[dtype]
        begin = len(data)
        data += struct.pack("<%d%s" % (len(values), fmt), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def check(path):
    """Validates the file by the format's rules; returns a list of problems."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 0 < n <= len(blob) - 8, "header length"
    assert blob[8:9] == b"{", "header must start with '{'"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in metadata.values()), "metadata values"
    spans = []
    for name, entry in header.items():
        assert sorted(entry) == ["data_offsets", "dtype", "shape"], name
        begin, end = entry["data_offsets"]
        nbytes = element_count(entry["shape"]) * DTYPES[entry["dtype"]][1]
        assert end - begin == nbytes, name
        spans.append((begin, end, name))
    covered = 0
    for begin, end, name in sorted(spans):
        assert begin == covered, "hole or overlap at " + name
        covered = end
    assert covered == len(data), "trailing bytes"
    problems = []
    try:
        import numpy
    except ImportError:
        print("numpy not available: structure checked only")
        return problems
    # Every tensor decodes with numpy; the reference content (same tensor
    # names) must also equal the formulas.
    is_reference = set(header) == set(TENSORS)
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = numpy.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]][2])
        array = array.reshape(entry["shape"])
        if is_reference:
            dtype, shape, values = TENSORS[name]
            expected = numpy.array(values, dtype=DTYPES[dtype][2]).reshape(shape)
            if entry["dtype"] != dtype or not numpy.array_equal(array, expected):
                problems.append(name)
    if is_reference and metadata != METADATA:
        problems.append("metadata")
    print("%d tensors decoded with numpy%s" % (len(header),
          ", equal to the reference" if is_reference else ""))
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        problems = check(argv[2])
        if problems:
            print("MISMATCH:", ", ".join(problems))
            return 1
        print("OK")
        return 0
    here = os.path.dirname(os.path.abspath(__file__))
    out = argv[1] if len(argv) == 2 else os.path.join(here, "safetensors_reference.safetensors")
    with open(out, "wb") as f:
        f.write(serialize())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
