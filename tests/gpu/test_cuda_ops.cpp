// Why: every CUDA op against the CPU backend (the reference) on fresh random inputs: odd sizes, strides,
// all weight dtypes, every kernel path (forced), B = 1 and 3, sequence lengths that are not multiples of
// the chunk, the 7B head shape, random (non-zero) starting states. Outputs are poisoned with NaN before
// each op so an unwritten element fails. Errors are ||out - ref|| / ||ref||; the largest seen per check
// is printed at the end (the numbers that go into docs/cuda-notes.md).
//
// Outputs written as 16-bit activations add their rounding to the tolerance (bf16 5e-3, f16 1e-3).
// Tolerances: float32 paths (gemv with f32 x, norms, elementwise) 2e-5; bf16 activations (skinny mma,
// cuBLASLt bf16) 1e-2; f16 5e-3. The mLSTM op has its own file (test_cuda_mlstm.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "common/check.h"
#include "gpu_test_support.h"

namespace xlstm {
namespace {

using cuda::CudaBackend;
using cuda::LinearPath;
using cuda::MlstmPath;
using namespace gputest;

constexpr double kTolF32 = 2e-5;
constexpr double kTolBf16 = 1e-2;
constexpr double kTolF16 = 5e-3;

class CudaOps : public ::testing::Test, protected GpuBuffers {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    if (!gpu_) gpu_ = new CudaBackend(0);
    if (!cpu_) cpu_ = new cpu::CpuBackend(0);
    gpu = gpu_;
    gpu_->set_linear_path(LinearPath::Auto);
    gpu_->set_mlstm_path(MlstmPath::Auto);
    gpu_->set_mlstm_segment_chunks(0);
  }
  static void TearDownTestSuite() {}

  // Device buffer of n elements of activation type t filled with NaN (0xffff for 16-bit types).
  void* poisoned_act(size_t n, DType t) {
    if (t == DType::F32) return poisoned(n);
    return dev_raw(std::vector<uint16_t>(n, 0xffff));
  }
  // Activation-typed device data as float32 on the host (exact widening).
  std::vector<float> host_act(const void* d, DType t, size_t n) {
    if (t == DType::F32) return host(static_cast<const float*>(d), n);
    std::vector<uint16_t> h(n);
    gpu_->synchronize();
    gpu_->download(h.data(), d, n * 2);
    std::vector<float> f(n);
    convert_to_f32(t, h.data(), f.data(), n);
    return f;
  }
  // Device copy of host float32 data rounded to activation type t (and that rounding, widened, in `exact`).
  void* dev_act(const std::vector<float>& h, DType t, std::vector<float>* exact = nullptr) {
    if (t == DType::F32) {
      if (exact) *exact = h;
      return dev(h);
    }
    std::vector<uint16_t> b(h.size());
    convert_from_f32(t, h.data(), b.data(), h.size());
    if (exact) {
      exact->resize(h.size());
      convert_to_f32(t, b.data(), exact->data(), h.size());
    }
    return dev_raw(b);
  }

  static CudaBackend* gpu_;
  static cpu::CpuBackend* cpu_;
};

// Tolerance for an output written as activation type t on top of the path's own: the rounding of t.
double act_tol(DType t, double base) { return t == DType::BF16 ? base + 5e-3 : t == DType::F16 ? base + 1e-3 : base; }
CudaBackend* CudaOps::gpu_ = nullptr;
cpu::CpuBackend* CudaOps::cpu_ = nullptr;

// ---- device and memory ---------------------------------------------------------------------------------

TEST_F(CudaOps, DeviceIsUsableAndDescribed) {
  std::string why;
  EXPECT_TRUE(cuda_available(&why)) << why;
  EXPECT_NE(gpu_->description().find("cuda"), std::string::npos);
  std::printf("%s\n", gpu_->description().c_str());
}

TEST_F(CudaOps, OutOfMemorySaysHowMuchAndSuggestsCpu) {
  try {
    void* p = gpu_->alloc(size_t(1) << 50);
    gpu_->release(p);
    FAIL() << "a 1 PiB allocation succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of GPU memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--device cpu"), std::string::npos) << msg;
  }
  // The backend still works afterwards.
  std::vector<float> a = randn(100), b = randn(100);
  float* da = dev(a);
  gpu_->add(da, dev(b), 100);
  std::vector<float> out = host(da, 100);
  for (int i = 0; i < 100; ++i) EXPECT_FLOAT_EQ(out[i], a[i] + b[i]);
}

TEST_F(CudaOps, UploadDownloadCopyZero) {
  std::vector<float> a = randn(1003);
  float* d = dev(a);
  float* e = poisoned(1003);
  gpu_->copy(e, d, 1003 * 4);
  EXPECT_EQ(host(e, 1003), a);
  gpu_->zero(e, 1003 * 4);
  for (float x : host(e, 1003)) EXPECT_EQ(x, 0.f);
}

// ---- weights -------------------------------------------------------------------------------------------

std::vector<uint16_t> to_bits(DType t, const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  convert_from_f32(t, v.data(), o.data(), v.size());
  return o;
}

