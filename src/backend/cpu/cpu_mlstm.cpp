// Why: the mLSTM cell on the CPU, in both forms of xlstm-reference.md section 1: the chunkwise form for
// prefill (intra-chunk attention-like part + inter-chunk state pass, products through sgemm) and the
// recurrent step form for decode and for remainders. One task per (sequence, head); float32 throughout.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "common/parallel.h"

namespace xlstm::cpu {
namespace {

inline float capf(float x, float cap) { return cap > 0.f ? cap * std::tanh(x / cap) : x; }
inline float logsigmoid(float x) { return std::min(x, 0.f) - std::log1p(std::exp(-std::fabs(x))); }

struct Head {  // one (sequence, head) pair's view of the inputs and its state
  const MlstmArgs* a;
  int b, h;
  float *C, *n, *m;  // C [DK, DV], n [DK], m [1]
  const float* q(int t) const { return a->q + (int64_t(b) * a->T + t) * a->ld + int64_t(h) * a->DK; }
  const float* k(int t) const { return a->k + (int64_t(b) * a->T + t) * a->ld + int64_t(h) * a->DK; }
  const float* v(int t) const { return a->v + (int64_t(b) * a->T + t) * a->ld + int64_t(h) * a->DV; }
  float ig(int t) const { return capf(a->igate[(int64_t(b) * a->T + t) * a->ld + h], a->gate_cap); }
  float fg(int t) const { return capf(a->fgate[(int64_t(b) * a->T + t) * a->ld + h], a->gate_cap); }
  float* out(int t) const { return a->h + ((int64_t(b) * a->T + t) * a->NH + h) * a->DV; }
};

void step(const Head& s, int t, std::vector<float>& qs) {
  const int DK = s.a->DK, DV = s.a->DV;
  const float scale = 1.0f / std::sqrt(float(DK));
  const float lf = logsigmoid(s.fg(t)), ig = s.ig(t);
  const float m_new = std::max(lf + *s.m, ig);
  const float fa = std::exp(lf + *s.m - m_new), ia = std::exp(ig - m_new);
  const float* k = s.k(t);
  const float* v = s.v(t);
  const float* q = s.q(t);
  float* out = s.out(t);
  std::fill(out, out + DV, 0.f);
  float qn = 0.f;
  for (int i = 0; i < DK; ++i) qs[i] = q[i] * scale;
  for (int i = 0; i < DK; ++i) {
    float* Ci = s.C + int64_t(i) * DV;
    const float ki = ia * k[i], qi = qs[i];
    for (int j = 0; j < DV; ++j) {
      Ci[j] = fa * Ci[j] + ki * v[j];
      out[j] += qi * Ci[j];
    }
    s.n[i] = fa * s.n[i] + ki;
    qn += qi * s.n[i];
  }
  *s.m = m_new;
  const float den = std::max(std::fabs(qn), std::exp(-m_new)) + s.a->eps;
  for (int j = 0; j < DV; ++j) out[j] /= den;
}

struct ChunkScratch {
  std::vector<float> Q, K, V, S, QC, Qn, bcum, ig, w, qs;
};

// Processes steps [t0, t0 + L) in the chunkwise form.
void chunk(const Head& s, int t0, int L, ChunkScratch& w) {
  const int DK = s.a->DK, DV = s.a->DV;
  const float scale = 1.0f / std::sqrt(float(DK));
  w.Q.resize(size_t(L) * DK), w.K.resize(size_t(L) * DK), w.V.resize(size_t(L) * DV);
  w.S.resize(size_t(L) * L), w.QC.resize(size_t(L) * DV), w.Qn.resize(L), w.bcum.resize(L), w.ig.resize(L);
  w.w.resize(L);
  float acc = 0.f;
  for (int t = 0; t < L; ++t) {
    const float* q = s.q(t0 + t);
    for (int i = 0; i < DK; ++i) w.Q[size_t(t) * DK + i] = q[i] * scale;
    std::copy(s.k(t0 + t), s.k(t0 + t) + DK, &w.K[size_t(t) * DK]);
    std::copy(s.v(t0 + t), s.v(t0 + t) + DV, &w.V[size_t(t) * DV]);
    acc += logsigmoid(s.fg(t0 + t));
    w.bcum[t] = acc;
    w.ig[t] = s.ig(t0 + t);
  }
  const float m0 = *s.m;
  // Inter-chunk contributions from the previous state: QC = Qs C [L, DV], Qn = Qs n [L].
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, DV, DK, 1.f, w.Q.data(), DK, s.C, DV, 0.f,
              w.QC.data(), DV);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, L, DK, 1.f, w.Q.data(), DK, s.n, 1, 0.f, w.Qn.data(), 1);
  // Intra-chunk scores S = Qs K^T [L, L].
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, DK, 1.f, w.Q.data(), DK, w.K.data(), DK, 0.f,
              w.S.data(), L);
  for (int t = 0; t < L; ++t) {
    float* St = &w.S[size_t(t) * L];
    float mt = w.bcum[t] + m0;
    for (int u = 0; u <= t; ++u) mt = std::max(mt, w.bcum[t] - w.bcum[u] + w.ig[u]);
    float rowsum = 0.f;
    for (int u = 0; u <= t; ++u) {
      St[u] *= std::exp(w.bcum[t] - w.bcum[u] + w.ig[u] - mt);
      rowsum += St[u];
    }
    for (int u = t + 1; u < L; ++u) St[u] = 0.f;
    const float inter = std::exp(w.bcum[t] + m0 - mt);
    float* QCt = &w.QC[size_t(t) * DV];
    for (int j = 0; j < DV; ++j) QCt[j] *= inter;
    const float den = std::max(std::fabs(inter * w.Qn[t] + rowsum), std::exp(-mt)) + s.a->eps;
    w.Qn[t] = den;  // reuse as the denominator
  }
  // num = inter * QC + M V
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, DV, L, 1.f, w.S.data(), L, w.V.data(), DV, 1.f,
              w.QC.data(), DV);
  for (int t = 0; t < L; ++t) {
    float* out = s.out(t0 + t);
    const float inv = 1.0f / w.Qn[t];
    for (int j = 0; j < DV; ++j) out[j] = w.QC[size_t(t) * DV + j] * inv;
  }
  // State pass: a_t = b_L - b_t + i_t; m_k = max(b_L + m, max a_t).
  const float bL = w.bcum[L - 1];
  float mk = bL + m0;
  for (int t = 0; t < L; ++t) mk = std::max(mk, bL - w.bcum[t] + w.ig[t]);
  const float decay = std::exp(bL + m0 - mk);
  for (int t = 0; t < L; ++t) w.w[t] = std::exp(bL - w.bcum[t] + w.ig[t] - mk);
  // n = decay n + K^T w;  C = decay C + K^T diag(w) V
  for (int i = 0; i < DK; ++i) {
    float acc_n = 0.f;
    for (int t = 0; t < L; ++t) acc_n += w.K[size_t(t) * DK + i] * w.w[t];
    s.n[i] = decay * s.n[i] + acc_n;
  }
  for (int t = 0; t < L; ++t)
    for (int j = 0; j < DV; ++j) w.V[size_t(t) * DV + j] *= w.w[t];
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, DK, DV, L, 1.f, w.K.data(), DK, w.V.data(), DV, decay, s.C,
              DV);
  *s.m = mk;
}

}  // namespace

void mlstm_forward(const MlstmArgs& a) {
  const int64_t pairs = int64_t(a.B) * a.NH;
  parallel_for(pairs, 1, [&](int64_t p0, int64_t p1) {
    ChunkScratch scratch;
    scratch.qs.resize(a.DK);
    for (int64_t p = p0; p < p1; ++p) {
      const int b = int(p / a.NH), h = int(p % a.NH);
      const MlstmState& st = a.states[b];
      Head s{&a, b, h, st.C + int64_t(h) * a.DK * a.DV, st.n + int64_t(h) * a.DK, st.m + h};
      int t = 0;
      if (a.chunk > 1)
        for (; t + a.chunk <= a.T; t += a.chunk) chunk(s, t, a.chunk, scratch);
      for (; t < a.T; ++t) step(s, t, scratch.qs);
    }
  });
}

}  // namespace xlstm::cpu
