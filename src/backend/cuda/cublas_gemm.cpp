// Why: see cublas_gemm.h. Row-major y = x W^T is the column-major product  y^T[M, N] = W[M, K] x^T, so
// W is "A" with transa = T (stored K x M, ld K), x is "B" (K x N, ld ldx) and y is "C/D" (M x N, ld ldy).
// The bias epilogue adds bias[row of C] = bias[m], which is what we want.
#include "backend/cuda/cublas_gemm.h"

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "common/check.h"

namespace xlstm::cuda {

struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  // The algorithm has no split-K reduction: cublasLtMatmul queues exactly one kernel, so the next of our
  // kernels may launch with programmatic dependent launch after it (its griddepcontrol.wait then waits
  // for that kernel's completion and memory flush, as after one of ours). A split-K algorithm may queue
  // a reduction or clear memory first, so after one of those the next launch goes plain.
  bool one_kernel = false;
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

namespace {
cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}
int alignment_of(const void* p) {
  auto u = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && (u % uintptr_t(a)) != 0) a /= 2;
  return a;
}
}  // namespace

CublasLtGemm::CublasLtGemm(cudaStream_t stream, void* workspace, size_t workspace_bytes)
    : stream_(stream), ws_(workspace), ws_bytes_(workspace_bytes) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
}

CublasLtGemm::~CublasLtGemm() {
  for (auto& kv : plans_) delete kv.second;
  if (handle_) cublasLtDestroy(handle_);
}

void CublasLtGemm::set_tuning(bool on) {
  if (on == tune_) return;
  tune_ = on;
  for (auto& kv : plans_) delete kv.second;
  plans_.clear();
}

CublasLtGemm::Plan& CublasLtGemm::plan_for(const Key& key, DType wt, int64_t M, int64_t K, bool has_bias,
                                           int64_t ldx, int64_t N, int64_t ldy, DType yt, int align, const void* W,
                                           const float* bias, const void* x, void* y) {
  // y: where timing runs may write (null: no timing)
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  auto* p = new Plan;
  try {
    const cudaDataType_t t = cuda_type(wt);
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtEpilogue_t epi = has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    if (has_bias) {
      cudaDataType_t bt = CUDA_R_32F;
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, t, uint64_t(K), uint64_t(M), K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, t, uint64_t(K), uint64_t(N), ldx));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, cuda_type(yt), uint64_t(M), uint64_t(N), ldy));

    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t wsb = ws_bytes_;
    uint32_t al = uint32_t(align);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
    cublasLtMatmulHeuristicResult_t res[kTuneCandidates] = {};
    int found = 0;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream_, &cap));
    const bool tune = tune_ && y && N <= kTuneMaxN && cap == cudaStreamCaptureStatusNone;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, p->op, p->a, p->b, p->c, p->c, pref,
                                                       tune ? kTuneCandidates : 1, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    XLSTM_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0,
                "cuBLASLt has no algorithm for a {} GEMM M={} N={} K={} ldx={} ldy={} (status {})", dtype_name(wt), M,
                N, K, ldx, ldy, int(st));
    p->algo = res[0].algo;
    if (tune && found > 1) {  // median of 5 timed runs each (after one warm-up), on the call's own operands
      cudaEvent_t ev[6];
      for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
      const float alpha = 1.f, beta = 0.f;
      float best = 0.f;
      for (int i = 0; i < found; ++i) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        auto once = [&] {
          return cublasLtMatmul(handle_, p->op, &alpha, W, p->a, x, p->b, &beta, y, p->c, y, p->c, &res[i].algo, ws_,
                                ws_bytes_, stream_);
        };
        if (once() != CUBLAS_STATUS_SUCCESS) continue;
        float t[5];
        bool ok = true;
        for (int r = 0; r < 5 && ok; ++r) {
          CUDA_CHECK(cudaEventRecord(ev[r], stream_));
          ok = once() == CUBLAS_STATUS_SUCCESS;
          CUDA_CHECK(cudaEventRecord(ev[r + 1], stream_));
        }
        if (!ok) continue;
        CUDA_CHECK(cudaEventSynchronize(ev[5]));
        for (int r = 0; r < 5; ++r) CUDA_CHECK(cudaEventElapsedTime(&t[r], ev[r], ev[r + 1]));
        std::sort(t, t + 5);
        if (best == 0.f || t[2] < best) best = t[2], p->algo = res[i].algo;
      }
      for (auto& e : ev) cudaEventDestroy(e);
    }
  } catch (...) {
    delete p;
    throw;
  }
  {
    int32_t splitk = 0;
    uint32_t scheme = 1;
    size_t got = 0;
    p->one_kernel =
        cublasLtMatmulAlgoConfigGetAttribute(&p->algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &got) ==
            CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulAlgoConfigGetAttribute(&p->algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof(scheme),
                                             &got) == CUBLAS_STATUS_SUCCESS &&
        splitk <= 1 && scheme == CUBLASLT_REDUCTION_SCHEME_NONE;
  }
  plans_[key] = p;
  return *p;
}

void CublasLtGemm::run(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const void* x, int64_t ldx,
                       int64_t N, void* y, DType yt, int64_t ldy, bool accumulate, void* tune_out) {
  if (N <= 0 || M <= 0) return;
  XLSTM_CHECK(yt == DType::F32 || (yt == wt && !bias && !accumulate), "cuBLASLt product: {} output with {} weights{}",
              dtype_name(yt), dtype_name(wt), bias ? " and a bias" : accumulate ? " accumulating" : "");
  const int align = std::min({alignment_of(W), alignment_of(x), alignment_of(y), alignment_of(bias ? bias : y),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(ldx) * dtype_size(wt))),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(ldy) * dtype_size(yt))),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(K) * dtype_size(wt)))});
  const Key key{int(wt), M, N, K, ldx, ldy, bias != nullptr, align, int(yt)};
  Plan& p = plan_for(key, wt, M, K, bias != nullptr, ldx, N, ldy, yt, align, W, bias, x,
                     tune_out ? tune_out : accumulate ? nullptr : y);
  if (bias)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo, ws_, ws_bytes_,
                              stream_));
  if (!p.one_kernel) note_stream_op();  // it may queue more than one kernel (see Plan::one_kernel)
}

}  // namespace xlstm::cuda
