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

CublasLtGemm::Plan& CublasLtGemm::plan_for(const Key& key, DType wt, int64_t M, int64_t K, bool has_bias,
                                           int64_t ldx, int64_t N, int64_t ldy, int align) {
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
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, t, uint64_t(K), uint64_t(M), K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, t, uint64_t(K), uint64_t(N), ldx));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, uint64_t(M), uint64_t(N), ldy));

    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t wsb = ws_bytes_;
    uint32_t al = uint32_t(align);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    XLSTM_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0,
                "cuBLASLt has no algorithm for a {} GEMM M={} N={} K={} ldx={} ldy={} (status {})", dtype_name(wt), M,
                N, K, ldx, ldy, int(st));
    p->algo = res.algo;
  } catch (...) {
    delete p;
    throw;
  }
  plans_[key] = p;
  return *p;
}

void CublasLtGemm::run(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const void* x, int64_t ldx,
                       int64_t N, float* y, int64_t ldy) {
  if (N <= 0 || M <= 0) return;
  const int align = std::min({alignment_of(W), alignment_of(x), alignment_of(y), alignment_of(bias ? bias : y),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(ldx) * dtype_size(wt))),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(ldy) * 4)),
                              alignment_of(reinterpret_cast<const void*>(uintptr_t(K) * dtype_size(wt)))});
  const Key key{int(wt), M, N, K, ldx, ldy, bias != nullptr, align};
  Plan& p = plan_for(key, wt, M, K, bias != nullptr, ldx, N, ldy, align);
  if (bias)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.f, beta = 0.f;
  CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo, ws_, ws_bytes_,
                              stream_));
}

}  // namespace xlstm::cuda
