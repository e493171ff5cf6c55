#!/bin/sh
# Builds libdiffuse and runs every test suite, the C suites (ctest) and the
# Python binding's (with and without numpy): the README's test command.
# Usage: tests/run-tests.sh [build-dir]   (default: build)
# The Python suites run in fast mode (no example runs), and the C quality
# suite averages one sampling draw instead of eight, unless
# DIFFUSE_TEST_FAST=0 (what .ci/run sets, so that CI runs them once, fully).
set -eu
cd "$(dirname "$0")/.."
build="${1:-build}"
tests/install-deps.sh --python
export DIFFUSE_TEST_FAST="${DIFFUSE_TEST_FAST:-1}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_BUILD_TESTS=ON -DDIFFUSE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure -j"$(nproc)")
if [ "$DIFFUSE_TEST_FAST" = "0" ]; then
    bindings/python/run_tests.sh "$build"
else
    bindings/python/run_tests.sh --fast "$build"
fi
