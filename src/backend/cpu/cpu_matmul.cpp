// Why: see cpu_matmul.h. This file is compiled for the baseline ISA: it picks the SIMD kernels at run time
// (cpu_matmul_avx512.cpp, cpu_matmul_avx2.cpp), owns the threading and scratch memory, and holds the
// portable fallback ("scalar": plain C++ dot products for small N, OpenBLAS sgemm on widened weight panels
// for large N).
//
// Threading: parallel_for hands each pool thread one slot; inside, threads claim small blocks through an
// atomic counter. The pool itself splits into at most 4 chunks per thread, too coarse to even out a late
// worker wake-up on a bandwidth-bound GEMV; self-scheduling small blocks keeps both cores busy to the end.
#include "backend/cpu/cpu_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend/cpu/cpu_matmul_kernels.h"
#include "common/parallel.h"

namespace xlstm::cpu {
namespace {

// ---- choice of ISA ------------------------------------------------------------------------------------
// mode: -1 automatic, else an index into isa_names.
constexpr const char* isa_names[] = {"scalar", "avx2", "avx512"};
std::atomic<int> g_forced_isa{-1};
// GEMV up to this N, blocked GEMM beyond: the GEMV re-reads each ~256 KiB weight block from L2 once per 4 x
// rows, the GEMM pays for widening and transposing the weights once. Measured crossover (12288x4096 bf16, 2
// threads, bench_cpu_bandwidth --sweep): N ~ 16-24 depending on the run.
constexpr int kDefaultGemvMaxN = 16;
std::atomic<int> g_gemv_max_n{kDefaultGemvMaxN};

const mm::Kernels* kernels_for(int isa) {
  switch (isa) {
    case 1: return mm::kernels_avx2();
    case 2: return mm::kernels_avx512();
    default: return nullptr;
  }
}

int isa_index(const char* name) {
  for (int i = 0; i < 3; ++i)
    if (std::strcmp(name, isa_names[i]) == 0) return i;
  return -2;
}

int auto_isa() {
  static const int isa = [] {
    // XLSTM_MATMUL_ISA=scalar|avx2|avx512 narrows the choice (debugging, benchmarks); ignored if unsupported.
    if (const char* env = std::getenv("XLSTM_MATMUL_ISA")) {
      int i = isa_index(env);
      if (i == 0 || (i > 0 && kernels_for(i))) return i;
    }
    if (mm::kernels_avx512()) return 2;
    if (mm::kernels_avx2()) return 1;
    return 0;
  }();
  return isa;
}

int current_isa() {
  int f = g_forced_isa.load(std::memory_order_relaxed);
  return f >= 0 ? f : auto_isa();
}

// ---- scratch --------------------------------------------------------------------------------------------
// A per-thread, 64-byte aligned float buffer that only grows.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t floats) {
    if (floats > n) {
      std::free(p);
      n = (floats + 15) / 16 * 16;
      p = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
      if (!p) {
        n = 0;
        throw std::bad_alloc();
      }
    }
    return p;
  }
};
thread_local Scratch t_xpack, t_work;

// Runs body(block) for blocks [0, nblocks) over the pool, threads claiming blocks one at a time.
template <class Body>
void for_blocks(int64_t nblocks, const Body& body) {
  if (nblocks <= 1 || num_threads() == 1) {
    for (int64_t b = 0; b < nblocks; ++b) body(b);
    return;
  }
  std::atomic<int64_t> next{0};
  const int64_t slots = std::min<int64_t>(num_threads(), nblocks);
  parallel_for(slots, 1, [&](int64_t, int64_t) {
    for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < nblocks;) body(b);
  });
}

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });  // our pool provides the parallelism
}

// ---- layouts ------------------------------------------------------------------------------------------------
// Row m of W (either layout) as float32, exactly.
void row_to_f32(DType wt, const void* W, bool packed, int64_t K, int64_t m, float* dst) {
  const size_t esz = dtype_size(wt);
  const char* base = static_cast<const char*>(W);
  if (!packed) {
    convert_to_f32(wt, base + size_t(m) * size_t(K) * esz, dst, size_t(K));
    return;
  }
  const int64_t E = 64 / int64_t(esz), kpad = mm::packed_kpad(K);
  for (int64_t k = 0; k < K; k += E)
    convert_to_f32(wt, base + size_t(mm::packed_offset(m, k, kpad, int64_t(esz))) * esz, dst + k,
                   size_t(std::min(E, K - k)));
}

