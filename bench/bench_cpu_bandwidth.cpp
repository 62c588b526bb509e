// Why: the CPU decode target is stated against this machine's memory-read bandwidth, so the bandwidth and the
// GEMV throughput must be measured in the same run. This binary prints (a) the read bandwidth of a plain
// multi-threaded sum over a 4 GiB buffer, (b) matmul_wt GEMV throughput (GB/s of weights) for the xLSTM-7B
// shapes in bf16 at batch 1, over weight copies totalling more than 1 GiB so nothing is served from cache, and
// the ratio of the two; on a shared machine the bandwidth drifts, so each GEMV pass is also paired with a plain
// sum over the same bytes and the ratio of those pairs is printed too; and (c) prefill GEMM GFLOP/s against
// OpenBLAS sgemm and the FMA peak measured here.
//
// Usage: bench_cpu_bandwidth [--quick] [--sweep] [--huge] [--only abc] [--threads N]
//   --quick: smaller buffers and fewer repeats (smoke test); --sweep: GEMV vs GEMM time for N = 1..256;
//   --only: run only the listed sections (the bandwidth of (a) is still measured when (b) runs);
//   --huge: madvise(MADV_HUGEPAGE) on the sum and weight buffers (2 MiB pages where the kernel allows).
#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_matmul.h"
#include "common/dtype.h"
#include "common/parallel.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using xlstm::DType;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool g_huge = false;  // --huge: ask for transparent huge pages (2 MiB) on the big buffers

struct Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Buffer(size_t n) : p(std::aligned_alloc(size_t(2) << 20, (n + (size_t(2) << 20) - 1) >> 21 << 21)), bytes(n) {
    if (!p) {
      std::fprintf(stderr, "out of memory allocating %zu bytes\n", n);
      std::exit(1);
    }
    if (g_huge) madvise(p, (n + (size_t(2) << 20) - 1) >> 21 << 21, MADV_HUGEPAGE);
  }
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// Runs body(block) for blocks [0, n) on the pool, threads claiming blocks one at a time.
template <class F>
void for_blocks(int64_t n, const F& body) {
  std::atomic<int64_t> next{0};
  xlstm::parallel_for(xlstm::num_threads(), 1, [&](int64_t, int64_t) {
    for (int64_t b; (b = next.fetch_add(1)) < n;) body(b);
  });
}

// Fills with random bf16 values of moderate magnitude (first touch in parallel, like a loaded model).
void fill_bf16(uint16_t* p, size_t n) {
  const size_t block = size_t(1) << 22;
  for_blocks(int64_t((n + block - 1) / block), [&](int64_t b) {
    uint64_t s = 0x9e3779b97f4a7c15ull * uint64_t(b + 1);
    const size_t lo = size_t(b) * block, hi = std::min(n, lo + block);
    for (size_t i = lo; i < hi; ++i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const uint32_t r = uint32_t(s >> 33);
      // sign | exponent 117..124 (|w| in [2^-10, 2^-2]) | 7-bit mantissa
      p[i] = uint16_t(((r & 1u) << 15) | ((117u + ((r >> 1) & 7u)) << 7) | ((r >> 4) & 0x7fu));
    }
  });
}

// ---- (a) read bandwidth ----------------------------------------------------------------------------------
// The sum must not be compute-bound (a scalar or SSE2 loop tops out near 26 GB/s per core here), so it uses
// AVX2 loads with four independent accumulators where the CPU has them.
uint64_t sum_u64_plain(const uint64_t* a, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i];
  return s;
}
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t sum_u64_avx2(const uint64_t* a, size_t n) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 4)));
    s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 8)));
    s3 = _mm256_add_epi64(s3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 12)));
  }
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t),
                     _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
  return t[0] + t[1] + t[2] + t[3] + sum_u64_plain(a + i, n - i);
}
#endif
uint64_t sum_u64(const uint64_t* a, size_t n) {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return sum_u64_avx2(a, n);
#endif
  return sum_u64_plain(a, n);
}

double read_bandwidth(size_t bytes, int reps, bool all_threads, double* best_out) {
  Buffer buf(bytes);
  const size_t n = bytes / 8;
  auto* a = static_cast<uint64_t*>(buf.p);
  const size_t block = size_t(1) << 17;  // 1 MiB of uint64
  const int64_t nblocks = int64_t((n + block - 1) / block);
  for_blocks(nblocks, [&](int64_t b) {
    const size_t lo = size_t(b) * block, hi = std::min(n, lo + block);
    for (size_t i = lo; i < hi; ++i) a[i] = i;
  });
  std::vector<double> gbs;
  volatile uint64_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    std::atomic<uint64_t> total{0};
    auto sum_block = [&](int64_t b) {
      const size_t lo = size_t(b) * block, hi = std::min(n, lo + block);
      total += sum_u64(a + lo, hi - lo);
    };
    const double t0 = now();
    if (all_threads)
      for_blocks(nblocks, sum_block);
    else
      for (int64_t b = 0; b < nblocks; ++b) sum_block(b);
    const double t1 = now();
    sink = sink + total.load();
    gbs.push_back(double(bytes) / (t1 - t0) / 1e9);
  }
  (void)sink;
  *best_out = *std::max_element(gbs.begin(), gbs.end());
  return median(gbs);
}

