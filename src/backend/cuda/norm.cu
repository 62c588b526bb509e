// Why: see norm.cuh. One kernel template serves all three ops: a row of `len` floats at `x + row*len`,
// optional centring (LayerNorm), scale/shift vectors offset per row group (heads), an optional sigmoid
// gate, and the output in the activation type the next product reads (float, bf16 or f16).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/norm.cuh"

namespace xlstm::cuda {
namespace {

struct RowNormArgs {
  const float* x;       // [rows, len]
  void* y;              // [rows, len] of the output type
  const float* w;       // [groups * len] or null
  const float* b;       // [groups * len] or null
  const float* gate;    // sigmoid gate: element (row, i) at gate[(row / groups) * ldg + (row % groups) * len + i]
  int64_t ldg;
  int64_t rows, len;
  int groups;           // rows of one token (heads); w/b offset by (row % groups) * len
  float eps;
};

template <bool CENTER, bool VEC, typename OT>
__global__ void row_norm_kernel(RowNormArgs a) {
  pdl_trigger();
  pdl_wait();
  __shared__ float red[32];
  const int64_t row = blockIdx.x;
  const float* xr = a.x + row * a.len;
  OT* yr = static_cast<OT*>(a.y) + row * a.len;
  const int64_t goff = (row % a.groups) * a.len;
  const float* wr = a.w ? a.w + goff : nullptr;
  const float* br = a.b ? a.b + goff : nullptr;
  const float* gr = a.gate ? a.gate + (row / a.groups) * a.ldg + goff : nullptr;
  const int64_t n4 = VEC ? a.len / 4 : 0;

  float mean = 0.f;
  if (CENTER) {
    float s = 0.f;
    if (VEC) {
      for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
        float4 v = reinterpret_cast<const float4*>(xr)[i];
        s += (v.x + v.y) + (v.z + v.w);
      }
    } else {
      for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) s += xr[i];
    }
    mean = block_sum(s, red) / float(a.len);
  }
  float ss = 0.f;
  if (VEC) {
    for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = reinterpret_cast<const float4*>(xr)[i];
      v.x -= mean, v.y -= mean, v.z -= mean, v.w -= mean;
      ss += (v.x * v.x + v.y * v.y) + (v.z * v.z + v.w * v.w);
    }
  } else {
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) {
      float v = xr[i] - mean;
      ss += v * v;
    }
  }
  const float inv = 1.0f / sqrtf(block_sum(ss, red) / float(a.len) + a.eps);
  auto fin = [&](float xv, int64_t i) {
    float v = (xv - mean) * inv;
    if (wr) v *= wr[i];
    if (br) v += br[i];
    if (gr) v = v / (1.0f + expf(-gr[i]));
    return v;
  };
  if (VEC) {
    for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = reinterpret_cast<const float4*>(xr)[i];
      act_store4(yr + 4 * i, make_float4(fin(v.x, 4 * i), fin(v.y, 4 * i + 1), fin(v.z, 4 * i + 2), fin(v.w, 4 * i + 3)));
    }
  } else {
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) yr[i] = act_from_f32<OT>(fin(xr[i], i));
  }
}