// ---- portable fallback ------------------------------------------------------------------------------------
void scalar_gemv_rows(DType wt, const void* W, bool packed, int64_t K, const float* bias, const float* x,
                      int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t m0, int64_t m1, float* row) {
  for (int64_t m = m0; m < m1; ++m) {
    row_to_f32(wt, W, packed, K, m, row);
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * ldx;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += xr[k + j] * row[k + j];
      for (; k < K; ++k) acc[0] += xr[k] * row[k];
      float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      y[n * ldy + m] = s + (bias ? bias[m] : 0.f);
    }
  }
}

void scalar_matmul(DType wt, const void* W, bool packed, int64_t M, int64_t K, const float* bias, const float* x,
                   int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t gemv_max_n) {
  if (N <= gemv_max_n) {
    const int64_t rows = std::max<int64_t>(4, (int64_t(1) << 17) / (K * int64_t(dtype_size(wt))));
    for_blocks((M + rows - 1) / rows, [&](int64_t b) {
      scalar_gemv_rows(wt, W, packed, K, bias, x, ldx, N, y, ldy, b * rows, std::min(M, (b + 1) * rows),
                       t_work.get(size_t(K)));
    });
    return;
  }
  blas_single_threaded();
  const int64_t panel = 64;  // weight rows per block, widened to float32 then one sgemm
  for_blocks((M + panel - 1) / panel, [&](int64_t b) {
    const int64_t m0 = b * panel, m1 = std::min(M, m0 + panel);
    const float* wf;
    if (wt == DType::F32 && !packed) {
      wf = static_cast<const float*>(W) + m0 * K;
    } else {
      float* buf = t_work.get(size_t(m1 - m0) * size_t(K));
      for (int64_t m = m0; m < m1; ++m) row_to_f32(wt, W, packed, K, m, buf + (m - m0) * K);
      wf = buf;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(m1 - m0), int(K), 1.0f, x, int(ldx), wf,
                int(K), 0.0f, y + m0, int(ldy));
    if (bias)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = m0; m < m1; ++m) y[n * ldy + m] += bias[m];
  });
}

// ---- SIMD paths ---------------------------------------------------------------------------------------------
void simd_gemv(const mm::Kernels& k, DType wt, const void* W, bool packed, int64_t M, int64_t K, const float* bias,
               const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) {
  // Repack x: row stride packed_kpad(K) (a multiple of every kernel's group), zero padded; BF16 groups as
  // (evens, odds).
  const int64_t G = k.group, H = G / 2;
  const int64_t ldxp = mm::packed_kpad(K);
  float* xp = t_xpack.get(size_t(N) * size_t(ldxp));
  for (int64_t n = 0; n < N; ++n) {
    const float* xr = x + n * ldx;
    float* d = xp + n * ldxp;
    if (wt == DType::BF16) {
      for (int64_t k0 = 0; k0 < ldxp; k0 += G)
        for (int64_t j = 0; j < H; ++j) {
          const int64_t ke = k0 + 2 * j, ko = ke + 1;
          d[k0 + j] = ke < K ? xr[ke] : 0.f;
          d[k0 + H + j] = ko < K ? xr[ko] : 0.f;
        }
    } else {
      std::memcpy(d, xr, size_t(K) * sizeof(float));
      std::fill(d + K, d + ldxp, 0.f);
    }
  }
  const mm::GemvArgs a{wt, W, packed, K, bias, xp, ldxp, N, y, ldy};
  // Blocks of about 256 KiB of weights (a multiple of the packed tile): small enough to balance the two cores
  // to the end, large enough that claiming a block costs nothing. Matrices under 1 MiB stay on the calling
  // thread.
  const int64_t T = mm::kPackRows;
  const int64_t row_bytes = K * int64_t(dtype_size(wt));
  const int64_t total = M * row_bytes;
  int64_t rows = std::max<int64_t>(T, (int64_t(256) << 10) / row_bytes / T * T);
  if (total < (int64_t(1) << 20)) rows = M;
  for_blocks((M + rows - 1) / rows, [&](int64_t b) { k.gemv(a, b * rows, std::min(M, (b + 1) * rows)); });
}

