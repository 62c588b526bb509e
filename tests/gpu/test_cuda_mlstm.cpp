// Why: the CUDA mLSTM op (both forms) against a float64 recurrence and against the CPU backend, on fresh
// random inputs: odd head sizes (NH=3, DK=10/20, DV=20/36), T not a multiple of the chunk, B > 1,
// strided inputs inside one projection row, gate soft cap on and off, strongly negative and strongly
// positive gates, random (non-zero) starting states, windows and two-level scans forced small. Outputs
// are poisoned with NaN before each op so an unwritten element fails. Errors are ||out - ref|| / ||ref||;
// the largest seen per check is printed at the end (the numbers in docs/cuda-notes.md).
//
// Tolerances (docs/cuda-notes.md, "mLSTM precision"):
//  - step form: float32 throughout; h 1e-4 (its denominator can cancel and amplify float32 rounding),
//    state 2e-5 against the CPU.
//  - chunkwise form against float64: state C, n 1e-4, m 1e-5 (relative to max(|m|, 1)); h within 1e-3
//    overall for typical and negative gates; and every (token, head) row of h within kRowC = 64 times its
//    precision model u_num knum + u32 kden (RowCond: knum, kden measure how much the row's numerator and
//    normaliser sums cancel, from the float64 recurrence; u_num = 2^-16 for the bf16x3 products, u32 =
//    2^-24). Strongly positive gates make the normaliser cancel by construction (kden up to ~1e4), so
//    they are judged by the row bound only. Over about 30 H100 runs of every mLSTM test the largest row
//    ratio was 17.7 (the CPU backend against its own float32 model: up to 180, so the model leaves out some
//    rounding, e.g. of the gates' log-domain sums; the constant covers that). Dropping one hi*lo term of
//    the split products would put rows at ~2^8 times the model.
//  - the step form on the GPU against the CPU's chunkwise form (long sequences) and the step form under
//    positive gates: max(1e-4, 4 x the CPU's error against float64).
#include <gtest/gtest.h>

#include <algorithm>
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
using cuda::MlstmPath;
using namespace gputest;

constexpr double kTolF32 = 2e-5;
constexpr double kTolStepH = 1e-4;
constexpr double kTolChunkH = 1e-3;      // floor of the h bound against float64 (see above)
constexpr double kTolChunkHCpu = 4.0;    // step form vs the CPU's chunkwise form: max(1e-4, this x CPU error)
constexpr double kTolChunkState = 1e-4;  // C and n against float64
constexpr double kTolChunkM = 1e-5;
constexpr double kU32 = 5.9604644775390625e-8;    // 2^-24, float32's unit roundoff
constexpr double kUSplit = 1.52587890625e-5;       // 2^-16: a bf16 hi/lo split product (16 significant bits)
constexpr double kRowC = 64.0;  // a row may err up to this many times its RowCond model (see above)

// The same for m, a log-domain stabiliser whose natural error is absolute: ||a - b|| / max(||b||, sqrt(n))
// (relative for |m| >= 1, absolute below; a plain relative error explodes for a single m near 0).
template <typename A, typename B>
double m_err(const A& a, const B& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double x = double(a[i]), y = double(b[i]);
    if (!std::isfinite(x)) return INFINITY;
    num += (x - y) * (x - y), den += y * y;
  }
  return std::sqrt(num / std::max(den, double(b.size())));
}

// Conditioning of one (token, head) row of h = num / den, from the float64 recurrence: knum =
// || sum_d |qs_d C_d,:| || / ||num|| (how much the sum over d cancels), kden = sum_d |qs_d n_d| / den. A
// computation whose sums carry relative rounding u_num (numerator) and u_den (normaliser) errs on the row
// by about u_num knum + u_den kden.
struct RowCond {
  double den, knum, kden;
};

