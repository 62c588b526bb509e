// Why: the AVX-512 (F, BW, VL, DQ) build of the matrix-product kernels in cpu_matmul_kernels.inc. Compiled
// for that ISA through `#pragma GCC target` (no per-file flags), entered only after a run-time CPU check.
#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/cpu_matmul_kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define XLSTM_MM_AVX512 1
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")
// GCC 12's AVX-512 intrinsics initialise their "undefined" pass-through operands from themselves (GCC bug
// 105593), which -Wuninitialized reports at every inlined use; the warning is about the header, not us.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace xlstm::cpu::mm::avx512_impl {

struct V {
  static constexpr int kRegs = 32;
  static constexpr int L = 16;
  static constexpr int MR = 12;      // 12 x 32 tile: 24 zmm accumulators
  static constexpr int64_t MC = 256; // 256 x KC floats of packed weights: 512 KiB, in L2
  static constexpr int64_t KC = 512;
  using f = __m512;
  static inline f zero() { return _mm512_setzero_ps(); }
  static inline f load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, f v) { _mm512_storeu_ps(p, v); }
  static inline f set1(float s) { return _mm512_set1_ps(s); }
  static inline f fma(f a, f b, f c) { return _mm512_fmadd_ps(a, b, c); }
  static inline f add(f a, f b) { return _mm512_add_ps(a, b); }
  static inline float hsum(f v) { return _mm512_reduce_add_ps(v); }
  static inline f widen_bf16(const uint16_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static inline f widen_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // 32 bf16: 32-bit lane i holds elements 2i (low half) and 2i+1 (high half).
  static inline void bf16_eo(const uint16_t* p, f& even, f& odd) {
    __m512i w = _mm512_loadu_si512(p);
    asm("" : "+v"(w));  // one load per line: keeps GCC from folding it into both uses (two loads)
    even = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(int(0xffff0000u))));
  }
  static inline void transpose(f r[16]) {
    f t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // r[4i + c], 128-bit lane q: column 4q + c of rows 4i .. 4i+3
      r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
      r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int c = 0; c < 4; ++c) {
      const f ab_lo = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), ab_hi = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xee);
      const f cd_lo = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44),
              cd_hi = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xee);
      t[c] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88);
      t[c + 4] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xdd);
      t[c + 8] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88);
      t[c + 12] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xdd);
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
  }
  static inline void prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
};

}  // namespace xlstm::cpu::mm::avx512_impl

#define XLSTM_MM_NS xlstm::cpu::mm::avx512_impl
#include "backend/cpu/cpu_matmul_kernels.inc"
#undef XLSTM_MM_NS

#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

namespace xlstm::cpu::mm {

const Kernels* kernels_avx512() {
#ifdef XLSTM_MM_AVX512
  namespace k = avx512_impl;
  static const Kernels table{"avx512", k::G, k::MR, k::NR, k::MC, k::KC, &k::gemv, &k::gemm,
                             k::MC * k::KC};
  __builtin_cpu_init();
  const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return ok ? &table : nullptr;
#else
  return nullptr;
#endif
}

}  // namespace xlstm::cpu::mm
