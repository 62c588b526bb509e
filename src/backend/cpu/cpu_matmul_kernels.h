// Why: the internal seam between the dispatcher (cpu_matmul.cpp, plain ISA, owns threads and scratch
// memory) and the SIMD kernels (cpu_matmul_avx512.cpp, cpu_matmul_avx2.cpp, each compiled for its ISA
// with `#pragma GCC target` around cpu_matmul_kernels.inc). The kernel translation units include no
// standard-library templates after their target pragma, so no AVX-512 copy of an inline std:: function
// can leak into generic code through the linker (the usual ODR trap of per-file ISA flags).
#pragma once
#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cpu::mm {

// The packed weight layout (see pack_weight in cpu_matmul.h): rows in tiles of kPackRows; K padded with zeros to
// packed_kpad(K); inside a tile, for every 64-byte line of a row (E = 64 / element size elements), the tile's
// rows' lines one after another. A tile is one contiguous, sequentially read stream of kPackRows * kpad elements.
constexpr int64_t kPackRows = 16;
inline int64_t packed_kpad(int64_t K) { return (K + 31) / 32 * 32; }
inline int64_t packed_rows(int64_t M) { return (M + kPackRows - 1) / kPackRows * kPackRows; }
// Element offset of (r, k); esz: element size in bytes.
inline int64_t packed_offset(int64_t r, int64_t k, int64_t kpad, int64_t esz) {
  const int64_t E = 64 / esz;
  return (r / kPackRows) * kPackRows * kpad + ((k / E) * kPackRows + r % kPackRows) * E + k % E;
}

// Decode (small N): y[n, m] = sum_k xp[n, k] * W[m, k] (+ bias[m]) for rows m in [m0, m1), all n.
// xp is x repacked by the dispatcher: row stride ldxp = packed_kpad(K) (a multiple of every kernel's group),
// zero padded past K, and for BF16 weights each group of `group` values stored as (evens, odds) to match the
// kernel's widening (see .inc).
struct GemvArgs {
  DType wt;
  const void* W;
  bool packed;  // W in the packed layout (then the row blocks handed to gemv start at multiples of kPackRows)
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
  bool packed;
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