// The recurrent step form in float64 (xlstm-reference.md section 1) for one sequence: q, k, v, gates read
// like MlstmArgs (row stride ld); C [NH, DK, DV], n [NH, DK], m [NH] advance in place; h [T, NH, DV].
void mlstm_f64(const float* q, const float* k, const float* v, const float* ig, const float* fg, int64_t ld, int T,
               int NH, int DK, int DV, float cap, double eps, std::vector<double>& C, std::vector<double>& n,
               std::vector<double>& m, std::vector<double>& h, std::vector<RowCond>* cond = nullptr) {
  const double scale = 1.0 / std::sqrt(double(DK));
  auto capd = [&](double x) { return cap > 0 ? cap * std::tanh(x / cap) : x; };
  std::vector<double> acc(static_cast<size_t>(DV), 0.0), acc_abs(static_cast<size_t>(DV), 0.0);
  for (int t = 0; t < T; ++t)
    for (int hh = 0; hh < NH; ++hh) {
      const int64_t r = int64_t(t) * ld;
      const double fgv = capd(fg[r + hh]), igv = capd(ig[r + hh]);
      const double lf = std::min(fgv, 0.0) - std::log1p(std::exp(-std::fabs(fgv)));
      double& mh = m[size_t(hh)];
      const double mn = std::max(lf + mh, igv), fa = std::exp(lf + mh - mn), ia = std::exp(igv - mn);
      mh = mn;
      double* Ch = &C[size_t(hh) * DK * DV];
      double* nh = &n[size_t(hh) * DK];
      const float* qr = q + r + int64_t(hh) * DK;
      const float* kr = k + r + int64_t(hh) * DK;
      const float* vr = v + r + int64_t(hh) * DV;
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(acc_abs.begin(), acc_abs.end(), 0.0);
      double qn = 0, qa = 0;
      for (int i = 0; i < DK; ++i) {
        const double ki = ia * kr[i], qs = qr[i] * scale;
        nh[i] = fa * nh[i] + ki;
        qn += qs * nh[i], qa += std::fabs(qs * nh[i]);
        double* Ci = Ch + size_t(i) * DV;
        for (int j = 0; j < DV; ++j) {
          Ci[j] = fa * Ci[j] + ki * vr[j];
          acc[size_t(j)] += qs * Ci[j], acc_abs[size_t(j)] += std::fabs(qs * Ci[j]);
        }
      }
      const double den = std::max(std::fabs(qn), std::exp(-mn)) + eps;
      if (cond) {
        double num2 = 0, abs2 = 0;
        for (int j = 0; j < DV; ++j) num2 += acc[size_t(j)] * acc[size_t(j)], abs2 += acc_abs[size_t(j)] * acc_abs[size_t(j)];
        (*cond)[size_t(t) * NH + hh] = {den, num2 > 0 ? std::sqrt(abs2 / num2) : 1.0, qa / den};
      }
      double* out = &h[(size_t(t) * NH + hh) * DV];
      for (int j = 0; j < DV; ++j) out[j] = acc[size_t(j)] / den;
    }
}

enum class Gates { Typical, Negative, Positive };

struct MlstmCase {
  int B, T, NH, DK, DV, chunk;
  float gate_cap = 15.f;
  int extra_ld = 0;     // > 0: q, k, v, gates inside one projection row with this much extra
  bool fresh = false;   // zero starting state (else random)
  int window = 0;       // force windows of this many chunks
  Gates gates = Gates::Typical;
};

std::string describe(const MlstmCase& c) {
  const char* g = c.gates == Gates::Typical ? "typical" : c.gates == Gates::Negative ? "negative" : "positive";
  return "B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " NH=" + std::to_string(c.NH) +
         " DK=" + std::to_string(c.DK) + " DV=" + std::to_string(c.DV) + " chunk=" + std::to_string(c.chunk) +
         " cap=" + std::to_string(int(c.gate_cap)) + " extra_ld=" + std::to_string(c.extra_ld) +
         (c.fresh ? " fresh" : " random-state") + " window=" + std::to_string(c.window) + " gates=" + g;
}