// ---- (b) GEMV ------------------------------------------------------------------------------------------------
struct Shape {
  const char* what;
  int64_t M, K;
  int per_token;  // occurrences per decoded token in the 7B (32 blocks + the head)
};

struct GemvResult {
  double gbs;       // median GEMV throughput over passes (GB of weights per second)
  double sum_gbs;   // median throughput of the plain sum over the same bytes, in passes alternating with the GEMV
  double ratio;     // median over passes of GEMV / sum (robust to the machine's bandwidth drifting)
  double seconds_per_call;
};

// Alternates passes of (plain sum over the weight copies, GEMV over the same copies) so that both see the
// same memory conditions; on a shared machine the bandwidth drifts by tens of percent within minutes.
// packed: W copies in the packed layout (pack_weight of the same copies, same size for these shapes).
GemvResult bench_gemv(const Shape& s, uint16_t* pool, size_t pool_elems, bool packed, int64_t N,
                      double min_seconds) {
  const size_t elems = size_t(s.M) * size_t(s.K);
  const size_t copies = std::max<size_t>(2, pool_elems / elems);
  if (copies * elems > pool_elems || xlstm::cpu::packed_weight_bytes(DType::BF16, s.M, s.K) != elems * 2) {
    std::fprintf(stderr, "weight pool too small for %s, or a shape the packed layout pads\n", s.what);
    std::exit(1);
  }
  const size_t bytes = copies * elems * 2;
  std::vector<float> x(size_t(N * s.K)), y(size_t(N * s.M));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) / 8.f;
  auto gemv_pass = [&] {
    for (size_t c = 0; c < copies; ++c)
      (packed ? xlstm::cpu::matmul_wt_packed : xlstm::cpu::matmul_wt)(DType::BF16, pool + c * elems, s.M, s.K,
                                                                       nullptr, x.data(), s.K, N, y.data(), s.M);
  };
  const auto* words = reinterpret_cast<const uint64_t*>(pool);
  const size_t block = size_t(1) << 17;  // 1 MiB of uint64
  const size_t nwords = bytes / 8;
  volatile uint64_t sink = 0;
  auto sum_pass = [&] {
    std::atomic<uint64_t> total{0};
    for_blocks(int64_t((nwords + block - 1) / block), [&](int64_t b) {
      const size_t lo = size_t(b) * block;
      total += sum_u64(words + lo, std::min(block, nwords - lo));
    });
    sink = sink + total.load();
  };
  gemv_pass();  // warm-up (page tables, scratch buffers)
  std::vector<double> gbs, sums, ratios;
  double spent = 0;
  while (spent < min_seconds || gbs.size() < 5) {
    double t0 = now();
    sum_pass();
    const double ts = now() - t0;
    t0 = now();
    gemv_pass();
    const double tg = now() - t0;
    spent += ts + tg;
    gbs.push_back(double(bytes) / tg / 1e9);
    sums.push_back(double(bytes) / ts / 1e9);
    ratios.push_back(ts / tg);
  }
  (void)sink;
  const double med = median(gbs);
  return {med, median(sums), median(ratios), double(elems * 2) / (med * 1e9)};
}

// ---- (c) GEMM ---------------------------------------------------------------------------------------------------
double time_best(int reps, const std::function<void()>& fn) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    fn();
    best = std::min(best, now() - t0);
  }
  return best;
}