void simd_gemm(const mm::Kernels& k, DType wt, const void* W, bool packed, int64_t M, int64_t K, const float* bias,
               const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) {
  const mm::GemmArgs a{wt, W, packed, M, K, bias, x, ldx, N, y, ldy};
  const int64_t mb = (M + k.gemm_mc - 1) / k.gemm_mc;
  // Split N too when there are few weight blocks, so that every thread has work.
  int64_t nb = 1;
  const int64_t want = 4 * int64_t(num_threads());
  while (mb * nb < want && N >= nb * 2 * 4 * k.gemm_mr) nb *= 2;
  const int64_t nchunk = ((N + nb - 1) / nb + k.gemm_mr - 1) / k.gemm_mr * k.gemm_mr;
  nb = (N + nchunk - 1) / nchunk;
  for_blocks(mb * nb, [&](int64_t t) {
    const int64_t mi = t / nb, ni = t % nb;
    const int64_t m0 = mi * k.gemm_mc, n0 = ni * nchunk;
    k.gemm(a, m0, std::min(M, m0 + k.gemm_mc), n0, std::min(N, n0 + nchunk),
           t_work.get(size_t(k.gemm_scratch_floats)));
  });
}

void matmul_any(DType wt, const void* W, bool packed, int64_t M, int64_t K, const float* bias, const float* x,
                int64_t ldx, int64_t N, float* y, int64_t ldy) {
  if (N <= 0 || M <= 0) return;
  if (K <= 0) {  // empty sum
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) y[n * ldy + m] = bias ? bias[m] : 0.f;
    return;
  }
  const int64_t gemv_max_n = g_gemv_max_n.load(std::memory_order_relaxed);
  const mm::Kernels* k = kernels_for(current_isa());
  if (!k)
    scalar_matmul(wt, W, packed, M, K, bias, x, ldx, N, y, ldy, gemv_max_n);
  else if (N <= gemv_max_n)
    simd_gemv(*k, wt, W, packed, M, K, bias, x, ldx, N, y, ldy);
  else
    simd_gemm(*k, wt, W, packed, M, K, bias, x, ldx, N, y, ldy);
}

}  // namespace

const char* matmul_isa() { return isa_names[current_isa()]; }

bool matmul_isa_supported(const char* isa) {
  const int i = isa ? isa_index(isa) : -2;
  return i == 0 || (i > 0 && kernels_for(i) != nullptr);
}

bool set_matmul_isa_for_testing(const char* isa) {
  if (!isa || !*isa || std::strcmp(isa, "auto") == 0) {
    g_forced_isa.store(-1);
    return true;
  }
  if (!matmul_isa_supported(isa)) return false;
  g_forced_isa.store(isa_index(isa));
  return true;
}

void set_matmul_gemv_max_n_for_testing(int n) { g_gemv_max_n.store(n < 0 ? kDefaultGemvMaxN : n); }

void matmul_wt(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
               int64_t N, float* y, int64_t ldy) {
  matmul_any(wt, W, false, M, K, bias, x, ldx, N, y, ldy);
}

void matmul_wt_packed(DType wt, const void* Wp, int64_t M, int64_t K, const float* bias, const float* x,
                      int64_t ldx, int64_t N, float* y, int64_t ldy) {
  matmul_any(wt, Wp, true, M, K, bias, x, ldx, N, y, ldy);
}

size_t packed_weight_bytes(DType wt, int64_t M, int64_t K) {
  return size_t(mm::packed_rows(M)) * size_t(mm::packed_kpad(K)) * dtype_size(wt);
}

void pack_weight(DType wt, const void* W, int64_t M, int64_t K, void* dst) {
  const size_t esz = dtype_size(wt);
  const int64_t E = 64 / int64_t(esz), kpad = mm::packed_kpad(K), lines = kpad / E;
  const int64_t tiles = mm::packed_rows(M) / mm::kPackRows;
  const char* src = static_cast<const char*>(W);
  char* out = static_cast<char*>(dst);
  for_blocks(tiles, [&](int64_t t) {
    char* tile = out + size_t(t * mm::kPackRows * kpad) * esz;
    for (int64_t l = 0; l < lines; ++l)
      for (int64_t rr = 0; rr < mm::kPackRows; ++rr) {
        char* line = tile + size_t((l * mm::kPackRows + rr) * E) * esz;
        const int64_t r = t * mm::kPackRows + rr, k0 = l * E;
        const int64_t n = r < M ? std::clamp<int64_t>(K - k0, 0, E) : 0;
        if (n > 0) std::memcpy(line, src + (size_t(r) * size_t(K) + size_t(k0)) * esz, size_t(n) * esz);
        std::memset(line + size_t(n) * esz, 0, size_t(E - n) * esz);
      }
  });
}

void packed_row_to_f32(DType wt, const void* Wp, int64_t K, int64_t m, float* dst) {
  row_to_f32(wt, Wp, true, K, m, dst);
}

}  // namespace xlstm::cpu