TEST_F(CudaOps, MakeWeightConvertsAndConcatenatesExactly) {
  const int64_t cols = 37;
  std::vector<float> p0 = randn(5 * cols), p1 = randn(7 * cols), p2 = randn(3 * cols);
  std::vector<uint16_t> p1b = to_bits(DType::BF16, p1), p2h = to_bits(DType::F16, p2);
  std::vector<HostTensor> parts = {{"p0", DType::F32, {5, cols}, p0.data()},
                                   {"p1", DType::BF16, {7, cols}, p1b.data()},
                                   {"p2", DType::F16, {3, cols}, p2h.data()}};
  for (DType as : {DType::BF16, DType::F16, DType::F32}) {
    WeightPtr g = gpu_->make_weight(parts, as);
    ASSERT_EQ(g->rows, 15);
    ASSERT_EQ(g->cols, cols);
    ASSERT_EQ(g->dtype, as);
    // Expected: each part widened exactly, rounded once to `as`, concatenated (row-major; the CPU
    // backend's own matrices may be in its packed layout, so they are not the reference here).
    const size_t bytes = size_t(15 * cols) * dtype_size(as);
    std::vector<char> want(bytes), gh(bytes);
    char* dst = want.data();
    for (const auto& p : parts) {
      std::vector<float> f(size_t(p.numel()));
      convert_to_f32(p.dtype, p.data, f.data(), f.size());
      convert_from_f32(as, f.data(), dst, f.size());
      dst += f.size() * dtype_size(as);
    }
    gpu_->download(gh.data(), g->data, bytes);
    EXPECT_EQ(std::memcmp(gh.data(), want.data(), bytes), 0) << dtype_name(as);
  }
  WeightPtr v = gpu_->make_vector({parts[1], parts[2]});
  WeightPtr vc = cpu_->make_vector({parts[1], parts[2]});
  ASSERT_EQ(v->rows, 10 * cols);
  std::vector<float> vh(size_t(v->rows));
  gpu_->download(vh.data(), v->data, vh.size() * 4);
  EXPECT_EQ(std::memcmp(vh.data(), vc->data, vh.size() * 4), 0);
}

// ---- linear --------------------------------------------------------------------------------------------

struct LinCase {
  int64_t M, K, N;
  DType wt;
  bool bias;
  int64_t pad_x, pad_y;  // extra row stride
};

class CudaLinear : public CudaOps {
 protected:
  // Runs one product on both backends and returns the relative error; checks that the y padding is kept.
  double check(const LinCase& c, LinearPath path) {
    std::vector<float> w = randn(size_t(c.M * c.K), 0.f, 1.f / std::sqrt(float(c.K)));
    std::vector<float> bv = randn(size_t(c.M));
    const int64_t ldx = c.K + c.pad_x, ldy = c.M + c.pad_y;
    std::vector<float> x = randn(size_t(c.N * ldx));
    HostTensor wt{"w", DType::F32, {c.M, c.K}, w.data()};
    HostTensor bt{"b", DType::F32, {c.M}, bv.data()};
    WeightPtr gw = gpu_->make_weight({wt}, c.wt), cw = cpu_->make_weight({wt}, c.wt);
    WeightPtr gb = gpu_->make_vector({bt}), cb = cpu_->make_vector({bt});
    std::vector<float> ref(size_t(c.N * ldy), 7.f);
    cpu_->linear(*cw, c.bias ? cb.get() : nullptr, x.data(), ldx, c.N, ref.data(), ldy);
    std::vector<float> init(size_t(c.N * ldy), 7.f);
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t m = 0; m < c.M; ++m) init[size_t(n * ldy + m)] = std::nanf("");
    float* dy = dev(init);
    gpu_->set_linear_path(path);
    gpu_->linear(*gw, c.bias ? gb.get() : nullptr, dev(x), ldx, c.N, dy, ldy);
    std::vector<float> out = host(dy, init.size());
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t m = c.M; m < ldy; ++m) EXPECT_EQ(out[size_t(n * ldy + m)], 7.f) << "padding overwritten";
    return rel_err(out.data(), ref.data(), c.N, c.M, ldy);
  }
};

TEST_F(CudaLinear, GemvFloat32ActivationsMatchCpu) {
  for (DType wt : {DType::BF16, DType::F16, DType::F32})
    for (LinCase c : {LinCase{67, 40, 1, wt, true, 0, 0}, LinCase{130, 257, 3, wt, false, 3, 5},
                      LinCase{512, 1024, 4, wt, true, 0, 0}, LinCase{100, 96, 7, wt, true, 4, 1},
                      LinCase{33, 8, 16, wt, false, 0, 0}, LinCase{2048, 4096, 2, wt, false, 0, 0}}) {
      c.wt = wt;
      const double e = check(c, LinearPath::Gemv);
      record(std::string("linear gemv ") + dtype_name(wt), e);
      EXPECT_LT(e, kTolF32) << "M=" << c.M << " K=" << c.K << " N=" << c.N << " " << dtype_name(wt);
    }
}

TEST_F(CudaLinear, SkinnyMmaMatchesCpu) {
  for (LinCase c : {LinCase{67, 40, 1, DType::BF16, true, 0, 0}, LinCase{130, 256, 5, DType::BF16, false, 0, 3},
                    LinCase{1000, 1024, 8, DType::BF16, true, 4, 0}, LinCase{777, 328, 9, DType::BF16, true, 0, 0},
                    LinCase{4096, 4096, 16, DType::BF16, true, 0, 0}, LinCase{8448 + 48, 512, 13, DType::BF16, false, 0, 0},
                    LinCase{16, 8, 16, DType::BF16, false, 0, 0}}) {
    const double e = check(c, LinearPath::SkinnyMma);
    record("linear skinny-mma BF16", e);
    EXPECT_LT(e, kTolBf16) << "M=" << c.M << " K=" << c.K << " N=" << c.N;
  }
}

