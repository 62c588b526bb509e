// Why: decides whether this machine can run the CUDA backend, and says why not in words a user can act
// on (no driver, no GPU, a driver older than the CUDA runtime this binary was built with, a GPU too old
// for the bf16 kernels); implements the two entry points registry.cpp declares.
#include <memory>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "common/check.h"

namespace xlstm {

namespace {
std::string version_string(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }
}  // namespace

bool cuda_device_usable(std::string* why_not) {
  auto fail = [&](std::string msg) {
    if (why_not) *why_not = std::move(msg);
    return false;
  };
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  if (driver == 0) return fail("no NVIDIA driver found (libcuda could not be loaded): is there a GPU on this machine?");
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver || driver < runtime) {
    cudaGetLastError();
    return fail(fmt::format("the NVIDIA driver supports CUDA {} but this binary needs CUDA {}: update the driver",
                            version_string(driver), version_string(runtime)));
  }
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) {
    cudaGetLastError();
    return fail("no CUDA GPU found");
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return fail(fmt::format("CUDA cannot be initialised: {} (error {})", cudaGetErrorString(err), int(err)));
  }
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return fail(fmt::format("cannot query GPU 0: {}", cudaGetErrorString(err)));
  }
  if (prop.major < 8)
    return fail(fmt::format("GPU 0 ({}) has compute capability {}.{}; the CUDA backend needs 8.0 or newer (Ampere+)",
                            prop.name, prop.major, prop.minor));
  return true;
}

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<cuda::CudaBackend>(0); }

}  // namespace xlstm
