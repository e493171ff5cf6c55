#!/bin/sh
# Installs the Debian packages libdiffuse needs to build, test and run its
# demo, when any is missing.
# Usage: tests/install-deps.sh [--python] [--torch] [--valgrind] [--fuzz] [--coverage] [--data] [--abi] [--mpi]
set -eu
packages="build-essential cmake pkg-config libopenblas-dev libjansson-dev zlib1g-dev libpng-dev check"
for arg in "$@"; do
    case "$arg" in
    --python) packages="$packages python3 python3-numpy python3-venv python3-pip" ;;
    --torch) packages="$packages python3-torch" ;;
    --valgrind) packages="$packages valgrind" ;;
    --fuzz) packages="$packages clang libclang-rt-14-dev" ;; # libFuzzer (tests/fuzz)
    --coverage) packages="$packages lcov" ;;                 # tests/coverage.sh
    --data) packages="$packages dataset-fashion-mnist" ;;   # tests/test_idx.c reads it
    --abi) packages="$packages abigail-tools" ;;            # tests/abi/check.sh
    --mpi) packages="$packages libopenmpi-dev openmpi-bin" ;; # -DDIFFUSE_MPI=ON (libdiffuse_mpi)
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
