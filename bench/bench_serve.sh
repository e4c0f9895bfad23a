#!/usr/bin/env bash
# r1 serve under 1, 8 and 32 concurrent streaming clients (bench_serve: tokens/s, time to first
# token p50/p99) against offline `r1 generate` at the same batch size (the same number of prompts
# at once, every sample max_tokens long), in the same run. The model: a fresh 30M-parameter
# Llama (hidden 512, 8 layers, byte tokenizer; r1 pretrain for one step), so the model, not the
# HTTP layer, dominates; pass MODEL=PATH to use another.
#   bench/bench_serve.sh [BUILD_DIR]      (default: build; DTYPE=bf16 for bf16 products)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
R1=$B/r1
T=$(mktemp -d /tmp/r1-bench-serve.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
DTYPE=${DTYPE:-f32}
MAX_TOKENS=${MAX_TOKENS:-128}
PROMPT="Compute 4+9+7+8+3+5"

MODEL=${MODEL:-}
if [ -z "$MODEL" ]; then
  "$R1" pretrain --set model.hidden_size=512 --set model.intermediate_size=1408 --set model.num_layers=8 \
    --set model.num_heads=8 --set model.num_kv_heads=8 --set model.head_dim=64 --set train.batch_tokens=4096 \
    --set train.steps=1 --set output.save_every=0 --set data.builtin_docs=400 --set data.seq_len=512 --set "output.dir=\"$T/run\"" \
    >/dev/null 2>&1
  MODEL=$T/run/model
fi

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== model $MODEL, dtype $DTYPE, $MAX_TOKENS tokens a request"
"$R1" serve --model "$MODEL" --port 0 --dtype "$DTYPE" --max-seqs 64 2>"$T/serve.log" &
SERVER=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$T/serve.log" 2>/dev/null && break
  sleep 0.1
done
PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/serve.log")
[ -n "$PORT" ] || { cat "$T/serve.log"; exit 1; }

printf "%-8s %-10s %-12s %-14s %-14s %-14s %s\n" clients requests "serve tok/s" "ttft p50 (s)" "ttft p99 (s)" \
  "offline tok/s" "serve/offline"
for c in 1 8 32; do
  reqs=$(( c == 1 ? 8 : (c == 8 ? 4 : 2) ))
  out=$("$B/bench/bench_serve" --port "$PORT" --clients "$c" --requests "$reqs" --max-tokens "$MAX_TOKENS" \
        --prompt "$PROMPT") || { echo "bench_serve failed: $out"; exit 1; }
  # Offline: the same prompts at once (c rows), every sample MAX_TOKENS long.
  rm -f "$T/prompts.jsonl"
  for i in $(seq 1 "$c"); do echo "{\"prompt\": \"$PROMPT\"}" >>"$T/prompts.jsonl"; done
  # tokens/s over generate()'s time less the bf16 weight pack (the server packs once at start-up).
  gen=$("$R1" generate --model "$MODEL" --prompts "$T/prompts.jsonl" --max-new-tokens "$MAX_TOKENS" \
        --ignore-eos --dtype "$DTYPE" --max-seqs 64 2>&1 >/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
m = re.search(r"(\d+) new tokens in ([0-9.]+) s", t)
p = re.search(r"weight pack ([0-9.]+) s", t)
print(int(m.group(1)) / (float(m.group(2)) - (float(p.group(1)) if p else 0)))')
  python3 - "$out" "$gen" "$c" "$reqs" <<'PY'
import json, sys
o = json.loads(sys.argv[1]); off = float(sys.argv[2])
print(f"{sys.argv[3]:<8} {int(sys.argv[3]) * int(sys.argv[4]):<10} {o['tok_s']:<12.0f} {o['ttft_p50_s']:<14.3f} "
      f"{o['ttft_p99_s']:<14.3f} {off:<14.0f} {o['tok_s'] / off:.2f}" + ("" if o['failed'] == 0 else f"  ({o['failed']} failed)"))
PY
done