class CudaMlstm : public ::testing::Test, protected GpuBuffers {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    if (!gpu_) gpu_ = new CudaBackend(0);
    if (!cpu_) cpu_ = new cpu::CpuBackend(0);
    gpu = gpu_;
    gpu_->set_mlstm_path(MlstmPath::Auto);
    gpu_->set_mlstm_segment_chunks(0);
  }
  struct Errs {
    double h = 0, C = 0, n = 0, m = 0;                  // GPU against float64
    double cpu_h = 0;                                   // CPU backend against float64
    double vs_cpu_h = 0, vs_cpu_C = 0, vs_cpu_n = 0;    // GPU against the CPU backend
    double row_gpu = 0, row_cpu = 0;  // largest row error over its RowCond model (GPU's precision; float32)
  };
  // Squared errors of one (token, head) row of h against float64: GPU, CPU backend; and the row's norm^2.
  struct RowErr {
    double err2 = 0, cerr2 = 0, ref2 = 0;
    int64_t r = 0;
  };
  static std::vector<RowErr> row_errors(const MlstmCase& c, const std::vector<float>& hg, const std::vector<float>& hc,
                                        const std::vector<double>& h64) {
    std::vector<RowErr> rows(size_t(int64_t(c.B) * c.T * c.NH));
    for (size_t r = 0; r < rows.size(); ++r) {
      RowErr& w = rows[r];
      w.r = int64_t(r);
      for (int j = 0; j < c.DV; ++j) {
        const size_t i = r * size_t(c.DV) + size_t(j);
        w.err2 += (hg[i] - h64[i]) * (hg[i] - h64[i]), w.cerr2 += (hc[i] - h64[i]) * (hc[i] - h64[i]);
        w.ref2 += h64[i] * h64[i];
      }
    }
    return rows;
  }
  // A row's error over its RowCond model: u_num knum + u32 kden for the GPU (u_num: the path's numerator
  // precision), u32 (knum + kden) for the CPU backend.
  static double gpu_ratio(const RowErr& w, const RowCond& k, double u_num) {
    return std::sqrt(w.err2 / w.ref2) / (u_num * k.knum + kU32 * k.kden);
  }
  static double cpu_ratio(const RowErr& w, const RowCond& k) {
    return std::sqrt(w.cerr2 / w.ref2) / (kU32 * (k.knum + k.kden));
  }

  // Where a draw comes near its bound: the rows that carry most of the squared error, with the float64
  // normaliser, the row's conditioning and its position in its chunk, so a rare failure says where its
  // error comes from.
  static void print_worst_rows(const MlstmCase& c, std::vector<RowErr> rows, const std::vector<RowCond>& cond,
                               double u_num) {
    double tot_err2 = 0, tot_ref2 = 0;
    for (const RowErr& w : rows) tot_err2 += w.err2, tot_ref2 += w.ref2;
    const size_t shown = std::min<size_t>(5, rows.size());
    std::partial_sort(rows.begin(), rows.begin() + std::ptrdiff_t(shown), rows.end(),
                      [](const RowErr& a, const RowErr& b) { return a.err2 > b.err2; });
    std::printf("mlstm near-bound draw (%s): ||h|| %.3e, err %.3e\n", describe(c).c_str(), std::sqrt(tot_ref2),
                std::sqrt(tot_err2 / tot_ref2));
    const int L = c.chunk > 0 ? c.chunk : 64;
    for (size_t i = 0; i < shown; ++i) {
      const RowErr& w = rows[i];
      if (w.ref2 == 0) continue;
      const int64_t t = (w.r / c.NH) % c.T;
      const RowCond& k = cond[size_t(w.r)];
      std::printf("  row t=%lld (chunk %lld pos %lld) head %lld: share of err^2 %.2f, ||h_t|| %.3e (share of "
                  "||h||^2 %.3f), row err gpu %.2e cpu %.2e, den %.3e, knum %.2e kden %.2e, err / model: gpu %.2f "
                  "cpu %.2f\n",
                  (long long)t, (long long)(t / L), (long long)(t % L), (long long)(w.r % c.NH), w.err2 / tot_err2,
                  std::sqrt(w.ref2), w.ref2 / tot_ref2, std::sqrt(w.err2 / w.ref2), std::sqrt(w.cerr2 / w.ref2),
                  k.den, k.knum, k.kden, gpu_ratio(w, k, u_num), cpu_ratio(w, k));
    }
  }

  // One mlstm call on the GPU, the CPU backend and the float64 recurrence from the same random state.
  Errs check(const MlstmCase& c, MlstmPath path) {
    const int64_t QK = int64_t(c.NH) * c.DK, V = int64_t(c.NH) * c.DV;
    const int64_t ld = 2 * QK + V + 2 * c.NH + c.extra_ld;  // q | k | v | i | f | pad
    const int64_t rows = int64_t(c.B) * c.T;
    std::vector<float> proj = randn(size_t(rows * ld));
    // Gate pre-activations: typical (forget gates mostly open, input gates spread), strongly negative,
    // strongly positive.
    const float im = c.gates == Gates::Typical ? -1.f : c.gates == Gates::Negative ? -8.f : 8.f;
    const float is = c.gates == Gates::Typical ? 3.f : 4.f;
    const float fm = c.gates == Gates::Typical ? 3.f : c.gates == Gates::Negative ? -2.f : 8.f;
    const float fs = c.gates == Gates::Typical ? 2.f : 3.f;
    for (int64_t r = 0; r < rows; ++r)
      for (int h = 0; h < c.NH; ++h) {
        proj[size_t(r * ld + 2 * QK + V + h)] = randn(1, im, is)[0];
        proj[size_t(r * ld + 2 * QK + V + c.NH + h)] = randn(1, fm, fs)[0];
      }
    const size_t nC = size_t(c.NH) * c.DK * c.DV, nn = size_t(c.NH) * c.DK, nm = size_t(c.NH);
    std::vector<std::vector<float>> C0(c.B), n0(c.B), m0(c.B);
    for (int b = 0; b < c.B; ++b) {
      C0[b] = c.fresh ? std::vector<float>(nC, 0.f) : randn(nC, 0.f, 0.5f);
      n0[b] = c.fresh ? std::vector<float>(nn, 0.f) : uniform(nn, 0.f, 2.f);
      m0[b] = c.fresh ? std::vector<float>(nm, 0.f) : uniform(nm, -3.f, 3.f);
    }
    MlstmArgs a;
    a.B = c.B, a.T = c.T, a.NH = c.NH, a.DK = c.DK, a.DV = c.DV;
    a.ld = ld, a.gate_cap = c.gate_cap, a.eps = 1e-6f, a.chunk = c.chunk;
    // Float64 reference.
    std::vector<double> h64(size_t(rows * V));
    std::vector<RowCond> cond64(size_t(rows * c.NH));
    std::vector<std::vector<double>> C64(c.B), n64(c.B), m64(c.B);
    for (int b = 0; b < c.B; ++b) {
      C64[b].assign(C0[b].begin(), C0[b].end());
      n64[b].assign(n0[b].begin(), n0[b].end());
      m64[b].assign(m0[b].begin(), m0[b].end());
      std::vector<double> hb(size_t(c.T) * V);
      std::vector<RowCond> cb(size_t(c.T) * c.NH);
      const float* base = proj.data() + size_t(b) * c.T * ld;
      mlstm_f64(base, base + QK, base + 2 * QK, base + 2 * QK + V, base + 2 * QK + V + c.NH, ld, c.T, c.NH, c.DK, c.DV,
                c.gate_cap, 1e-6, C64[b], n64[b], m64[b], hb, &cb);
      std::copy(cb.begin(), cb.end(), cond64.begin() + std::ptrdiff_t(size_t(b) * c.T * c.NH));
      std::copy(hb.begin(), hb.end(), h64.begin() + std::ptrdiff_t(size_t(b) * c.T * V));
    }
    // CPU backend.
    std::vector<std::vector<float>> Cc = C0, nc = n0, mc = m0;
    std::vector<MlstmState> cst(c.B), gst(c.B);
    for (int b = 0; b < c.B; ++b) cst[b] = {Cc[b].data(), nc[b].data(), mc[b].data()};
    std::vector<float> hcpu(size_t(rows * V));
    a.q = proj.data(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + c.NH;
    a.states = cst.data(), a.h = hcpu.data();
    cpu_->mlstm(a);
    // GPU.
    float* dproj = dev(proj);
    std::vector<float*> gC(c.B), gn(c.B), gm(c.B);
    for (int b = 0; b < c.B; ++b) {
      gC[b] = dev(C0[b]), gn[b] = dev(n0[b]), gm[b] = dev(m0[b]);
      gst[b] = {gC[b], gn[b], gm[b]};
    }
    float* dh = poisoned(hcpu.size());
    a.q = dproj, a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + c.NH;
    a.states = gst.data(), a.h = dh;
    gpu_->set_mlstm_path(path);
    gpu_->set_mlstm_segment_chunks(c.window);
    gpu_->mlstm(a);
    Errs e;
    const std::vector<float> hg = host(dh, hcpu.size());
    e.h = rel_err(hg, h64);
    e.cpu_h = rel_err(hcpu, h64);
    e.vs_cpu_h = rel_err(hg, hcpu);
    // Precision model (RowCond): float32 sums on the CPU and in the step form; the chunkwise kernels' state
    // and output products are bf16x3 (hi/lo splits: ~2^-16 relative), their normaliser float32.
    const bool chunkwise = path != MlstmPath::Recurrent && c.T >= c.chunk && c.chunk > 1 && c.DK <= 256;
    const double u_num = chunkwise ? kUSplit : kU32;
    const std::vector<RowErr> rows_err = row_errors(c, hg, hcpu, h64);
    for (const RowErr& w : rows_err) {
      if (w.ref2 == 0) continue;
      e.row_gpu = std::max(e.row_gpu, gpu_ratio(w, cond64[size_t(w.r)], u_num));
      e.row_cpu = std::max(e.row_cpu, cpu_ratio(w, cond64[size_t(w.r)]));
    }
    if (e.h > kTolChunkH / 4 || e.row_gpu > kRowC / 4) print_worst_rows(c, rows_err, cond64, u_num);
    for (int b = 0; b < c.B; ++b) {
      const std::vector<float> Cg = host(gC[b], nC), ng = host(gn[b], nn), mg = host(gm[b], nm);
      e.C = std::max(e.C, rel_err(Cg, C64[b]));
      e.n = std::max(e.n, rel_err(ng, n64[b]));
      e.m = std::max(e.m, m_err(mg, m64[b]));
      e.vs_cpu_C = std::max(e.vs_cpu_C, rel_err(Cg, Cc[b]));
      e.vs_cpu_n = std::max(e.vs_cpu_n, rel_err(ng, nc[b]));
    }
    return e;
  }

  // The chunkwise bounds (see the header comment), with the numbers recorded for the report.
  void expect_chunkwise(const MlstmCase& c, const Errs& e, const std::string& tag) {
    record(tag + " h vs f64", e.h);
    record(tag + " C vs f64", e.C);
    record(tag + " n vs f64", e.n);
    record(tag + " m vs f64", e.m);
    record(tag + " h vs cpu", e.vs_cpu_h);
    record(tag + " C vs cpu", e.vs_cpu_C);
    record(tag + " (cpu backend h vs f64)", e.cpu_h);
    record(tag + " row err / precision model", e.row_gpu);
    record(tag + " (cpu backend row err / float32 model)", e.row_cpu);
    // Every row within kRowC of what the kernel's precision allows on its conditioning; and, where the
    // gates do not make the normaliser cancel by construction, the whole output within kTolChunkH.
    EXPECT_LT(e.row_gpu, kRowC) << describe(c) << " (cpu backend: " << e.row_cpu << " of its float32 model)";
    if (c.gates != Gates::Positive) {
      EXPECT_LT(e.h, kTolChunkH) << describe(c) << " (cpu backend: " << e.cpu_h << ")";
    }
    EXPECT_LT(e.C, kTolChunkState) << describe(c);
    EXPECT_LT(e.n, kTolChunkState) << describe(c);
    EXPECT_LT(e.m, kTolChunkM) << describe(c);
  }

  static CudaBackend* gpu_;
  static cpu::CpuBackend* cpu_;
};
CudaBackend* CudaMlstm::gpu_ = nullptr;
cpu::CpuBackend* CudaMlstm::cpu_ = nullptr;

