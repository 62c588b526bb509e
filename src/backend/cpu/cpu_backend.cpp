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

void CpuBackend::linear(const Weight& W, const Weight* bias, const float* x, int64_t ldx, int64_t N, float* y,
                        int64_t ldy) {
  const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;
  if (static_cast<const CpuWeight&>(W).packed)
    matmul_wt_packed(W.dtype, W.data, W.rows, W.cols, b, x, ldx, N, y, ldy);
  else
    matmul_wt(W.dtype, W.data, W.rows, W.cols, b, x, ldx, N, y, ldy);
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
                         float* y) {
  const float* wp = static_cast<const float*>(w.data);
  const float* bp = b ? static_cast<const float*>(b->data) : nullptr;
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      float ss = 0.f;
      for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
      float inv = 1.0f / std::sqrt(ss / float(D) + eps);
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * inv * wp[i] + (bp ? bp[i] : 0.f);
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
                           float eps, int64_t N, int NH, int DV, float* y) {
  const float* wp = static_cast<const float*>(w.data);
  const float* bp = b ? static_cast<const float*>(b->data) : nullptr;
  parallel_for(N * NH, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t n = r / NH, hd = r % NH;
      const float* hr = h + r * DV;
      const float* orow = o + n * ldo + hd * DV;
      float* yr = y + r * DV;
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
    }
  });
}

void CpuBackend::swiglu(const float* gu, int64_t N, int64_t F, float* y) {
  parallel_for(N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gu + r * 2 * F;
      const float* u = g + F;
      for (int64_t i = 0; i < F; ++i) y[r * F + i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
  });
}

}  // namespace xlstm::cpu