#if defined(__GNUC__) && defined(__x86_64__)
// Peak single-precision FMA throughput of one core: independent register FMAs, no memory traffic.
__attribute__((target("avx512f"))) double fma_peak_avx512(int64_t iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.f + float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  const double t0 = now();
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  const double dt = now() - t0;
  alignas(64) float out[16];
  for (int i = 1; i < 12; ++i) a[0] = _mm512_add_ps(a[0], a[i]);
  _mm512_store_ps(out, a[0]);
  volatile float sink = out[0];
  (void)sink;
  return double(iters) * 12 * 16 * 2 / dt / 1e9;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, sweep = false;
  std::string only = "abc";
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--sweep")) {
      sweep = true;
    } else if (!std::strcmp(argv[i], "--huge")) {
      g_huge = true;
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--sweep] [--huge] [--only abc] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  if (threads > 0) xlstm::set_num_threads(threads);
  const int T = xlstm::num_threads();
  std::printf("threads %d, matmul isa %s, %s pages\n", T, xlstm::cpu::matmul_isa(),
              g_huge ? "transparent huge (madvise)" : "default (4 KiB unless THP=always)");

  const bool run_b = only.find('b') != std::string::npos, run_c = only.find('c') != std::string::npos;
  const bool run_a = run_b || only.find('a') != std::string::npos;

  // (a)
  double bw = 0;
  if (run_a) {
    const size_t bw_bytes = quick ? (size_t(512) << 20) : (size_t(4) << 30);
    double bw_best = 0, bw1_best = 0;
    bw = read_bandwidth(bw_bytes, quick ? 5 : 9, true, &bw_best);
    const double bw1 = read_bandwidth(bw_bytes / 2, quick ? 3 : 5, false, &bw1_best);
    std::printf("\n(a) memory read bandwidth, sum over %.1f GiB: %.1f GB/s median (best %.1f) on %d threads; "
                "%.1f GB/s on 1 thread\n",
                double(bw_bytes) / (1 << 30), bw, bw_best, T, bw1);
  }

  // (b)
  const Shape shapes[] = {{"q|k|v|o fused", 12288, 4096, 32},
                          {"gate|up", 21888, 4096, 32},
                          {"down", 4096, 10944, 32},
                          {"4096x4096 (out_proj)", 4096, 4096, 32},
                          {"lm_head", 50304, 4096, 1}};
  const size_t pool_elems =
      !run_b ? size_t(12288) * 4096 : quick ? (size_t(832) << 20) / 2 : (size_t(1280) << 20) / 2;
  Buffer pool(pool_elems * 2);
  fill_bf16(static_cast<uint16_t*>(pool.p), pool_elems);
  if (run_b) {
  // The same weights in the packed layout, in a second pool (bench_gemv packs per shape).
  Buffer ppool(pool_elems * 2);
  std::printf("\n(b) GEMV y = x W^T, W bf16, batch N=1, weights rotated over %.2f GiB (median of passes);\n"
              "    row-major weights (matmul_wt) and the packed layout (pack_weight + matmul_wt_packed)\n",
              double(pool_elems * 2) / (1 << 30));
  std::printf("  %-22s %6s %6s | %9s %7s %9s | %9s %7s %9s | %9s\n", "shape", "M", "K", "row GB/s", "vs (a)",
              "vs sum*", "pack GB/s", "vs (a)", "vs sum*", "sum GB/s*");
  double token_bytes = 0, token_seconds[2] = {0, 0}, token_sum_seconds[2] = {0, 0};
  auto pack_shape = [&](const Shape& s) {
    const size_t elems = size_t(s.M) * size_t(s.K), copies = std::max<size_t>(2, pool_elems / elems);
    for (size_t c = 0; c < copies; ++c)
      xlstm::cpu::pack_weight(DType::BF16, static_cast<uint16_t*>(pool.p) + c * elems, s.M, s.K,
                              static_cast<uint16_t*>(ppool.p) + c * elems);
  };
  for (const Shape& s : shapes) {
    pack_shape(s);
    GemvResult r[2];
    for (int p = 0; p < 2; ++p)
      r[p] = bench_gemv(s, static_cast<uint16_t*>(p ? ppool.p : pool.p), pool_elems, p == 1, 1, quick ? 0.3 : 2.0);
    std::printf("  %-22s %6lld %6lld | %9.1f %6.1f%% %8.1f%% | %9.1f %6.1f%% %8.1f%% | %9.1f\n", s.what,
                (long long)s.M, (long long)s.K, r[0].gbs, 100 * r[0].gbs / bw, 100 * r[0].ratio, r[1].gbs,
                100 * r[1].gbs / bw, 100 * r[1].ratio, 0.5 * (r[0].sum_gbs + r[1].sum_gbs));
    token_bytes += double(s.per_token) * double(s.M * s.K * 2);
    for (int p = 0; p < 2; ++p) {
      token_seconds[p] += s.per_token * r[p].seconds_per_call;
      token_sum_seconds[p] += s.per_token * r[p].seconds_per_call * r[p].ratio;  // what a pure read would take
    }
  }
  std::printf("  * plain sum over the same weight bytes, alternating pass by pass with the GEMV\n");
  std::printf("  7B decode mix (32 x each block shape + lm_head, %.2f GB of weights per token):\n", token_bytes / 1e9);
  for (int p = 0; p < 2; ++p)
    std::printf("    %-10s GEMV %.1f GB/s = %.1f%% of (a), %.1f%% of the interleaved sums; %.2f tokens/s for these "
                "products alone\n",
                p ? "packed:" : "row-major:", token_bytes / token_seconds[p] / 1e9,
                100 * token_bytes / token_seconds[p] / 1e9 / bw, 100 * token_sum_seconds[p] / token_seconds[p],
                1 / token_seconds[p]);
  pack_shape(shapes[0]);
  for (int64_t N : {2, 4, 8})
    for (int p = 0; p < 2; ++p) {
      const GemvResult r = bench_gemv(shapes[0], static_cast<uint16_t*>(p ? ppool.p : pool.p), pool_elems, p == 1,
                                      N, quick ? 0.2 : 1.0);
      std::printf("  q|k|v|o fused at N=%lld, %-10s %.1f GB/s, %.1f%% of (a), %.1f%% of the interleaved sums\n",
                  (long long)N, p ? "packed:" : "row-major:", r.gbs, 100 * r.gbs / bw, 100 * r.ratio);
    }

  if (sweep) {
    std::printf("\n    N   gemv ms   gemm ms   (12288x4096 bf16, one matrix from the pool)\n");
    std::vector<float> x(size_t(256 * 4096), 0.5f), y(size_t(256 * 12288));
    auto* W = static_cast<uint16_t*>(pool.p);
    for (int N : {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256}) {
      double t[2];
      for (int mode = 0; mode < 2; ++mode) {
        xlstm::cpu::set_matmul_gemv_max_n_for_testing(mode == 0 ? 1000 : 0);
        t[mode] = time_best(5, [&] {
          xlstm::cpu::matmul_wt(DType::BF16, W, 12288, 4096, nullptr, x.data(), 4096, N, y.data(), 12288);
        });
      }
      std::printf("  %3d %9.3f %9.3f\n", N, t[0] * 1e3, t[1] * 1e3);
    }
    xlstm::cpu::set_matmul_gemv_max_n_for_testing(-1);
  }
  }  // run_b

  // (c)
  if (run_c) {
    const int64_t M = 12288, K = 4096;
    const int64_t Nmax = quick ? 512 : 2048;
    std::vector<float> x(size_t(Nmax * K)), y(size_t(Nmax * M)), wf(size_t(M * K));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 29) - 14) / 16.f;
    auto* wb = static_cast<uint16_t*>(pool.p);  // first M*K bf16 of the pool
    xlstm::convert_to_f32(DType::BF16, wb, wf.data(), wf.size());
    std::vector<uint16_t> wh(wf.size()), wp(xlstm::cpu::packed_weight_bytes(DType::BF16, M, K) / 2);
    xlstm::convert_from_f32(DType::F16, wf.data(), wh.data(), wf.size());
    xlstm::cpu::pack_weight(DType::BF16, wb, M, K, wp.data());
    std::printf("\n(c) GEMM y = x W^T, M=%lld K=%lld, GFLOP/s (best of repeats)\n", (long long)M, (long long)K);
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
      double peak1 = fma_peak_avx512(quick ? 20000000 : 100000000);
      std::printf("  FMA peak (AVX-512 register FMAs, 1 thread): %.1f GFLOP/s per core, x%d threads = %.1f\n", peak1,
                  T, peak1 * T);
    }
