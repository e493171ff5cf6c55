#!/usr/bin/env python3
"""Generates docs/api.md, the API reference, from the public headers' comments.

Usage:
    docs/gen_api_reference.py            rewrite docs/api.md
    docs/gen_api_reference.py --check [--library build/libdiffuse.so]
        fail (exit 1) when docs/api.md is out of date, when a public function
        has no comment, or when the library exports a symbol the reference
        does not document.

Every DIFFUSE_API declaration is documented by the comment block right above
it, or, for a group of declarations written together without blank lines, by
the comment above the group. Standard library only.
"""
import argparse
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADERS = ROOT / "include" / "diffuse"
OUTPUT = ROOT / "docs" / "api.md"
DECLARATION = re.compile(r"^DIFFUSE_API\s+(.*?\b(diffuse_\w+)\s*\(.*?\));", re.S | re.M)


def comment_text(lines):
    """The text of a /* ... */ or // comment block, without the markers."""
    text = []
    for line in lines:
        line = line.strip()
        line = re.sub(r"^/\*+\s?|\s*\*+/$|^\*\s?|^//\s?", "", line)
        text.append(line)
    return "\n".join(text).strip()


def parse_header(path):
    """(header comment, [(name, signature, doc)]) for one header."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    header_doc = ""
    match = re.match(r"\s*/\*(.*?)\*/", source, re.S)
    if match:
        header_doc = comment_text(match.group(0).splitlines())
    entries = []
    for match in DECLARATION.finditer(source):
        signature = " ".join(match.group(1).split())
        name = match.group(2)
        first_line = source.count("\n", 0, match.start())
        entries.append((name, signature, find_doc(lines, first_line)))
    return header_doc, entries


def find_doc(lines, index):
    """The comment above line `index`, skipping the declarations of its group."""
    i = index - 1
    while i >= 0:
        stripped = lines[i].strip()
        if stripped == "":
            return ""
        if stripped.endswith("*/") or stripped.startswith("//"):
            end = i
            while i >= 0 and not (lines[i].strip().startswith("/*") or
                                  lines[i].strip().startswith("//")):
                i -= 1
            while i > 0 and lines[i - 1].strip().startswith("//"):
                i -= 1
            return comment_text(lines[i:end + 1])
        i -= 1  # part of a previous declaration in the same group
    return ""


# Headers of companion libraries (not of libdiffuse.so), with why their
# prototypes do not compile against diffuse/diffuse.h alone.
COMPANION_HEADERS = {"mpi.h": "libdiffuse_mpi, needs <mpi.h>"}


def render():
    out = ["# API reference", "",
           "Generated from the comments in `include/diffuse/*.h` by",
           "`docs/gen_api_reference.py`; do not edit by hand. The conventions",
           "shared by every function (status codes, errors, ownership, threads,",
           "timesteps) are in the `common.h` section.", ""]
    missing = []
    documented = set()
    for path in sorted(HEADERS.glob("*.h")):
        header_doc, entries = parse_header(path)
        out += [f"## `diffuse/{path.name}`", ""]
        if header_doc:
            out += ["```text", header_doc, "```", ""]
        for name, signature, doc in entries:
            if not doc:
                missing.append(f"{path.name}: {name}")
            documented.add(name)
            # libdiffuse_mpi's prototypes need <mpi.h>: the docs test skips them
            skip = ([f"<!-- docs-test: skip ({COMPANION_HEADERS[path.name]}) -->"]
                    if path.name in COMPANION_HEADERS else [])
            out += [f"### `{name}`", "", *skip, "```c", signature + ";", "```", ""]
            if doc:
                out += [doc, ""]
    return "\n".join(out).rstrip() + "\n", missing, documented


def exported_symbols(library):
    result = subprocess.run(["nm", "-D", "--defined-only", str(library)],
                            check=True, capture_output=True, text=True)
    # "address type name@@VERSION"; the version node itself is an absolute (A) symbol.
    return {fields[2].split("@")[0] for fields in map(str.split, result.stdout.splitlines())
            if len(fields) == 3 and fields[1] != "A"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--library", type=pathlib.Path)
    args = parser.parse_args()
    text, missing, documented = render()
    problems = [f"no comment documents {m}" for m in missing]
    if args.library:
        for symbol in sorted(exported_symbols(args.library) - documented):
            problems.append(f"exported but not in the reference: {symbol}")
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            problems.append("docs/api.md is out of date: run docs/gen_api_reference.py")
    else:
        OUTPUT.write_text(text, encoding="utf-8")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(documented)} public functions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
