// Why: the sampler decides every generated token. Greedy must be the exact argmax (ties to the lowest id,
// so `--temp 0` matches transformers); seeded sampling must be reproducible; the filters (top-k, top-p,
// min-p) must really remove the tail, before temperature; the repetition penalty must lower a repeated
// token; and at temperature 1 the draws must follow softmax(logits). Bad parameters are errors by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "common/check.h"
#include "runtime/sampler.h"

namespace xlstm {
namespace {

using ::testing::HasSubstr;

using test::error_of;

// Sampling with no filters: temperature t, top-k/top-p/min-p off, no penalty.
SamplingParams plain(float t, uint64_t seed = 1) {
  SamplingParams p;
  p.temperature = t, p.top_k = 0, p.top_p = 1.f, p.min_p = 0.f, p.repeat_penalty = 1.f, p.seed = seed;
  return p;
}

// How often each id is drawn in n draws.
std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int n, const std::vector<int32_t>& hist = {}) {
  std::vector<int> c(logits.size());
  for (int i = 0; i < n; ++i) {
    const int32_t t = s.sample(logits.data(), int64_t(logits.size()), hist);
    EXPECT_TRUE(t >= 0 && t < int32_t(logits.size())) << t;
    if (t >= 0 && t < int32_t(logits.size())) ++c[size_t(t)];
  }
  return c;
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

TEST(Sampler, GreedyIsArgmaxWithTiesToTheLowestId) {
  const std::vector<float> l = {0.f, 5.f, 5.f, 1.f, -3.f, 5.f};
  for (float t : {0.f, -1.f}) {
    SamplingParams p;  // default filters and a seed: greedy ignores them
    p.temperature = t;
    Sampler s(p);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l.data(), int64_t(l.size()), {}), 1);
  }
  EXPECT_EQ(argmax(l.data(), int64_t(l.size())), 1);
  const std::vector<float> neg = {-7.f, -2.f, -2.f};
  EXPECT_EQ(argmax(neg.data(), 3), 1);
  Sampler s(plain(0));
  EXPECT_EQ(s.sample(neg.data(), 3, {}), 1);
  const std::vector<float> one = {3.f};
  EXPECT_EQ(s.sample(one.data(), 1, {}), 0);
  // Random rows: greedy == argmax.
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> r(257);
  for (int k = 0; k < 50; ++k) {
    for (auto& x : r) x = nd(rng);
    EXPECT_EQ(s.sample(r.data(), int64_t(r.size()), {}), argmax(r.data(), int64_t(r.size())));
  }
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> r(50);
  for (float t : {0.01f, 0.7f, 1.f, 10.f, 1e6f}) {
    SamplingParams p = plain(t, 99);
    p.top_k = 1;
    Sampler s(p);
    for (int k = 0; k < 100; ++k) {
      for (auto& x : r) x = nd(rng);
      if (k % 3 == 0) r[40] = r[7] = *std::max_element(r.begin(), r.end()) + 1.f;  // a tie: 7 wins
      EXPECT_EQ(s.sample(r.data(), int64_t(r.size()), {}), argmax(r.data(), int64_t(r.size()))) << "t " << t;
    }
  }
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  const std::vector<float> l = {0.1f, 0.3f, -0.2f, 0.f, 0.5f, 0.2f, -0.1f, 0.4f};
  const auto draws = [&](uint64_t seed) {
    Sampler s(plain(1.f, seed));
    std::vector<int32_t> v;
    for (int i = 0; i < 500; ++i) v.push_back(s.sample(l.data(), int64_t(l.size()), {}));
    return v;
  };
  const auto a = draws(42), b = draws(42), c = draws(43), d = draws(0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_NE(c, d);
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 4u);  // the sequence moves
  // Default parameters too (top-k 40, top-p 0.95, min-p 0.05).
  SamplingParams p;
  Sampler s1(p), s2(p);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(s1.sample(l.data(), 8, {}), s2.sample(l.data(), 8, {}));
}

TEST(Sampler, NoSeedMakesTheGeneratorDegenerate) {
  // The seed whose mixed value is 0 would freeze a xorshift generator at 0 (every draw = the top token).
  const uint64_t g = 0x9e3779b97f4a7c15ull;
  uint64_t inv = g;
  for (int i = 0; i < 6; ++i) inv *= 2 - g * inv;  // inverse of g modulo 2^64 (Newton)
  ASSERT_EQ(g * inv, 1u);
  const uint64_t bad = (0 - uint64_t(0x1234567)) * inv;
  const std::vector<float> l = {0.f, 0.f, 0.f, 0.f};
  for (uint64_t seed : {bad, uint64_t(0), ~uint64_t(0)}) {
    Sampler s(plain(1.f, seed));
    const auto c = histogram(s, l, 400);
    for (int k = 0; k < 4; ++k) EXPECT_GT(c[size_t(k)], 50) << "seed " << seed << " token " << k;
  }
}

