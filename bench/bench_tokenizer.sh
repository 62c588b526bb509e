#!/usr/bin/env bash
# Why: builds bench/bench_tokenizer.cpp as one static binary (PCRE2, utf8proc, libstdc++ linked in) so the same
# program runs here and on the GPU machine, which lacks those libraries; then optionally runs it.
# Usage: bench/bench_tokenizer.sh [OUT_BINARY] [-- TOKENIZER_JSON TEXT_FILE [REPS] [THREADS]]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-bench/bench_tokenizer}
mkdir -p "$(dirname "$OUT")"
g++ -std=c++20 -O3 -DNDEBUG -DFMT_HEADER_ONLY -Wall -Wextra -Wpedantic -Wno-unused-parameter -I"$ROOT/src" \
  "$ROOT/bench/bench_tokenizer.cpp" "$ROOT"/src/tokenizer/*.cpp "$ROOT/src/common/check.cpp" \
  -static -pthread -lpcre2-8 -lutf8proc -o "$OUT"
echo "built $OUT" >&2
shift || true
if [ "${1:-}" = "--" ]; then
  shift
  "$OUT" "$@"
fi