TEST_F(CudaLinear, CublasMatchesCpu) {
  for (DType wt : {DType::BF16, DType::F16, DType::F32})
    for (LinCase c : {LinCase{67, 40, 17, wt, true, 0, 0}, LinCase{130, 257, 33, wt, false, 3, 5},
                      LinCase{512, 1024, 300, wt, true, 0, 0}, LinCase{1024, 512, 1, wt, true, 0, 0}}) {
      c.wt = wt;
      const double e = check(c, LinearPath::Cublas);
      record(std::string("linear cublas ") + dtype_name(wt), e);
      const double tol = wt == DType::F32 ? kTolF32 : wt == DType::F16 ? kTolF16 : kTolBf16;
      EXPECT_LT(e, tol) << "M=" << c.M << " K=" << c.K << " N=" << c.N << " " << dtype_name(wt);
    }
}

TEST_F(CudaLinear, AutoPathAllSizes) {
  for (int64_t N : {1, 2, 4, 5, 12, 16, 17, 64, 129})
    for (DType wt : {DType::BF16, DType::F32}) {
      const double e = check(LinCase{300, 264, N, wt, true, 0, 0}, LinearPath::Auto);
      const bool f32_path = wt == DType::F32 || N <= 4;
      record(std::string("linear auto ") + dtype_name(wt) + (f32_path ? " (f32 x)" : " (bf16 x)"), e);
      EXPECT_LT(e, f32_path ? kTolF32 : kTolBf16) << "N=" << N << " " << dtype_name(wt);
    }
  // N = 0 is a no-op.
  std::vector<float> w = randn(16 * 8);
  WeightPtr gw = gpu_->make_weight({HostTensor{"w", DType::F32, {16, 8}, w.data()}}, DType::BF16);
  gpu_->linear(*gw, nullptr, poisoned(8), 8, 0, poisoned(16), 16);
  gpu_->synchronize();
}

// ---- embed, norms, elementwise -------------------------------------------------------------------------

TEST_F(CudaOps, EmbedIsExact) {
  const int64_t V = 301, D = 77, N = 29;
  std::vector<float> e = randn(size_t(V * D));
  std::vector<int32_t> ids(N);
  std::uniform_int_distribution<int32_t> u(0, int32_t(V - 1));
  for (auto& i : ids) i = u(rng());
  for (DType t : {DType::BF16, DType::F16, DType::F32}) {
    HostTensor et{"e", DType::F32, {V, D}, e.data()};
    WeightPtr g = gpu_->make_weight({et}, t), c = cpu_->make_weight({et}, t);
    std::vector<float> ref(size_t(N * D));
    cpu_->embed(*c, ids.data(), N, ref.data());
    float* y = poisoned(size_t(N * D));
    gpu_->embed(*g, dev_raw(ids), N, y);
    EXPECT_EQ(host(y, ref.size()), ref) << dtype_name(t);
  }
}

TEST_F(CudaOps, RmsnormMatchesCpu) {
  for (auto [N, D] : {std::pair<int64_t, int64_t>{1, 4096}, {7, 4096}, {3, 37}, {5, 1}, {2, 10000}, {65, 256}})
    for (bool with_b : {false, true})
      for (bool alias : {false, true}) {
        std::vector<float> x = randn(size_t(N * D), 0.3f, 2.f), w = randn(size_t(D), 1.f, 0.2f), b = randn(size_t(D));
        HostTensor wt{"w", DType::F32, {D}, w.data()}, bt{"b", DType::F32, {D}, b.data()};
        WeightPtr gw = gpu_->make_vector({wt}), gb = gpu_->make_vector({bt});
        WeightPtr cw = cpu_->make_vector({wt}), cb = cpu_->make_vector({bt});
        std::vector<float> ref(x.size());
        cpu_->rmsnorm(x.data(), *cw, with_b ? cb.get() : nullptr, 1e-6f, N, D, ref.data());
        float* dx = dev(x);
        float* y = alias ? dx : poisoned(x.size());
        gpu_->rmsnorm(dx, *gw, with_b ? gb.get() : nullptr, 1e-6f, N, D, y);
        const double e = rel_err(host(y, x.size()), ref);
        record("rmsnorm", e);
        EXPECT_LT(e, kTolF32) << N << "x" << D;
      }
}

TEST_F(CudaOps, LayernormMatchesCpu) {
  for (auto [N, D] : {std::pair<int64_t, int64_t>{1, 4096}, {9, 512}, {3, 37}, {4, 2}, {2, 10001}})
    for (int variant = 0; variant < 4; ++variant) {
      const bool with_w = variant & 1, with_b = variant & 2;
      std::vector<float> x = randn(size_t(N * D), 1.5f, 3.f), w = randn(size_t(D), 1.f, 0.2f), b = randn(size_t(D));
      HostTensor wt{"w", DType::F32, {D}, w.data()}, bt{"b", DType::F32, {D}, b.data()};
      WeightPtr gw = gpu_->make_vector({wt}), gb = gpu_->make_vector({bt});
      WeightPtr cw = cpu_->make_vector({wt}), cb = cpu_->make_vector({bt});
      std::vector<float> ref(x.size());
      cpu_->layernorm(x.data(), with_w ? cw.get() : nullptr, with_b ? cb.get() : nullptr, 1e-5f, N, D, ref.data());
      float* dx = dev(x);
      float* y = variant == 3 ? dx : poisoned(x.size());
      gpu_->layernorm(dx, with_w ? gw.get() : nullptr, with_b ? gb.get() : nullptr, 1e-5f, N, D, y);
      const double e = rel_err(host(y, x.size()), ref);
      record("layernorm", e);
      EXPECT_LT(e, kTolF32) << N << "x" << D << " variant " << variant;
    }
}

