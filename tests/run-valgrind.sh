#!/bin/sh
# Runs the fast Check suites of build dir $1 under valgrind's memcheck: any
# invalid access, use of uninitialised memory or leak fails the run.
# (The training-heavy suites run under AddressSanitizer instead: valgrind
# would take too long on them.)
set -eu
build="${1:-build}"
suites="common rng schedule forward posterior prediction metrics toy2d optim safetensors layers model sampler sampler_reference checkpoint png_writer reentry cli_readers objectives"
export CK_FORK=no OPENBLAS_NUM_THREADS=1
failed=0
for suite in $suites; do
    program="$build/tests/test_$suite"
    [ -x "$program" ] || { echo "missing $program" >&2; failed=1; continue; }
    if valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$program" >"$build/valgrind-$suite.log" 2>&1; then
        echo "valgrind $suite: clean ($(tail -n 1 "$build/valgrind-$suite.log"))"
    else
        echo "valgrind $suite: FAILED" >&2
        cat "$build/valgrind-$suite.log" >&2
        failed=1
    fi
done
exit $failed
