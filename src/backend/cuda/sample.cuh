// Why: token sampling on the GPU, so decode copies one id per sequence to the host, not a vocabulary
// of logits. Same parameters and the same counter-based uniform as backend/sampling.h; the candidate
// set is found by thresholds instead of a sort (top-k: the k-th largest logit; top-p: the smallest
// nucleus by mass; min-p: p >= min_p * p_max), and the draw walks candidates in id order. Greedy rows
// equal the host exactly; sampled rows follow the same distribution and are reproducible per seed.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"

namespace xlstm::cuda {

// cap > 0: logits = cap * tanh(logits / cap) in place, in the first pass over each row. Then ids[b] =
// draw from logits [B, V] with rows[b]; rows[b].step += 1. All device pointers; scratch holds
// sample_scratch_bytes(B, V) bytes (the first pass's partials).
size_t sample_scratch_bytes(int B, int64_t V);
void launch_sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids, void* scratch,
                   cudaStream_t s);

}  // namespace xlstm::cuda