TEST_F(CudaOps, MhlnGateMatchesCpu) {
  struct C { int64_t N; int NH, DV; int64_t pad_o; };
  for (C c : {C{1, 8, 512, 0}, C{5, 8, 512, 12}, C{3, 3, 37, 1}, C{17, 2, 64, 0}})
    for (bool with_b : {false, true}) {
      const int64_t V = int64_t(c.NH) * c.DV, ldo = V + c.pad_o;
      std::vector<float> h = randn(size_t(c.N * V), 0.1f, 1.f), o = randn(size_t(c.N * ldo), 0.f, 3.f);
      std::vector<float> w = randn(size_t(V), 1.f, 0.3f), b = randn(size_t(V));
      HostTensor wt{"w", DType::F32, {V}, w.data()}, bt{"b", DType::F32, {V}, b.data()};
      WeightPtr gw = gpu_->make_vector({wt}), gb = gpu_->make_vector({bt});
      WeightPtr cw = cpu_->make_vector({wt}), cb = cpu_->make_vector({bt});
      std::vector<float> ref(size_t(c.N * V));
      cpu_->mhln_gate(h.data(), o.data(), ldo, *cw, with_b ? cb.get() : nullptr, 1e-6f, c.N, c.NH, c.DV, ref.data());
      float* y = poisoned(ref.size());
      gpu_->mhln_gate(dev(h), dev(o), ldo, *gw, with_b ? gb.get() : nullptr, 1e-6f, c.N, c.NH, c.DV, y);
      const double e = rel_err(host(y, ref.size()), ref);
      record("mhln_gate", e);
      EXPECT_LT(e, kTolF32) << c.N << " " << c.NH << "x" << c.DV;
    }
}

TEST_F(CudaOps, AddSoftcapSwigluMatchCpu) {
  for (int64_t n : {1, 4, 1001, 4096 * 3}) {
    std::vector<float> x = randn(size_t(n)), y = randn(size_t(n)), ref = x;
    cpu_->add(ref.data(), y.data(), n);
    float* dx = dev(x);
    gpu_->add(dx, dev(y), n);
    EXPECT_EQ(host(dx, size_t(n)), ref);
  }
  {  // unaligned (offset by one float)
    std::vector<float> x = randn(101), y = randn(101), ref = x;
    cpu_->add(ref.data() + 1, y.data() + 1, 100);
    float* dx = dev(x);
    gpu_->add(dx + 1, dev(y) + 1, 100);
    EXPECT_EQ(host(dx, 101), ref);
  }
  for (auto [rows, cols, ld] : {std::tuple<int64_t, int64_t, int64_t>{1, 50304, 50304}, {3, 17, 20}, {8, 16, 16}}) {
    std::vector<float> x = randn(size_t(rows * ld), 0.f, 40.f), ref = x;
    cpu_->softcap(ref.data(), rows, cols, ld, 30.f);
    float* dx = dev(x);
    gpu_->softcap(dx, rows, cols, ld, 30.f);
    const double e = rel_err(host(dx, x.size()), ref);
    record("softcap", e);
    EXPECT_LT(e, kTolF32);
  }
  for (auto [N, F] : {std::pair<int64_t, int64_t>{1, 10944}, {5, 10944}, {3, 37}, {2, 1}})
    for (DType t : {DType::F32, DType::BF16}) {  // in place: gu[:, 0:F] = silu(gate) * up, gu[:, F:2F] kept
      std::vector<float> gu = randn(size_t(N * 2 * F), 0.f, 3.f), ref;
      void* dg = dev_act(gu, t, &ref);
      cpu_->swiglu(ref.data(), N, F);
      gpu_->swiglu(Act(dg, t), N, F);
      const double e = rel_err(host_act(dg, t, ref.size()), ref);
      record(std::string("swiglu ") + dtype_name(t), e);
      EXPECT_LT(e, act_tol(t, kTolF32)) << N << "x" << F;
    }
}

// ---- typed activations, accumulating products, rmsnorm_linear_swiglu, matmul_dtype --------------------------------

TEST_F(CudaOps, RmsnormWrites16BitActivations) {
  for (auto [N, D] : {std::pair<int64_t, int64_t>{1, 4096}, {16, 4096}, {3, 37}, {5, 1}, {2, 10000}, {65, 256}})
    for (DType yt : {DType::BF16, DType::F16}) {
      std::vector<float> x = randn(size_t(N * D), 0.3f, 2.f), w = randn(size_t(D), 1.f, 0.2f);
      HostTensor wt{"w", DType::F32, {D}, w.data()};
      WeightPtr gw = gpu_->make_vector({wt}), cw = cpu_->make_vector({wt});
      std::vector<float> ref(x.size());
      cpu_->rmsnorm(x.data(), *cw, nullptr, 1e-6f, N, D, ref.data());
      void* y = poisoned_act(x.size(), yt);
      gpu_->rmsnorm(dev(x), *gw, nullptr, 1e-6f, N, D, Act(y, yt));
      const double e = rel_err(host_act(y, yt, x.size()), ref);
      record(std::string("rmsnorm -> ") + dtype_name(yt), e);
      EXPECT_LT(e, act_tol(yt, kTolF32)) << N << "x" << D << " " << dtype_name(yt);
    }
}

TEST_F(CudaOps, MhlnGateWrites16BitActivations) {
  for (DType yt : {DType::BF16, DType::F16}) {
    const int64_t N = 5, NH = 8, DV = 512, V = NH * DV, ldo = V + 12;
    std::vector<float> h = randn(size_t(N * V), 0.1f, 1.f), o = randn(size_t(N * ldo), 0.f, 3.f);
    std::vector<float> w = randn(size_t(V), 1.f, 0.3f);
    HostTensor wt{"w", DType::F32, {V}, w.data()};
    WeightPtr gw = gpu_->make_vector({wt}), cw = cpu_->make_vector({wt});
    std::vector<float> ref(size_t(N * V));
    cpu_->mhln_gate(h.data(), o.data(), ldo, *cw, nullptr, 1e-6f, N, NH, DV, ref.data());
    void* y = poisoned_act(ref.size(), yt);
    gpu_->mhln_gate(dev(h), dev(o), ldo, *gw, nullptr, 1e-6f, N, NH, DV, Act(y, yt));
    const double e = rel_err(host_act(y, yt, ref.size()), ref);
    record(std::string("mhln_gate -> ") + dtype_name(yt), e);
    EXPECT_LT(e, act_tol(yt, kTolF32)) << dtype_name(yt);
  }
}

