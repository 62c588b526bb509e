// Why: see cuda_check.h.
#include "backend/cuda/cuda_check.h"

#include "common/check.h"

namespace xlstm::cuda {

namespace {
const char* cublas_status_text(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "unknown status";
  }
}
}  // namespace

void cuda_fail(cudaError_t err, const char* call, const char* file, int line) {
  fail_at(file, line, fmt::format("CUDA error {} ({}) in {}", int(err), cudaGetErrorString(err), call));
}

void cublas_fail(cublasStatus_t st, const char* call, const char* file, int line) {
  fail_at(file, line, fmt::format("cuBLAS error {} ({}) in {}", int(st), cublas_status_text(st), call));
}

void fail_msg(const std::string& msg, const char* file, int line) { fail_at(file, line, msg); }

}  // namespace xlstm::cuda
