// Why: the sLSTM cell on the CPU (backend.h, Backend::slstm). The recurrence is sequential in time but
// block-diagonal in heads, so each (sequence, head) pair runs its T steps alone: one task per pair,
// float32 throughout, in the order of the package's vanilla pointwise function ((Wx + Ry) + b).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "common/check.h"
#include "common/parallel.h"

namespace xlstm::cpu {
namespace {

inline float logsigmoid(float x) { return std::min(x, 0.f) - std::log1p(std::exp(-std::fabs(x))); }

}  // namespace

void CpuBackend::slstm(const SlstmArgs& a) {
  const int NH = a.NH, DH = a.DH, T = a.T;
  const int64_t H = int64_t(NH) * DH;
  XLSTM_CHECK(a.R && a.R->rows * a.R->cols == 4 * H * DH, "slstm: recurrent kernel has {} values, expected {}",
              a.R ? a.R->rows * a.R->cols : 0, 4 * H * DH);
  XLSTM_CHECK(a.bias && a.bias->rows * a.bias->cols == 4 * H, "slstm: bias has {} values, expected {}",
              a.bias ? a.bias->rows * a.bias->cols : 0, 4 * H);
  const float* R = static_cast<const float*>(a.R->data);
  const float* bias = static_cast<const float*>(a.bias->data);
  parallel_for(int64_t(a.B) * NH, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> raw(size_t(4) * DH);
    for (int64_t p = p0; p < p1; ++p) {
      const int b = int(p / NH), h = int(p % NH);
      const SlstmState& st = a.states[b];
      float* y = st.y + int64_t(h) * DH;
      float* c = st.c + int64_t(h) * DH;
      float* n = st.n + int64_t(h) * DH;
      float* m = st.m + int64_t(h) * DH;
      const float* Rh = R + int64_t(h) * 4 * DH * DH;  // [4, DH out, DH in]
      for (int t = 0; t < T; ++t) {
        const float* x = a.x + (int64_t(b) * T + t) * a.ld;
        for (int g = 0; g < 4; ++g)
          for (int d = 0; d < DH; ++d) {
            const float* Rr = Rh + (int64_t(g) * DH + d) * DH;
            float ry = 0.f;
            for (int e = 0; e < DH; ++e) ry += Rr[e] * y[e];
            const int64_t k = int64_t(g) * H + int64_t(h) * DH + d;
            raw[size_t(g) * DH + d] = (x[k] + ry) + bias[k];
          }
        float* out = a.y + (int64_t(b) * T + t) * H + int64_t(h) * DH;
        for (int d = 0; d < DH; ++d) {
          const float iraw = raw[d], fraw = raw[DH + d], zraw = raw[2 * DH + d], oraw = raw[3 * DH + d];
          const float logfplusm = m[d] + logsigmoid(fraw);
          const float m_new = n[d] == 0.f ? iraw : std::max(iraw, logfplusm);
          const float ia = std::min(1.f, std::exp(iraw - m_new));
          const float fa = std::min(1.f, std::exp(logfplusm - m_new));
          const float og = 1.0f / (1.0f + std::exp(-oraw));
          c[d] = fa * c[d] + ia * std::tanh(zraw);
          n[d] = fa * n[d] + ia;
          m[d] = m_new;
          out[d] = og * c[d] / n[d];
        }
        std::copy(out, out + DH, y);  // y_prev of the next step (after every unit used the old one)
      }
    }
  });
}

}  // namespace xlstm::cpu
