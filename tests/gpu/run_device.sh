#!/usr/bin/env bash
# Runs on the lent GPU machine (the device tool), from the repository root, with the binaries built
# elsewhere and carried in .carry/cuda (xlstm_gpu_tests, bench_cuda_ops, libs.tar.xz holding the
# OpenBLAS/gfortran libraries the image lacks; CARRY=dir overrides .carry/cuda for the two binaries, the
# libraries always come from .carry/cuda). Steps: tests bench memcheck racecheck ncu sass (default:
# all but ncu and sass).
# Logs go to $OUT (or ./device-out).
set -uo pipefail
C=${CARRY:-.carry/cuda}
OUT=${OUT:-device-out}
mkdir -p "$OUT" /tmp/xlstm-libs
tar -xJf .carry/cuda/libs.tar.xz -C /tmp/xlstm-libs
CUBLAS_DIR=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null || true)
export LD_LIBRARY_PATH=/tmp/xlstm-libs:/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}
steps=${*:-tests bench memcheck racecheck}
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem,temperature.gpu --format=csv
ldd $C/xlstm_gpu_tests | grep -E "not found|cublas|openblas"
for s in $steps; do
  echo "=== $s"
  case $s in
    tests) timeout 240 $C/xlstm_gpu_tests 2>&1 | tee "$OUT/tests.log" | grep -E "^\[  (FAILED|PASSED) |Failure|error|Expected|Which is|actual|^(linear|mlstm|rmsnorm|layernorm|mhln|softcap|swiglu|check)|random seed|cuda:|tests ran" ;;
    bench) timeout 240 $C/bench_cuda_ops 2>&1 | tee "$OUT/bench.log" | sed -n '/^summary/,$p' ;;
    memcheck) timeout 200 compute-sanitizer --tool memcheck --leak-check no --error-exitcode 9 $C/xlstm_gpu_tests \
                --gtest_filter='-*OutOfMemory*' > "$OUT/memcheck.log" 2>&1; echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|Invalid|FAILED" "$OUT/memcheck.log" | head -20 ;;
    racecheck) for tool in racecheck synccheck initcheck; do
                 timeout 100 compute-sanitizer --tool $tool --error-exitcode 9 $C/xlstm_gpu_tests \
                   --gtest_filter='CudaMlstm.ChunkwiseSmall:CudaMlstm.StepFormMatchesCpu:CudaLinear.SkinnyMmaMatchesCpu:CudaLinear.Gemv*:CudaOps.Rmsnorm*' \
                   > "$OUT/$tool.log" 2>&1; echo "$tool rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Race|hazard|FAILED" "$OUT/$tool.log" | head -10
               done ;;
    ncu) for k in step_main state_scan chunk_output; do
           timeout 100 ncu --kernel-name regex:$k --launch-skip 2 --launch-count 1 --section SpeedOfLight --section Occupancy \
             --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis \
             $C/bench_cuda_ops --mlstm-only > "$OUT/ncu_$k.log" 2>&1; echo "ncu $k rc=$?"
           grep -E "Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|L2 Cache Throughput|L1/TEX Cache Throughput|Grid Size|Dynamic Shared" "$OUT/ncu_$k.log" | cut -c1-120 | head -16
         done ;;
    sass) cuobjdump -sass $C/bench_cuda_ops > /tmp/sass.txt 2>&1
          awk '/Function :/ {keep = ($0 ~ /skinny_mma|gemv_kernelINS0_5Bf16TELi1ELb1|mlstm_recurrent_kernelILi8ELb1|chunk_output_kernelILb1|state_scan_kernelILb1/)} keep' /tmp/sass.txt | gzip > "$OUT/sass.txt.gz"
          zcat "$OUT/sass.txt.gz" | awk '/Function :/ {f=$3} /LDG|HMMA|LDL|STL/ {split($0,a," "); for(i in a) if (a[i] ~ /^(LDG|HMMA|LDL|STL)/) {sub(/\..*/,"",a[i]); n[f" "a[i]]++}} END {for (k in n) print n[k], k}' | sort -k2 | cut -c1-160 ;;
  esac
done
