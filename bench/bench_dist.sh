#!/usr/bin/env bash
# Data parallelism on one machine: GRPO and SFT steps with 2 ranks x 1 thread (mpirun, each rank
# bound to a core) against 1 process x 2 threads, the share of rank 0's step spent in collectives
# (dist/comm_s: the sums themselves and the waits for the slower rank), and the all-reduce
# bandwidth (bench_allreduce). Figures come from the runs' metrics.jsonl.
#   bench/bench_dist.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
R1=$B/r1
T=$(mktemp -d /tmp/r1-bench-dist.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --bind-to core -np 2 -x OMP_NUM_THREADS=1)

# Mean of a metric over the rows that have it, skipping the first `skip` (warm-up).
mean() {  # file key skip
  python3 - "$@" <<'PY'
import json, sys
path, key, skip = sys.argv[1], sys.argv[2], int(sys.argv[3])
v = [r[key] for r in map(json.loads, open(path)) if isinstance(r.get(key), (int, float))][skip:]
print(f"{sum(v) / len(v):.4f}" if v else "nan")
PY
}
# Seconds per step from elapsed_s (pretrain/sft rows), after the first row.
step_time() {  # file
  python3 - "$1" <<'PY'
import json, sys
e = [r["elapsed_s"] for r in map(json.loads, open(sys.argv[1])) if "loss" in r and "elapsed_s" in r]
print(f"{(e[-1] - e[0]) / (len(e) - 1):.4f}")
PY
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== all-reduce bandwidth (2 ranks, shared memory)"
"${MPI[@]}" "$B/bench/bench_allreduce"

# SFT-shaped LM steps (r1 pretrain on the built-in corpus: the same step as r1 sft) at two sizes.
for size in "small 128 352 4 4096" "30M 512 1408 8 8192"; do
  read -r name hidden ffn layers tokens <<<"$size"
  set_args=(--set "model.hidden_size=$hidden" --set "model.intermediate_size=$ffn" --set "model.num_layers=$layers"
            --set "model.num_heads=8" --set "model.num_kv_heads=8" --set "model.head_dim=$((hidden / 8))"
            --set "train.batch_tokens=$tokens" --set "train.steps=12" --set "output.save_every=0"
            --set "data.builtin_docs=4000")
  OMP_NUM_THREADS=2 "$R1" pretrain "${set_args[@]}" --set "output.dir=\"$T/lm1\"" 2>/dev/null
  "${MPI[@]}" "$R1" pretrain "${set_args[@]}" --set "output.dir=\"$T/lm2\"" 2>/dev/null
  s1=$(step_time "$T/lm1/metrics.jsonl"); s2=$(step_time "$T/lm2/metrics.jsonl")
  c2=$(mean "$T/lm2/metrics.jsonl" dist/comm_s 1)
  echo "LM step ($name, $tokens tokens): 1x2 threads ${s1}s, 2 ranks x 1 thread ${s2}s," \
       "speed-up $(python3 -c "print(f'{$s1/$s2:.2f}')")x, comm share $(python3 -c "print(f'{100*$c2/$s2:.1f}')")%"
done

# GRPO steps: r1 zero's recipe from the shipped base, 6 steps, no evaluation.
gs=(--set grpo.steps=6 --set eval.every=0 --set eval.at_start=false --set eval.at_end=false)
OMP_NUM_THREADS=2 "$R1" zero --dir "$T/g1" "${gs[@]}" >/dev/null 2>&1
"${MPI[@]}" "$R1" zero --dir "$T/g2" "${gs[@]}" >/dev/null 2>&1
s1=$(mean "$T/g1/grpo/metrics.jsonl" step_s 1); s2=$(mean "$T/g2/grpo/metrics.jsonl" step_s 1)
c2=$(mean "$T/g2/grpo/metrics.jsonl" dist/comm_s 1)
echo "GRPO step (16 prompts x 8 samples): 1x2 threads ${s1}s, 2 ranks x 1 thread ${s2}s," \
     "speed-up $(python3 -c "print(f'{$s1/$s2:.2f}')")x, comm share $(python3 -c "print(f'{100*$c2/$s2:.1f}')")%"
