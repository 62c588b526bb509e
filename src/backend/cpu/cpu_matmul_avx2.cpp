// Why: the AVX2 + FMA + F16C build of the matrix-product kernels in cpu_matmul_kernels.inc, for x86-64
// machines without AVX-512. Compiled through `#pragma GCC target`, entered only after a run-time CPU check.
#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/cpu_matmul_kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define XLSTM_MM_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace xlstm::cpu::mm::avx2_impl {

struct V {
  static constexpr int kRegs = 16;
  static constexpr int L = 8;
  static constexpr int MR = 6;        // 6 x 16 tile: 12 ymm accumulators
  static constexpr int64_t MC = 256;  // 256 x KC floats of packed weights: 256 KiB
  static constexpr int64_t KC = 256;
  using f = __m256;
  static inline f zero() { return _mm256_setzero_ps(); }
  static inline f load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, f v) { _mm256_storeu_ps(p, v); }
  static inline f set1(float s) { return _mm256_set1_ps(s); }
  static inline f fma(f a, f b, f c) { return _mm256_fmadd_ps(a, b, c); }
  static inline f add(f a, f b) { return _mm256_add_ps(a, b); }
  static inline float hsum(f v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline f widen_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static inline f widen_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static inline void bf16_eo(const uint16_t* p, f& even, f& odd) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(int(0xffff0000u))));
  }
  static inline void transpose(f r[8]) {
    f t[8], s[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
      s[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
      s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int c = 0; c < 4; ++c) {
      r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
      r[c + 4] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
    }
  }
  static inline void prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
};

}  // namespace xlstm::cpu::mm::avx2_impl

#define XLSTM_MM_NS xlstm::cpu::mm::avx2_impl
#include "backend/cpu/cpu_matmul_kernels.inc"
#undef XLSTM_MM_NS

#pragma GCC pop_options
#endif

namespace xlstm::cpu::mm {

const Kernels* kernels_avx2() {
#ifdef XLSTM_MM_AVX2
  namespace k = avx2_impl;
  static const Kernels table{"avx2", k::G, k::MR, k::NR, k::MC, k::KC, &k::gemv, &k::gemm,
                             k::MC * k::KC};
  __builtin_cpu_init();
  const bool ok =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return ok ? &table : nullptr;
#else
  return nullptr;
#endif
}

}  // namespace xlstm::cpu::mm
