// Why: the CPU matrix products behind Backend::linear. Weights stay in their stored dtype (F32, BF16,
// F16) and are widened to float32 exactly on the fly; activations are float32 and products accumulate in
// float32 with fused multiply-adds. Small N (decode) is a bandwidth-bound GEMV that reads each weight byte
// once per call whatever N is; large N (prefill) is a blocked GEMM with an AVX-512 (or AVX2) micro-kernel
// fed by weight panels widened to float32. The SIMD path is chosen at run time (cpu_matmul.cpp); machines
// without AVX2 get a portable path (plain C++ dot products, OpenBLAS sgemm on widened panels).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cpu {

// y[n, m] (row stride ldy) = sum_k x[n, k] (row stride ldx) * W[m, k]  (+ bias[m] if bias != nullptr)
// W: [M, K] row-major, dtype wt. N >= 0, M, K >= 1.
void matmul_wt(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
               int64_t N, float* y, int64_t ldy);

// ---- packed weights: the decode-friendly layout ------------------------------------------------------------
// A row-major GEMV streams R weight rows at once (R streams) and reloads x for every R rows; on the 2-core
// EPYC one core then reads at about 0.72 of a plain sum's bandwidth. The packed layout stores each tile of 16
// rows as one stream: for every 64-byte line of a row (32 bf16/f16 or 16 f32 elements), the 16 rows' lines in
// order; rows are padded to a multiple of 16 and K to a multiple of 32 with zeros. Same dtype and values, only
// moved (no rounding). The GEMV then reads each tile sequentially and loads x once per 16 lines: 0.88 of the sum
// on one core (docs/PERFORMANCE.md). The GEMM (prefill) reads both layouts at about the same speed. With AVX2
// only (16 registers) the packed decode kernel works in 8-row halves and measured slower than row-major: pack
// where matmul_isa() is "avx512".
// Bytes of the packed form of a [M, K] weight of dtype wt.
size_t packed_weight_bytes(DType wt, int64_t M, int64_t K);
// Packs row-major W [M, K] into dst (packed_weight_bytes(wt, M, K) bytes, 64-byte aligned for best speed).
// Runs on the thread pool.
void pack_weight(DType wt, const void* W, int64_t M, int64_t K, void* dst);
// matmul_wt on a packed weight: same arguments, same results (same kernels, same summation order).
void matmul_wt_packed(DType wt, const void* Wp, int64_t M, int64_t K, const float* bias, const float* x,
                      int64_t ldx, int64_t N, float* y, int64_t ldy);
// Row m of a packed weight as float32 (e.g. an embedding lookup in a tied lm_head).
void packed_row_to_f32(DType wt, const void* Wp, int64_t K, int64_t m, float* dst);

// Which SIMD path matmul_wt uses on this machine ("avx512", "avx2", "scalar"). The environment variable
// XLSTM_MATMUL_ISA (one of those names) narrows the automatic choice, for debugging and benchmarks.
const char* matmul_isa();

// ---- hooks for tests and benchmarks (not thread-safe against concurrent matmul_wt calls) -----------------
// Whether this binary and machine can run `isa` ("avx512", "avx2", "scalar").
bool matmul_isa_supported(const char* isa);
// Forces the SIMD path; nullptr, "" or "auto" restores the automatic choice. Returns false and changes
// nothing when the ISA is unknown or unsupported here.
bool set_matmul_isa_for_testing(const char* isa);
// Largest N served by the GEMV kernel (larger N take the blocked GEMM); n < 0 restores the default (16).
void set_matmul_gemv_max_n_for_testing(int n);

}  // namespace xlstm::cpu
