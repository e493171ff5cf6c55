#!/bin/sh
# Tests the Python binding against a built libdiffuse, twice: with numpy
# (Debian's python3-numpy) and with numpy hidden (DIFFUSE_NO_NUMPY=1, so the
# array('f') code paths run), after checking that the binding declares every
# exported function.
#
# Usage: bindings/python/run_tests.sh [--fast] [build-dir]      (default: build)
# --fast skips the slow tests (those that run the examples; DIFFUSE_TEST_FAST=1),
# as tests/run-tests.sh does by default.
# Environment: PYTHON (default /usr/bin/python3, Debian's, which has numpy
# once python3-numpy is installed); extra arguments to unittest in TEST_ARGS
# (e.g. TEST_ARGS=-v).
set -eu
if [ "${1:-}" = "--fast" ]; then
    export DIFFUSE_TEST_FAST=1
    shift
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
python=${PYTHON:-/usr/bin/python3}
library="$build/libdiffuse.so"
if [ ! -e "$library" ]; then
    echo "run_tests.sh: $library not found: build the library first" >&2
    exit 1
fi
export DIFFUSE_LIBRARY="$library"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export PYTHONDONTWRITEBYTECODE=1

failed=""
echo "== exports ($library)"
"$python" "$here/check_exports.py" "$library" || failed="$failed exports"

if "$python" -c "import numpy" 2>/dev/null; then
    echo "== with numpy ($python)"
    DIFFUSE_NO_NUMPY=0 "$python" -m unittest discover -s "$here/tests" ${TEST_ARGS:-} ||
        failed="$failed with-numpy"
else
    echo "run_tests.sh: $python has no numpy (apt-get install python3-numpy)" >&2
    failed="$failed with-numpy(absent)"
fi
echo "== without numpy (DIFFUSE_NO_NUMPY=1, $python)"
DIFFUSE_NO_NUMPY=1 "$python" -m unittest discover -s "$here/tests" ${TEST_ARGS:-} ||
    failed="$failed without-numpy"

if [ -n "$failed" ]; then
    echo "run_tests.sh: FAILED:$failed" >&2
    exit 1
fi
echo "run_tests.sh: all passed"
