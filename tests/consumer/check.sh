#!/bin/sh
# Installs the library from build dir $1 into a temporary prefix and builds
# the consumer program against it twice: with pkg-config and with CMake's
# find_package. Both binaries must run.
set -eu
cd "$(dirname "$0")"
build=$(cd "../../${1:-build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libdiffuse.so' -printf '%h\n' | head -n 1)

echo "== pkg-config: $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs diffuse)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror consumer.c -o "$work/consumer-pkgconfig" \
    $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs diffuse)
LD_LIBRARY_PATH="$libdir" "$work/consumer-pkgconfig"

echo "== find_package(diffuse)"
cmake -S . -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake-build/consumer"

echo "== SONAME: $(readelf -d "$libdir/libdiffuse.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
bad=$(nm -D --defined-only "$libdir/libdiffuse.so" | awk '{print $3}' | grep -v '^diffuse_' || true)
if [ -n "$bad" ]; then
    echo "symbols exported without the diffuse_ prefix:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "== exported symbols: $(nm -D --defined-only "$libdir/libdiffuse.so" | wc -l), all diffuse_*"