#endif
    std::printf("  OpenBLAS core: %s\n", openblas_get_corename());
    std::printf("  %6s %14s %14s %14s %14s %14s\n", "N", "sgemm f32", "ours f32", "ours bf16", "ours f16",
                "bf16 packed");
    for (int64_t N : {int64_t(64), int64_t(512), int64_t(2048)}) {
      if (N > Nmax) break;
      const int reps = quick ? 2 : (N >= 2048 ? 3 : 6);
      const double flops = 2.0 * double(N) * double(M) * double(K);
      openblas_set_num_threads(T);
      const double t_blas = time_best(reps, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(M), int(K), 1.0f, x.data(), int(K),
                    wf.data(), int(K), 0.0f, y.data(), int(M));
      });
      openblas_set_num_threads(1);
      const double t_f32 = time_best(reps, [&] {
        xlstm::cpu::matmul_wt(DType::F32, wf.data(), M, K, nullptr, x.data(), K, N, y.data(), M);
      });
      const double t_bf16 = time_best(reps, [&] {
        xlstm::cpu::matmul_wt(DType::BF16, wb, M, K, nullptr, x.data(), K, N, y.data(), M);
      });
      const double t_f16 = time_best(reps, [&] {
        xlstm::cpu::matmul_wt(DType::F16, wh.data(), M, K, nullptr, x.data(), K, N, y.data(), M);
      });
      const double t_packed = time_best(reps, [&] {
        xlstm::cpu::matmul_wt_packed(DType::BF16, wp.data(), M, K, nullptr, x.data(), K, N, y.data(), M);
      });
      std::printf("  %6lld %14.1f %14.1f %14.1f %14.1f %14.1f\n", (long long)N, flops / t_blas / 1e9,
                  flops / t_f32 / 1e9, flops / t_bf16 / 1e9, flops / t_f16 / 1e9, flops / t_packed / 1e9);
    }
  }
  return 0;
}
