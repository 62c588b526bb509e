// Why: see workspace.h.
#include "backend/cuda/workspace.h"

#include "backend/cuda/cuda_check.h"
#include "common/check.h"

namespace xlstm::cuda {

void* device_malloc(size_t bytes, const char* what) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (err == cudaSuccess) return p;
  cudaGetLastError();  // clear the sticky-free allocation error
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, dev);
  const double mib = 1024.0 * 1024.0;
  if (err == cudaErrorMemoryAllocation)
    XLSTM_FAIL("out of GPU memory: {} needs {:.1f} MiB but only {:.1f} MiB of {:.1f} MiB are free on {} (device {}); "
               "use a smaller model or batch, free the GPU, or run with --device cpu",
               what, double(bytes) / mib, double(free_b) / mib, double(total_b) / mib, prop.name, dev);
  XLSTM_FAIL("cudaMalloc of {:.1f} MiB for {} failed: {} ({})", double(bytes) / mib, what, cudaGetErrorString(err),
             int(err));
}

Workspace::~Workspace() {
  for (int i = 0; i < kNumSlots; ++i)
    if (p_[i]) cudaFree(p_[i]);
}

const char* Workspace::slot_name(Slot s) {
  static const char* names[kNumSlots] = {"the converted copy of activations", "the cuBLASLt workspace",
                                         "the chunkwise mLSTM states", "the mLSTM step counters",
                                         "the weight upload staging buffer", "the float32 product before rounding",
                                         "the sampler's partials"};
  return names[s];
}

void* Workspace::get(Slot slot, size_t bytes, bool zero_fill) {
  if (bytes <= n_[slot] && p_[slot]) return p_[slot];
  if (p_[slot]) {
    CUDA_CHECK(cudaFree(p_[slot]));  // waits for work that may still use it
    p_[slot] = nullptr, n_[slot] = 0;
  }
  const size_t rounded = (bytes + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
  p_[slot] = device_malloc(rounded, slot_name(slot));
  n_[slot] = rounded;
  if (zero_fill) {
    CUDA_CHECK(cudaMemset(p_[slot], 0, rounded));
    CUDA_CHECK(cudaDeviceSynchronize());  // the ops run on a non-blocking stream
  }
  return p_[slot];
}

size_t Workspace::bytes_held() const {
  size_t s = 0;
  for (size_t n : n_) s += n;
  return s;
}

}  // namespace xlstm::cuda
