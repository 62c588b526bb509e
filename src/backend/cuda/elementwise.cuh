// Why: the elementwise ops of the contract (add, softcap, swiglu, embed) and the dtype conversions the
// other ops need (weights while loading, activations before a bf16 matrix product). Each is one
// vectorised grid-stride kernel; they are bandwidth-bound and have nothing to fuse with at this level.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cuda {

// x[i] += y[i], i < n
void launch_add(float* x, const float* y, int64_t n, cudaStream_t s);
// x[r*ld + c] = cap * tanh(x[r*ld + c] / cap), r < rows, c < cols
void launch_softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap, cudaStream_t s);
// y[n, F] = silu(gu[n, 0:F]) * gu[n, F:2F]
void launch_swiglu(const float* gu, int64_t N, int64_t F, float* y, cudaStream_t s);
// y[n, D] = float(E[ids[n], :]); E [rows, D] of dtype et. Ids outside [0, rows) give a row of NaN.
void launch_embed(DType et, const void* E, int64_t rows, int64_t D, const int32_t* ids, int64_t N, float* y,
                  cudaStream_t s);
// dst (dtype to) = src (dtype from), n elements, round to nearest even. Device pointers.
void launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, cudaStream_t s);
// dst [Npad, K] (dtype to: BF16 or F16, contiguous) = x [N, K] (row stride ldx) for rows < N, zero rows
// N..Npad-1. F16 saturates at +-65504.
void launch_convert_rows(const float* x, int64_t ldx, int64_t N, int64_t K, DType to, void* dst, int64_t Npad,
                         cudaStream_t s);

}  // namespace xlstm::cuda
