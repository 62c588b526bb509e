// Why: every CUDA runtime / cuBLAS call is checked; a failure becomes an xlstm::Error naming the call,
// the CUDA error text and file:line, like every other failure in xlstm.cpp (common/check.h).
// Host-only header, usable from .cpp and .cu files. The messages are formatted in cuda_check.cpp, so
// that .cu files (compiled as C++17 by nvcc's host pass) never instantiate fmt.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

namespace xlstm::cuda {
[[noreturn]] void cuda_fail(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void cublas_fail(cublasStatus_t st, const char* call, const char* file, int line);
[[noreturn]] void fail_msg(const std::string& msg, const char* file, int line);
}  // namespace xlstm::cuda

#define CUDA_CHECK(call)                                                                 \
  do {                                                                                   \
    cudaError_t err_ = (call);                                                           \
    if (err_ != cudaSuccess) ::xlstm::cuda::cuda_fail(err_, #call, __FILE__, __LINE__);  \
  } while (0)

#define CUBLAS_CHECK(call)                                                                    \
  do {                                                                                        \
    cublasStatus_t st_ = (call);                                                              \
    if (st_ != CUBLAS_STATUS_SUCCESS) ::xlstm::cuda::cublas_fail(st_, #call, __FILE__, __LINE__); \
  } while (0)

// Checks the last launch (configuration errors show up here; faults show up at the next synchronisation).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// Argument check for .cu files: msg is a std::string expression, evaluated only on failure.
#define CUDA_REQUIRE(cond, msg)                                         \
  do {                                                                  \
    if (!(cond)) ::xlstm::cuda::fail_msg((msg), __FILE__, __LINE__);    \
  } while (0)
