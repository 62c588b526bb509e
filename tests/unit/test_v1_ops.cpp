// Why: each CPU op of the original xLSTM family (backend.h, "ops of the original xLSTM family") against
// an independent naive float64 reference written from the op contract, on random odd sizes, with row
// strides and batch > 1, and (for the ops with state) in pieces == at once. Tolerance 1e-5 relative max
// error (float32 rounding of short sums; observed ~1e-7), except where stated.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "test_support.h"

namespace xlstm {
namespace {

using test::rel_max_err;

struct Rng {
  std::mt19937 g;
  explicit Rng(uint32_t seed) : g(seed) {}
  std::vector<float> normal(size_t n, float sd = 1.f) {
    std::normal_distribution<float> d(0.f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
  }
};

WeightPtr vec(cpu::CpuBackend& be, const std::vector<float>& v) {
  return be.make_vector({HostTensor{"t", DType::F32, {int64_t(v.size())}, v.data()}});
}

std::vector<float> to_f(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

TEST(V1Ops, CausalConv1dMatchesReferenceAndContinuesInPieces) {
  cpu::CpuBackend be(2);
  Rng r(1);
  struct Case { int B, T, C, K; bool silu; };
  for (Case c : {Case{3, 23, 13, 4, true}, Case{2, 2, 7, 5, false}, Case{1, 9, 33, 1, true}, Case{2, 17, 5, 2, true}}) {
    const int64_t ldx = c.C + 3, ldy = c.C + 1;
    auto x = r.normal(size_t(c.B) * c.T * ldx), w = r.normal(size_t(c.C) * c.K, 0.5f), bias = r.normal(size_t(c.C));
    auto W = vec(be, w), Bv = vec(be, bias);
    // Reference: zero history, y[t] = b + sum_j w[j] x[t-K+1+j].
    std::vector<double> ref(size_t(c.B) * c.T * c.C);
    for (int b = 0; b < c.B; ++b)
      for (int t = 0; t < c.T; ++t)
        for (int ch = 0; ch < c.C; ++ch) {
          double acc = bias[size_t(ch)];
          for (int j = 0; j < c.K; ++j) {
            const int s = t - (c.K - 1) + j;
            if (s >= 0) acc += double(w[size_t(ch * c.K + j)]) * x[size_t((b * c.T + s) * ldx + ch)];
          }
          ref[size_t((b * c.T + t) * c.C + ch)] = c.silu ? acc / (1 + std::exp(-acc)) : acc;
        }
    const auto reff = to_f(ref);
    // At once.
    std::vector<std::vector<float>> st(size_t(c.B), std::vector<float>(size_t(std::max(c.K - 1, 0)) * c.C, 0.f));
    std::vector<float*> sp;
    for (auto& s : st) sp.push_back(s.data());
    std::vector<float> y(size_t(c.B) * c.T * ldy, NAN);
    Backend::Conv1dArgs a;
    a.B = c.B, a.T = c.T, a.K = c.K, a.C = c.C, a.x = x.data(), a.ldx = ldx, a.w = W.get(), a.bias = Bv.get();
    a.states = sp.data(), a.silu = c.silu, a.y = y.data(), a.ldy = ldy;
    be.causal_conv1d(a);
    std::vector<float> got(ref.size());
    for (int64_t n = 0; n < int64_t(c.B) * c.T; ++n)
      for (int ch = 0; ch < c.C; ++ch) got[size_t(n * c.C + ch)] = y[size_t(n * ldy + ch)];
    EXPECT_LT(rel_max_err(got.data(), reff.data(), got.size()), 1e-5) << "B" << c.B << " T" << c.T << " K" << c.K;
    // The state is the last K-1 inputs.
    for (int b = 0; b < c.B; ++b)
      for (int rr = 0; rr < c.K - 1; ++rr)
        for (int ch = 0; ch < c.C; ++ch) {
          const int s = c.T - (c.K - 1) + rr;
          const float want = s >= 0 ? x[size_t((b * c.T + s) * ldx + ch)] : 0.f;
          ASSERT_EQ(st[size_t(b)][size_t(rr * c.C + ch)], want) << "state row " << rr;
        }
    // In pieces of 1, 2, 3, ... steps (pieces shorter than K-1 included): the same outputs.
    for (auto& s : st) std::fill(s.begin(), s.end(), 0.f);
    std::vector<float> xp, yp;
    for (int t0 = 0, len = 1; t0 < c.T; t0 += len, ++len) {
      const int Tp = std::min(len, c.T - t0);
      xp.assign(size_t(c.B) * Tp * ldx, 0.f);
      for (int b = 0; b < c.B; ++b)
        std::copy(x.begin() + (b * c.T + t0) * ldx, x.begin() + (b * c.T + t0 + Tp) * ldx, xp.begin() + b * Tp * ldx);
      yp.assign(size_t(c.B) * Tp * ldy, NAN);
      a.T = Tp, a.x = xp.data(), a.y = yp.data();
      be.causal_conv1d(a);
      for (int b = 0; b < c.B; ++b)
        for (int t = 0; t < Tp; ++t)
          for (int ch = 0; ch < c.C; ++ch)
            ASSERT_NEAR(yp[size_t((b * Tp + t) * ldy + ch)], reff[size_t((b * c.T + t0 + t) * c.C + ch)],
                        1e-5 * (1 + std::fabs(reff[size_t((b * c.T + t0 + t) * c.C + ch)])))
                << "piece at " << t0;
    }
  }
}

TEST(V1Ops, HeadwiseLinearMatchesReferenceOnBothPaths) {
  cpu::CpuBackend be(2);
  Rng r(2);
  struct Case { int64_t N; int NH, I, O; bool bias; };
  // Small blocks (direct loop) and large blocks with N >= 16 (one sgemm per head and row block).
  for (Case c : {Case{7, 5, 3, 3, true}, Case{1, 1, 9, 4, false}, Case{67, 3, 37, 41, true}, Case{130, 2, 64, 32, false},
                 Case{5, 3, 40, 40, true}}) {
    const int64_t ldx = int64_t(c.NH) * c.I + 2, ldy = int64_t(c.NH) * c.O + 5;
    auto x = r.normal(size_t(c.N * ldx)), w = r.normal(size_t(c.NH) * c.O * c.I, 0.3f), b = r.normal(size_t(c.NH) * c.O);
    auto W = vec(be, w), Bv = vec(be, b);
    std::vector<double> ref(size_t(c.N) * c.NH * c.O);
    for (int64_t n = 0; n < c.N; ++n)
      for (int h = 0; h < c.NH; ++h)
        for (int o = 0; o < c.O; ++o) {
          double acc = c.bias ? b[size_t(h * c.O + o)] : 0.0;
          for (int i = 0; i < c.I; ++i)
            acc += double(w[size_t((h * c.O + o) * c.I + i)]) * x[size_t(n * ldx + h * c.I + i)];
          ref[size_t((n * c.NH + h) * c.O + o)] = acc;
        }
    std::vector<float> y(size_t(c.N * ldy), NAN);
    be.headwise_linear(*W, c.bias ? Bv.get() : nullptr, x.data(), ldx, c.N, c.NH, c.I, c.O, y.data(), ldy);
    std::vector<float> got(ref.size());
    for (int64_t n = 0; n < c.N; ++n)
      for (int k = 0; k < c.NH * c.O; ++k) got[size_t(n * c.NH * c.O + k)] = y[size_t(n * ldy + k)];
    const auto reff = to_f(ref);
    EXPECT_LT(rel_max_err(got.data(), reff.data(), got.size()), 1e-5) << "N" << c.N << " I" << c.I << " O" << c.O;
    for (int64_t n = 0; n < c.N; ++n)  // padding columns untouched
      for (int64_t k = int64_t(c.NH) * c.O; k < ldy; ++k) ASSERT_TRUE(std::isnan(y[size_t(n * ldy + k)]));
  }
}

TEST(V1Ops, GroupNormMatchesReference) {
  cpu::CpuBackend be(2);
  Rng r(3);
  for (auto [N, NH, DH] : {std::tuple{5, 3, 7}, std::tuple{1, 1, 33}, std::tuple{9, 4, 16}}) {
    auto x = r.normal(size_t(N) * NH * DH, 3.f), w = r.normal(size_t(NH) * DH), b = r.normal(size_t(NH) * DH);
    for (size_t i = 0; i < x.size(); ++i) x[i] += float(i % 5);  // non-zero means
    auto W = vec(be, w), Bv = vec(be, b);
    for (int variant = 0; variant < 3; ++variant) {  // w and b, w only, neither
      const Weight* wp = variant < 2 ? W.get() : nullptr;
      const Weight* bp = variant == 0 ? Bv.get() : nullptr;
      std::vector<double> ref(x.size());
      for (int n = 0; n < N; ++n)
        for (int h = 0; h < NH; ++h) {
          const float* xr = &x[size_t((n * NH + h) * DH)];
          double mean = 0, var = 0;
          for (int i = 0; i < DH; ++i) mean += xr[i];
          mean /= DH;
          for (int i = 0; i < DH; ++i) var += (xr[i] - mean) * (xr[i] - mean);
          var /= DH;
          for (int i = 0; i < DH; ++i) {
            double v = (xr[i] - mean) / std::sqrt(var + 1e-5);
            if (wp) v *= w[size_t(h * DH + i)];
            if (bp) v += b[size_t(h * DH + i)];
            ref[size_t((n * NH + h) * DH + i)] = v;
          }
        }
      std::vector<float> y = x;  // in place
      be.groupnorm(y.data(), wp, bp, 1e-5f, N, NH, DH, y.data());
      const auto reff = to_f(ref);
      EXPECT_LT(rel_max_err(y.data(), reff.data(), y.size()), 1e-5) << "NH" << NH << " DH" << DH << " variant " << variant;
    }
  }
}

TEST(V1Ops, SkipSiluGateMatchesReference) {
  cpu::CpuBackend be(2);
  Rng r(4);
  const int64_t N = 11, C = 19, ldxc = 23, ldz = 2 * C;
  auto h = r.normal(size_t(N * C)), xc = r.normal(size_t(N * ldxc)), z = r.normal(size_t(N * ldz)), s = r.normal(size_t(C));
  auto S = vec(be, s);
  std::vector<double> ref(size_t(N * C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double zz = z[size_t(n * ldz + c)];
      ref[size_t(n * C + c)] = (h[size_t(n * C + c)] + double(s[size_t(c)]) * xc[size_t(n * ldxc + c)]) * zz / (1 + std::exp(-zz));
    }
  std::vector<float> y = h;  // in place
  be.skip_silu_gate(y.data(), xc.data(), ldxc, *S, z.data(), ldz, N, C, y.data());
  const auto reff = to_f(ref);
  EXPECT_LT(rel_max_err(y.data(), reff.data(), y.size()), 1e-5);
}

TEST(V1Ops, GatedActivationsMatchReference) {
  cpu::CpuBackend be(2);
  Rng r(5);
  const int64_t N = 7, F = 29;
  auto gu = r.normal(size_t(N * 2 * F), 2.f);
  using A = Backend::GateAct;
  const std::pair<A, double (*)(double)> acts[] = {
      {A::Gelu, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {A::Relu, [](double v) { return std::max(v, 0.0); }},
      {A::Relu2, [](double v) { return std::max(v, 0.0) * std::max(v, 0.0); }},
      {A::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {A::Swish, [](double v) { return v / (1 + std::exp(-v)); }},
      {A::Selu, [](double v) { return 1.0507009873554804934 * (v > 0 ? v : 1.6732632423543772848 * std::expm1(v)); }}};
  for (auto [act, fn] : acts) {
    std::vector<double> ref(size_t(N * F));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t f = 0; f < F; ++f) ref[size_t(n * F + f)] = fn(gu[size_t(n * 2 * F + f)]) * gu[size_t(n * 2 * F + F + f)];
    std::vector<float> y(size_t(N * F), NAN);
    be.gated_act(gu.data(), N, F, act, y.data());
    const auto reff = to_f(ref);
    EXPECT_LT(rel_max_err(y.data(), reff.data(), y.size()), 1e-5) << "activation " << int(act);
  }
}

// The sLSTM cell in float64 from the op contract (backend.h Backend::SlstmArgs).
struct SlstmRef {
  int NH, DH;
  std::vector<double> y, c, n, m;  // one sequence, [NH*DH]
  void step(const float* x, const std::vector<float>& R, const std::vector<float>& bias, double* out) {
    const int H = NH * DH;
    std::vector<double> raw(size_t(4) * H);
    for (int g = 0; g < 4; ++g)
      for (int h = 0; h < NH; ++h)
        for (int d = 0; d < DH; ++d) {
          double ry = 0;
          for (int e = 0; e < DH; ++e) ry += double(R[size_t(((h * 4 + g) * DH + d) * DH + e)]) * y[size_t(h * DH + e)];
          const int k = g * H + h * DH + d;
          raw[size_t(k)] = x[k] + ry + bias[size_t(k)];
        }
    for (int u = 0; u < H; ++u) {
      const double i = raw[size_t(u)], f = raw[size_t(H + u)], z = raw[size_t(2 * H + u)], o = raw[size_t(3 * H + u)];
      const double lf = std::min(f, 0.0) - std::log1p(std::exp(-std::fabs(f)));
      const double mn = n[size_t(u)] == 0 ? i : std::max(i, m[size_t(u)] + lf);
      const double ia = std::min(1.0, std::exp(i - mn)), fa = std::min(1.0, std::exp(m[size_t(u)] + lf - mn));
      c[size_t(u)] = fa * c[size_t(u)] + ia * std::tanh(z);
      n[size_t(u)] = fa * n[size_t(u)] + ia;
      m[size_t(u)] = mn;
      out[u] = 1 / (1 + std::exp(-o)) * c[size_t(u)] / n[size_t(u)];
    }
    for (int u = 0; u < H; ++u) y[size_t(u)] = out[u];
  }
};

TEST(SlstmOp, MatchesFloat64ReferenceFromZeroAndNonZeroStates) {
  cpu::CpuBackend be(2);
  Rng r(6);
  struct Case { int B, T, NH, DH; bool warm; };
  for (Case cs : {Case{2, 37, 3, 5, false}, Case{3, 20, 1, 16, true}, Case{1, 64, 4, 8, false}, Case{2, 1, 2, 7, true}}) {
    const int H = cs.NH * cs.DH;
    const int64_t ld = 4 * H + 3;
    auto x = r.normal(size_t(cs.B) * cs.T * ld, 1.5f), R = r.normal(size_t(4) * H * cs.DH, 0.4f), bias = r.normal(size_t(4) * H);
    auto Rw = vec(be, R), Bw = vec(be, bias);
    std::vector<std::vector<float>> st(size_t(cs.B), std::vector<float>(size_t(4) * H, 0.f));
    std::vector<SlstmRef> ref(size_t(cs.B), SlstmRef{cs.NH, cs.DH, {}, {}, {}, {}});
    for (int b = 0; b < cs.B; ++b) {
      auto& s = st[size_t(b)];
      if (cs.warm) {  // a state as after earlier steps: y, c signed, n > 0, m any
        auto v = r.normal(size_t(4) * H);
        for (int u = 0; u < H; ++u) s[size_t(u)] = 0.3f * v[size_t(u)], s[size_t(H + u)] = v[size_t(H + u)],
                                    s[size_t(2 * H + u)] = 0.5f + std::fabs(v[size_t(2 * H + u)]), s[size_t(3 * H + u)] = v[size_t(3 * H + u)];
      }
      auto& q = ref[size_t(b)];
      q.y.assign(s.begin(), s.begin() + H), q.c.assign(s.begin() + H, s.begin() + 2 * H);
      q.n.assign(s.begin() + 2 * H, s.begin() + 3 * H), q.m.assign(s.begin() + 3 * H, s.end());
    }
    std::vector<double> want(size_t(cs.B) * cs.T * H);
    for (int b = 0; b < cs.B; ++b)
      for (int t = 0; t < cs.T; ++t) ref[size_t(b)].step(&x[size_t((b * cs.T + t) * ld)], R, bias, &want[size_t((b * cs.T + t) * H)]);
    std::vector<Backend::SlstmState> sp;
    for (auto& s : st) sp.push_back({s.data(), s.data() + H, s.data() + 2 * H, s.data() + 3 * H});
    std::vector<float> y(want.size(), NAN);
    Backend::SlstmArgs a;
    a.B = cs.B, a.T = cs.T, a.NH = cs.NH, a.DH = cs.DH, a.x = x.data(), a.ld = ld, a.R = Rw.get(), a.bias = Bw.get();
    a.states = sp.data(), a.y = y.data();
    be.slstm(a);
    const auto wantf = to_f(want);
    EXPECT_LT(rel_max_err(y.data(), wantf.data(), y.size()), 1e-5) << "B" << cs.B << " T" << cs.T << " DH" << cs.DH;
    for (int b = 0; b < cs.B; ++b) {
      std::vector<double> s;
      for (auto* v : {&ref[size_t(b)].y, &ref[size_t(b)].c, &ref[size_t(b)].n, &ref[size_t(b)].m}) s.insert(s.end(), v->begin(), v->end());
      const auto sf = to_f(s);
      EXPECT_LT(rel_max_err(st[size_t(b)].data(), sf.data(), sf.size()), 1e-5) << "state of sequence " << b;
    }
  }
}

TEST(SlstmOp, StepByStepEqualsOneCall) {
  cpu::CpuBackend be(1);
  Rng r(7);
  const int T = 19, NH = 2, DH = 6, H = NH * DH;
  auto x = r.normal(size_t(T) * 4 * H), R = r.normal(size_t(4) * H * DH, 0.4f), bias = r.normal(size_t(4) * H);
  auto Rw = vec(be, R), Bw = vec(be, bias);
  auto run = [&](int piece) {
    std::vector<float> s(size_t(4) * H, 0.f), y(size_t(T) * H);
    Backend::SlstmState sp{s.data(), s.data() + H, s.data() + 2 * H, s.data() + 3 * H};
    for (int t0 = 0; t0 < T; t0 += piece) {
      Backend::SlstmArgs a;
      a.T = std::min(piece, T - t0), a.NH = NH, a.DH = DH, a.x = x.data() + size_t(t0) * 4 * H, a.ld = 4 * H;
      a.R = Rw.get(), a.bias = Bw.get(), a.states = &sp, a.y = y.data() + size_t(t0) * H;
      be.slstm(a);
    }
    return y;
  };
  EXPECT_EQ(run(1), run(T));  // same float operations in the same order: bitwise equal
  EXPECT_EQ(run(4), run(T));
}

}  // namespace
}  // namespace xlstm
