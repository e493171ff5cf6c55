#!/bin/sh
# Fuzzes with the libFuzzer programs of a DIFFUSE_FUZZ build, each target for
# a bounded time on one core, starting from copies of the committed corpora
# (which stay unchanged), with the target's dictionary when it has one
# (checkpoint.dict is used together with safetensors.dict).
# Usage: tests/fuzz/run.sh BUILD_DIR TARGET=SECONDS ...
#   e.g. tests/fuzz/run.sh build-fuzz checkpoint=40 safetensors=15 options=20
# A crash leaves crash-<sha1> in the printed work directory and fails the run.
set -eu
fuzz="$(cd "$(dirname "$0")" && pwd)"
build="$1"
shift
work="$(mktemp -d)"
echo "fuzz work directory: $work"
cat "$fuzz/safetensors.dict" "$fuzz/checkpoint.dict" >"$work/checkpoint.dict"
cp "$fuzz/safetensors.dict" "$work/safetensors.dict"
status=0
for pair in "$@"; do
    target="${pair%%=*}"
    seconds="${pair#*=}"
    dict=""
    [ -f "$work/$target.dict" ] && dict="-dict=$work/$target.dict"
    mkdir -p "$work/corpus-$target"
    cp "$fuzz/corpus/$target"/* "$work/corpus-$target/"
    echo "== fuzz_$target for $seconds s"
    # shellcheck disable=SC2086 # $dict is one option or nothing
    (cd "$work" && OPENBLAS_NUM_THREADS=1 "$build/tests/fuzz/fuzz_$target" $dict \
        -max_len=8192 -jobs=1 -workers=1 -rss_limit_mb=2048 \
        -max_total_time="$seconds" -print_final_stats=1 "corpus-$target" >"$work/$target.log" 2>&1) ||
        status=1
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|crash-" "$work/$target.log" || true
done
[ "$status" -eq 0 ] && rm -rf "$work"
exit "$status"
