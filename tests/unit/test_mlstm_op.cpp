// Why: the CPU mLSTM op (both its chunkwise and its step form) against an independent float64 step
// recurrence written from xlstm-reference.md, on odd head sizes, B = 3, lengths not multiples of the
// chunk, with and without the gate soft cap. Tolerance: 1e-5 in ||h - ref|| / ||ref|| and in the max
// error of the state (float32 arithmetic over ~100 steps). The output is compared norm-wise because
// h = num / max(|q.n|, exp(-m)) is ill-conditioned where q.n nearly cancels: there a float32 q.n is
// off by its rounding (~1e-7 |q||n|), whatever the algorithm; so q and k are drawn positive here (n
// stays positive and q.n cannot cancel), v and C signed. The state carries no such division.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "test_support.h"

namespace xlstm {
namespace {

struct Case {
  int B, T, NH, DK, DV, chunk;
  float cap;
};

std::vector<double> reference(const Case& c, const std::vector<float>& proj, int64_t ld, std::vector<double>& C,
                              std::vector<double>& n, std::vector<double>& m) {
  std::vector<double> h(size_t(c.B) * c.T * c.NH * c.DV);
  auto cap = [&](double x) { return c.cap > 0 ? c.cap * std::tanh(x / c.cap) : x; };
  for (int b = 0; b < c.B; ++b)
    for (int hd = 0; hd < c.NH; ++hd) {
      double* Cb = &C[(size_t(b) * c.NH + hd) * c.DK * c.DV];
      double* nb = &n[(size_t(b) * c.NH + hd) * c.DK];
      double& mb = m[size_t(b) * c.NH + hd];
      for (int t = 0; t < c.T; ++t) {
        const float* row = &proj[(size_t(b) * c.T + t) * ld];
        const float* q = row + hd * c.DK;
        const float* k = row + c.NH * c.DK + hd * c.DK;
        const float* v = row + 2 * c.NH * c.DK + hd * c.DV;
        double ig = cap(row[2 * c.NH * c.DK + c.NH * c.DV + hd]);
        double fg = cap(row[2 * c.NH * c.DK + c.NH * c.DV + c.NH + hd]);
        double lf = -std::log1p(std::exp(-fg));
        double mn = std::max(lf + mb, ig);
        double fa = std::exp(lf + mb - mn), ia = std::exp(ig - mn);
        double qn = 0;
        std::vector<double> num(size_t(c.DV), 0.0);
        for (int i = 0; i < c.DK; ++i) {
          double qs = q[i] / std::sqrt(double(c.DK));
          nb[i] = fa * nb[i] + ia * k[i];
          qn += qs * nb[i];
          for (int j = 0; j < c.DV; ++j) {
            double& Cij = Cb[size_t(i) * c.DV + j];
            Cij = fa * Cij + ia * k[i] * v[j];
            num[size_t(j)] += qs * Cij;
          }
        }
        mb = mn;
        double den = std::max(std::fabs(qn), std::exp(-mn)) + 1e-6;
        for (int j = 0; j < c.DV; ++j) h[((size_t(b) * c.T + t) * c.NH + hd) * c.DV + j] = num[size_t(j)] / den;
      }
    }
  return h;
}

TEST(MlstmOp, ChunkwiseAndStepMatchFloat64Reference) {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (Case c : {Case{1, 100, 2, 16, 32, 16, 15.f}, Case{3, 67, 3, 8, 12, 32, 15.f}, Case{2, 130, 1, 5, 7, 64, 0.f},
                 Case{3, 45, 4, 24, 20, 1, 15.f}, Case{1, 129, 2, 32, 64, 128, 15.f}}) {
    const int64_t ld = 2 * c.NH * c.DK + c.NH * c.DV + 2 * c.NH + 3;  // + padding columns
    std::vector<float> proj(size_t(c.B) * c.T * ld);
    for (auto& x : proj) x = nd(rng);
    for (int64_t r = 0; r < int64_t(c.B) * c.T; ++r)  // q, k > 0: keeps q.n away from cancellation
      for (int i = 0; i < 2 * c.NH * c.DK; ++i) proj[size_t(r * ld + i)] = std::fabs(proj[size_t(r * ld + i)]);
    for (int64_t r = 0; r < int64_t(c.B) * c.T; ++r)  // gate pre-activations with a wide range
      for (int g = 0; g < 2 * c.NH; ++g) proj[size_t(r * ld + 2 * c.NH * c.DK + c.NH * c.DV + g)] = 4.f * nd(rng) + (g >= c.NH ? 2.f : 0.f);
    const size_t nC = size_t(c.B) * c.NH * c.DK * c.DV, nn = size_t(c.B) * c.NH * c.DK, nm = size_t(c.B) * c.NH;
    // Start from a non-zero state (as after an earlier prefill) to exercise the inter-chunk terms.
    std::vector<float> C(nC), n(nn), m(nm);
    for (auto& x : C) x = 0.1f * nd(rng);
    for (auto& x : n) x = 0.1f * std::fabs(nd(rng));
    for (auto& x : m) x = nd(rng);
    std::vector<double> Cd(C.begin(), C.end()), nd64(n.begin(), n.end()), md(m.begin(), m.end());
    const auto ref = reference(c, proj, ld, Cd, nd64, md);
    std::vector<MlstmState> st(static_cast<size_t>(c.B));
    for (int b = 0; b < c.B; ++b)
      st[size_t(b)] = {C.data() + size_t(b) * c.NH * c.DK * c.DV, n.data() + size_t(b) * c.NH * c.DK, m.data() + size_t(b) * c.NH};
    std::vector<float> h(ref.size(), std::nanf(""));
    MlstmArgs a;
    a.B = c.B, a.T = c.T, a.NH = c.NH, a.DK = c.DK, a.DV = c.DV, a.ld = ld, a.gate_cap = c.cap, a.eps = 1e-6f;
    a.q = proj.data(), a.k = proj.data() + c.NH * c.DK, a.v = proj.data() + 2 * c.NH * c.DK;
    a.igate = proj.data() + 2 * c.NH * c.DK + c.NH * c.DV, a.fgate = a.igate + c.NH;
    a.chunk = c.chunk, a.states = st.data(), a.h = h.data();
    cpu::mlstm_forward(a);
    std::vector<float> reff(ref.begin(), ref.end()), Cf(Cd.begin(), Cd.end()), mf(md.begin(), md.end());
    EXPECT_LT(test::rel_l2_err(h.data(), reff.data(), h.size()), 1e-5) << "B" << c.B << " T" << c.T << " chunk " << c.chunk;
    EXPECT_LT(test::rel_max_err(C.data(), Cf.data(), C.size()), 1e-5) << "state C, chunk " << c.chunk;
    EXPECT_LT(test::rel_max_err(m.data(), mf.data(), m.size()), 1e-5) << "state m, chunk " << c.chunk;
  }
}

}  // namespace
}  // namespace xlstm
