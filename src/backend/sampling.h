// Why: the sampling math shared by every path that draws a token: the host fallback of Backend::sample,
// the runtime's Sampler and (mirrored in CUDA) the device kernel. Order: top-k, top-p, min-p on the
// untempered distribution, then temperature (llama.cpp's default chain); the uniform number comes from
// a counter-based generator (seed, step), so a draw does not depend on what was drawn before.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace xlstm {

// Index of the largest logit; ties go to the lowest id (greedy decoding).
int32_t argmax(const float* logits, int64_t vocab);

// Uniform double in [0, 1) for (seed, step): splitmix64 of the pair, top 53 bits.
double sample_uniform(uint64_t seed, uint64_t step);

// The token drawn from logits [V] under r (r.step is not advanced here). scratch is reused across calls.
int32_t sample_row(const float* logits, int64_t V, const SampleRow& r, std::vector<std::pair<float, int32_t>>& scratch);

}  // namespace xlstm