TEST_F(CudaMlstm, StepFormMatchesCpu) {
  for (MlstmCase c : {MlstmCase{1, 1, 8, 256, 512, 64}, MlstmCase{3, 1, 8, 256, 512, 64},
                      MlstmCase{3, 1, 3, 20, 36, 64}, MlstmCase{2, 1, 2, 33, 70, 64, 0.f},
                      MlstmCase{1, 1, 1, 512, 40, 64}, MlstmCase{1, 37, 3, 20, 36, 0},
                      MlstmCase{3, 45, 2, 64, 128, 64, 15.f, 0, false}, MlstmCase{2, 5, 4, 16, 8, 1, 15.f, 3},
                      MlstmCase{1, 1, 8, 256, 512, 64, 15.f, 0, true}, MlstmCase{66, 1, 2, 32, 64, 64},
                      MlstmCase{1, 70, 2, 48, 48, 0, 15.f, 1}, MlstmCase{2, 3, 3, 10, 20, 0, 15.f, 0, false, 0, Gates::Positive},
                      MlstmCase{2, 3, 3, 300, 20, 0, 0.f, 0, false, 0, Gates::Negative}}) {
    const Errs e = check(c, MlstmPath::Auto);
    record("mlstm step h vs cpu", e.vs_cpu_h);
    record("mlstm step C vs cpu", e.vs_cpu_C);
    record("mlstm step n vs cpu", e.vs_cpu_n);
    record("mlstm step h vs f64", e.h);
    record("mlstm step C vs f64", e.C);
    // Positive gates can make the denominator cancel; then the float32 CPU itself strays from float64
    // and the bound follows its error, as for the chunkwise form (H100, one draw: 1.1e-4 vs CPU).
    EXPECT_LT(e.vs_cpu_h, std::max(kTolStepH, kTolChunkHCpu * e.cpu_h)) << describe(c);
    EXPECT_LT(e.vs_cpu_C, kTolF32) << describe(c);
    EXPECT_LT(e.vs_cpu_n, kTolF32) << describe(c);
    EXPECT_LT(e.m, kTolF32) << describe(c);
  }
}

