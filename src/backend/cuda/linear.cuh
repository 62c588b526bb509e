// Why: y = x · W^T for few token rows (decode), where the time is reading W once from memory:
//  - gemv: CUDA cores, x in float32 (exact products, same as the CPU), groups of 4 weight rows with K
//    split over 1-8 warps, 16-byte weight loads; for N <= 4 (more rows: 4 at a time, re-reading W).
//  - skinny mma: bf16 tensor cores (mma.sync m16n8k16) fed straight from 16-byte weight loads, x
//    rounded to bf16 once; all N <= 16 rows per weight tile so W is read once; split-K across the 8
//    warps of a block. For bf16 weights with K % 8 == 0. Measured 55-71% of the copy bandwidth at
//    N = 8..16 against cuBLASLt's 64-88%, so the backend uses it only when forced (tests, benchmark).
// N >= 5 goes to cuBLASLt (cublas_gemm.h); see CudaBackend::linear.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cuda {

// y[N, M] (row stride ldy) (+)= x[N, K] (row stride ldx) · W[M, K]^T (+ bias[M]); W of dtype wt;
// accumulate: y +=. Launched with programmatic dependent launch: each block pulls its first weight
// vectors into L2 before waiting for the kernel that writes x. norm_w [K] (16-byte aligned where x is):
// the product reads RMSNorm(x) * norm_w (x * rsqrt(mean(x^2) + norm_eps) * norm_w, per row of x) instead
// of x, with no pass of its own (Backend::rmsnorm_linear).
void launch_gemv(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
                 int64_t N, float* y, int64_t ldy, bool accumulate, int sm_count, cudaStream_t s,
                 const float* norm_w = nullptr, float norm_eps = 0.f);

// The GEMV with SwiGLU in its epilogue (Backend::rmsnorm_linear_swiglu at N <= 4): W = [gate; up], M = 2F
// rows; y[N, F] (row stride ldy) = silu(x·gate^T + bg) * (x·up^T + bu), x normed as above when norm_w is
// set. Needs gemv_glu_supported (even M, 16-byte vector loads possible).
bool gemv_glu_supported(DType wt, const void* W, int64_t M, int64_t K, const float* x, int64_t ldx,
                        const float* norm_w);
void launch_gemv_glu(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
                     int64_t N, float* y, int64_t ldy, int sm_count, cudaStream_t s, const float* norm_w,
                     float norm_eps);

// Forces the GEMV's K split S (warps per group of 4 rows: 1, 2, 4 or 8; 0: the heuristic). Benchmark only.
void set_gemv_split(int S);

// Whether the skinny mma kernel takes this product.
bool skinny_mma_supported(DType wt, const void* W, int64_t K, int64_t N);
// Bytes of scratch the skinny mma kernel needs for x (bf16, N padded to 8 or 16 rows).
size_t skinny_mma_scratch_bytes(int64_t K, int64_t N);
// As launch_gemv for bf16 W and 1 <= N <= 16; xb_scratch: skinny_mma_scratch_bytes(K, N) bytes.
void launch_skinny_mma(const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx, int64_t N,
                       float* y, int64_t ldy, void* xb_scratch, int sm_count, cudaStream_t s);

}  // namespace xlstm::cuda
