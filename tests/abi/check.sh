#!/bin/sh
# ABI check: the built library against the committed baseline of the last
# release (tests/abi/libdiffuse-<version>.abi, written by abidw from that
# release's library), with Debian's abigail-tools. Any difference fails,
# unless the library's SONAME differs from the baseline's: an incompatible
# change must come with a new SONAME, and then the report is shown only.
# Usage: tests/abi/check.sh LIBRARY [BASELINE]
#   LIBRARY: libdiffuse.so.* built with debug information (RelWithDebInfo)
# Writing a baseline at a release:
#   abidw --headers-dir include/diffuse --drop-private-types \
#       --out-file tests/abi/libdiffuse-X.Y.abi build/libdiffuse.so.X.Y.Z
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
library="$1"
baseline="${2:-$(ls "$here"/libdiffuse-*.abi | sort -V | tail -n 1)}"
command -v abidiff >/dev/null || { echo "abi/check.sh: abidiff is not installed (abigail-tools)"; exit 1; }
old_soname="$(sed -n 's/.*soname=.\([^"'\'']*\).*/\1/p' "$baseline" | head -n 1)"
new_soname="$(objdump -p "$library" | awk '$1 == "SONAME" {print $2}')"
echo "baseline $(basename "$baseline") ($old_soname), library $new_soname"
status=0
abidiff --headers-dir2 "$here/../../include/diffuse" --drop-private-types \
    --suppressions "$here/suppressions.abignore" "$baseline" "$library" || status=$?
if [ "$status" -eq 0 ]; then
    echo "ABI unchanged"
elif [ "$old_soname" != "$new_soname" ]; then
    echo "ABI changed (abidiff status $status) with a new SONAME: allowed"
    status=0
else
    echo "ABI changed (abidiff status $status) but the SONAME is still $new_soname: bump it"
fi
exit "$status"