TEST_F(CudaLinear, MatmulDtypeFollowsThePath) {
  EXPECT_EQ(gpu_->matmul_dtype(DType::BF16, 1), DType::F32);
  EXPECT_EQ(gpu_->matmul_dtype(DType::BF16, 4), DType::F32);
  EXPECT_EQ(gpu_->matmul_dtype(DType::BF16, 5), DType::BF16);
  EXPECT_EQ(gpu_->matmul_dtype(DType::F16, 2048), DType::F16);
  EXPECT_EQ(gpu_->matmul_dtype(DType::F32, 2048), DType::F32);
  gpu_->set_linear_path(LinearPath::Cublas);
  EXPECT_EQ(gpu_->matmul_dtype(DType::BF16, 1), DType::BF16);
  gpu_->set_linear_path(LinearPath::Gemv);
  EXPECT_EQ(gpu_->matmul_dtype(DType::BF16, 64), DType::F32);
}

// linear with x and y of every activation type, on every path, against the CPU on the same (rounded) x.
TEST_F(CudaLinear, TypedActivationsMatchCpu) {
  const int64_t M = 300, K = 264;
  for (LinearPath path : {LinearPath::Auto, LinearPath::Gemv, LinearPath::Cublas})
    for (int64_t N : {1, 3, 5, 16, 40})
      for (DType wt : {DType::BF16, DType::F32})
        for (DType xt : {DType::F32, DType::BF16})
          for (DType yt : {DType::F32, DType::BF16, DType::F16})
            for (bool with_b : {false, true}) {
              const int64_t ldx = K + 8, ldy = M + 4;
              std::vector<float> w = randn(size_t(M * K), 0.f, 1.f / std::sqrt(float(K))), bv = randn(size_t(M));
              std::vector<float> x = randn(size_t(N * ldx)), xr;
              HostTensor wt_{"w", DType::F32, {M, K}, w.data()}, bt{"b", DType::F32, {M}, bv.data()};
              WeightPtr gw = gpu_->make_weight({wt_}, wt), cw = cpu_->make_weight({wt_}, wt);
              WeightPtr gb = gpu_->make_vector({bt}), cb = cpu_->make_vector({bt});
              void* dx = dev_act(x, xt, &xr);
              std::vector<float> ref(size_t(N * ldy), 0.f);
              cpu_->linear(*cw, with_b ? cb.get() : nullptr, xr.data(), ldx, N, ref.data(), ldy);
              void* y = poisoned_act(size_t(N * ldy), yt);
              gpu_->set_linear_path(path);
              gpu_->linear(*gw, with_b ? gb.get() : nullptr, ConstAct(dx, xt), ldx, N, Act(y, yt), ldy);
              const std::vector<float> out = host_act(y, yt, size_t(N * ldy));
              const bool f32_path = wt == DType::F32 || path == LinearPath::Gemv || (path == LinearPath::Auto && N <= 4);
              const double e = rel_err(out.data(), ref.data(), N, M, ldy);
              record(std::string("linear typed ") + (f32_path ? "f32 path" : "bf16 path") + " -> " + dtype_name(yt), e);
              EXPECT_LT(e, act_tol(yt, f32_path ? kTolF32 : kTolBf16))
                  << "N=" << N << " W " << dtype_name(wt) << " x " << dtype_name(xt) << " y " << dtype_name(yt)
                  << " path " << int(path) << (with_b ? " bias" : "");
            }
}

// rmsnorm_linear (the norm folded into the GEMV for N <= 4, two ops otherwise) against the CPU's
// rmsnorm then linear, on every path, vectorised (K % 8 == 0) and not, with and without the norm bias
// (which keeps the two ops) and the product's bias. The scratch xn is poisoned: the fused path must not
// need it.
TEST_F(CudaLinear, RmsnormLinearMatchesCpu) {
  for (LinearPath path : {LinearPath::Auto, LinearPath::Gemv, LinearPath::Cublas})
    for (auto [M, K] : {std::pair<int64_t, int64_t>{300, 264}, {33, 37}, {4096, 4096}})
      for (int64_t N : {1, 2, 3, 4, 5, 16})
        for (DType wt : {DType::BF16, DType::F32})
          for (int bias_mode : {0, 1, 2}) {  // 0 none, 1 product bias, 2 product and norm bias
            if (M == 4096 && (path != LinearPath::Auto || bias_mode != 0 || wt != DType::BF16)) continue;
            const int64_t ldy = M + 4;
            std::vector<float> w = randn(size_t(M * K), 0.f, 1.f / std::sqrt(float(K))), bv = randn(size_t(M));
            std::vector<float> x = randn(size_t(N * K), 0.2f, 3.f), nwv = randn(size_t(K), 1.f, 0.3f),
                               nbv = randn(size_t(K), 0.f, 0.2f);
            HostTensor wt_{"w", DType::F32, {M, K}, w.data()}, bt{"b", DType::F32, {M}, bv.data()},
                nt{"n", DType::F32, {K}, nwv.data()}, nbt{"nb", DType::F32, {K}, nbv.data()};
            WeightPtr gw = gpu_->make_weight({wt_}, wt), cw = cpu_->make_weight({wt_}, wt);
            WeightPtr gb = gpu_->make_vector({bt}), cb = cpu_->make_vector({bt});
            WeightPtr gn = gpu_->make_vector({nt}), cn = cpu_->make_vector({nt});
            WeightPtr gnb = gpu_->make_vector({nbt}), cnb = cpu_->make_vector({nbt});
            std::vector<float> xn(size_t(N * K)), ref(size_t(N * ldy), 0.f);
            cpu_->rmsnorm(x.data(), *cn, bias_mode == 2 ? cnb.get() : nullptr, 1e-6f, N, K, xn.data());
            cpu_->linear(*cw, bias_mode ? cb.get() : nullptr, xn.data(), K, N, ref.data(), ldy);
            gpu_->set_linear_path(path);
            const DType at = gpu_->matmul_dtype(wt, N);
            float* y = poisoned(size_t(N * ldy));
            gpu_->rmsnorm_linear(dev(x), *gn, bias_mode == 2 ? gnb.get() : nullptr, 1e-6f, N,
                                 Act(poisoned_act(size_t(N * K), at), at), *gw, bias_mode ? gb.get() : nullptr, y, ldy);
            const bool f32_path = wt == DType::F32 || path == LinearPath::Gemv || (path == LinearPath::Auto && N <= 4);
            const double e = rel_err(host(y, size_t(N * ldy)).data(), ref.data(), N, M, ldy);
            record(std::string("rmsnorm_linear ") + (f32_path ? "f32 path" : "bf16 path"), e);
            EXPECT_LT(e, f32_path ? kTolF32 : kTolBf16) << "M=" << M << " K=" << K << " N=" << N << " W "
                                                         << dtype_name(wt) << " path " << int(path) << " bias " << bias_mode;
          }
}

