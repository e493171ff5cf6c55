#!/bin/sh
# The main job: build libdiffuse, train a DDPM on the built-in swiss roll,
# sample from it and write toy2d.png (data and samples side by side).
# Extra arguments go to the demo, e.g. --data two_moons --steps 10000.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tests/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_BUILD_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target toy2d >/dev/null
"$root/build/examples/toy2d" "$@"
