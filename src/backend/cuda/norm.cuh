// Why: the normalisations of the contract: RMSNorm, LayerNorm and
// the mLSTM output's per-head LayerNorm times sigmoid(o) (mhln_gate). One block per row; the row is read
// from global memory once per pass (later passes hit L1/L2); reductions in float32, same formulas as the
// CPU backend; outputs that feed a matrix product may be written as bf16/f16 (yt). Launched with
// programmatic dependent launch (cuda_common.cuh).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.h"

namespace xlstm::cuda {

// y[N, D] (element type yt) = x * rsqrt(mean(x^2) + eps) * w (+ b); x, y may alias when yt is F32.
void launch_rmsnorm(const float* x, const float* w, const float* b, float eps, int64_t N, int64_t D, void* y, DType yt,
                    cudaStream_t s);
// y[N, D] = (x - mean) * rsqrt(var + eps) (* w) (+ b); w, b may be null; x, y may alias.
void launch_layernorm(const float* x, const float* w, const float* b, float eps, int64_t N, int64_t D, float* y,
                      cudaStream_t s);
// y[N, NH*DV] = sigmoid(o) * (LN_head(h) * w (+ b)); h [N, NH, DV]; o row stride ldo; w, b [NH*DV];
// y of element type yt.
void launch_mhln_gate(const float* h, const float* o, int64_t ldo, const float* w, const float* b, float eps,
                      int64_t N, int NH, int DV, void* y, DType yt, cudaStream_t s);

}  // namespace xlstm::cuda
