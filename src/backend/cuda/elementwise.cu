// Why: see elementwise.cuh. float4 paths where pointers and sizes allow, scalar paths otherwise; math in
// float32 with the accurate expf/tanhf (no fast-math), so results match the CPU backend to a few ulp.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/elementwise.cuh"

namespace xlstm::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_vec4(float4* x, const float4* y, int64_t n4) {
  pdl_trigger();
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    float4 a = x[i], b = y[i];
    a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
    x[i] = a;
  }
}
__global__ void add_scalar(float* x, const float* y, int64_t n) {
  pdl_trigger();
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

__global__ void softcap_kernel(float* x, int64_t rows, int64_t cols, int64_t ld, float cap) {
  pdl_trigger();
  pdl_wait();
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols; c += int64_t(gridDim.x) * blockDim.x) {
      float* p = x + r * ld + c;
      *p = cap * tanhf(*p / cap);
    }
}

dim3 row_grid(int64_t rows, int64_t cols, int threads) {
  int64_t cb = ceil_div(cols, threads);
  if (cb > 1024) cb = 1024;
  return dim3(unsigned(cb < 1 ? 1 : cb), unsigned(rows > 65535 ? 65535 : rows));
}

// Row-structured kernels use grid (column blocks, rows) so that no thread divides by a row length.
template <typename WT>
__global__ void embed_kernel(const typename WT::storage* E, int64_t rows, int64_t D, const int32_t* ids, float* y) {
  pdl_trigger();
  pdl_wait();
  const int64_t n = blockIdx.x;
  const int32_t id = ids[n];
  float* yr = y + n * D;
  if (id < 0 || id >= rows) {
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) yr[d] = __int_as_float(0x7fc00000);
    return;
  }
  const typename WT::storage* er = E + int64_t(id) * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) yr[d] = WT::load(er, d);
}

__device__ __forceinline__ float load_as_f32(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::BF16: return bf16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return f16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
  }
}
__device__ __forceinline__ void store_from_f32(DType t, void* p, int64_t i, float v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = v; break;
    case DType::BF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
  }
}

__global__ void convert_kernel(DType from, const void* src, DType to, void* dst, int64_t n) {
  pdl_trigger();
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_from_f32(to, dst, i, load_as_f32(from, src, i));
}

__device__ __forceinline__ float clamp_for(DType to, float v) {
  return to == DType::F16 ? fminf(fmaxf(v, -65504.f), 65504.f) : v;
}

// grid (column blocks, rows); VEC: K % 4 == 0 and x, ldx 16-byte aligned.
template <bool VEC>
__global__ void convert_rows_kernel(const float* x, int64_t ldx, int64_t N, int64_t K, DType to, void* dst,
                                    int64_t Npad) {
  pdl_trigger();
  pdl_wait();
  for (int64_t r = blockIdx.y; r < Npad; r += gridDim.y) {
    const float* xr = x + r * ldx;
    if (VEC) {
      uint2* d2 = reinterpret_cast<uint2*>(static_cast<uint16_t*>(dst) + r * K);
      for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < K / 4; c += int64_t(gridDim.x) * blockDim.x) {
        float4 v = r < N ? reinterpret_cast<const float4*>(xr)[c] : make_float4(0.f, 0.f, 0.f, 0.f);
        v.x = clamp_for(to, v.x), v.y = clamp_for(to, v.y), v.z = clamp_for(to, v.z), v.w = clamp_for(to, v.w);
        uint2 o;
        if (to == DType::BF16) {
          __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
          o.x = *reinterpret_cast<uint32_t*>(&a), o.y = *reinterpret_cast<uint32_t*>(&b);
        } else {
          __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
          o.x = *reinterpret_cast<uint32_t*>(&a), o.y = *reinterpret_cast<uint32_t*>(&b);
        }
        d2[c] = o;
      }
    } else {
      for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < K; c += int64_t(gridDim.x) * blockDim.x)
        store_from_f32(to, dst, r * K + c, clamp_for(to, r < N ? xr[c] : 0.f));
    }
  }
}

// y[r*ldy + c] = OT(IT(x[r*ldx + c])) for rows < N, 0 for rows N..Npad-1 (any activation types).
template <typename IT, typename OT>
__global__ void act_rows_kernel(const IT* x, int64_t ldx, int64_t N, int64_t K, OT* y, int64_t ldy, int64_t Npad) {
  pdl_trigger();
  pdl_wait();
  for (int64_t r = blockIdx.y; r < Npad; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < K; c += int64_t(gridDim.x) * blockDim.x)
      y[r * ldy + c] = act_from_f32<OT>(r < N ? act_to_f32(x[r * ldx + c]) : 0.f);
}

// In place over gu [N, 2F] (elements T): gu[n, c] = silu(gu[n, c]) * gu[n, F + c], c < F.
template <typename T, bool VEC>
__global__ void swiglu_inplace_kernel(T* gu, int64_t N, int64_t F) {
  pdl_trigger();
  pdl_wait();
  for (int64_t r = blockIdx.y; r < N; r += gridDim.y) {
    T* g = gu + r * 2 * F;
    const T* u = g + F;
    if (VEC) {
      for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < F / 4; c += int64_t(gridDim.x) * blockDim.x) {
        const float4 a = act_load4(g + 4 * c), b = act_load4(u + 4 * c);
        act_store4(g + 4 * c, make_float4(silu_mul(a.x, b.x), silu_mul(a.y, b.y), silu_mul(a.z, b.z), silu_mul(a.w, b.w)));
      }
    } else {
      for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < F; c += int64_t(gridDim.x) * blockDim.x)
        g[c] = act_from_f32<T>(silu_mul(act_to_f32(g[c]), act_to_f32(u[c])));
    }
  }
}

