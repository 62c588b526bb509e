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
// Whether kernels launch with programmatic dependent launch (cuda_common.cuh: launch_kernel): the
// current device is sm_90+ and the environment does not say XLSTM_PDL=0. Read once; set_pdl_enabled
// overrides it (benchmarks compare both; on an earlier GPU it stays off).
bool pdl_enabled();
void set_pdl_enabled(bool on);
// A kernel launched with programmatic dependent launch may start before a copy or memset queued before it
// has finished (griddepcontrol.wait waits for kernels only). So every stream operation that is not one of
// our kernels (copies, memsets, other code's launches) calls note_stream_op(), and the next launch_kernel
// then goes without the attribute. Host-side, for the backend's one stream.
void note_stream_op();
bool take_pdl_for_launch();  // pdl_enabled() and no note_stream_op() since the last launch; resets the note
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
