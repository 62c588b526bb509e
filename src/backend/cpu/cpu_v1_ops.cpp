// Why: the CPU side of the original xLSTM family's ops (backend.h, "ops of the original xLSTM family"):
// causal depthwise conv1d with its state, the headwise (block-diagonal) linear, GroupNorm per head, the
// mLSTM v1 output gate and the gated FFN activations. Float32 with float32 reductions, row-parallel.
// The sLSTM cell is in cpu_slstm.cpp.
#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "common/check.h"
#include "common/parallel.h"

namespace xlstm::cpu {
namespace {

inline const float* fp(const Weight* w) { return w ? static_cast<const float*>(w->data) : nullptr; }
inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

}  // namespace

void CpuBackend::causal_conv1d(const Conv1dArgs& a) {
  const int K = a.K, T = a.T;
  const int64_t C = a.C;
  XLSTM_CHECK(K >= 1 && a.w && a.w->rows == C * K, "causal_conv1d: weight has {} values, expected C x K = {} x {}",
              a.w ? a.w->rows : 0, C, K);
  const float* w = fp(a.w);
  const float* bias = fp(a.bias);
  // Output rows in parallel: each reads inputs t-K+1..t from x (or, before t = 0, from the state, which
  // is only rewritten afterwards).
  parallel_for(int64_t(a.B) * T, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C * K)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int b = int(r / T), t = int(r % T);
      const float* st = a.states[b];
      float* y = a.y + r * a.ldy;
      for (int64_t c = 0; c < C; ++c) y[c] = bias ? bias[c] : 0.f;
      for (int j = 0; j < K; ++j) {
        const int s = t - (K - 1) + j;  // input time of tap j
        const float* src = s >= 0 ? a.x + (int64_t(b) * T + s) * a.ldx : st + int64_t(K - 1 + s) * C;
        for (int64_t c = 0; c < C; ++c) y[c] += w[c * K + j] * src[c];
      }
      if (a.silu)
        for (int64_t c = 0; c < C; ++c) y[c] = silu(y[c]);
    }
  });
  // New state: the last K-1 inputs (from x, or from the old state when T < K-1). Row r reads old row
  // T + r > r, so ascending r is safe in place.
  if (K > 1)
    for (int b = 0; b < a.B; ++b) {
      float* st = a.states[b];
      for (int r = 0; r < K - 1; ++r) {
        const int s = T - (K - 1) + r;
        const float* src = s >= 0 ? a.x + (int64_t(b) * T + s) * a.ldx : st + int64_t(K - 1 + s) * C;
        std::copy(src, src + C, st + int64_t(r) * C);
      }
    }
}

void CpuBackend::headwise_linear(const Weight& W, const Weight* bias, const float* x, int64_t ldx, int64_t N, int NH,
                                 int I, int O, float* y, int64_t ldy) {
  XLSTM_CHECK(W.rows * W.cols == int64_t(NH) * O * I, "headwise_linear: weight has {} values, expected {} x {} x {}",
              W.rows * W.cols, NH, O, I);
  const float* w = fp(&W);
  const float* b = fp(bias);
  if (int64_t(I) * O >= 1024 && N >= 16) {
    // Large blocks: one sgemm per (head, block of rows), y_h = x_h W_h^T.
    const int64_t rb = 64, nrb = (N + rb - 1) / rb;
    parallel_for(int64_t(NH) * nrb, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int h = int(p / nrb);
        const int64_t n0 = (p % nrb) * rb, n = std::min(rb, N - n0);
        float* yh = y + n0 * ldy + int64_t(h) * O;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), O, I, 1.f, x + n0 * ldx + int64_t(h) * I,
                    int(ldx), w + int64_t(h) * O * I, I, 0.f, yh, int(ldy));
        if (b)
          for (int64_t r = 0; r < n; ++r)
            for (int o = 0; o < O; ++o) yh[r * ldy + o] += b[h * O + o];
      }
    });
    return;
  }
  parallel_for(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, int64_t(NH) * O * I)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * ldx;
      float* yr = y + r * ldy;
      for (int h = 0; h < NH; ++h) {
        const float* xh = xr + int64_t(h) * I;
        for (int o = 0; o < O; ++o) {
          const float* wr = w + (int64_t(h) * O + o) * I;
          float acc = 0.f;
          for (int i = 0; i < I; ++i) acc += wr[i] * xh[i];
          yr[h * O + o] = b ? acc + b[h * O + o] : acc;
        }
      }
    }
  });
}

void CpuBackend::groupnorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int NH, int DH,
                           float* y) {
  const float* wp = fp(w);
  const float* bp = fp(b);
  parallel_for(N * NH, std::max<int64_t>(1, 1024 / DH), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int hd = int(r % NH);
      const float* xr = x + r * DH;
      float* yr = y + r * DH;
      float mean = 0.f;
      for (int i = 0; i < DH; ++i) mean += xr[i];
      mean /= float(DH);
      float var = 0.f;
      for (int i = 0; i < DH; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      const float inv = 1.0f / std::sqrt(var / float(DH) + eps);
      for (int i = 0; i < DH; ++i) {
        const float v = (xr[i] - mean) * inv;
        yr[i] = (wp ? v * wp[hd * DH + i] : v) + (bp ? bp[hd * DH + i] : 0.f);
      }
    }
  });
}

void CpuBackend::skip_silu_gate(const float* h, const float* xc, int64_t ldxc, const Weight& skip, const float* z,
                                int64_t ldz, int64_t N, int64_t C, float* y) {
  const float* s = fp(&skip);
  parallel_for(N, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) y[r * C + c] = (h[r * C + c] + s[c] * xc[r * ldxc + c]) * silu(z[r * ldz + c]);
  });
}

void CpuBackend::gated_act(const float* gu, int64_t N, int64_t F, GateAct act, float* y) {
  parallel_for(N, std::max<int64_t>(1, 4096 / F), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gu + r * 2 * F;
      const float* u = g + F;
      float* yr = y + r * F;
      for (int64_t i = 0; i < F; ++i) {
        const float v = g[i];
        float a = v;
        switch (act) {
          case GateAct::Gelu: a = 0.5f * v * (1.0f + std::erf(v * float(M_SQRT1_2))); break;
          case GateAct::Relu: a = std::max(v, 0.f); break;
          case GateAct::Relu2: a = std::max(v, 0.f) * std::max(v, 0.f); break;
          case GateAct::Sigmoid: a = 1.0f / (1.0f + std::exp(-v)); break;
          case GateAct::Swish: a = silu(v); break;
          case GateAct::Selu:
            a = 1.0507009873554804934f * (v > 0.f ? v : 1.6732632423543772848f * std::expm1(v));
            break;
        }
        yr[i] = a * u[i];
      }
    }
  });
}

}  // namespace xlstm::cpu