TEST(Sampler, EmpiricalDistributionMatchesSoftmax) {
  // 4 tokens with probabilities p at temperature 1; Pearson chi-square over 20000 draws, 3 degrees of
  // freedom: 16.27 is the 0.999 quantile (the seed is fixed, so the test is deterministic).
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  const int n = 20000;
  const auto chi2 = [&](const std::vector<int>& c, const std::vector<double>& q) {
    double x = 0;
    for (size_t k = 0; k < q.size(); ++k) x += (c[k] - n * q[k]) * (c[k] - n * q[k]) / (n * q[k]);
    return x;
  };
  Sampler s(plain(1.f, 2024));
  EXPECT_LT(chi2(histogram(s, log_probs(p), n), p), 16.27);
  // Shifting every logit changes nothing.
  std::vector<float> shifted = log_probs(p);
  for (auto& x : shifted) x += 100.f;
  Sampler s2(plain(1.f, 7));
  EXPECT_LT(chi2(histogram(s2, shifted, n), p), 16.27);
  // Temperature 0.5 squares the probabilities (renormalised).
  const std::vector<double> q = {0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3};
  Sampler s3(plain(0.5f, 11));
  EXPECT_LT(chi2(histogram(s3, log_probs(p), n), q), 16.27);
  // A wrong distribution is far outside the bound (the test has power).
  Sampler s4(plain(1.f, 2024));
  EXPECT_GT(chi2(histogram(s4, log_probs(p), n), {0.25, 0.25, 0.25, 0.25}), 100.0);
}

TEST(Sampler, TopPCutsTheTail) {
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  for (float t : {1.f, 100.f}) {  // the nucleus is chosen before temperature flattens the distribution
    SamplingParams sp = plain(t, 5);
    sp.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8: tokens 0 and 1
    Sampler s(sp);
    const auto c = histogram(s, log_probs(p), 5000);
    EXPECT_EQ(c[2], 0) << "t " << t;
    EXPECT_EQ(c[3], 0) << "t " << t;
    EXPECT_GT(c[0], 0);
    EXPECT_GT(c[1], 0);
  }
  SamplingParams sp = plain(1.f, 6);
  sp.top_p = 0.9f;  // 0.8 < 0.9 <= 0.95: tokens 0, 1, 2
  Sampler s(sp);
  auto c = histogram(s, log_probs(p), 5000);
  EXPECT_EQ(c[3], 0);
  EXPECT_GT(c[2], 0);
  sp.top_p = 1e-6f;  // the nucleus always keeps the top token
  Sampler g(sp);
  c = histogram(g, log_probs(p), 500);
  EXPECT_EQ(c[0], 500);
}

TEST(Sampler, MinPCutsTheTail) {
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  for (float t : {1.f, 50.f}) {
    SamplingParams sp = plain(t, 8);
    sp.min_p = 0.25f;  // keep p >= 0.125: tokens 0, 1, 2
    Sampler s(sp);
    const auto c = histogram(s, log_probs(p), 5000);
    EXPECT_EQ(c[3], 0) << "t " << t;
    EXPECT_GT(c[2], 0) << "t " << t;
  }
  SamplingParams sp = plain(1.f, 9);
  sp.min_p = 0.7f;  // keep p >= 0.35: token 0 only
  Sampler s(sp);
  EXPECT_EQ(histogram(s, log_probs(p), 500)[0], 500);
  sp.min_p = 1.f;
  Sampler one(sp);
  EXPECT_EQ(histogram(one, log_probs(p), 100)[0], 100);
}

TEST(Sampler, TopKCutsTheTail) {
  std::vector<float> l(30);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float((i * 7) % 30) * 0.01f;  // distinct; best: 17 (0.29), 4 (0.28)
  SamplingParams sp = plain(5.f, 10);
  sp.top_k = 2;
  Sampler s(sp);
  const auto c = histogram(s, l, 3000);
  EXPECT_EQ(c[17] + c[4], 3000);
  EXPECT_GT(c[17], 0);
  EXPECT_GT(c[4], 0);
  sp.top_k = 1000;  // larger than the vocabulary: off
  Sampler all(sp);
  const auto d = histogram(all, l, 3000);
  EXPECT_GT(std::count_if(d.begin(), d.end(), [](int x) { return x > 0; }), 25);
}

