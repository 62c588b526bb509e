#!/usr/bin/env bash
# Runs on the lent GPU machine from the repository root, with the CLI built elsewhere for sm_90 and
# carried as .carry/run/xlstm (RUN=dir overrides .carry/run; the OpenBLAS bundle is .carry/cuda/libs.tar.xz). One call does:
# fixtures through CUDA vs transformers, `xlstm bench` on the 7B architecture (random bf16 weights),
# bench/compare_hf.py timing transformers on the same architecture (hf), and the Python module's tests with
# CUDA (python; module built for the device's Python 3.12 by scripts/device_carry.sh), and `xlstm serve` on
# CUDA (serve: bench/serve_load.py against the bundled model and the random 7B: batched vs alone results and
# throughput at 1, 4 and 16 requests in flight). Logs go to $OUT.
set -uo pipefail
OUT=${OUT:-device-out}
mkdir -p "$OUT" /tmp/xlstm-libs
tar -xJf .carry/cuda/libs.tar.xz -C /tmp/xlstm-libs
CUBLAS_DIR=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null || true)
RUN=${RUN:-.carry/run}
export LD_LIBRARY_PATH=$PWD/$RUN:/tmp/xlstm-libs:/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}
export XLSTM=$RUN/xlstm PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
steps=${*:-fixtures bench hf}
for s in $steps; do
  echo "=== $s"
  case $s in
    fixtures)
      timeout 200 python3 scripts/gpu_fixture_check.py tests/fixtures/models > "$OUT/fixtures.txt" 2>&1; echo "rc=$?"
      tail -3 "$OUT/fixtures.txt"; grep FAIL "$OUT/fixtures.txt" | head -5
      $XLSTM generate -m models/xlstm-kjv-tiny --device cuda -p "In the beginning" -n 40 --temp 0.8 -s 1 ;;
    bench)
      M=bench/configs/xlstm-7b.json
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem_b1.csv" &
      SMI=$!
      timeout 200 $XLSTM bench --device cuda --random-weights $M -p 2048 -p 8192 -p 16384 -n 128 -r 3 --bandwidth 3000 | tee "$OUT/ours_b1.md"
      kill $SMI; echo "peak GPU MiB (b1 run): $(sort -n "$OUT/mem_b1.csv" | tail -1)"
      timeout 120 $XLSTM bench --device cuda --random-weights $M -p 512 -n 64 -b 16 -r 3 --bandwidth 3000 | tee "$OUT/ours_b16.md"
      for P in 8192 131072; do
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem_$P.csv" &
        SMI=$!
        timeout 120 $XLSTM bench --device cuda --random-weights $M -p $P -n 1 -r 1 --bandwidth 3000 | grep pp
        kill $SMI; echo "peak GPU MiB (prefill $P): $(sort -n "$OUT/mem_$P.csv" | tail -1)"
      done ;;
    python)
      PYTHONPATH=$RUN XLSTM_CLI=$XLSTM timeout 300 python3 -m pytest -q -p no:cacheprovider python/tests 2>&1 \
        | tee "$OUT/pytest.log" | tail -5 ;;
    serve)
      up() { for _ in $(seq 1 600); do python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$1/health')" \
               2>/dev/null && return 0; sleep 0.5; done; return 1; }
      $XLSTM serve -m models/xlstm-kjv-tiny --device cuda --port 8090 --parallel 8 >"$OUT/serve_tiny.log" 2>&1 &
      SP=$!; up 8090 && head -1 "$OUT/serve_tiny.log"
      for T in 0.8 0; do timeout 120 python3 bench/serve_load.py --url http://127.0.0.1:8090 -n 16 -c 8 \
        --max-tokens 64 --vocab 4096 --temperature $T; done
      kill -TERM $SP; wait $SP; echo "serve exit $?"
      $XLSTM serve --random-weights bench/configs/xlstm-7b.json --device cuda --port 8091 --parallel 16 \
        --max-queue 64 >"$OUT/serve_7b.log" 2>&1 &
      SP=$!; up 8091 && head -1 "$OUT/serve_7b.log"
      for C in 1 4 16; do timeout 120 python3 bench/serve_load.py --url http://127.0.0.1:8091 -n 16 -c $C \
        --max-tokens 128 --vocab 50000 --no-sequential; done
      timeout 120 python3 bench/serve_load.py --url http://127.0.0.1:8091 -n 8 -c 8 --max-tokens 64 --vocab 50000
      kill -TERM $SP; wait $SP; echo "serve exit $?" ;;
    hf)
      timeout 400 python3 bench/compare_hf.py --config bench/configs/xlstm-7b.json --prefill 2048 8192 \
        --decode-batch 1 16 --decode-tokens 32 --reps 2 --json "$OUT/hf.json" 2>&1 | grep -v Warning | tail -12 ;;
  esac
done
