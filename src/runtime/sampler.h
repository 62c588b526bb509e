// Why: turns a row of logits into the next token id: repetition penalty, then top-k, top-p, min-p on the
// penalised distribution, then temperature, then a seeded draw (llama.cpp's default order). temperature
// <= 0 is greedy (argmax; ties go to the lowest id). Deterministic for a given seed on every platform.
#pragma once
#include <cstdint>
#include <vector>

namespace xlstm {

struct SamplingParams {
  float temperature = 0.8f;   // <= 0: greedy
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;     // how many recent tokens the penalty looks at (-1: all)
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // logits: [vocab]; history: tokens seen so far (prompt and generated) for the repetition penalty.
  int32_t sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history);
  const SamplingParams& params() const { return p_; }
  void validate() const;  // throws xlstm::Error naming a bad parameter

 private:
  double uniform();  // [0, 1)
  SamplingParams p_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> cand_;
};

int32_t argmax(const float* logits, int64_t vocab);

}  // namespace xlstm
