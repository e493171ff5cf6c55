#!/bin/sh
# Installs the library from build dir $1 into a temporary prefix and builds
# the consumer program against it: shared, with pkg-config and with CMake's
# find_package; static (libdiffuse.a), with `pkg-config --static` and with the
# CMake target diffuse::diffuse_static. Every binary must run. Then checks
# what the installed files promise: `pkg-config --cflags` needs no other .pc
# file, only diffuse_* symbols leave either library, each in the version node
# LIBDIFFUSE_0, and the licence and documentation are installed.
set -eu
cd "$(dirname "$0")"
build=$(cd "../../${1:-build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libdiffuse.so' -printf '%h\n' | head -n 1)
fail() { echo "consumer check: $*" >&2; exit 1; }

# An empty search path besides ours: the private dependencies' .pc files
# (openblas, jansson) must not be needed for shared linking.
pc() { PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH="" pkg-config "$@" diffuse; }
echo "== pkg-config: $(pc --cflags --libs)"
# shellcheck disable=SC2046,SC2005
[ "$(echo $(pc --libs-only-l))" = "-ldiffuse" ] || fail "shared linking needs more than -ldiffuse: $(pc --libs)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror consumer.c -o "$work/consumer-pkgconfig" $(pc --cflags --libs)
LD_LIBRARY_PATH="$libdir" "$work/consumer-pkgconfig"

echo "== find_package(diffuse)"
cmake -S . -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake-build/consumer"

if [ -f "$libdir/libdiffuse.a" ]; then
    echo "== static: pkg-config --static: $(pc --static --libs)"
    # -ldiffuse would pick the .so next to the archive: name the archive (as
    # the man page says).
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Werror consumer.c -o "$work/consumer-static" \
        $(pc --cflags --static --libs | sed 's/-ldiffuse/-l:libdiffuse.a/')
    "$work/consumer-static"
    echo "== static: diffuse::diffuse_static"
    "$work/cmake-build/consumer_static"
    for binary in "$work/consumer-static" "$work/cmake-build/consumer_static"; do
        ! readelf -d "$binary" | grep -q 'libdiffuse' || fail "$binary needs libdiffuse.so"
    done
    bad=$(nm -g --defined-only "$libdir/libdiffuse.a" | awk 'NF == 3 && $3 !~ /^diffuse_/ {print $3}')
    [ -z "$bad" ] || fail "libdiffuse.a defines global symbols without the diffuse_ prefix: $bad"
    # Same API: the archive's global symbols are exactly the shared library's.
    nm -g --defined-only "$libdir/libdiffuse.a" | awk 'NF == 3 {print $3}' | sort >"$work/static.txt"
    nm -D --defined-only "$libdir/libdiffuse.so" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' |
        sort >"$work/shared.txt"
    cmp -s "$work/static.txt" "$work/shared.txt" ||
        fail "libdiffuse.a and libdiffuse.so export different symbols: $(diff "$work/static.txt" "$work/shared.txt")"
else
    echo "== static: not built (DIFFUSE_BUILD_STATIC=OFF)"
fi

echo "== SONAME: $(readelf -d "$libdir/libdiffuse.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
symbols=$(nm -D --defined-only "$libdir/libdiffuse.so" | awk '$2 != "A" {print $3}')
# The version node is named after the SONAME: libdiffuse.so.0.2, LIBDIFFUSE_0.2.
node="LIBDIFFUSE_$(readelf -d "$libdir/libdiffuse.so" | sed -n 's/.*(SONAME).*\[libdiffuse\.so\.\(.*\)\]/\1/p')"
bad=$(echo "$symbols" | grep -v "^diffuse_[A-Za-z0-9_]*@@$node\$" || true)
[ -z "$bad" ] || fail "symbols exported without the diffuse_ prefix or the version node $node: $bad"
echo "== exported symbols: $(echo "$symbols" | wc -l), all diffuse_*@@$node"
for file in share/licenses/libdiffuse/LICENSE share/doc/libdiffuse/README.md \
    share/doc/libdiffuse/guide.md share/doc/libdiffuse/api.md share/man/man3/libdiffuse.3; do
    [ -f "$prefix/$file" ] || fail "$file is not installed"
done
# The man page documents every build option with its default.
for option in $(sed -n 's/^ *option(\([A-Z_]*\) .*/\1/p' ../../CMakeLists.txt); do
    grep -q "^\.BR $option \"" "$prefix/share/man/man3/libdiffuse.3" ||
        fail "the man page does not document the build option $option"
done
echo "== installed: licence, documentation, man page (every build option)"

# The command-line tool, when built, runs from the prefix without
# LD_LIBRARY_PATH (its RPATH is $ORIGIN/../lib…) and trains, saves, samples.
if [ -x "$prefix/bin/diffuse" ]; then
    [ -f "$prefix/share/man/man1/diffuse.1" ] || fail "share/man/man1/diffuse.1 is not installed"
    "$prefix/bin/diffuse" --version
    "$prefix/bin/diffuse" train --toy2d two_moons --steps 3 --batch 16 --quiet \
        --save "$work/cli.safetensors" 2>/dev/null
    [ "$("$prefix/bin/diffuse" sample --load "$work/cli.safetensors" --n 3 --method ddim \
        --steps 4 --quiet | wc -l)" -eq 3 ] || fail "the installed diffuse did not sample"
    echo "== installed: diffuse (train, sample), diffuse.1"
else
    echo "== diffuse: not built (DIFFUSE_BUILD_CLI=OFF)"
fi