// The same op with the row held in registers (VEC rows of at most R float4 per thread): x, w and b are read
// once, w and b before the wait for the previous kernel (weights), so the chain of a short row (decode: a
// head of 512 values, a row of 4096) is one round of loads and two block reductions.
template <bool CENTER, int R, typename OT>
__global__ void row_norm_reg_kernel(RowNormArgs a) {
  __shared__ float red[32];
  const int64_t row = blockIdx.x, n4 = a.len / 4;
  const int64_t goff = (row % a.groups) * a.len;
  float4 xv[R], wv[R], bv[R];
  const float4 one = make_float4(1.f, 1.f, 1.f, 1.f), zero = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const int64_t i = threadIdx.x + int64_t(k) * blockDim.x;
    wv[k] = a.w && i < n4 ? reinterpret_cast<const float4*>(a.w + goff)[i] : one;
    bv[k] = a.b && i < n4 ? reinterpret_cast<const float4*>(a.b + goff)[i] : zero;
  }
  pdl_trigger();
  pdl_wait();
  const float* gr = a.gate ? a.gate + (row / a.groups) * a.ldg + goff : nullptr;
  float4 gv[R];
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const int64_t i = threadIdx.x + int64_t(k) * blockDim.x;
    xv[k] = i < n4 ? reinterpret_cast<const float4*>(a.x + row * a.len)[i] : zero;
    gv[k] = gr && i < n4 ? reinterpret_cast<const float4*>(gr)[i] : zero;
    s += (xv[k].x + xv[k].y) + (xv[k].z + xv[k].w);
  }
  float mean = 0.f;
  if (CENTER) mean = block_sum(s, red) / float(a.len);
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const int64_t i = threadIdx.x + int64_t(k) * blockDim.x;
    if (i < n4) {
      const float4 d = make_float4(xv[k].x - mean, xv[k].y - mean, xv[k].z - mean, xv[k].w - mean);
      ss += (d.x * d.x + d.y * d.y) + (d.z * d.z + d.w * d.w);
    }
  }
  const float inv = 1.0f / sqrtf(block_sum(ss, red) / float(a.len) + a.eps);
  auto fin = [&](float x, float w, float b, float g) {
    float v = (x - mean) * inv * w + b;
    return gr ? v / (1.0f + expf(-g)) : v;
  };
  OT* yr = static_cast<OT*>(a.y) + row * a.len;
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const int64_t i = threadIdx.x + int64_t(k) * blockDim.x;
    if (i < n4)
      act_store4(yr + 4 * i, make_float4(fin(xv[k].x, wv[k].x, bv[k].x, gv[k].x), fin(xv[k].y, wv[k].y, bv[k].y, gv[k].y),
                                         fin(xv[k].z, wv[k].z, bv[k].z, gv[k].z), fin(xv[k].w, wv[k].w, bv[k].w, gv[k].w)));
  }
}

bool aligned_to(const void* p, size_t n) { return (reinterpret_cast<uintptr_t>(p) % n) == 0; }

void launch_row_norm(const RowNormArgs& a, DType yt, bool center, cudaStream_t s) {
  if (a.rows <= 0 || a.len <= 0) return;
  CUDA_REQUIRE(a.rows < (int64_t(1) << 31), "row norm: " + std::to_string(a.rows) + " rows is too many");
  const bool vec = a.len % 4 == 0 && aligned16(a.x) &&
                   aligned_to(a.y, 4 * dtype_size(yt)) && (!a.w || aligned16(a.w)) && (!a.b || aligned16(a.b)) &&
                   (!a.gate || (aligned16(a.gate) && a.ldg % 4 == 0));
  const int64_t work = vec ? a.len / 4 : a.len;
  const unsigned threads = work >= 1024 ? 256 : work >= 128 ? 128 : work >= 64 ? 64 : 32;
  const dim3 grid(unsigned(a.rows));
  with_act_type(yt, [&](auto tag) {
    using OT = decltype(tag);
    if (vec && work <= 4 * int64_t(threads)) {  // the row fits in registers
      const bool r1 = work <= int64_t(threads);
      if (center) launch_kernel(r1 ? row_norm_reg_kernel<true, 1, OT> : row_norm_reg_kernel<true, 4, OT>, grid, threads, 0, s, a);
      else launch_kernel(r1 ? row_norm_reg_kernel<false, 1, OT> : row_norm_reg_kernel<false, 4, OT>, grid, threads, 0, s, a);
    } else if (center) {
      if (vec) launch_kernel(row_norm_kernel<true, true, OT>, grid, threads, 0, s, a);
      else launch_kernel(row_norm_kernel<true, false, OT>, grid, threads, 0, s, a);
    } else {
      if (vec) launch_kernel(row_norm_kernel<false, true, OT>, grid, threads, 0, s, a);
      else launch_kernel(row_norm_kernel<false, false, OT>, grid, threads, 0, s, a);
    }
  });
}

}  // namespace

void launch_rmsnorm(const float* x, const float* w, const float* b, float eps, int64_t N, int64_t D, void* y, DType yt,
                    cudaStream_t s) {
  launch_row_norm(RowNormArgs{x, y, w, b, nullptr, 0, N, D, 1, eps}, yt, false, s);
}

void launch_layernorm(const float* x, const float* w, const float* b, float eps, int64_t N, int64_t D, float* y,
                      cudaStream_t s) {
  launch_row_norm(RowNormArgs{x, y, w, b, nullptr, 0, N, D, 1, eps}, DType::F32, true, s);
}

void launch_mhln_gate(const float* h, const float* o, int64_t ldo, const float* w, const float* b, float eps,
                      int64_t N, int NH, int DV, void* y, DType yt, cudaStream_t s) {
  launch_row_norm(RowNormArgs{h, y, w, b, o, ldo, N * NH, DV, NH, eps}, yt, true, s);
}

}  // namespace xlstm::cuda
