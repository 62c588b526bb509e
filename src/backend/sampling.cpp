// Why: see sampling.h.
#include "backend/sampling.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace xlstm {

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

double sample_uniform(uint64_t seed, uint64_t step) {
  uint64_t z = seed ^ (step * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1p-53;
}

int32_t sample_row(const float* logits, int64_t V, const SampleRow& r, std::vector<std::pair<float, int32_t>>& cand) {
  XLSTM_CHECK(V > 0, "cannot sample from an empty vocabulary (vocab = {})", V);
  auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (r.temperature <= 0.f) return argmax(logits, V);
  cand.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) cand[size_t(i)] = {logits[i], int32_t(i)};
  size_t n = cand.size();
  if (r.top_k > 0 && size_t(r.top_k) < n) {
    std::partial_sort(cand.begin(), cand.begin() + r.top_k, cand.end(), better);
    n = size_t(r.top_k);
  } else {
    std::sort(cand.begin(), cand.end(), better);
  }
  // Relative probabilities exp(l - l_max) of the survivors, untempered, for top-p and min-p.
  std::vector<double> pr(n);
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += pr[i] = std::exp(double(cand[i].first) - double(cand[0].first));
  if (r.top_p < 1.f) {
    double acc = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      acc += pr[i] / z;
      if (acc >= double(r.top_p)) {
        keep = i + 1;
        break;
      }
    }
    n = std::max<size_t>(1, keep);
  }
  if (r.min_p > 0.f) {
    size_t keep = 1;
    while (keep < n && pr[keep] >= double(r.min_p)) ++keep;  // pr[0] == 1 is the most likely token
    n = keep;
  }
  double zt = 0;
  for (size_t i = 0; i < n; ++i)
    zt += pr[i] = std::exp((double(cand[i].first) - double(cand[0].first)) / double(r.temperature));
  double u = sample_uniform(r.seed, r.step) * zt;
  for (size_t i = 0; i < n; ++i) {
    u -= pr[i];
    if (u < 0) return cand[i].second;
  }
  return cand[n - 1].second;
}

}  // namespace xlstm
