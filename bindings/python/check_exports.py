#!/usr/bin/env python3
"""Checks that the Python binding declares every function libdiffuse exports.

    python3 bindings/python/check_exports.py build/libdiffuse.so

Lists the library's exported symbols (`nm -D --defined-only`) and compares
them with the binding's declaration table (diffuse/_declarations.py, read
without loading the library). Fails (exit 1) when the library exports a
symbol the binding does not declare, or when the binding declares a function
the library does not export (use --allow-missing when checking the binding
against an older library on purpose). Standard library only.
"""

import argparse
import importlib.util
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def declared_names():
    path = os.path.join(HERE, "diffuse", "_declarations.py")
    spec = importlib.util.spec_from_file_location("diffuse_declarations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DECLARED_NAMES


def exported_names(library, nm="nm"):
    """Defined dynamic symbols of `library` (functions and data)."""
    output = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                            stdout=subprocess.PIPE, universal_newlines=True).stdout
    names = set()
    for line in output.splitlines():
        fields = line.split()
        # address, type, name[@@version]; the version node is an absolute (A) symbol
        if len(fields) == 3 and fields[1] != "A":
            names.add(fields[2].split("@")[0])
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", help="path to libdiffuse.so")
    parser.add_argument("--allow-missing", action="store_true",
                        help="do not fail on declared functions the library lacks")
    parser.add_argument("--nm", default=os.environ.get("NM", "nm"), help="nm program")
    args = parser.parse_args(argv)

    exported = exported_names(args.library, args.nm)
    declared = declared_names()
    undeclared = sorted(exported - declared)
    missing = sorted(declared - exported)
    for name in undeclared:
        print("exported but not declared in the binding: %s" % name)
    for name in missing:
        print("declared in the binding but not exported: %s" % name)
    failed = bool(undeclared) or (bool(missing) and not args.allow_missing)
    print("%s: %d exported, %d declared, %d undeclared, %d missing -> %s"
          % (args.library, len(exported), len(declared), len(undeclared), len(missing),
             "FAIL" if failed else "OK"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
