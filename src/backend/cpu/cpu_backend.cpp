// Why: see cpu_backend.h. Row-parallel elementwise and normalisation ops; weights as views or owned
// converted copies.
#include "backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <sys/mman.h>

#include <cmath>
#include <tuple>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "backend/cpu/cpu_matmul.h"
#include "common/check.h"
#include "common/parallel.h"

namespace xlstm::cpu {
namespace {

struct CpuWeight final : Weight {
  void* owned = nullptr;
  bool packed = false;  // matrices: cpu_matmul's packed layout (16-row tiles as one stream)
  ~CpuWeight() override { std::free(owned); }
};

// 64-byte aligned; buffers of 2 MiB or more are 2 MiB aligned and asked for transparent huge pages: the
// decode GEMV streams every weight once per token, and 2 MiB pages raise its read rate by ~8% (fewer TLB
// misses; bench_cpu_bandwidth --huge) and cut page faults at load. madvise is a hint: where THP is off it
// fails harmlessly and 4 KiB pages are used.
void* aligned_alloc64(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t padded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, padded);
  if (!p && bytes) throw std::bad_alloc();
  if (p && align == kHuge) madvise(p, padded, MADV_HUGEPAGE);
  return p;
}

// Activation rows at the op boundary: 16-bit activations are widened exactly on input and rounded once
// (nearest even; F16 saturating at +-65504, like the GPU) on output.
void store_act(Act y, int64_t offset, const float* v, int64_t n) {
  if (y.dt == DType::F32) {
    float* d = static_cast<float*>(y.p) + offset;
    if (d != v) std::memcpy(d, v, size_t(n) * 4);
    return;
  }
  void* d = static_cast<char*>(y.p) + size_t(offset) * 2;
  if (y.dt == DType::BF16) return convert_from_f32(DType::BF16, v, d, size_t(n));
  auto* h = static_cast<uint16_t*>(d);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(std::fmin(std::fmax(v[i], -65504.f), 65504.f));
}
// Float32 [rows, cols] (row stride ld) from an activation; returns x itself when it is F32 already.
const float* widen_act(ConstAct x, int64_t rows, int64_t cols, int64_t ld, std::vector<float>& tmp, int64_t* ld_out) {
  *ld_out = ld;
  if (x.dt == DType::F32) return static_cast<const float*>(x.p);
  tmp.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    convert_to_f32(x.dt, static_cast<const char*>(x.p) + size_t(r * ld) * 2, tmp.data() + r * cols, size_t(cols));
  *ld_out = cols;
  return tmp.data();
}
// Where a row's float32 result goes before store_act: y itself when F32, else a thread-local scratch.
float* row_out(Act y, int64_t offset, int64_t n) {
  if (y.dt == DType::F32) return static_cast<float*>(y.p) + offset;
  thread_local std::vector<float> t;
  if (t.size() < size_t(n)) t.resize(size_t(n));
  return t.data();
}
// y = x * rsqrt(mean(x^2) + eps) * w (+ b) for one row; out may alias xr.
void rms_row(const float* xr, const float* wp, const float* bp, float eps, int64_t D, float* out) {
  float ss = 0.f;
  for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
  const float inv = 1.0f / std::sqrt(ss / float(D) + eps);
  for (int64_t i = 0; i < D; ++i) out[i] = xr[i] * inv * wp[i] + (bp ? bp[i] : 0.f);
}

}  // namespace

CpuBackend::CpuBackend(int threads) {
  if (threads > 0) set_num_threads(threads);
  openblas_set_num_threads(1);  // parallelism comes from our pool; BLAS calls run inside its tasks
}

std::string CpuBackend::description() const {
  return "cpu: " + std::to_string(num_threads()) + " threads, " + matmul_isa();
}

