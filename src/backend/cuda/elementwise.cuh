// Why: the elementwise ops of the contract (add, softcap, swiglu, embed) and the dtype conversions the
// other ops need (weights while loading, activations before a bf16 matrix product). Each is one
// vectorised grid-stride kernel, launched with programmatic dependent launch (cuda_common.cuh).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cuda {

// x[i] += y[i], i < n
void launch_add(float* x, const float* y, int64_t n, cudaStream_t s);
// x[r*ld + c] = cap * tanh(x[r*ld + c] / cap), r < rows, c < cols
void launch_softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap, cudaStream_t s);
// y[n, D] = float(E[ids[n], :]); E [rows, D] of dtype et. Ids outside [0, rows) give a row of NaN.
void launch_embed(DType et, const void* E, int64_t rows, int64_t D, const int32_t* ids, int64_t N, float* y,
                  cudaStream_t s);
// dst (dtype to) = src (dtype from), n elements, round to nearest even. Device pointers.
void launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, cudaStream_t s);
// dst [Npad, K] (dtype to: BF16 or F16, contiguous) = x [N, K] (row stride ldx) for rows < N, zero rows
// N..Npad-1. F16 saturates at +-65504.
void launch_convert_rows(const float* x, int64_t ldx, int64_t N, int64_t K, DType to, void* dst, int64_t Npad,
                         cudaStream_t s);

// y[r*ldy + c] = x[r*ldx + c] converted from activation type xt to yt (F32/BF16/F16) for r < N, c < K;
// zero rows N..Npad-1.
void launch_act_rows(const void* x, DType xt, int64_t ldx, int64_t N, int64_t K, void* y, DType yt, int64_t ldy,
                     int64_t Npad, cudaStream_t s);
// In place over gu [N, 2F] contiguous, elements of type t: gu[n, c] = silu(gu[n, c]) * gu[n, F + c] for
// c < F (the gated product then sits in gu[:, 0:F] with row stride 2F).
void launch_swiglu_inplace(void* gu, DType t, int64_t N, int64_t F, cudaStream_t s);
// y[n, m] (type yt, row stride ldy) = x[n, m] (float32, row stride ldx) + bias[m] (bias may be null).
void launch_bias_round(const float* x, int64_t ldx, const float* bias, int64_t N, int64_t M, void* y, DType yt,
                       int64_t ldy, cudaStream_t s);

}  // namespace xlstm::cuda
