#!/bin/sh
# Builds libdiffuse in Release and runs the libdiffuse-vs-PyTorch benchmark
# (docs/performance.md): prints the markdown table on stdout, progress on
# stderr. Arguments go to bench/compare.py, e.g.
#
#   bench/run.sh                          # the table (~7 minutes on a quiet 2-core machine)
#   bench/run.sh --json raw.json          # ... and every raw measurement
#   bench/run.sh --explore                # PyTorch under each candidate setting
#   bench/run.sh --widths 128 --threads 1 --rounds 1      # a quicker subset
#
# It also builds bench_sampler_overhead; the fast samplers' tables
# (docs/performance.md) then come from
#   build-bench/bench/bench_sampler_overhead
#   bench/compare_samplers.py --build-dir build-bench
#
# Environment: BUILD_DIR (default build-bench), PYTHON (default /usr/bin/python3,
# which must have torch). OPENBLAS_CORETYPE and the like are passed through
# unchanged to both sides.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
python=${PYTHON:-/usr/bin/python3}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_BUILD_BENCH=ON \
    -DDIFFUSE_BUILD_TESTS=OFF -DDIFFUSE_BUILD_EXAMPLES=OFF -DDIFFUSE_SANITIZE=OFF \
    -DDIFFUSE_WERROR=OFF >/dev/null
log="$build/bench-build.log"
if ! cmake --build "$build" --target bench_diffuse bench_sgemm bench_sampler_overhead -j"$(nproc)" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
exec "$python" "$root/bench/compare.py" --build-dir "$build" "$@"
