// Why: turns a row of logits into the next token id for one sequence: the repetition penalty over recent
// tokens, then the shared sampling math (backend/sampling.h: top-k, top-p, min-p, temperature, a
// counter-based draw). temperature <= 0 is greedy. The n-th draw of a Sampler uses step n, so a
// sequence is reproducible for a seed on every platform and on the host and device paths alike.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/sampling.h"  // argmax

namespace xlstm {

struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // how many recent tokens the penalty looks at (-1: all)
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // logits: [vocab]; history: tokens seen so far (prompt and generated) for the repetition penalty.
  int32_t sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history);
  const SamplingParams& params() const { return p_; }
  void validate() const;  // throws xlstm::Error naming a bad parameter
  // The device-side form of the next draw (for Backend::sample); valid when !needs_history().
  SampleRow row() const;
  bool needs_history() const { return p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0; }
  uint64_t step() const { return step_; }
  void set_step(uint64_t s) { step_ = s; }

 private:
  SamplingParams p_;
  uint64_t step_ = 0;
  std::vector<float> penalised_;
  std::vector<std::pair<float, int32_t>> scratch_;
};

}  // namespace xlstm
