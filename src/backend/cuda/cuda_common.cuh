// Why: small device helpers every kernel file shares: reductions, bf16/f16 unpacking of 16-byte vectors,
// grid sizing. Nothing here launches anything.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"

namespace xlstm::cuda {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `red` is __shared__ float[32]. Contains __syncthreads: call from all threads.
__device__ __forceinline__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // red may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < nw ? red[lane] : 0.f;
  return warp_sum(v);
}

// Widening of packed 16-bit floats held in 32-bit words.
__device__ __forceinline__ float2 unpack_bf16x2(uint32_t w) {
  return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}
__device__ __forceinline__ float2 unpack_f16x2(uint32_t w) {
  __half2 h = *reinterpret_cast<__half2*>(&w);
  return __half22float2(h);
}
__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) { return __uint_as_float(uint32_t(b) << 16); }
__device__ __forceinline__ float f16_bits_to_f32(uint16_t b) { return __half2float(__ushort_as_half(b)); }

// Element types of weights, as template tags.
struct Bf16T {
  using storage = uint16_t;
  static constexpr int kPerVec = 8;  // elements per 16-byte vector
  __device__ static float load(const storage* p, int64_t i) { return bf16_bits_to_f32(p[i]); }
  __device__ static void unpack(const uint4& v, float* out) {
    float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y, out[4] = c.x, out[5] = c.y, out[6] = d.x, out[7] = d.y;
  }
};
struct F16T {
  using storage = uint16_t;
  static constexpr int kPerVec = 8;
  __device__ static float load(const storage* p, int64_t i) { return f16_bits_to_f32(p[i]); }
  __device__ static void unpack(const uint4& v, float* out) {
    float2 a = unpack_f16x2(v.x), b = unpack_f16x2(v.y), c = unpack_f16x2(v.z), d = unpack_f16x2(v.w);
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y, out[4] = c.x, out[5] = c.y, out[6] = d.x, out[7] = d.y;
  }
};
struct F32T {
  using storage = float;
  static constexpr int kPerVec = 4;
  __device__ static float load(const storage* p, int64_t i) { return p[i]; }
  __device__ static void unpack(const uint4& v, float* out) {
    out[0] = __uint_as_float(v.x), out[1] = __uint_as_float(v.y), out[2] = __uint_as_float(v.z),
    out[3] = __uint_as_float(v.w);
  }
};

// Grid size for grid-stride elementwise kernels: enough blocks to fill the GPU several times over.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t b = ceil_div(n, threads);
  if (b > 65536) b = 65536;
  return unsigned(b < 1 ? 1 : b);
}

}  // namespace xlstm::cuda
