#!/usr/bin/env bash
# Installs the Debian packages, builds xlstm.cpp (CPU) and generates text with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
./build/xlstm generate -p "${1:-In the beginning}" -n "${2:-64}" --temp 0.8 --seed 1
