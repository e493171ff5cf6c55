#!/bin/sh
# The fashion example's CI test (a tiny U-Net, a few steps): it trains,
# writes a grid, a checkpoint and a .npy of samples, and a run stopped and
# resumed from its checkpoint ends in the same checkpoint bytes as one that
# never stopped. Skipped (77) without Debian's dataset-fashion-mnist.
#   test_fashion.sh FASHION_BINARY WORK_DIR
set -eu
fashion=$1
work=$2
data=/usr/share/datasets/fashion-mnist
[ -r "$data/train-images-idx3-ubyte.gz" ] || { echo "no $data: skipped"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
tiny="--steps 4 --batch 4 --base 8 --levels 2 --res-blocks 1 --attention 2 --heads 2
      --groups 4 --threads 2 --log-every 2 --checkpoint-every 0 --grid-every 0
      --grid-columns 2 --sample-steps 2"
# shellcheck disable=SC2086
"$fashion" $tiny --checkpoint whole.ckpt --grid whole.png --samples 3 --samples-out s.npy
# shellcheck disable=SC2086
"$fashion" $tiny --checkpoint part.ckpt --grid part.png --stop-at 2
# shellcheck disable=SC2086
"$fashion" $tiny --checkpoint part.ckpt --grid part.png --resume part.ckpt
cmp whole.ckpt part.ckpt
cmp whole.png part.png
# PNG signature; .npy magic and the shape in its header
[ "$(head -c 4 whole.png | od -An -c | tr -d ' ')" = "211PNG" ]
head -c 128 s.npy | grep -q "'shape': (3, 1, 28, 28)"
# --classes: one grid row per class, guided samples with their classes,
# and the same bit-exact resume
# shellcheck disable=SC2086
"$fashion" $tiny --classes --guidance 2 --checkpoint cwhole.ckpt --grid cwhole.png \
    --samples 12 --samples-out c.npy --labels-out cl.npy
# shellcheck disable=SC2086
"$fashion" $tiny --classes --guidance 2 --checkpoint cpart.ckpt --grid cpart.png --stop-at 2
# shellcheck disable=SC2086
"$fashion" $tiny --guidance 2 --checkpoint cpart.ckpt --grid cpart.png --resume cpart.ckpt
cmp cwhole.ckpt cpart.ckpt
cmp cwhole.png cpart.png
head -c 128 cl.npy | grep -q "'descr': '<i4', 'fortran_order': False, 'shape': (12,)"
# 10 rows of 2 columns of 28-pixel images with 2-pixel padding
[ "$(od -An -tu1 -j16 -N8 cwhole.png | tr -s ' ')" = " 0 0 0 62 0 0 1 46" ]
echo "fashion example: trained, resumed bit-exactly, sampled (unconditional and by class)"
