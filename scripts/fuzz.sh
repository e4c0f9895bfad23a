#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs each for SECONDS
# (default 300). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Crashes are written to build-fuzz/crashes/; corpora grow in build-fuzz/corpus/TARGET/, seeded
# from fuzz/seeds/NAME/ where there is one (fuzz_json: documents nested past the depth limit).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
cmake -G Ninja -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DR1_FUZZ=ON -DR1_TESTS=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
ninja -C build-fuzz "${targets[@]}"
mkdir -p build-fuzz/crashes
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  dict=()
  name=${t#fuzz_}
  [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
  seeds=()  # checked-in seed inputs (read, never written: new inputs go to the corpus)
  [ -d "fuzz/seeds/$name" ] && seeds=("fuzz/seeds/$name")
  echo "== $t for $seconds s =="
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build-fuzz/fuzz/$t" "build-fuzz/corpus/$t" "${seeds[@]}" "${dict[@]}" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 2>&1 |
    grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done" || true
  if ls build-fuzz/crashes/ 2>/dev/null | grep -q .; then
    echo "$t: crash inputs in build-fuzz/crashes/" >&2
    exit 1
  fi
done