void* CpuBackend::alloc(size_t bytes) { return aligned_alloc64(bytes); }
void CpuBackend::release(void* p) { std::free(p); }
void CpuBackend::upload(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::download(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::copy(void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }
void CpuBackend::zero(void* dst, size_t bytes) { std::memset(dst, 0, bytes); }

WeightPtr CpuBackend::make_weight(const std::vector<HostTensor>& parts, DType as) {
  auto w = std::make_unique<CpuWeight>();
  w->dtype = as;
  std::tie(w->rows, w->cols) = concat_shape(parts);
  size_t esz = dtype_size(as);
  // Decode streams every weight once per token; on AVX-512 the packed layout (a 16-row tile is one
  // stream) reads faster, on AVX2 the row-major one does (cpu_matmul measurements).
  const bool pack = std::strcmp(matmul_isa(), "avx512") == 0;
  if (parts.size() == 1 && parts[0].dtype == as && !pack) {  // zero-copy view of the file or host memory
    w->data = parts[0].data;
    return w;
  }
  if (parts.size() == 1 && parts[0].dtype == as) {  // pack straight from the mapped file or host memory
    w->owned = aligned_alloc64(packed_weight_bytes(as, w->rows, w->cols));
    pack_weight(as, parts[0].data, w->rows, w->cols, w->owned);
    w->data = w->owned;
    w->packed = true;
    return w;
  }
  w->owned = aligned_alloc64(size_t(w->rows) * size_t(w->cols) * esz);
  char* dst = static_cast<char*>(w->owned);
  std::vector<float> tmp;
  for (const auto& p : parts) {
    size_t n = size_t(p.numel());
    if (p.dtype == as) {
      std::memcpy(dst, p.data, n * esz);
    } else {  // convert in slices so the float32 temporary stays small
      const size_t slice = size_t(1) << 20;
      tmp.resize(std::min(n, slice));
      for (size_t off = 0; off < n; off += slice) {
        size_t m = std::min(slice, n - off);
        convert_to_f32(p.dtype, static_cast<const char*>(p.data) + off * dtype_size(p.dtype), tmp.data(), m);
        convert_from_f32(as, tmp.data(), dst + off * esz, m);
      }
    }
    dst += n * esz;
  }
  w->data = w->owned;
  if (!pack) return w;
  void* packed = aligned_alloc64(packed_weight_bytes(as, w->rows, w->cols));
  pack_weight(as, w->owned, w->rows, w->cols, packed);
  std::free(w->owned);
  w->owned = packed;
  w->data = packed;
  w->packed = true;
  return w;
}

WeightPtr CpuBackend::make_vector(const std::vector<HostTensor>& parts) {
  auto w = std::make_unique<CpuWeight>();
  w->dtype = DType::F32;
  w->cols = 1;
  for (const auto& p : parts) w->rows += p.numel();
  w->owned = aligned_alloc64(size_t(w->rows) * 4);
  float* dst = static_cast<float*>(w->owned);
  for (const auto& p : parts) {
    convert_to_f32(p.dtype, p.data, dst, size_t(p.numel()));
    dst += p.numel();
  }
  w->data = w->owned;
  return w;
}

void CpuBackend::linear(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y,
                        int64_t ldy, bool accumulate) {
  XLSTM_CHECK(!accumulate || y.dt == DType::F32, "linear: accumulate needs a float32 y");
  const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;
  std::vector<float> xt, yt;
  int64_t lx = ldx;
  const float* xf = widen_act(x, N, W.cols, ldx, xt, &lx);
  float* yf = static_cast<float*>(y.p);
  int64_t ly = ldy;
  if (y.dt != DType::F32 || accumulate) yt.resize(size_t(N * W.rows)), yf = yt.data(), ly = W.rows;
  if (static_cast<const CpuWeight&>(W).packed)
    matmul_wt_packed(W.dtype, W.data, W.rows, W.cols, b, xf, lx, N, yf, ly);
  else
    matmul_wt(W.dtype, W.data, W.rows, W.cols, b, xf, lx, N, yf, ly);
  if (accumulate) {  // y += the product: the same float32 sum as a separate add()
    float* yo = static_cast<float*>(y.p);
    parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t n = r0; n < r1; ++n)
        for (int64_t m = 0; m < W.rows; ++m) yo[n * ldy + m] += yf[n * ly + m];
    });
  } else if (y.dt != DType::F32) {
    for (int64_t n = 0; n < N; ++n) store_act(y, n * ldy, yf + n * ly, W.rows);
  }
}

