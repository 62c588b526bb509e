// Why: device memory the ops need besides their arguments (converted copies of activations and float32
// products that are rounded afterwards, the cuBLASLt workspace, the chunkwise mLSTM's per-chunk states, the step form's grid counters, the sampler's partials). Slots grow on demand
// and are kept, so the token loop allocates nothing once warm (a precondition for CUDA-graph capture).
#pragma once
#include <cstddef>

namespace xlstm::cuda {

// cudaMalloc with a message that says how much was asked for and how much is free. Throws xlstm::Error.
void* device_malloc(size_t bytes, const char* what);

class Workspace {
 public:
  enum Slot { kLinearX, kCublas, kMlstmStates, kCounters, kStaging, kLinearY, kSample, kNumSlots };
  static const char* slot_name(Slot s);
  Workspace() = default;
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  // At least `bytes` bytes for `slot`; a slot that must grow is freed (which waits for the device) and
  // reallocated; zero_fill zeroes newly allocated memory (synchronously).
  void* get(Slot slot, size_t bytes, bool zero_fill = false);
  size_t bytes_held() const;
  size_t bytes(Slot slot) const { return n_[slot]; }

 private:
  void* p_[kNumSlots] = {};
  size_t n_[kNumSlots] = {};
};

}  // namespace xlstm::cuda
