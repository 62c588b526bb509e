// Why: matmul_wt is the engine's hot path and has three SIMD paths (avx512, avx2, scalar), two algorithms
// (GEMV for small N, blocked GEMM for large N), two weight layouts (row-major, packed) and three weight dtypes;
// every combination this machine can run is checked against a float64 reference on fresh random data, at odd
// sizes that hit every tail, and the packed layout against the row-major one exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_matmul.h"
#include "common/dtype.h"

namespace xlstm::cpu {
namespace {

// Error bound. Every output is a float32 sum of K fused multiply-adds (in some blocked order) of values that
// are exact in float32 (weights widen exactly from bf16/f16). Each addition rounds with relative error at most
// u = 2^-24 of a partial sum, and every partial sum is at most S = sum_k |x_k w_k| + |b| in magnitude.
// Rounding errors of random data behave like a random walk, so the total stays within a few u * sqrt(K) * S
// (the worst case, u * K * S, is never approached); we allow 4 u sqrt(K) S. The bound stays below the size of
// a single term (about S / K) up to K ~ 40000, so a dropped, doubled or misplaced term fails the test.
double tolerance(double S, int64_t K) { return 4.0 * std::ldexp(1.0, -24) * std::sqrt(double(K)) * S + 1e-30; }

struct Case {
  DType wt;
  int64_t M, K, N;
  bool bias;
  int64_t ldx_pad, ldy_pad;
};

std::string describe(const Case& c) {
  return std::string(dtype_name(c.wt)) + " M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) +
         " N=" + std::to_string(c.N) + (c.bias ? " bias" : "") + " ldx=K+" + std::to_string(c.ldx_pad) +
         " ldy=M+" + std::to_string(c.ldy_pad) + " isa=" + matmul_isa();
}

// Runs one case on fresh random data and checks it; returns false after reporting the first failure.
bool run_case(const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  const int64_t ldx = c.K + c.ldx_pad, ldy = c.M + c.ldy_pad;
  const float kNaN = std::numeric_limits<float>::quiet_NaN();

  // Weights: random float32 rounded to the storage dtype; the reference uses the stored values.
  std::vector<float> wf(size_t(c.M * c.K));
  for (auto& v : wf) v = uni(rng);
  std::vector<uint8_t> wstore(wf.size() * dtype_size(c.wt));
  convert_from_f32(c.wt, wf.data(), wstore.data(), wf.size());
  convert_to_f32(c.wt, wstore.data(), wf.data(), wf.size());

  // x: padding columns poisoned with NaN, so a kernel reading past K shows up in the result.
  std::vector<float> x(size_t(c.N * ldx), kNaN);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t k = 0; k < c.K; ++k) x[size_t(n * ldx + k)] = uni(rng);
  std::vector<float> bias(size_t(c.M));
  for (auto& v : bias) v = uni(rng);

  // y: poisoned with a sentinel bit pattern; columns >= M must keep it.
  const uint32_t kSentinel = 0x7fa5a5a5u;  // a NaN no arithmetic produces
  float sentinel;
  std::memcpy(&sentinel, &kSentinel, 4);
  std::vector<float> y(size_t(c.N * ldy), sentinel);

  matmul_wt(c.wt, wstore.data(), c.M, c.K, c.bias ? bias.data() : nullptr, x.data(), ldx, c.N, y.data(), ldy);

  // The packed layout must give the same results: same kernels, same summation order (only the sign of a zero
  // could differ, and == treats those as equal). Its padding is filled with a poison byte first: pack_weight
  // must overwrite it with zeros.
  {
    std::vector<uint8_t> packed(packed_weight_bytes(c.wt, c.M, c.K), 0xff);
    pack_weight(c.wt, wstore.data(), c.M, c.K, packed.data());
    std::vector<float> yp(y.size(), sentinel);
    matmul_wt_packed(c.wt, packed.data(), c.M, c.K, c.bias ? bias.data() : nullptr, x.data(), ldx, c.N, yp.data(),
                     ldy);
    for (size_t i = 0; i < y.size(); ++i) {
      const bool same = y[i] == yp[i] || std::memcmp(&y[i], &yp[i], 4) == 0;
      if (!same) {
        ADD_FAILURE() << describe(c) << ": packed layout gives " << yp[i] << " at " << i << ", row-major " << y[i];
        return false;
      }
    }
    std::vector<float> row(size_t(c.K));
    const int64_t m = c.M / 2;
    packed_row_to_f32(c.wt, packed.data(), c.K, m, row.data());
    for (int64_t k = 0; k < c.K; ++k)
      if (row[size_t(k)] != wf[size_t(m * c.K + k)]) {
        ADD_FAILURE() << describe(c) << ": packed_row_to_f32 row " << m << " element " << k;
        return false;
      }
  }