void CpuBackend::embed(const Weight& E, const int32_t* ids, int64_t N, float* y) {
  const int64_t D = E.cols;
  const size_t esz = dtype_size(E.dtype);
  for (int64_t n = 0; n < N; ++n) {
    XLSTM_CHECK(ids[n] >= 0 && ids[n] < E.rows, "token id {} out of range [0, {})", ids[n], E.rows);
    if (static_cast<const CpuWeight&>(E).packed) {
      packed_row_to_f32(E.dtype, E.data, D, ids[n], y + n * D);
      continue;
    }
    convert_to_f32(E.dtype, static_cast<const char*>(E.data) + size_t(ids[n]) * size_t(D) * esz, y + n * D,
                   size_t(D));
  }
}

void CpuBackend::rmsnorm(const float* x, const Weight& w, const Weight* b, float eps, int64_t N, int64_t D,
                         Act y) {
  const float* wp = static_cast<const float*>(w.data);
  const float* bp = b ? static_cast<const float*>(b->data) : nullptr;
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* out = row_out(y, r * D, D);
      rms_row(x + r * D, wp, bp, eps, D, out);
      store_act(y, r * D, out, D);
    }
  });
}

void CpuBackend::layernorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int64_t D,
                           float* y) {
  const float* wp = w ? static_cast<const float*>(w->data) : nullptr;
  const float* bp = b ? static_cast<const float*>(b->data) : nullptr;
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      float mean = 0.f;
      for (int64_t i = 0; i < D; ++i) mean += xr[i];
      mean /= float(D);
      float var = 0.f;
      for (int64_t i = 0; i < D; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      float inv = 1.0f / std::sqrt(var / float(D) + eps);
      for (int64_t i = 0; i < D; ++i) {
        float v = (xr[i] - mean) * inv;
        yr[i] = (wp ? v * wp[i] : v) + (bp ? bp[i] : 0.f);
      }
    }
  });
}

void CpuBackend::add(float* x, const float* y, int64_t n) {
  parallel_for(n, 1 << 14, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) x[i] += y[i];
  });
}

void CpuBackend::softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap) {
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) x[r * ld + c] = cap * std::tanh(x[r * ld + c] / cap);
  });
}

void CpuBackend::mlstm(const MlstmArgs& a) { mlstm_forward(a); }

void CpuBackend::mhln_gate(const float* h, const float* o, int64_t ldo, const Weight& w, const Weight* b,
                           float eps, int64_t N, int NH, int DV, Act y) {
  const float* wp = static_cast<const float*>(w.data);
  const float* bp = b ? static_cast<const float*>(b->data) : nullptr;
  parallel_for(N * NH, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t n = r / NH, hd = r % NH;
      const float* hr = h + r * DV;
      const float* orow = o + n * ldo + hd * DV;
      float* yr = row_out(y, r * DV, DV);
      const float* wr = wp + hd * DV;
      float mean = 0.f;
      for (int i = 0; i < DV; ++i) mean += hr[i];
      mean /= float(DV);
      float var = 0.f;
      for (int i = 0; i < DV; ++i) var += (hr[i] - mean) * (hr[i] - mean);
      float inv = 1.0f / std::sqrt(var / float(DV) + eps);
      for (int i = 0; i < DV; ++i) {
        float v = (hr[i] - mean) * inv * wr[i] + (bp ? bp[hd * DV + i] : 0.f);
        yr[i] = v / (1.0f + std::exp(-orow[i]));
      }
      store_act(y, r * DV, yr, DV);
    }
  });
}

void CpuBackend::swiglu(Act gu, int64_t N, int64_t F) {
  std::vector<float> t;
  int64_t ld = 2 * F;
  float* g = gu.dt == DType::F32 ? static_cast<float*>(gu.p)
                                 : const_cast<float*>(widen_act(ConstAct(gu), N, 2 * F, 2 * F, t, &ld));
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* gr = g + r * ld;
      const float* ur = gr + F;
      for (int64_t i = 0; i < F; ++i) gr[i] = gr[i] / (1.0f + std::exp(-gr[i])) * ur[i];
      if (gu.dt != DType::F32) store_act(gu, r * 2 * F, gr, F);
    }
  });
}

}  // namespace xlstm::cpu
