#!/usr/bin/env bash
# Builds and runs the whole test suite twice: an optimised build, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build. Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

run_suite() {  # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -G Ninja -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  ninja -C "$dir"
  (cd "$dir" && ctest --output-on-failure -j1 --timeout 900)
}

echo "== format check (clang-format) =="
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

echo "== optimised build =="
run_suite build
if [ "${1:-}" != "--no-sanitize" ]; then
  echo "== ASan + UBSan build =="
  # OpenBLAS and libgomp are not instrumented; leak checking stays on for our code.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DR1_SANITIZE=ON
fi
