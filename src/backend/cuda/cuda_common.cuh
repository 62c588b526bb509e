// Why: small device helpers every kernel file shares: reductions, bf16/f16 unpacking of 16-byte vectors,
// grid sizing. Nothing here launches anything.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "common/dtype.h"

namespace xlstm::cuda {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// silu(g) * u with the accurate expf, as the CPU backend computes it.
__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

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

// ---- activations of matrix products: float, __nv_bfloat16 or __half elements ------------------------
__device__ __forceinline__ float act_to_f32(float v) { return v; }
__device__ __forceinline__ float act_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float act_to_f32(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T act_from_f32(float v);
template <>
__device__ __forceinline__ float act_from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 act_from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>  // saturating, like the CPU backend's F16 activations
__device__ __forceinline__ __half act_from_f32<__half>(float v) { return __float2half_rn(fminf(fmaxf(v, -65504.f), 65504.f)); }

// Four consecutive elements; p aligned to 4 elements.
__device__ __forceinline__ float4 act_load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float4 act_load4(const __nv_bfloat16* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 a = unpack_bf16x2(u.x), b = unpack_bf16x2(u.y);
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float4 act_load4(const __half* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 a = unpack_f16x2(u.x), b = unpack_f16x2(u.y);
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ void act_store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ void act_store4(__nv_bfloat16* p, float4 v) {
  __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
  uint2 o;
  o.x = *reinterpret_cast<uint32_t*>(&a), o.y = *reinterpret_cast<uint32_t*>(&b);
  *reinterpret_cast<uint2*>(p) = o;
}
__device__ __forceinline__ void act_store4(__half* p, float4 v) {
  __half2 a = __floats2half2_rn(fminf(fmaxf(v.x, -65504.f), 65504.f), fminf(fmaxf(v.y, -65504.f), 65504.f));
  __half2 b = __floats2half2_rn(fminf(fmaxf(v.z, -65504.f), 65504.f), fminf(fmaxf(v.w, -65504.f), 65504.f));
  uint2 o;
  o.x = *reinterpret_cast<uint32_t*>(&a), o.y = *reinterpret_cast<uint32_t*>(&b);
  *reinterpret_cast<uint2*>(p) = o;
}

// Calls f(T{}) with T the element type of activation dtype t (host side, to pick a kernel instance).
template <typename F>
void with_act_type(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); break;
    case DType::BF16: f(__nv_bfloat16{}); break;
    case DType::F16: f(__half{}); break;
  }
}

// ---- programmatic dependent launch (sm_90) --------------------------------------------------------
// A kernel launched by launch_kernel may start while the kernel before it in the stream is still
// running (once every block of that one has called pdl_trigger or exited). It must call pdl_wait before
// touching anything an earlier kernel writes, and every thread must reach pdl_wait before it exits (so
// the grid completes only after its predecessor: later kernels rely on that order). Reading weights
// (never written by kernels) before pdl_wait is how the products hide their start. On earlier GPUs, or
// without the launch attribute, both are no-ops.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// A hint that pulls the line holding p into L2 (no register, no fault, no ordering: safe on data an earlier
// kernel may still be writing, which is why kernels issue it before pdl_wait).
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// kernel<<<grid, block, smem, s>>>(args...) with the programmatic-stream-serialization attribute where
// pdl_enabled() and the previous operation on the stream was a kernel (take_pdl_for_launch); checks the
// launch.
template <typename... KArgs, typename... Args>
void launch_kernel(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem, cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr, cfg.numAttrs = take_pdl_for_launch() ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...));
}

// Grid size for grid-stride elementwise kernels: enough blocks to fill the GPU several times over.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t b = ceil_div(n, threads);
  if (b > 65536) b = 65536;
  return unsigned(b < 1 ? 1 : b);
}

}  // namespace xlstm::cuda
