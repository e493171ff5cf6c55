#!/bin/sh
# Builds libdiffuse and runs every test suite: the README's test command.
# Usage: tests/run-tests.sh [build-dir]   (default: build)
set -eu
cd "$(dirname "$0")/.."
build="${1:-build}"
tests/install-deps.sh --python
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_BUILD_TESTS=ON -DDIFFUSE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)"
