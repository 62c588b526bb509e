#!/usr/bin/env bash
# Why: the lent GPU machine (the device tool) has CUDA, cuBLAS, Python 3.12 and transformers but not our
# Debian libraries, so everything it runs is built here and carried. This script builds, for sm_90 only,
# the CLI, the GPU tests, the op benchmark and the Python module for the device's Python 3.12, and lays
# them out the way tests/gpu/run_device.sh and bench/gpu_model_run.sh expect:
#   .carry/run   xlstm, xlstm_cpp.cpython-312-*.so, libpcre2-8.so.0, libutf8proc.so.2, libcpp-httplib.so.0.11
#                (the device has httplib's own dependencies: OpenSSL 3, zlib, brotli)
#   .carry/cuda  xlstm_gpu_tests, bench_cuda_ops, libs.tar.xz (OpenBLAS, gfortran, quadmath)
#   .carry/pack  bins.tar.xz: both folders compressed (the tree that travels is capped at 64 MiB)
# Then: run(carry=[".carry/pack"], command="tar -xJf .carry/pack/bins.tar.xz -C .carry &&
#           bash bench/gpu_model_run.sh fixtures bench python").
# Usage: scripts/device_carry.sh [BUILD_DIR]   (default build-device)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-device}
PY=${DEVICE_PYTHON:-/root/.pyenv/versions/3.12.1/bin/python3}  # any CPython 3.12 with headers
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXLSTM_CUDA=ON -DXLSTM_PYTHON=ON -DXLSTM_TESTS=ON \
  -DPython3_EXECUTABLE="$PY" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc >/dev/null
cmake --build "$B" --target xlstm xlstm_cpp xlstm_gpu_tests bench_cuda_ops
mkdir -p .carry/run .carry/cuda
cp "$B"/xlstm "$B"/xlstm_cpp.cpython-312-*.so .carry/run/
cp "$B"/xlstm_gpu_tests "$B"/bench_cuda_ops .carry/cuda/
libs() { ldd "$B/xlstm" | awk -v p="$1" '$1 ~ p {print $3}'; }
cp -L "$(libs pcre2)" "$(libs utf8proc)" "$(libs cpp-httplib)" .carry/run/
tmp=$(mktemp -d)
cp -L "$(libs openblas)" "$(libs gfortran)" "$(libs quadmath)" "$tmp"/
tar -cJf .carry/cuda/libs.tar.xz -C "$tmp" .
rm -rf "$tmp"
strip --strip-unneeded .carry/run/xlstm .carry/run/xlstm_cpp.cpython-312-*.so .carry/cuda/xlstm_gpu_tests \
  .carry/cuda/bench_cuda_ops
mkdir -p .carry/pack
tar -cJf .carry/pack/bins.tar.xz -C .carry run cuda
du -sh .carry/run .carry/cuda .carry/pack
