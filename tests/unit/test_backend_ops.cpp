// Why: the fused and typed-activation ops of the contract (backend.h) on the CPU backend, which is the
// reference the GPU is checked against: an accumulating product must equal the product then add() bit
// for bit, rmsnorm_linear_swiglu must equal rmsnorm_linear() then swiglu() and the naive gated formula bit
// for bit, and 16-bit activations must be the float32 result rounded once (nearest even; F16 saturating)
// on output and widened exactly on input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "common/check.h"
#include "common/dtype.h"

namespace xlstm {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float mean = 0.f, float sd = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// The 16-bit rounding the contract specifies for activations.
std::vector<uint16_t> round_act(DType t, const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    o[i] = t == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(std::fmin(std::fmax(v[i], -65504.f), 65504.f));
  return o;
}
std::vector<float> widen(DType t, const std::vector<uint16_t>& v) {
  std::vector<float> o(v.size());
  convert_to_f32(t, v.data(), o.data(), v.size());
  return o;
}

class CpuOps : public ::testing::Test {
 protected:
  cpu::CpuBackend be{2};
  WeightPtr vec(const std::vector<float>& v) {
    return be.make_vector({HostTensor{"v", DType::F32, {int64_t(v.size())}, v.data()}});
  }
  WeightPtr mat(const std::vector<float>& v, int64_t rows, int64_t cols, DType as) {
    return be.make_weight({HostTensor{"w", DType::F32, {rows, cols}, v.data()}}, as);
  }
};

TEST_F(CpuOps, MatmulDtypeIsFloat32) {
  for (DType w : {DType::F32, DType::BF16, DType::F16})
    for (int64_t n : {1, 4, 5, 16, 2048}) EXPECT_EQ(be.matmul_dtype(w, n), DType::F32);
}

TEST_F(CpuOps, NormsWrite16BitActivationsRoundedOnce) {
  const int64_t N = 4, D = 300, NH = 3, DV = 100;
  const std::vector<float> x0 = randn(size_t(N * D), 5, 0.f, 3.f), w = randn(size_t(D), 7, 1.f, 0.3f),
                           o = randn(size_t(N * D), 8);
  WeightPtr wv = vec(w);
  std::vector<float> ref(x0.size()), mref(x0.size());
  be.rmsnorm(x0.data(), *wv, nullptr, 1e-6f, N, D, ref.data());
  be.mhln_gate(x0.data(), o.data(), D, *wv, nullptr, 1e-6f, N, int(NH), int(DV), mref.data());
  for (DType t : {DType::BF16, DType::F16}) {
    std::vector<uint16_t> y(x0.size(), 0xffff);
    be.rmsnorm(x0.data(), *wv, nullptr, 1e-6f, N, D, Act(y.data(), t));
    EXPECT_EQ(y, round_act(t, ref)) << dtype_name(t);
    be.mhln_gate(x0.data(), o.data(), D, *wv, nullptr, 1e-6f, N, int(NH), int(DV), Act(y.data(), t));
    EXPECT_EQ(y, round_act(t, mref)) << dtype_name(t);
  }
  // F16 saturates instead of overflowing to infinity.
  std::vector<float> wbig = {100000.f};
  WeightPtr wm = mat(wbig, 1, 1, DType::F32);
  std::vector<float> one = {1.f, -1.f};
  std::vector<uint16_t> h(2);
  be.linear(*wm, nullptr, one.data(), 1, 2, Act(h.data(), DType::F16), 1);
  EXPECT_EQ(f16_to_f32(h[0]), 65504.f);
  EXPECT_EQ(f16_to_f32(h[1]), -65504.f);
}

TEST_F(CpuOps, LinearWidens16BitInputAndRoundsOutput) {
  const int64_t M = 37, K = 64, N = 6, ldx = 70, ldy = 40;
  const std::vector<float> w = randn(size_t(M * K), 9, 0.f, 0.1f), bias = randn(size_t(M), 10);
  const std::vector<float> xf = randn(size_t(N * ldx), 11);
  for (DType wt : {DType::F32, DType::BF16}) {
    WeightPtr W = mat(w, M, K, wt), B = vec(bias);
    for (DType xt : {DType::BF16, DType::F16}) {
      const std::vector<uint16_t> xh = round_act(xt, xf);
      const std::vector<float> xw = widen(xt, xh);
      std::vector<float> ref(size_t(N * ldy), 5.f), got(size_t(N * ldy), 5.f);
      be.linear(*W, B.get(), xw.data(), ldx, N, ref.data(), ldy);
      be.linear(*W, B.get(), ConstAct(xh.data(), xt), ldx, N, got.data(), ldy);
      EXPECT_TRUE(same_bits(got, ref)) << dtype_name(wt) << " x " << dtype_name(xt);
      std::vector<uint16_t> yh(size_t(N * ldy), 0x1234);
      be.linear(*W, B.get(), ConstAct(xh.data(), xt), ldx, N, Act(yh.data(), xt), ldy);
      const std::vector<uint16_t> want = round_act(xt, ref);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < ldy; ++m)
          EXPECT_EQ(yh[size_t(n * ldy + m)], m < M ? want[size_t(n * ldy + m)] : uint16_t(0x1234)) << n << "," << m;
    }
  }
}

