#!/bin/bash
# End-to-end test of the installed-style `diffuse` tool: trains a tiny MLP
# from CSV, resumes it bit-exactly (checkpoint and loss log equal to those
# of a run that never stopped, across epoch ends), samples to NPY and CSV,
# reads its own NPY back, shows the checkpoint (text, JSON); a tiny U-Net
# from an IDX file gives a PNG grid and an (n, C, H, W) NPY that trains
# again; Ctrl-C saves; bad input gives a clear message; every flag of the
# tool's own is in the man page.
# Usage: cli_end_to_end.sh DIFFUSE_BINARY MAN_PAGE MODEL_CHECKPOINT
# (MODEL_CHECKPOINT: one written by diffuse_model_save, with EMA weights).
set -eu
diffuse=$1
man=$2
model_checkpoint=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "cli_end_to_end: $*" >&2; exit 1; }
quiet=(--quiet)

# 200 rows of 2-D data with a header: 7 batches of 32 an epoch (the last short).
awk 'BEGIN { print "x,y"; for (i = 0; i < 200; i++) printf "%.6f,%.6f\n", sin(i * 0.37) * 2, cos(i * 0.11) }' >data.csv
mlp=(--csv data.csv --batch 32 --model-hidden-width 32 --model-hidden-layers 2
     --optimizer-ema-decay 0.9 "${quiet[@]}")

echo "== train 12 steps, resume to 24, against 24 at once"
"$diffuse" train "${mlp[@]}" --steps 12 --save a.st --loss-log resumed.csv
"$diffuse" train --csv data.csv --resume a.st --steps 24 --save b.st --loss-log resumed.csv "${quiet[@]}"
"$diffuse" train "${mlp[@]}" --steps 24 --save c.st --loss-log straight.csv
cmp b.st c.st || fail "the resumed checkpoint differs from the uninterrupted one"
cmp resumed.csv straight.csv || fail "the resumed loss log differs from the uninterrupted one"
[ "$(wc -l <straight.csv)" -eq 25 ] || fail "the loss log should have a header and 24 lines"

echo "== sample to NPY and CSV"
"$diffuse" sample --load b.st --n 50 --method ddim --steps 10 --use-ema 1 --out s.npy "${quiet[@]}"
[ "$(head -c 6 s.npy | od -An -c | tr -d ' ')" = "223NUMPY" ] || fail "s.npy is not an .npy file"
[ "$(wc -c <s.npy)" -eq $((128 + 50 * 2 * 4)) ] || fail "s.npy has the wrong size"
"$diffuse" train --npy s.npy --steps 1 --batch 8 "${quiet[@]}" 2>/dev/null ||
    fail "the tool cannot read its own NPY"
"$diffuse" sample --load b.st --n 5 --method dpmpp --steps 8 "${quiet[@]}" >s.csv
[ "$(wc -l <s.csv)" -eq 5 ] && ! grep -qv '^[-0-9.e+]*,[-0-9.e+]*$' s.csv ||
    fail "CSV samples: expected 5 lines of 2 numbers, got: $(cat s.csv)"

echo "== info"
"$diffuse" info b.st >info.txt
grep -q 'optimizer: adamw, step 24' info.txt || fail "info: $(cat info.txt)"
grep -q 'hidden_width  *32' info.txt || fail "info lacks the model options: $(cat info.txt)"
"$diffuse" info --json b.st >info.json
grep -q '"step": 24' info.json && grep -q '"activation": "silu"' info.json ||
    fail "info --json: $(cat info.json)"
"$diffuse" info "$model_checkpoint" >model.txt
grep -q '(model)$' model.txt && grep -q 'EMA weights: yes' model.txt && ! grep -q optimizer model.txt ||
    fail "info of a model checkpoint: $(cat model.txt)"
"$diffuse" info --json "$model_checkpoint" >model.json
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
    /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' model.json ||
        fail "info --json of a model checkpoint is not JSON"
    /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' info.json ||
        fail "info --json is not JSON"
fi

