// Why: the internal seam between the dispatcher (cpu_matmul.cpp, plain ISA, owns threads and scratch
// memory) and the SIMD kernels (cpu_matmul_avx512.cpp, cpu_matmul_avx2.cpp, each compiled for its ISA
// with `#pragma GCC target` around cpu_matmul_kernels.inc). The kernel translation units include no
// standard-library templates after their target pragma, so no AVX-512 copy of an inline std:: function
// can leak into generic code through the linker (the usual ODR trap of per-file ISA flags).
#pragma once
#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cpu::mm {

// Decode (small N): y[n, m] = sum_k xp[n, k] * W[m, k] (+ bias[m]) for rows m in [m0, m1), all n.
// xp is x repacked by the dispatcher: row stride ldxp >= round_up(K, group), zero padded past K, and for BF16
// weights each group of `group` values stored as (evens, odds) to match the kernel's widening (see .inc).
struct GemvArgs {
  DType wt;
  const void* W;
  int64_t K;
  const float* bias;  // may be null
  const float* xp;
  int64_t ldxp;
  int64_t N;
  float* y;
  int64_t ldy;
};

// Prefill (large N): the same product, blocked; x read directly (row stride ldx).
struct GemmArgs {
  DType wt;
  const void* W;
  int64_t M, K;
  const float* bias;
  const float* x;
  int64_t ldx;
  int64_t N;
  float* y;
  int64_t ldy;
};

struct Kernels {
  const char* name;
  int group;          // K granule of the GEMV kernel (x permutation group for BF16)
  int gemv_rows;      // weight rows per GEMV tile: parallel split granularity
  int gemm_mr;        // x rows per GEMM micro-tile
  int gemm_nr;        // weight rows per GEMM micro-tile
  int64_t gemm_mc;    // weight rows per GEMM task block
  int64_t gemm_kc;    // K block of the GEMM
  void (*gemv)(const GemvArgs& a, int64_t m0, int64_t m1);
  // Rows m in [m0, m1) (m1 - m0 <= gemm_mc), x rows n in [n0, n1). scratch: >= gemm_scratch_floats floats,
  // 64-byte aligned, private to the calling thread.
  void (*gemm)(const GemmArgs& a, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* scratch);
  int64_t gemm_scratch_floats;
};

// Null when this binary or machine cannot run the ISA.
const Kernels* kernels_avx512();
const Kernels* kernels_avx2();

}  // namespace xlstm::cpu::mm