TEST_F(CudaMlstm, RecurrentPathForLongSequences) {
  for (MlstmCase c : {MlstmCase{3, 130, 3, 20, 36, 64}, MlstmCase{1, 200, 8, 256, 512, 64}}) {
    const Errs e = check(c, MlstmPath::Recurrent);
    // The CPU runs chunkwise here (f32 sgemm); the GPU the step form: same function, different rounding.
    record("mlstm recurrent h vs f64", e.h);
    record("mlstm recurrent-vs-cpu-chunk h", e.vs_cpu_h);
    record("mlstm recurrent-vs-cpu-chunk C", e.vs_cpu_C);
    EXPECT_LT(e.vs_cpu_h, std::max(kTolStepH, kTolChunkHCpu * e.cpu_h)) << describe(c);
    EXPECT_LT(e.vs_cpu_C, 1e-4) << describe(c);
    EXPECT_LT(e.vs_cpu_n, 1e-4) << describe(c);
    EXPECT_LT(e.m, 1e-5) << describe(c);
  }
}

TEST_F(CudaMlstm, ChunkwiseMatchesFloat64) {
  std::vector<MlstmCase> cases;
  for (int chunk : {16, 32, 64})
    for (int B : {1, 3}) {
      cases.push_back({B, 3 * chunk + 5, 3, 20, 36, chunk});            // odd dims, remainder
      cases.push_back({B, 2 * chunk, 2, 64, 128, chunk, 15.f, 0, true});  // fresh state, no remainder
      cases.push_back({B, chunk + 1, 2, 72, 260, chunk, 0.f, 2});         // no cap, odd ld (scalar loads)
    }
  cases.push_back({1, 130, 8, 256, 512, 64});                             // the 7B head shape
  cases.push_back({3, 64 * 4 + 17, 8, 256, 512, 64, 15.f, 0, false, 2});  // 7B shape, B=3, windows of 2
  cases.push_back({2, 1000, 2, 48, 80, 64});                              // many chunks, two-level scan
  cases.push_back({1, 300, 2, 40, 24, 128});                              // chunk > 64 runs as 64
  cases.push_back({1, 40, 2, 40, 24, 20});                                // chunk not a multiple of 16
  cases.push_back({5, 100, 1, 8, 8, 16, 15.f, 0, false, 1});              // tiny heads, one chunk per window
  cases.push_back({2, 64 * 9 + 3, 3, 10, 20, 64, 15.f, 0, false, 0, Gates::Negative});
  cases.push_back({2, 64 * 9 + 3, 3, 20, 20, 64, 15.f, 0, false, 0, Gates::Positive});
  cases.push_back({1, 64 * 12, 3, 10, 20, 64, 0.f, 0, false, 5, Gates::Positive});   // no cap, windows of 5
  cases.push_back({1, 64 * 8 + 7, 2, 256, 512, 64, 15.f, 0, false, 0, Gates::Positive});
  cases.push_back({1, 64 * 8 + 7, 2, 256, 512, 64, 0.f, 0, false, 0, Gates::Negative});
  cases.push_back({1, 64 * 6, 4, 192, 100, 64, 15.f, 6, true});           // DK not a power of two, DV % 4 != 0 tile
  for (const MlstmCase& c : cases) expect_chunkwise(c, check(c, MlstmPath::Auto), "mlstm chunkwise");
}