TEST_F(CpuOps, RmsnormLinearSwigluEqualsItsParts) {
  const int64_t F = 29, K = 48;
  for (int64_t N : {1, 3, 7})
    for (DType wt : {DType::F32, DType::BF16})
      for (bool with_b : {false, true}) {
        const std::vector<float> x = randn(size_t(N * K), 12, 0.1f, 2.f), w = randn(size_t(2 * F * K), 13, 0.f, 0.2f),
                                 nw = randn(size_t(K), 14, 1.f, 0.3f), bias = randn(size_t(2 * F), 15);
        WeightPtr W = mat(w, 2 * F, K, wt), NW = vec(nw), B = vec(bias);
        const Weight* bp = with_b ? B.get() : nullptr;
        std::vector<float> xn(size_t(N * K)), ref(size_t(N * 2 * F)), got(size_t(N * 2 * F), 7.f);
        be.rmsnorm_linear(x.data(), *NW, nullptr, 1e-5f, N, xn.data(), *W, bp, ref.data(), 2 * F);
        const std::vector<float> lin = ref;
        be.swiglu(ref.data(), N, F);
        be.rmsnorm_linear_swiglu(x.data(), *NW, nullptr, 1e-5f, N, xn.data(), *W, bp, got.data());
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < F; ++i) {
            const size_t at = size_t(n * 2 * F + i);
            ASSERT_EQ(got[at], ref[at]) << n << "," << i << " " << dtype_name(wt);
            // The gated product is the naive formula.
            const float a = lin[at], u = lin[at + size_t(F)];
            ASSERT_EQ(ref[at], a / (1.0f + std::exp(-a)) * u);
          }
        // 16-bit gu: SwiGLU of the exact widening, rounded once.
        const std::vector<uint16_t> gh = round_act(DType::BF16, lin);
        std::vector<float> gw = widen(DType::BF16, gh);
        be.swiglu(gw.data(), N, F);
        std::vector<uint16_t> gh2 = gh;
        be.swiglu(Act(gh2.data(), DType::BF16), N, F);
        const std::vector<uint16_t> want = round_act(DType::BF16, gw);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < 2 * F; ++i)
            ASSERT_EQ(gh2[size_t(n * 2 * F + i)], want[size_t(n * 2 * F + i)]) << n << "," << i;
      }
  // An odd number of gate|up rows is refused.
  const std::vector<float> x(8, 1.f), w(3 * 8, 0.1f), nw(8, 1.f);
  WeightPtr W = mat(w, 3, 8, DType::F32), NW = vec(nw);
  std::vector<float> xn(8), gu(3);
  EXPECT_THROW(be.rmsnorm_linear_swiglu(x.data(), *NW, nullptr, 1e-5f, 1, xn.data(), *W, nullptr, gu.data()), Error);
}

TEST_F(CpuOps, RmsnormLinearEqualsRmsnormThenLinear) {
  const int64_t M = 31, K = 40;
  for (int64_t N : {1, 4, 6})
    for (DType wt : {DType::F32, DType::BF16})
      for (bool with_b : {false, true}) {
        const std::vector<float> x = randn(size_t(N * K), 30, 0.1f, 2.f), w = randn(size_t(M * K), 31, 0.f, 0.2f),
                                 nw = randn(size_t(K), 32, 1.f, 0.3f), nb = randn(size_t(K), 33, 0.f, 0.2f),
                                 bias = randn(size_t(M), 34);
        WeightPtr W = mat(w, M, K, wt), NW = vec(nw), NB = vec(nb), B = vec(bias);
        const int64_t ldy = M + 3;
        std::vector<float> xn(size_t(N * K)), ref(size_t(N * ldy), 7.f), got(size_t(N * ldy), 7.f), s(size_t(N * K));
        be.rmsnorm(x.data(), *NW, with_b ? NB.get() : nullptr, 1e-5f, N, K, xn.data());
        be.linear(*W, with_b ? B.get() : nullptr, xn.data(), K, N, ref.data(), ldy);
        be.rmsnorm_linear(x.data(), *NW, with_b ? NB.get() : nullptr, 1e-5f, N, s.data(), *W, with_b ? B.get() : nullptr,
                          got.data(), ldy);
        EXPECT_TRUE(same_bits(got, ref)) << N << " " << dtype_name(wt);
        // The norm is the naive formula.
        for (int64_t n = 0; n < N; ++n) {
          double ss = 0;
          for (int64_t k = 0; k < K; ++k) ss += double(x[size_t(n * K + k)]) * x[size_t(n * K + k)];
          const double inv = 1.0 / std::sqrt(ss / double(K) + 1e-5);
          for (int64_t k = 0; k < K; ++k) {
            const double want = x[size_t(n * K + k)] * inv * nw[size_t(k)] + (with_b ? nb[size_t(k)] : 0.f);
            ASSERT_NEAR(xn[size_t(n * K + k)], want, 1e-5 * (1 + std::abs(want)));
          }
        }
      }
}

TEST_F(CpuOps, AccumulatingProductsEqualProductThenAdd) {
  const int64_t N = 3, D = 64, M = 50;
  const std::vector<float> x0 = randn(size_t(N * D), 20), w = randn(size_t(M * D), 23, 0.f, 0.2f),
                           bias = randn(size_t(M), 24), y0 = randn(size_t(N * M), 28);
  WeightPtr B = vec(bias);
  for (DType wt : {DType::F32, DType::BF16}) {
    WeightPtr W = mat(w, M, D, wt);
    // linear accumulate == linear into r, then add
    std::vector<float> r(size_t(N * M)), ref = y0, got = y0;
    be.linear(*W, B.get(), x0.data(), D, N, r.data(), M);
    be.add(ref.data(), r.data(), N * M);
    be.linear(*W, B.get(), x0.data(), D, N, got.data(), M, true);
    EXPECT_TRUE(same_bits(got, ref));
  }
}

}  // namespace
}  // namespace xlstm
