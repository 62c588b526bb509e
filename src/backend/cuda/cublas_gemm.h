// Why: many-row products (prefill) are compute-bound; cuBLASLt's tuned kernels reach the tensor cores'
// peak there, which a hand kernel here would not. This wraps one handle, a workspace allocated once,
// and a cache of the algorithm chosen per shape (the heuristic query costs more than a small GEMM).
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "common/dtype.h"

namespace xlstm::cuda {

class CublasLtGemm {
 public:
  CublasLtGemm(cudaStream_t stream, void* workspace, size_t workspace_bytes);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  // y[N, M] (row stride ldy, dtype yt) = x[N, K] (row stride ldx) · W[M, K]^T (+ bias[M], float32);
  // accumulate: y += that (float32 y). Operand dtypes: (W, x) = (BF16, BF16), (F16, F16) or (F32, F32);
  // float32 accumulation. yt: F32, or W's 16-bit dtype without bias. tune_out: where the algorithm
  // timing may write (N * ldy elements of yt; null: y itself, never when accumulating).
  void run(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const void* x, int64_t ldx, int64_t N,
           void* y, DType yt, int64_t ldy, bool accumulate = false, void* tune_out = nullptr);
  // Few-row products (N <= kTuneMaxN): time up to kTuneCandidates of the heuristic's algorithms on the
  // first call of each shape and keep the fastest (the heuristic's first pick reads the weights at
  // 64-88% of the copy rate at N = 16). Off: its first pick. Changing it forgets the cached plans.
  void set_tuning(bool on);
  static constexpr int64_t kTuneMaxN = 64;
  static constexpr int kTuneCandidates = 8;

 private:
  using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, bool, int, int>;
  struct Plan;
  Plan& plan_for(const Key& key, DType wt, int64_t M, int64_t K, bool has_bias, int64_t ldx, int64_t N, int64_t ldy,
                 DType yt, int align, const void* W, const float* bias, const void* x, void* tune_out);
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* ws_;
  size_t ws_bytes_;
  bool tune_ = true;
  std::map<Key, Plan*> plans_;
};

}  // namespace xlstm::cuda
