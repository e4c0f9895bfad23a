#!/usr/bin/env bash
# Builds and runs the whole test suite: an optimised build, run once as it is and once with the
# shared fixtures (../shared) hidden, as a fresh clone without them runs it; then an
# AddressSanitizer + UndefinedBehaviorSanitizer build, which leaves out the long end-to-end tests
# labelled slow and the PyTorch oracle's own self-check (Python: nothing to instrument).
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

run_suite() {  # build-dir, ninja targets ("" = all), ctest args, extra cmake args...
  local dir=$1 targets=$2 ctest_args=$3; shift 3
  cmake -G Ninja -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  ninja -C "$dir" $targets
  (cd "$dir" && ctest --output-on-failure -j1 --timeout 900 $ctest_args)
}

# The tests that can reach the shared fixtures: the suites of every test file that names them
# (r1::testing::shared_dir/shared_path/have_shared, $R1_SHARED_DIR or $R1_DATA_DIR, a built-in
# benchmark, stories260K) or includes a test header that does; as a ctest regex.
fixture_tests() {
  local pat='shared_dir|shared_path|have_shared|R1_SHARED_DIR|R1_DATA_DIR|gsm8k|math500|aime24|stories260K'
  local headers suites
  headers=$(grep -l -E "$pat" $(git ls-files 'tests/*.h') | grep -v '^tests/test_util.h$' | xargs -r -n1 basename)
  [ -n "$headers" ] && pat="$pat|$(echo "$headers" | sed 's/\./\\./g' | paste -sd'|')"
  suites=$(grep -l -E "$pat" $(git ls-files 'tests/*.cpp') | xargs -r grep -h -o -E '^TEST(_F|_P)?\( *[A-Za-z0-9_]+' |
           sed -E 's/.*\( *//' | sort -u | paste -sd'|')
  if [ -z "$suites" ]; then echo "test.sh: found no test that uses the shared fixtures" >&2; exit 1; fi
  echo "^([A-Za-z0-9_]+/)?($suites)\\."
}

echo "== format check (clang-format) =="
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

echo "== optimised build =="
run_suite build "" ""
# Every test that needs the shared fixtures must skip, not fail, where they are absent (a user's
# fresh clone): the same build once more with R1_SHARED_DIR (r1::testing::shared_dir()) naming a
# directory that does not exist, and R1_DATA_DIR too, so that `r1 eval --data gsm8k` cannot find
# ../shared/data beside the build either. Not repeated when they are absent already.
if [ -e "${R1_SHARED_DIR:-../shared}" ]; then
  echo "== optimised suite without the shared fixtures =="
  hidden=/nonexistent/r1-shared-fixtures
  # Only the tests that can reach the fixtures (the others ran as they are in the pass above); the
  # slow end-to-end runs (label slow) need none.
  fixture_regex=$(fixture_tests)  # from the repository root, where git ls-files sees tests/
  (cd build && R1_SHARED_DIR=$hidden R1_DATA_DIR=$hidden/data ctest --output-on-failure -j1 --timeout 900 -LE slow \
     --no-tests=error -R "$fixture_regex")
fi
if [ "${1:-}" != "--no-sanitize" ]; then
  echo "== ASan + UBSan build =="
  # OpenBLAS and libgomp are not instrumented; leak checking stays on for our code.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan "r1 r1_tests" "-LE slow|python" -DR1_SANITIZE=ON
fi
