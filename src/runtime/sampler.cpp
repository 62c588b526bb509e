// Why: see sampler.h.
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "common/check.h"

namespace xlstm {

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), state_(p.seed * 0x9e3779b97f4a7c15ull + 0x1234567ull) {
  if (state_ == 0) state_ = 0x9e3779b97f4a7c15ull;  // xorshift stays at 0 forever (one seed maps there)
  validate();
}

void Sampler::validate() const {
  XLSTM_CHECK(std::isfinite(p_.temperature), "temperature must be finite");
  XLSTM_CHECK(p_.top_p > 0.f && std::isfinite(p_.top_p), "top-p must be in (0, 1], got {}", p_.top_p);
  XLSTM_CHECK(p_.min_p >= 0.f && p_.min_p <= 1.f, "min-p must be in [0, 1], got {}", p_.min_p);
  XLSTM_CHECK(p_.repeat_penalty > 0.f && std::isfinite(p_.repeat_penalty), "repeat-penalty must be > 0, got {}",
              p_.repeat_penalty);
  XLSTM_CHECK(p_.repeat_last_n >= -1, "repeat-last-n must be >= -1, got {}", p_.repeat_last_n);
}

double Sampler::uniform() {  // xorshift64*: fixed sequence for a seed on every platform
  state_ ^= state_ >> 12, state_ ^= state_ << 25, state_ ^= state_ >> 27;
  return double((state_ * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53;
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& history) {
  XLSTM_CHECK(vocab > 0, "cannot sample from an empty vocabulary (vocab = {})", vocab);
  cand_.resize(size_t(vocab));
  for (int64_t i = 0; i < vocab; ++i) cand_[size_t(i)] = {logits[i], int32_t(i)};
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0) {
    size_t n = p_.repeat_last_n < 0 ? history.size() : std::min(history.size(), size_t(p_.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - long(n), history.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab) continue;
      float& l = cand_[size_t(t)].first;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (p_.temperature <= 0.f) return std::min_element(cand_.begin(), cand_.end(), by_logit)->second;

  size_t n = cand_.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    n = size_t(p_.top_k);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax over the survivors (untempered) for top-p and min-p.
  std::vector<double> pr(n);
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += pr[i] = std::exp(double(cand_[i].first) - double(cand_[0].first));
  if (p_.top_p < 1.f) {
    double acc = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      acc += pr[i] / z;
      if (acc >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = std::max<size_t>(1, keep);
  }
  if (p_.min_p > 0.f) {
    size_t keep = 1;
    while (keep < n && pr[keep] >= p_.min_p * pr[0]) ++keep;  // pr[0] is the max (relative probability 1)
    n = keep;
  }
  // Temperature, then draw.
  double zt = 0;
  for (size_t i = 0; i < n; ++i)
    zt += pr[i] = std::exp((double(cand_[i].first) - double(cand_[0].first)) / double(p_.temperature));
  double r = uniform() * zt;
  for (size_t i = 0; i < n; ++i) {
    r -= pr[i];
    if (r < 0) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace xlstm
