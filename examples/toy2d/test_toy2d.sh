#!/bin/sh
# The toy2d demo's CI test (a short run, a few sampling steps): both modes,
# the plain one and --classes, write their picture and, with --save, a
# trainer checkpoint that the diffuse tool can read back.
#   test_toy2d.sh TOY2D_BINARY DIFFUSE_TOOL WORK_DIR
set -eu
toy2d=$1
tool=$2
work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
short="--steps 200 --samples 200 --sampler ddim --sample-steps 5"
for mode in plain classes; do
    flag=""
    [ "$mode" = classes ] && flag="--classes"
    # shellcheck disable=SC2086
    "$toy2d" $short $flag --out "$mode.png" --save "$mode.safetensors" >"$mode.log"
    grep -q "saved $mode.safetensors" "$mode.log"
    [ "$(head -c 4 "$mode.png" | od -An -c | tr -d ' ')" = "211PNG" ]
    "$tool" info "$mode.safetensors" >"$mode.info"
done
grep -Eq "^ +classes +8$" classes.info
grep -Eq "^ +classes +0$" plain.info
echo "toy2d: both modes saved and read back"