// rmsnorm_linear_swiglu (SwiGLU in the GEMV's epilogue for N <= 4 with float32 gu; rmsnorm_linear then
// swiglu otherwise) against the CPU, on every path: the 7B shape, an odd F (a last row group with one
// gate/up pair) and a K that is no multiple of 8 (no vector loads: the unfused ops). gu[:, 0:F] is compared;
// the xn scratch starts poisoned.
TEST_F(CudaLinear, RmsnormLinearSwigluMatchesCpu) {
  for (LinearPath path : {LinearPath::Auto, LinearPath::Gemv, LinearPath::Cublas})
    for (auto [F, K] : {std::pair<int64_t, int64_t>{10944, 4096}, {301, 264}, {33, 40}, {20, 37}})
      for (int64_t N : {1, 2, 4, 5, 16})
        for (DType gt : {DType::F32, DType::BF16})
          for (bool with_b : {false, true}) {
            if (F == 10944 && (path != LinearPath::Auto || (N != 1 && N != 16) || with_b)) continue;  // few 7B cases
            std::vector<float> w = randn(size_t(2 * F * K), 0.f, 1.f / std::sqrt(float(K))), bv = randn(size_t(2 * F));
            std::vector<float> x = randn(size_t(N * K), 0.2f, 3.f), nwv = randn(size_t(K), 1.f, 0.3f);
            HostTensor wt{"w", DType::F32, {2 * F, K}, w.data()}, bt{"b", DType::F32, {2 * F}, bv.data()},
                nt{"n", DType::F32, {K}, nwv.data()};
            WeightPtr gw = gpu_->make_weight({wt}, DType::BF16), cw = cpu_->make_weight({wt}, DType::BF16);
            WeightPtr gb = gpu_->make_vector({bt}), cb = cpu_->make_vector({bt});
            WeightPtr gn = gpu_->make_vector({nt}), cn = cpu_->make_vector({nt});
            std::vector<float> xn(size_t(N * K)), ref(size_t(N * 2 * F));
            cpu_->rmsnorm_linear_swiglu(x.data(), *cn, nullptr, 1e-6f, N, xn.data(), *cw, with_b ? cb.get() : nullptr,
                                        ref.data());
            gpu_->set_linear_path(path);
            const DType at = gpu_->matmul_dtype(DType::BF16, N);
            void* gu = poisoned_act(size_t(N * 2 * F), gt);
            gpu_->rmsnorm_linear_swiglu(dev(x), *gn, nullptr, 1e-6f, N, Act(poisoned_act(size_t(N * K), at), at), *gw,
                                        with_b ? gb.get() : nullptr, Act(gu, gt));
            const bool f32_path = path == LinearPath::Gemv || (path == LinearPath::Auto && N <= 4);
            const std::vector<float> got = host_act(gu, gt, ref.size());
            const double e = rel_err(got.data(), ref.data(), N, F, 2 * F);
            record(std::string("rmsnorm_linear_swiglu ") + (f32_path ? "gemv" : "cublas") + " gu " + dtype_name(gt), e);
            // A 16-bit gu carries three roundings: the gate and the up products are each rounded when
            // written, then SwiGLU's result over them (one act_tol unit each; a first H100 run measured
            // 6.5e-3 at F = 20 against a one-unit bound).
            const double act3 = 3 * (act_tol(gt, 0.0));
            EXPECT_LT(e, (f32_path ? kTolF32 : kTolBf16) + act3)
                << "F=" << F << " K=" << K << " N=" << N << " gu " << dtype_name(gt) << " path " << int(path);
          }
}