  for (int64_t n = 0; n < c.N; ++n) {
    for (int64_t m = 0; m < ldy; ++m) {
      const float got = y[size_t(n * ldy + m)];
      if (m >= c.M) {
        uint32_t bits;
        std::memcpy(&bits, &got, 4);
        if (bits != kSentinel) {
          ADD_FAILURE() << describe(c) << ": wrote outside the output at n=" << n << " m=" << m;
          return false;
        }
        continue;
      }
      double ref = c.bias ? double(bias[size_t(m)]) : 0.0;
      double S = c.bias ? std::fabs(double(bias[size_t(m)])) : 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = double(x[size_t(n * ldx + k)]) * double(wf[size_t(m * c.K + k)]);
        ref += p;
        S += std::fabs(p);
      }
      const double err = std::fabs(double(got) - ref);
      if (!(err <= tolerance(S, c.K))) {
        ADD_FAILURE() << describe(c) << ": y[" << n << "," << m << "] = " << got << ", reference " << ref
                      << ", error " << err << " > " << tolerance(S, c.K) << " (S=" << S << ")";
        return false;
      }
    }
  }
  return true;
}

// Every ISA this machine runs, each with the default GEMV/GEMM split, with GEMM forced for every N
// (gemv_max_n = 0) and with GEMV forced up to N = 64.
struct Mode {
  const char* isa;
  int gemv_max_n;  // -1: default
};

void PrintTo(const Mode& m, std::ostream* os) { *os << m.isa << " gemv_max_n=" << m.gemv_max_n; }

class MatmulTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (!matmul_isa_supported(GetParam().isa)) GTEST_SKIP() << GetParam().isa << " not supported here";
    ASSERT_TRUE(set_matmul_isa_for_testing(GetParam().isa));
    set_matmul_gemv_max_n_for_testing(GetParam().gemv_max_n);
  }
  void TearDown() override {
    set_matmul_isa_for_testing(nullptr);
    set_matmul_gemv_max_n_for_testing(-1);
  }
};

TEST_P(MatmulTest, OddShapesAllDtypes) {
  ASSERT_STREQ(matmul_isa(), GetParam().isa);
  std::mt19937 rng(1234);
  const int64_t Ms[] = {1, 3, 17, 63, 65, 257};
  const int64_t Ks[] = {1, 3, 17, 31, 63, 65, 257};
  const int64_t Ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 25};
  int i = 0;
  for (DType wt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t M : Ms)
      for (int64_t K : Ks) {
        const int64_t N = Ns[size_t(i++) % std::size(Ns)];
        const bool bias = (i % 2) == 0;
        const int64_t ldx_pad = (i % 3) * 5, ldy_pad = (i % 4) * 3;
        ASSERT_TRUE(run_case({wt, M, K, N, bias, ldx_pad, ldy_pad}, rng));
      }
}

TEST_P(MatmulTest, EveryDecodeBatchSize) {
  std::mt19937 rng(99);
  for (DType wt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t N = 1; N <= 20; ++N)
      for (bool bias : {false, true}) ASSERT_TRUE(run_case({wt, 67, 131, N, bias, 3, 2}, rng));
}

// Shapes that cross the GEMM blocking (256-row weight blocks, 256/512-long K blocks, 6/12-row x tiles, 16/32-row
// weight panels) and the GEMV's multi-block threading (matrices over 1 MiB).
TEST_P(MatmulTest, BlockBoundaries) {
  std::mt19937 rng(7);
  for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
    ASSERT_TRUE(run_case({wt, 600, 1100, 30, true, 7, 5}, rng));
    ASSERT_TRUE(run_case({wt, 513, 1025, 2, false, 0, 0}, rng));
    ASSERT_TRUE(run_case({wt, 2050, 700, 1, true, 1, 9}, rng));
    ASSERT_TRUE(run_case({wt, 33, 2000, 71, true, 0, 1}, rng));
  }
}

TEST_P(MatmulTest, ZeroRowsWritesNothing) {
  std::vector<float> W(12, 1.f), x(4, 1.f), y(4, 5.f);
  matmul_wt(DType::F32, W.data(), 3, 4, nullptr, x.data(), 4, 0, y.data(), 4);
  for (float v : y) EXPECT_EQ(v, 5.f);
}

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  const int g = info.param.gemv_max_n;
  return std::string(info.param.isa) + (g < 0 ? "_default" : g == 0 ? "_gemm_only" : "_gemv_to_" + std::to_string(g));
}

INSTANTIATE_TEST_SUITE_P(Isa, MatmulTest,
                         ::testing::Values(Mode{"avx512", -1}, Mode{"avx512", 0}, Mode{"avx512", 64},
                                           Mode{"avx2", -1}, Mode{"avx2", 0}, Mode{"avx2", 64},
                                           Mode{"scalar", -1}, Mode{"scalar", 0}, Mode{"scalar", 64}),
                         mode_name);

TEST(MatmulHooks, IsaSelection) {
  EXPECT_TRUE(matmul_isa_supported("scalar"));
  EXPECT_FALSE(matmul_isa_supported("sse9"));
  EXPECT_FALSE(matmul_isa_supported(nullptr));
  EXPECT_FALSE(set_matmul_isa_for_testing("sse9"));
  const std::string automatic = matmul_isa();
  ASSERT_TRUE(set_matmul_isa_for_testing("scalar"));
  EXPECT_STREQ(matmul_isa(), "scalar");
  ASSERT_TRUE(set_matmul_isa_for_testing(nullptr));
  EXPECT_EQ(matmul_isa(), automatic);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && std::getenv("XLSTM_MATMUL_ISA") == nullptr) {
    EXPECT_EQ(automatic, "avx512");
  }
#endif
}

}  // namespace
}  // namespace xlstm::cpu