// Many chunks at the 7B head size: windows of 8 chunks and the two-level scan with several segments and
// pieces (NH=2 leaves most of the GPU to the segments).
TEST_F(CudaMlstm, ChunkwiseLongSequenceWindows) {
  for (MlstmCase c : {MlstmCase{1, 64 * 32 + 5, 2, 256, 512, 64, 15.f, 0, false, 8},
                      MlstmCase{1, 64 * 40, 2, 256, 512, 64, 15.f, 0, false, 0}})
    expect_chunkwise(c, check(c, MlstmPath::Auto), "mlstm chunkwise long");
}

// Small shapes only: quick enough for compute-sanitizer's racecheck/synccheck; still two segments with
// two pieces each (the whole two-level path); DV = 128 / 256 give 2 / 4 column tiles per head.
TEST_F(CudaMlstm, ChunkwiseSmall) {
  for (MlstmCase c : {MlstmCase{2, 2 * 16 + 3, 2, 20, 36, 16}, MlstmCase{1, 64 * 4 + 1, 1, 64, 64, 64, 15.f, 2},
                      MlstmCase{1, 64 * 4 + 1, 1, 64, 64, 64, 15.f, 0}, MlstmCase{1, 64 * 4 + 1, 1, 64, 128, 64},
                      MlstmCase{2, 32 * 5 + 5, 2, 32, 256, 32}})
    expect_chunkwise(c, check(c, MlstmPath::Auto), "mlstm chunkwise small");
}

