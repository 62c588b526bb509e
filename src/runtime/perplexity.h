// Why: perplexity of a token sequence under a model, exp(mean NLL of tokens 1..N-1 given their
// prefix), computed as one recurrent pass in segments so memory stays bounded for any length.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"

namespace xlstm {

struct PerplexityResult {
  double nll_sum = 0;     // natural log
  int64_t predicted = 0;  // N - 1
  double ppl() const;
  double seconds = 0;
};

// segment: tokens per forward call (logits for all of them are materialised, [segment, vocab]).
PerplexityResult perplexity(Model& model, const std::vector<int32_t>& ids, int segment = 512,
                            const std::function<void(int64_t done, int64_t total)>& progress = nullptr);

}  // namespace xlstm
