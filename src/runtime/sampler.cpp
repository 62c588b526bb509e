// Why: see sampler.h.
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "backend/sampling.h"
#include "common/check.h"

namespace xlstm {

Sampler::Sampler(const SamplingParams& p) : p_(p) { validate(); }

void Sampler::validate() const {
  XLSTM_CHECK(std::isfinite(p_.temperature), "temperature must be finite");
  XLSTM_CHECK(p_.top_p > 0.f && p_.top_p <= 1.f, "top-p must be in (0, 1], got {}", p_.top_p);
  XLSTM_CHECK(p_.min_p >= 0.f && p_.min_p <= 1.f, "min-p must be in [0, 1], got {}", p_.min_p);
  XLSTM_CHECK(p_.repeat_penalty > 0.f && std::isfinite(p_.repeat_penalty), "repeat-penalty must be > 0, got {}",
              p_.repeat_penalty);
  XLSTM_CHECK(p_.repeat_last_n >= -1, "repeat-last-n must be >= -1, got {}", p_.repeat_last_n);
}

SampleRow Sampler::row() const {
  SampleRow r;
  r.temperature = p_.temperature, r.top_k = p_.top_k, r.top_p = p_.top_p, r.min_p = p_.min_p;
  r.seed = p_.seed, r.step = step_;
  return r;
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history) {
  XLSTM_CHECK(vocab > 0, "cannot sample from an empty vocabulary (vocab = {})", vocab);
  const float* src = logits;
  if (needs_history()) {
    penalised_.assign(logits, logits + vocab);
    size_t n = p_.repeat_last_n < 0 ? history.size() : std::min(history.size(), size_t(p_.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - long(n), history.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab) continue;
      float& l = penalised_[size_t(t)];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
    src = penalised_.data();
  }
  int32_t tok = sample_row(src, vocab, row(), scratch_);
  ++step_;
  return tok;
}

}  // namespace xlstm