TEST(Sampler, RepetitionPenaltyLowersARepeatedToken) {
  const int n = 20000;
  for (float base : {1.f, -1.f}) {  // positive logits are divided, negative ones multiplied
    const std::vector<float> l(4, base);
    SamplingParams sp = plain(1.f, 12);
    Sampler free_(sp);
    sp.repeat_penalty = 2.f;
    Sampler pen(sp);
    const auto a = histogram(free_, l, n, {1, 1, 3});
    const auto b = histogram(pen, l, n, {1, 1, 3});
    EXPECT_GT(a[1], n / 5);  // ~1/4 without the penalty
    EXPECT_LT(b[1], n / 5);  // ~0.17 (base 1) or ~0.11 (base -1)
    EXPECT_LT(b[3], n / 5);
    EXPECT_GT(b[0], n / 4);
  }
  // Greedy: the penalty can move the argmax.
  const std::vector<float> l = {3.f, 2.5f, 0.f};
  SamplingParams sp = plain(0.f);
  sp.repeat_penalty = 2.f;
  Sampler g(sp);
  EXPECT_EQ(g.sample(l.data(), 3, {0}), 1);
  EXPECT_EQ(g.sample(l.data(), 3, {}), 0);
  // repeat_last_n bounds the look-back; 0 turns the penalty off; -1 looks at everything.
  sp.repeat_last_n = 2;
  Sampler last2(sp);
  EXPECT_EQ(last2.sample(l.data(), 3, {0, 2, 2}), 0);
  EXPECT_EQ(last2.sample(l.data(), 3, {2, 0, 2}), 1);
  sp.repeat_last_n = 0;
  Sampler off(sp);
  EXPECT_EQ(off.sample(l.data(), 3, {0}), 0);
  sp.repeat_last_n = -1;
  Sampler every(sp);
  std::vector<int32_t> h(1000, 2);
  h[0] = 0;
  EXPECT_EQ(every.sample(l.data(), 3, h), 1);
  // Ids outside the vocabulary in the history are ignored, not indexed.
  EXPECT_EQ(every.sample(l.data(), 3, {-5, 3, 1 << 30}), 0);
}

TEST(Sampler, InvalidParametersAreErrorsByName) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const auto bad = [&](auto set) {
    SamplingParams p;
    set(p);
    return error_of([&] { Sampler s(p); });
  };
  EXPECT_THAT(bad([&](SamplingParams& p) { p.temperature = nan; }), HasSubstr("temperature must be finite"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.temperature = inf; }), HasSubstr("temperature must be finite"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.top_p = 0.f; }), HasSubstr("top-p must be in (0, 1]"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.top_p = -0.5f; }), HasSubstr("top-p"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.top_p = nan; }), HasSubstr("top-p"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.min_p = -0.1f; }), HasSubstr("min-p must be in [0, 1]"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.min_p = 1.5f; }), HasSubstr("min-p must be in [0, 1]"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.min_p = nan; }), HasSubstr("min-p"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.repeat_penalty = 0.f; }), HasSubstr("repeat-penalty must be > 0"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.repeat_penalty = -1.f; }), HasSubstr("repeat-penalty"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.repeat_penalty = inf; }), HasSubstr("repeat-penalty"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.repeat_penalty = nan; }), HasSubstr("repeat-penalty"));
  EXPECT_THAT(bad([&](SamplingParams& p) { p.repeat_last_n = -2; }), HasSubstr("repeat-last-n must be >= -1"));
  // Valid edge values.
  EXPECT_EQ(bad([&](SamplingParams& p) { p.top_p = 1.f, p.min_p = 1.f, p.top_k = -3, p.temperature = -1.f; }),
            "(no error thrown)");
  // An empty vocabulary is an error, not a read past the end.
  Sampler s(plain(0.f));
  EXPECT_THAT(error_of([&] { s.sample(nullptr, 0, {}); }), HasSubstr("vocab"));
  Sampler t(plain(1.f));
  EXPECT_THAT(error_of([&] { t.sample(nullptr, 0, {}); }), HasSubstr("vocab"));
}

}  // namespace
}  // namespace xlstm