// Same inputs twice -> bitwise the same outputs and states (a race would show up here).
// B=1 runs the two-level scan (two segments), B=2 one segment per head.
TEST_F(CudaMlstm, ChunkwiseIsDeterministic) {
  for (int B : {1, 2}) {
    const int T = 64 * 7 + 7, NH = 8, DK = 256, DV = 512;
    const int64_t QK = NH * DK, V = NH * DV, ld = 2 * QK + V + 2 * NH;
    std::vector<float> proj = randn(size_t(B * T * ld));
    float* dp = dev(proj);
    std::vector<float> C0 = randn(size_t(NH) * DK * DV, 0.f, 0.5f), n0 = uniform(size_t(NH) * DK, 0.f, 2.f),
                       m0 = uniform(NH, -3.f, 3.f);
    std::vector<std::vector<float>> outs;
    for (int rep = 0; rep < 2; ++rep) {
      std::vector<MlstmState> st(B);
      std::vector<float*> Cs(B);
      for (int b = 0; b < B; ++b) {
        Cs[b] = dev(C0);
        st[b] = {Cs[b], dev(n0), dev(m0)};
      }
      float* dh = poisoned(size_t(B * T * V));
      MlstmArgs a;
      a.B = B, a.T = T, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
      a.q = dp, a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + NH;
      a.states = st.data(), a.h = dh;
      gpu_->mlstm(a);
      std::vector<float> o = host(dh, size_t(B * T * V));
      for (int b = 0; b < B; ++b) {
        std::vector<float> c = host(Cs[b], C0.size());
        o.insert(o.end(), c.begin(), c.end());
      }
      outs.push_back(std::move(o));
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    EXPECT_EQ(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * 4), 0) << "B=" << B;
  }
}