// Products that accumulate into y (the residual adds folded into out_proj and down), on every path,
// against the CPU (which runs the product, then add()).
TEST_F(CudaLinear, AccumulatingProductsMatchCpu) {
  const int64_t K = 256, M = 300;
  for (LinearPath path : {LinearPath::Auto, LinearPath::Gemv, LinearPath::Cublas, LinearPath::SkinnyMma})
    for (int64_t N : {1, 3, 4, 5, 16})
      for (DType wt : {DType::BF16, DType::F32})
        for (bool with_b : {false, true}) {
          std::vector<float> w = randn(size_t(M * K), 0.f, 1.f / std::sqrt(float(K))), bv = randn(size_t(M));
          std::vector<float> x = randn(size_t(N * K)), y0 = randn(size_t(N * M));
          HostTensor wt_{"w", DType::F32, {M, K}, w.data()}, bt{"b", DType::F32, {M}, bv.data()};
          WeightPtr gw = gpu_->make_weight({wt_}, wt), cw = cpu_->make_weight({wt_}, wt);
          WeightPtr gb = gpu_->make_vector({bt}), cb = cpu_->make_vector({bt});
          gpu_->set_linear_path(path);
          const DType at = gpu_->matmul_dtype(wt, N);
          std::vector<float> xr, ref = y0;
          void* dx = dev_act(x, at, &xr);
          cpu_->linear(*cw, with_b ? cb.get() : nullptr, xr.data(), K, N, ref.data(), M, true);
          float* y = dev(y0);
          gpu_->linear(*gw, with_b ? gb.get() : nullptr, ConstAct(dx, at), K, N, y, M, true);
          const bool f32_path = at == DType::F32;  // (the skinny path runs the GEMV when accumulating)
          const double e = rel_err(host(y, ref.size()), ref);
          record(std::string("linear accumulate ") + (f32_path ? "f32 path" : "bf16 path"), e);
          EXPECT_LT(e, f32_path ? kTolF32 : kTolBf16)
              << "N=" << N << " W " << dtype_name(wt) << " path " << int(path) << (with_b ? " bias" : "");
        }
}

// The model's block as xlstm_large.cpp runs it (the mLSTM cell left out: h is given),
// captured into a graph (programmatic dependent launches between the kernels) and replayed; three
// blocks' worth against the CPU.
TEST_F(CudaOps, CapturedFusedBlockReplaysLikeCpu) {
  const int NH = 4, DV = 128;
  const int64_t D = 512, V = NH * DV, F = 688, P = 2 * V, Vocab = 1000;
  for (int64_t N : {1, 16}) {
    std::vector<float> x = randn(size_t(N * D)), h = randn(size_t(N * V), 0.f, 1.f), nw = randn(size_t(D), 1.f, 0.1f),
                       mw = randn(size_t(V), 1.f, 0.1f);
    auto rw = [&](int64_t rows, int64_t cols) { return randn(size_t(rows * cols), 0.f, 1.f / std::sqrt(float(cols))); };
    std::vector<float> w_in = rw(P, D), w_out = rw(D, V), w_gu = rw(2 * F, D), w_down = rw(D, F), w_head = rw(Vocab, D);
    auto mk = [&](Backend* be, const std::vector<float>& v, int64_t rows, int64_t cols) {
      return be->make_weight({HostTensor{"w", DType::F32, {rows, cols}, v.data()}}, DType::BF16);
    };
    auto mv = [&](Backend* be, const std::vector<float>& v) {
      return be->make_vector({HostTensor{"v", DType::F32, {int64_t(v.size())}, v.data()}});
    };
    WeightPtr g_in = mk(gpu_, w_in, P, D), g_out = mk(gpu_, w_out, D, V), g_gu = mk(gpu_, w_gu, 2 * F, D),
              g_down = mk(gpu_, w_down, D, F), g_head = mk(gpu_, w_head, Vocab, D), g_nw = mv(gpu_, nw), g_mw = mv(gpu_, mw);
    WeightPtr c_in = mk(cpu_, w_in, P, D), c_out = mk(cpu_, w_out, D, V), c_gu = mk(cpu_, w_gu, 2 * F, D),
              c_down = mk(cpu_, w_down, D, F), c_head = mk(cpu_, w_head, Vocab, D), c_nw = mv(cpu_, nw), c_mw = mv(cpu_, mw);
    auto block = [&](Backend* be, float* xp, const float* hp, Act xy, float* proj, Act gu, float* logits, Weight* in_,
                     Weight* out_, Weight* gu_, Weight* down_, Weight* head_, Weight* nw_, Weight* mw_) {
      be->rmsnorm_linear(xp, *nw_, nullptr, 1e-6f, N, xy, *in_, nullptr, proj, P);
      be->mhln_gate(hp, proj + V, P, *mw_, nullptr, 1e-6f, N, NH, DV, xy);
      be->linear(*out_, nullptr, xy, V, N, xp, D, true);
      be->rmsnorm_linear_swiglu(xp, *nw_, nullptr, 1e-6f, N, xy, *gu_, nullptr, gu);
      be->linear(*down_, nullptr, gu, 2 * F, N, xp, D, true);
      be->rmsnorm_linear(xp, *nw_, nullptr, 1e-6f, N, xy, *head_, nullptr, logits, Vocab);
    };
    std::vector<float> cx = x, cxy(size_t(N * std::max(D, V))), cproj(size_t(N * P)), cgu(size_t(N * 2 * F)),
                       clog(size_t(N * Vocab));
    for (int it = 0; it < 3; ++it)
      block(cpu_, cx.data(), h.data(), cxy.data(), cproj.data(), cgu.data(), clog.data(), c_in.get(), c_out.get(),
            c_gu.get(), c_down.get(), c_head.get(), c_nw.get(), c_mw.get());
    const DType at = gpu_->matmul_dtype(DType::BF16, N);
    float *gx = dev(x), *gh = dev(h), *gproj = poisoned(size_t(N * P)), *glog = poisoned(size_t(N * Vocab));
    const Act gxy(poisoned_act(size_t(N * std::max(D, V)), at), at), ggu(poisoned_act(size_t(N * 2 * F), at), at);
    auto chain = [&] {
      block(gpu_, gx, gh, gxy, gproj, ggu, glog, g_in.get(), g_out.get(), g_gu.get(), g_down.get(), g_head.get(),
            g_nw.get(), g_mw.get());
    };
    chain();
    std::unique_ptr<Graph> graph = gpu_->capture(chain);
    ASSERT_TRUE(graph);
    graph->replay();
    graph->replay();
    const double e = rel_err(host(glog, clog.size()), clog), ex = rel_err(host(gx, cx.size()), cx);
    record(std::string("captured fused block N=") + (N == 1 ? "1 (f32)" : "16 (bf16)"), std::max(e, ex));
    const double tol = N == 1 ? 1e-4 : 3e-2;
    EXPECT_LT(e, tol) << "N=" << N;
    EXPECT_LT(ex, tol) << "N=" << N;
  }
}

