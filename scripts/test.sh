#!/usr/bin/env bash
# Builds and runs the whole test suite: an optimised build, run once as it is and once with the
# shared fixtures (../shared) hidden, as a fresh clone without them runs it; then an
# AddressSanitizer + UndefinedBehaviorSanitizer build, which leaves out the long end-to-end tests
# labelled slow. Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

run_suite() {  # build-dir, ctest args, extra cmake args...
  local dir=$1 ctest_args=$2; shift 2
  cmake -G Ninja -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  ninja -C "$dir"
  (cd "$dir" && ctest --output-on-failure -j1 --timeout 900 $ctest_args)
}

echo "== format check (clang-format) =="
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

echo "== optimised build =="
run_suite build ""
# Every test that needs the shared fixtures must skip, not fail, where they are absent (a user's
# fresh clone): the same build once more with R1_SHARED_DIR (r1::testing::shared_dir()) naming a
# directory that does not exist, and R1_DATA_DIR too, so that `r1 eval --data gsm8k` cannot find
# ../shared/data beside the build either. Not repeated when they are absent already.
if [ -e "${R1_SHARED_DIR:-../shared}" ]; then
  echo "== optimised suite without the shared fixtures =="
  hidden=/nonexistent/r1-shared-fixtures
  # The slow end-to-end runs (label slow) need no fixtures: they ran in the pass above.
  (cd build && R1_SHARED_DIR=$hidden R1_DATA_DIR=$hidden/data ctest --output-on-failure -j1 --timeout 900 -LE slow)
fi
if [ "${1:-}" != "--no-sanitize" ]; then
  echo "== ASan + UBSan build =="
  # OpenBLAS and libgomp are not instrumented; leak checking stays on for our code.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan "-LE slow" -DR1_SANITIZE=ON
fi
