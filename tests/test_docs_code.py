#!/usr/bin/env python3
"""Compiles (and runs) the code blocks of README.md and docs/*.md.

Every fenced ```c block is compiled against the public headers:
  * a block with a main() is a whole program: compiled with -Wall -Wextra
    -Wpedantic -Werror, linked to the library and run (exit status 0);
  * any other block is a list of declarations (docs/api.md's prototypes):
    compiled after #include <diffuse/diffuse.h>, so a prototype that no
    longer matches its header fails;
  * a block right after the line `<!-- docs-test: skip (reason) -->` is a
    fragment meant to be read, not compiled (the reason says why).
Every ```python block must at least be valid Python (compile()).

Usage: test_docs_code.py --include DIR --library-dir DIR [--cc CC] [--flags F] FILE.md...
Standard library only.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

SKIP_MARKER = re.compile(r"<!--\s*docs-test:\s*skip\b.*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]


def code_blocks(path):
    """Yields (language, first line number, text, skipped) for each fenced block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    previous = ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        language, start = match.group(1), i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        yield language, start + 1, "\n".join(lines[start:end]) + "\n", bool(
            SKIP_MARKER.search(previous))
        previous = ""
        i = end + 1


def compile_c(args, source, where, workdir):
    """Compiles one C source; a program is linked and run. Returns an error or None."""
    is_program = re.search(r"\bint\s+main\s*\(", source) is not None
    c_file = os.path.join(workdir, "block.c")
    with open(c_file, "w", encoding="utf-8") as f:
        f.write(f'#line 1 "{where}"\n' if is_program else
                f'#include <diffuse/diffuse.h>\n#line 1 "{where}"\n')
        f.write(source)
    command = [args.cc, *WARNINGS, *args.flags.split(";"), "-I", args.include, c_file]
    command = [word for word in command if word]
    if is_program:
        binary = os.path.join(workdir, "block")
        command += ["-o", binary, "-L", args.library_dir, "-ldiffuse", "-lm",
                    f"-Wl,-rpath,{args.library_dir}"]
    else:
        command += ["-fsyntax-only"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"does not compile:\n{result.stderr}"
    if not is_program:
        return None
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    try:
        run = subprocess.run([binary], capture_output=True, text=True, env=env,
                             timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish within {args.timeout} s"
    if run.returncode != 0:
        return f"exits with {run.returncode}:\n{run.stdout}{run.stderr}"
    return None


def check_file(args, path, workdir):
    """Returns (blocks checked, list of failures) for one Markdown file."""
    checked, failures = 0, []
    c_declarations = []
    for language, line, text, skipped in code_blocks(path):
        where = f"{os.path.relpath(path)}:{line}"
        if skipped:
            continue
        if language == "c":
            if re.search(r"\bint\s+main\s*\(", text):
                checked += 1
                error = compile_c(args, text, where, workdir)
                if error:
                    failures.append(f"{where}: {error}")
            else:
                c_declarations.append((where, text))
        elif language == "python":
            checked += 1
            try:
                compile(text, where, "exec")
            except SyntaxError as e:
                failures.append(f"{where}: not valid Python: {e}")
    if c_declarations:
        # All declaration blocks of a file in one translation unit (api.md has
        # over a hundred); #line keeps each error pointing at its block.
        checked += len(c_declarations)
        source = "".join(f'#line {w.rsplit(":", 1)[1]} "{w.rsplit(":", 1)[0]}"\n{t}'
                         for w, t in c_declarations)
        error = compile_c(args, source, os.path.relpath(path), workdir)
        if error:
            failures.append(f"{os.path.relpath(path)}: declarations {error}")
    return checked, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--include", required=True, help="the public include directory")
    parser.add_argument("--library-dir", required=True, help="directory of libdiffuse.so")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"))
    parser.add_argument("--flags", default="",
                        help="extra compiler flags, ';'-separated (the sanitizers')")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per program")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    total, failures = 0, []
    with tempfile.TemporaryDirectory() as workdir:
        for path in args.files:
            checked, failed = check_file(args, path, workdir)
            total += checked
            failures += failed
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{total} code blocks checked in {len(args.files)} files, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
