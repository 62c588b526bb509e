// Why: see perplexity.h. log-softmax in float64 per row for a stable sum over long texts.
#include "runtime/perplexity.h"

#include <chrono>
#include <cmath>

#include "common/check.h"
#include "model/state.h"

namespace xlstm {

double PerplexityResult::ppl() const { return predicted > 0 ? std::exp(nll_sum / double(predicted)) : NAN; }

PerplexityResult perplexity(Model& model, const std::vector<int32_t>& ids, int segment,
                            const std::function<void(int64_t, int64_t)>& progress) {
  XLSTM_CHECK(ids.size() >= 2, "perplexity needs at least 2 tokens, got {}", ids.size());
  XLSTM_CHECK(segment >= 1, "segment must be >= 1");
  const int64_t V = model.info().vocab_size, N = int64_t(ids.size());
  for (int64_t i = 0; i < N; ++i)
    XLSTM_CHECK(ids[size_t(i)] >= 0 && ids[size_t(i)] < V, "token id {} at position {} is out of range [0, {})",
                ids[size_t(i)], i, V);
  auto t0 = std::chrono::steady_clock::now();
  State st(model);
  float* sp = st.data();
  PerplexityResult r;
  std::vector<float> logits(size_t(segment) * size_t(V));
  // Positions 0..N-2 predict 1..N-1.
  for (int64_t a = 0; a < N - 1; a += segment) {
    const int64_t n = std::min<int64_t>(segment, N - 1 - a);
    model.forward(ids.data() + a, 1, int(n), &sp, int(n), logits.data());
    for (int64_t t = 0; t < n; ++t) {
      const float* row = logits.data() + t * V;
      double mx = row[0];
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - mx);
      r.nll_sum += (mx + std::log(z)) - double(row[ids[size_t(a + t + 1)]]);
    }
    r.predicted += n;
    if (progress) progress(a + n, N - 1);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace xlstm