// y[r*ldy + c] = OT(x[r*ldx + c] + bias[c]), float32 x.
template <typename OT>
__global__ void bias_round_kernel(const float* x, int64_t ldx, const float* bias, int64_t N, int64_t M, OT* y,
                                  int64_t ldy) {
  pdl_trigger();
  pdl_wait();
  for (int64_t r = blockIdx.y; r < N; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < M; c += int64_t(gridDim.x) * blockDim.x)
      y[r * ldy + c] = act_from_f32<OT>(x[r * ldx + c] + (bias ? bias[c] : 0.f));
}

}  // namespace

void launch_act_rows(const void* x, DType xt, int64_t ldx, int64_t N, int64_t K, void* y, DType yt, int64_t ldy,
                     int64_t Npad, cudaStream_t s) {
  if (Npad <= 0 || K <= 0) return;
  with_act_type(xt, [&](auto xtag) {
    using IT = decltype(xtag);
    with_act_type(yt, [&](auto ytag) {
      using OT = decltype(ytag);
      launch_kernel(act_rows_kernel<IT, OT>, row_grid(Npad, K, kThreads), kThreads, 0, s, static_cast<const IT*>(x),
                    ldx, N, K, static_cast<OT*>(y), ldy, Npad);
    });
  });
}

void launch_swiglu_inplace(void* gu, DType t, int64_t N, int64_t F, cudaStream_t s) {
  if (N <= 0 || F <= 0) return;
  const bool vec = F % 4 == 0 && (reinterpret_cast<uintptr_t>(gu) % (4 * dtype_size(t))) == 0;
  with_act_type(t, [&](auto tag) {
    using T = decltype(tag);
    if (vec)
      launch_kernel(swiglu_inplace_kernel<T, true>, row_grid(N, F / 4, kThreads), kThreads, 0, s, static_cast<T*>(gu), N, F);
    else
      launch_kernel(swiglu_inplace_kernel<T, false>, row_grid(N, F, kThreads), kThreads, 0, s, static_cast<T*>(gu), N, F);
  });
}

void launch_bias_round(const float* x, int64_t ldx, const float* bias, int64_t N, int64_t M, void* y, DType yt,
                       int64_t ldy, cudaStream_t s) {
  if (N <= 0 || M <= 0) return;
  with_act_type(yt, [&](auto tag) {
    using OT = decltype(tag);
    launch_kernel(bias_round_kernel<OT>, row_grid(N, M, kThreads), kThreads, 0, s, x, ldx, bias, N, M,
                  static_cast<OT*>(y), ldy);
  });
}

void launch_add(float* x, const float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  if (aligned16(x) && aligned16(y) && n % 4 == 0)
    launch_kernel(add_vec4, grid_for(n / 4, kThreads), kThreads, 0, s, reinterpret_cast<float4*>(x),
                  reinterpret_cast<const float4*>(y), n / 4);
  else
    launch_kernel(add_scalar, grid_for(n, kThreads), kThreads, 0, s, x, y, n);
}

void launch_softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap, cudaStream_t s) {
  if (rows <= 0 || cols <= 0) return;
  launch_kernel(softcap_kernel, row_grid(rows, cols, kThreads), kThreads, 0, s, x, rows, cols, ld, cap);
}

void launch_embed(DType et, const void* E, int64_t rows, int64_t D, const int32_t* ids, int64_t N, float* y,
                  cudaStream_t s) {
  if (N <= 0) return;
  const unsigned threads = D >= 256 ? 256 : 64;
  switch (et) {
    case DType::BF16:
      launch_kernel(embed_kernel<Bf16T>, unsigned(N), threads, 0, s, static_cast<const uint16_t*>(E), rows, D, ids, y);
      break;
    case DType::F16:
      launch_kernel(embed_kernel<F16T>, unsigned(N), threads, 0, s, static_cast<const uint16_t*>(E), rows, D, ids, y);
      break;
    case DType::F32:
      launch_kernel(embed_kernel<F32T>, unsigned(N), threads, 0, s, static_cast<const float*>(E), rows, D, ids, y);
      break;
  }
}

void launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  launch_kernel(convert_kernel, grid_for(n, kThreads), kThreads, 0, s, from, src, to, dst, n);
}

void launch_convert_rows(const float* x, int64_t ldx, int64_t N, int64_t K, DType to, void* dst, int64_t Npad,
                         cudaStream_t s) {
  if (Npad <= 0 || K <= 0) return;
  if (K % 4 == 0 && ldx % 4 == 0 && aligned16(x) && aligned16(dst))
    launch_kernel(convert_rows_kernel<true>, row_grid(Npad, K / 4, kThreads), kThreads, 0, s, x, ldx, N, K, to, dst,
                  Npad);
  else
    launch_kernel(convert_rows_kernel<false>, row_grid(Npad, K, kThreads), kThreads, 0, s, x, ldx, N, K, to, dst,
                  Npad);
}

}  // namespace xlstm::cuda