TEST_F(CudaMlstm, PrefillThenDecodeMatchesCpu) {
  // A 7B-shaped layer: prefill 100 tokens chunkwise, then 5 single steps, states carried on each side.
  const int NH = 8, DK = 256, DV = 512, B = 2;
  const int64_t QK = NH * DK, V = NH * DV, ld = 2 * QK + V + 2 * NH;
  const size_t nC = size_t(NH) * DK * DV;
  std::vector<std::vector<float>> Cc(B, std::vector<float>(nC, 0.f)), nc(B, std::vector<float>(NH * DK, 0.f)),
      mc(B, std::vector<float>(NH, 0.f));
  std::vector<MlstmState> cst(B), gst(B);
  std::vector<float*> gC(B);
  for (int b = 0; b < B; ++b) {
    cst[b] = {Cc[b].data(), nc[b].data(), mc[b].data()};
    gC[b] = dev(Cc[b]);
    gst[b] = {gC[b], dev(nc[b]), dev(mc[b])};
  }
  double worst = 0;
  for (int T : {100, 1, 1, 1, 1, 1}) {
    std::vector<float> proj = randn(size_t(B * T * ld));
    std::vector<float> href(size_t(B * T * V));
    MlstmArgs a;
    a.B = B, a.T = T, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
    a.q = proj.data(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + NH;
    a.states = cst.data(), a.h = href.data();
    cpu_->mlstm(a);
    float* dp = dev(proj);
    float* dh = poisoned(href.size());
    a.q = dp, a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + NH;
    a.states = gst.data(), a.h = dh;
    gpu_->mlstm(a);
    const double e = rel_err(host(dh, href.size()), href);
    worst = std::max(worst, e);
    EXPECT_LT(e, kTolChunkH) << "T=" << T;
  }
  record("mlstm prefill+decode h vs cpu", worst);
  for (int b = 0; b < B; ++b) EXPECT_LT(rel_err(host(gC[b], nC), Cc[b]), kTolChunkState);
}

TEST_F(CudaMlstm, CapturedDecodeStepReplaysLikeCpu) {
  const int NH = 8, DK = 256, DV = 512, B = 3;
  const int64_t QK = NH * DK, V = NH * DV, ld = 2 * QK + V + 2 * NH;
  std::vector<float> proj = randn(size_t(B * ld));
  std::vector<std::vector<float>> Cc(B, randn(size_t(NH) * DK * DV, 0.f, 0.5f)), nc(B, uniform(size_t(NH) * DK, 0.f, 2.f)),
      mc(B, uniform(NH, -3.f, 3.f));
  std::vector<MlstmState> cst(B), gst(B);
  std::vector<float*> gC(B);
  for (int b = 0; b < B; ++b) {
    gC[b] = dev(Cc[b]);
    gst[b] = {gC[b], dev(nc[b]), dev(mc[b])};
    cst[b] = {Cc[b].data(), nc[b].data(), mc[b].data()};
  }
  std::vector<float> href(size_t(B * V));
  MlstmArgs a;
  a.B = B, a.T = 1, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
  MlstmArgs g = a;
  a.q = proj.data(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + V, a.fgate = a.igate + NH;
  a.states = cst.data(), a.h = href.data();
  float* dp = dev(proj);
  float* dh = poisoned(href.size());
  g.q = dp, g.k = g.q + QK, g.v = g.k + QK, g.igate = g.v + V, g.fgate = g.igate + NH;
  g.states = gst.data(), g.h = dh;
  gpu_->mlstm(g);  // plain run first (sizes the workspace)
  std::unique_ptr<Graph> graph = gpu_->capture([&] { gpu_->mlstm(g); });
  ASSERT_TRUE(graph);
  for (int i = 0; i < 3; ++i) cpu_->mlstm(a);
  graph->replay();
  graph->replay();
  const double e = rel_err(host(dh, href.size()), href);
  record("mlstm captured step h vs cpu", e);
  EXPECT_LT(e, kTolStepH);
  for (int b = 0; b < B; ++b) EXPECT_LT(rel_err(host(gC[b], Cc[b].size()), Cc[b]), kTolF32);
}

}  // namespace
}  // namespace xlstm
