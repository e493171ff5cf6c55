#!/bin/sh
# Fuzzes the checkpoint loader and the safetensors reader with the libFuzzer
# programs of a DIFFUSE_FUZZ build, each for a bounded time on one core,
# starting from copies of the committed corpora (which stay unchanged).
# Usage: tests/fuzz/run.sh BUILD_DIR [CHECKPOINT_SECONDS [SAFETENSORS_SECONDS]]
# A crash leaves crash-<sha1> in the printed work directory and fails the run.
set -eu
fuzz="$(cd "$(dirname "$0")" && pwd)"
build="$1"
checkpoint_seconds="${2:-40}"
safetensors_seconds="${3:-15}"
work="$(mktemp -d)"
echo "fuzz work directory: $work"
cat "$fuzz/safetensors.dict" "$fuzz/checkpoint.dict" >"$work/checkpoint.dict"
cp "$fuzz/safetensors.dict" "$work/safetensors.dict"
status=0
for target in checkpoint safetensors; do
    eval seconds="\$${target}_seconds"
    mkdir -p "$work/corpus-$target"
    cp "$fuzz/corpus/$target"/* "$work/corpus-$target/"
    echo "== fuzz_$target for $seconds s"
    (cd "$work" && OPENBLAS_NUM_THREADS=1 "$build/tests/fuzz/fuzz_$target" \
        -dict="$work/$target.dict" -max_len=8192 -jobs=1 -workers=1 -rss_limit_mb=2048 \
        -max_total_time="$seconds" -print_final_stats=1 "corpus-$target" >"$work/$target.log" 2>&1) ||
        status=1
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|crash-" "$work/$target.log" || true
done
[ "$status" -eq 0 ] && rm -rf "$work"
exit "$status"