// ---- sampling (Backend::sample) -----------------------------------------------------------------------

// Each got[b] is a valid id among the k largest logits of row b of logits [B, V].
void expect_in_top_k(const std::vector<float>& logits, int B, int64_t V, const std::vector<int32_t>& got, int64_t k) {
  for (int b = 0; b < B; ++b) {
    ASSERT_GE(got[size_t(b)], 0);
    ASSERT_LT(got[size_t(b)], V);
    const float* row = logits.data() + size_t(b) * size_t(V);
    int64_t larger = 0;
    for (int64_t i = 0; i < V; ++i) larger += row[i] > row[got[size_t(b)]];
    EXPECT_LT(larger, k) << "V=" << V << " row " << b;
  }
}

// Greedy with the logit soft cap fused in (the model's decode path): the same ids as the CPU backend, and
// the capped logits left in place equal the softcap op's to float32 rounding (tanhf may differ by an ulp).
TEST_F(CudaOps, SampleGreedyMatchesHostAndSampledStaysInTopK) {
  const int B = 3;
  const int64_t V = 50304;
  const float cap = 30.f;
  std::vector<float> logits = randn(size_t(B) * size_t(V), 0.f, 20.f);
  std::vector<SampleRow> rows(B);
  for (int b = 0; b < B; ++b) rows[b].seed = 1234 + b, rows[b].step = 7;
  std::vector<int32_t> ref(B);
  std::vector<SampleRow> ref_rows = rows;
  float* dl = dev(logits);
  cpu_->sample(logits.data(), B, V, cap, ref_rows.data(), ref.data());  // logits: capped in place
  SampleRow* dr = dev_raw(rows);
  int32_t* di = dev_raw(std::vector<int32_t>(B, -1));
  gpu_->sample(dl, B, V, cap, dr, di);
  const double e_cap = rel_err(host(dl, logits.size()), logits);
  record("sample: soft cap in place", e_cap);
  EXPECT_LT(e_cap, kTolF32);
  std::vector<int32_t> got(B);
  std::vector<SampleRow> got_rows(B);
  gpu_->synchronize();
  gpu_->download(got.data(), di, B * 4);
  gpu_->download(got_rows.data(), dr, B * sizeof(SampleRow));
  EXPECT_EQ(got, ref);
  for (int b = 0; b < B; ++b) EXPECT_EQ(got_rows[b].step, 8u);
  // Sampled: temperature 1, top-k 40: the id is one of the row's 40 largest logits.
  for (auto& r : rows) r.temperature = 1.f, r.top_k = 40;
  gpu_->upload(dr, rows.data(), B * sizeof(SampleRow));
  gpu_->sample(dl, B, V, 0.f, dr, di);
  gpu_->synchronize();
  gpu_->download(got.data(), di, B * 4);
  expect_in_top_k(logits, B, V, got, 40);
}

// The first pass runs on slices of 2048 logits per block: greedy ids across slice boundaries, with a
// planted tie between two slices (the lowest id wins, as on the host), for vocabularies of one slice, a
// slice and one, and many slices; the sampled path keeps drawing inside the top-k.
TEST_F(CudaOps, SampleAcrossSlices) {
  const int B = 2;
  for (int64_t V : {int64_t(1), int64_t(7), int64_t(2048), int64_t(2049), int64_t(50304), int64_t(300001)}) {
    std::vector<float> logits = randn(size_t(B) * size_t(V), 0.f, 5.f);
    if (V > 2) {  // row 0: a tie between ids V/3 and V-1; row 1: the maximum at the very last id
      logits[size_t(V / 3)] = logits[size_t(V - 1)] = 100.f;
      logits[size_t(V + V - 1)] = 100.f;
    }
    std::vector<SampleRow> rows(B);
    std::vector<int32_t> ref(B);
    std::vector<SampleRow> ref_rows = rows;
    float* dl = dev(logits);
    cpu_->sample(logits.data(), B, V, 0.f, ref_rows.data(), ref.data());
    SampleRow* dr = dev_raw(rows);
    int32_t* di = dev_raw(std::vector<int32_t>(B, -1));
    gpu_->sample(dl, B, V, 0.f, dr, di);
    std::vector<int32_t> got(B);
    gpu_->synchronize();
    gpu_->download(got.data(), di, B * 4);
    EXPECT_EQ(got, ref) << "V=" << V;
    if (V > 2) {
      EXPECT_EQ(got[0], int32_t(V / 3)) << "V=" << V;
    }
    for (auto& r : rows) r.temperature = 0.7f, r.top_k = 5, r.seed = 99;
    gpu_->upload(dr, rows.data(), B * sizeof(SampleRow));
    gpu_->sample(dl, B, V, 0.f, dr, di);
    gpu_->synchronize();
    gpu_->download(got.data(), di, B * 4);
    expect_in_top_k(logits, B, V, got, 5);
  }
}

}  // namespace
}  // namespace xlstm
