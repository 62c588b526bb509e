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

  // y[N, M] (row stride ldy, float32) = x[N, K] (row stride ldx) · W[M, K]^T (+ bias[M], float32).
  // Operand dtypes: (W, x) = (BF16, BF16), (F16, F16) or (F32, F32); float32 accumulation.
  void run(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const void* x, int64_t ldx, int64_t N,
           float* y, int64_t ldy);

 private:
  using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, bool, int>;
  struct Plan;
  Plan& plan_for(const Key& key, DType wt, int64_t M, int64_t K, bool has_bias, int64_t ldx, int64_t N, int64_t ldy,
                 int align);
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* ws_;
  size_t ws_bytes_;
  std::map<Key, Plan*> plans_;
};

}  // namespace xlstm::cuda