echo "== nll: the bound and its terms, text and JSON, the same for the same seed"
"$diffuse" nll --load b.st --csv data.csv --n 20 --decoder continuous --use-ema >nll.txt
grep -q '^NLL bound on 20 rows: [-0-9.]* bits/dim (L_T ' nll.txt || fail "nll: $(cat nll.txt)"
"$diffuse" nll --load b.st --csv data.csv --n 20 --decoder continuous --use-ema --json >nll.json
"$diffuse" nll --load b.st --csv data.csv --n 20 --decoder continuous --use-ema --json >nll2.json
cmp nll.json nll2.json || fail "nll is not reproducible"
grep -q '"bits_per_dim": ' nll.json || fail "nll --json: $(cat nll.json)"
if "$diffuse" nll --load b.st --csv data.csv --variance learned 2>nll.err; then
    fail "nll --variance learned on a model without a learned variance succeeded"
fi
grep -q 'does not learn its variance' nll.err || fail "nll: $(cat nll.err)"

echo "== a U-Net from IDX images: PNG grid, image NPY"
{
    printf '\x00\x00\x08\x03\x00\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00\x08'
    for ((i = 0; i < 16 * 64; i++)); do
        if (((i / 8 + i % 8 + i / 64) % 2)); then printf '\xff'; else printf '\x00'; fi
    done
} >images.idx
unet=(--idx images.idx --batch 4 --model-base-channels 8 --model-levels 2
      --model-res-blocks 1 --model-attention-levels 0 --model-heads 1 --model-groups 2 "${quiet[@]}")
"$diffuse" train "${unet[@]}" --steps 5 --save u3.st
"$diffuse" train --idx images.idx --resume u3.st --steps 6 --save u6.st "${quiet[@]}"
"$diffuse" train "${unet[@]}" --steps 6 --save u6b.st
cmp u6.st u6b.st || fail "the resumed U-Net differs from the uninterrupted one"
"$diffuse" sample --load u6.st --n 6 --method ddim --steps 4 --out grid.png "${quiet[@]}"
[ "$(head -c 4 grid.png | od -An -c | tr -d ' ')" = "211PNG" ] || fail "grid.png is not a PNG"
"$diffuse" sample --load u6.st --n 4 --method ddim --steps 4 --out u.npy "${quiet[@]}"
"$diffuse" train --npy u.npy --steps 1 --batch 2 --model-base-channels 8 --model-levels 2 \
    --model-res-blocks 1 --model-attention-levels 0 --model-heads 1 --model-groups 2 \
    --save v.st "${quiet[@]}"
"$diffuse" info v.st | grep -q 'model: unet, dim 64' || fail "an (n, 1, 8, 8) NPY should train a U-Net"

echo "== Ctrl-C saves"
"$diffuse" train "${mlp[@]}" --steps 100000000 --save int.st --loss-log int.csv &
pid=$!
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
for ((i = 0; i < 200 && $(lines int.csv) < 3; i++)); do sleep 0.05; done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 130 ] || fail "an interrupted training should exit with 130, not $status"
"$diffuse" info int.st | grep -q 'optimizer: adamw, step' || fail "no checkpoint after Ctrl-C"

echo "== errors"
printf 'a,b\n1,2\n3,x\n' >bad.csv
if "$diffuse" train --csv bad.csv 2>err.txt; then fail "a bad CSV was accepted"; fi
grep -q 'bad.csv:3: field 2: "x" is not a number' err.txt || fail "bad CSV: $(cat err.txt)"
if "$diffuse" train --csv data.csv --model-base-channels 8 2>err.txt; then fail "accepted"; fi
grep -q -- '--model-base-channels does not apply to --arch mlp' err.txt || fail "$(cat err.txt)"
if "$diffuse" sample --load b.st --out x.png 2>err.txt; then fail "PNG of vectors accepted"; fi
grep -q 'PNG output needs an image model' err.txt || fail "$(cat err.txt)"

echo "== help and man page"
"$diffuse" --help >/dev/null
# The tool's own flags (the "Options:" block of each --help); the library's
# options are flags by a rule the man page states, listed by --help with the
# installed library's bounds and defaults.
for command in train sample info nll; do
    "$diffuse" "$command" --help | awk '/^Options:/ {on = 1; next} on && /^$/ {exit} on' >help.txt
    [ -s help.txt ] || fail "diffuse $command --help has no Options: block"
    for flag in $(grep -o -- '--[a-z0-9][a-z0-9-]*' help.txt | sort -u); do
        grep -q -- "$(echo "$flag" | sed 's/-/\\\\-/g')" "$man" ||
            fail "the man page does not document diffuse $command $flag"
    done
done
echo "cli_end_to_end: all passed"
