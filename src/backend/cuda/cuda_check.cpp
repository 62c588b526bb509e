// Why: see cuda_check.h.
#include "backend/cuda/cuda_check.h"

#include <cstdlib>
#include <cstring>

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

namespace {
int g_pdl = -1;              // -1: not decided yet
bool g_after_stream_op = true;  // the last thing queued was not one of our kernels
}

void note_stream_op() { g_after_stream_op = true; }

bool take_pdl_for_launch() {
  const bool ok = !g_after_stream_op && pdl_enabled();
  g_after_stream_op = false;
  return ok;
}

bool pdl_enabled() {
  if (g_pdl < 0) {
    const char* e = std::getenv("XLSTM_PDL");
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      major = 0;
    }
    g_pdl = major >= 9 && !(e && std::strcmp(e, "0") == 0);
  }
  return g_pdl == 1;
}

void set_pdl_enabled(bool on) {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess)
    g_pdl = on && major >= 9;
  else
    cudaGetLastError(), g_pdl = 0;
}

}  // namespace xlstm::cuda
