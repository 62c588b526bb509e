// Why: see linear.cuh. Both kernels stream W with 16-byte non-allocating loads (W is read once; x stays
// in L1), accumulate in float32, and add the bias when writing y.
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/elementwise.cuh"
#include "backend/cuda/linear.cuh"

namespace xlstm::cuda {
namespace {

__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// ---- gemv (CUDA cores, float32 x) ----------------------------------------------------------------------
// A block of 8 warps covers 8/S groups of 4 weight rows; the S warps of a group split K between them
// (S is chosen so that small M still puts enough warps in flight) and combine through shared memory.
constexpr int kGemvRows = 4;     // weight rows per group
constexpr int kGemvWarps = 8;    // warps per block


// VEC: K % PV == 0, W and x 16-byte aligned, ldx % 4 == 0.
// NORM: the product reads RMSNorm(x) * nw instead of x: x is scaled by nw as it is read, every warp sums
// x^2 of the K it covers (the S warps of a group cover all of K, so the group has the row's sum), and the
// dot products are scaled by rsqrt(mean(x^2) + eps) before the bias.
// GLU: W is [gate; up] (M = 2F rows); group g takes gate rows 2g, 2g+1 and up rows F+2g, F+2g+1 and writes
// y[n, j] = silu(gate_j) * up_j for j = 2g, 2g+1 (the SwiGLU of Backend::rmsnorm_linear_swiglu, no pass
// of its own). Never accumulating.
template <typename WT, int NB, bool VEC, bool NORM, bool GLU>
__global__ __launch_bounds__(kGemvWarps * 32) void gemv_kernel(const typename WT::storage* __restrict__ W, int64_t M,
                                                               int64_t K, const float* __restrict__ bias,
                                                               const float* __restrict__ x, int64_t ldx, int N,
                                                               float* __restrict__ y, int64_t ldy, int S,
                                                               bool accumulate, const float* __restrict__ nw,
                                                               float eps) {
  constexpr int PV = WT::kPerVec;
  __shared__ float red[kGemvWarps][kGemvRows * NB];
  __shared__ float red_ss[kGemvWarps][NB];
  __shared__ float fin[GLU ? kGemvWarps : 1][kGemvRows * NB];  // GLU: the finished dot products
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int groups = kGemvWarps / S, grp = warp / S, part = warp % S;
  const int64_t gi = int64_t(blockIdx.x) * groups + grp, Fh = M / 2;
  // The weight row of the group's row r, and whether it exists.
  auto wrow = [&](int64_t g, int r) -> int64_t { return GLU ? (r < 2 ? 2 * g + r : Fh + 2 * g + r - 2) : g * kGemvRows + r; };
  auto wok = [&](int64_t g, int r) -> bool { return GLU ? 2 * g + (r & 1) < Fh : g * kGemvRows + r < M; };
  // The weights do not depend on the kernels before this one: start pulling this thread's first vectors
  // into L2 while they finish (programmatic dependent launch), then wait for x.
  if (VEC && wok(gi, 0)) {
    const int64_t nv = K / PV;
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int64_t v = int64_t(part) * 32 + lane + int64_t(u) * 32 * S;
      if (v < nv)
#pragma unroll
        for (int r = 0; r < kGemvRows; ++r)
          if (wok(gi, r)) prefetch_l2(W + wrow(gi, r) * K + v * PV);
    }
  }
  pdl_trigger();
  pdl_wait();
  float acc[kGemvRows][NB], ss[NB];
#pragma unroll
  for (int n = 0; n < NB; ++n) ss[n] = 0.f;
#pragma unroll
  for (int r = 0; r < kGemvRows; ++r)
#pragma unroll
    for (int n = 0; n < NB; ++n) acc[r][n] = 0.f;

  if (wok(gi, 0)) {
    const typename WT::storage* wr[kGemvRows];
    bool ok[kGemvRows];
#pragma unroll
    for (int r = 0; r < kGemvRows; ++r) ok[r] = wok(gi, r), wr[r] = W + (ok[r] ? wrow(gi, r) : 0) * K;
    if (VEC) {
      const int64_t nv = K / PV;
#pragma unroll 2
      for (int64_t v = int64_t(part) * 32 + lane; v < nv; v += 32 * S) {
        float wf[kGemvRows][PV];
#pragma unroll
        for (int r = 0; r < kGemvRows; ++r) {
          uint4 wv = make_uint4(0, 0, 0, 0);
          if (ok[r]) wv = ld_stream(wr[r] + v * PV);
          WT::unpack(wv, wf[r]);
        }
        float nf[PV];
        if (NORM) {
#pragma unroll
          for (int j = 0; j < PV / 4; ++j) {
            float4 t = __ldg(reinterpret_cast<const float4*>(nw + v * PV) + j);
            nf[4 * j] = t.x, nf[4 * j + 1] = t.y, nf[4 * j + 2] = t.z, nf[4 * j + 3] = t.w;
          }
        }
#pragma unroll
        for (int n = 0; n < NB; ++n) {
          if (n < N) {
            float xf[PV];
#pragma unroll
            for (int j = 0; j < PV / 4; ++j) {
              float4 t = __ldg(reinterpret_cast<const float4*>(x + n * ldx + v * PV) + j);
              xf[4 * j] = t.x, xf[4 * j + 1] = t.y, xf[4 * j + 2] = t.z, xf[4 * j + 3] = t.w;
            }
            if (NORM) {
#pragma unroll
              for (int j = 0; j < PV; ++j) ss[n] = fmaf(xf[j], xf[j], ss[n]), xf[j] *= nf[j];
            }
#pragma unroll
            for (int r = 0; r < kGemvRows; ++r)
#pragma unroll
              for (int j = 0; j < PV; ++j) acc[r][n] = fmaf(wf[r][j], xf[j], acc[r][n]);
          }
        }
      }
    } else {
      for (int64_t k = int64_t(part) * 32 + lane; k < K; k += 32 * S) {
        float wf[kGemvRows];
#pragma unroll
        for (int r = 0; r < kGemvRows; ++r) wf[r] = ok[r] ? WT::load(wr[r], k) : 0.f;
#pragma unroll
        for (int n = 0; n < NB; ++n) {
          if (n < N) {
            float xv = x[n * ldx + k];
            if (NORM) ss[n] = fmaf(xv, xv, ss[n]), xv *= nw[k];
#pragma unroll
            for (int r = 0; r < kGemvRows; ++r) acc[r][n] = fmaf(wf[r], xv, acc[r][n]);
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kGemvRows; ++r)
#pragma unroll
    for (int n = 0; n < NB; ++n) acc[r][n] = warp_sum(acc[r][n]);
  if (NORM)
#pragma unroll
    for (int n = 0; n < NB; ++n) ss[n] = warp_sum(ss[n]);
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kGemvRows; ++r)
#pragma unroll
      for (int n = 0; n < NB; ++n) red[warp][r * NB + n] = acc[r][n];
    if (NORM)
#pragma unroll
      for (int n = 0; n < NB; ++n) red_ss[warp][n] = ss[n];
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < groups * kGemvRows * NB) {
    const int g = t / (kGemvRows * NB), e = t % (kGemvRows * NB), r = e / NB, n = e % NB;
    const int64_t gg = int64_t(blockIdx.x) * groups + g;
    if (wok(gg, r) && n < N) {
      const int64_t row = wrow(gg, r);
      float sum = 0.f;
      for (int p = 0; p < S; ++p) sum += red[g * S + p][e];
      if (NORM) {
        float sq = 0.f;
        for (int p = 0; p < S; ++p) sq += red_ss[g * S + p][n];
        sum *= 1.0f / sqrtf(sq / float(K) + eps);
      }
      float out = sum + (bias ? bias[row] : 0.f);
      if (GLU) {
        fin[g][e] = out;
      } else {
        if (accumulate) out += y[n * ldy + row];
        y[n * ldy + row] = out;
      }
    }
  }
  if (GLU) {
    __syncthreads();
    if (t < groups * 2 * NB) {
      const int g = t / (2 * NB), p = (t % (2 * NB)) / NB, n = t % NB;
      const int64_t j = 2 * (int64_t(blockIdx.x) * groups + g) + p;
      if (j < Fh && n < N) y[n * ldy + j] = silu_mul(fin[g][p * NB + n], fin[g][(2 + p) * NB + n]);
    }
  }
}

int g_force_split = 0;  // > 0: the benchmark's sweep forces S

// Whether the 16-byte vector loads apply (VEC): pv weights per vector.
bool gemv_vec_ok(int pv, const void* W, int64_t K, const float* x, int64_t ldx, const float* nw) {
  return K % pv == 0 && aligned16(W) && aligned16(x) && ldx % 4 == 0 && (!nw || aligned16(nw));
}

template <typename WT, int NB>
void gemv_nb(const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx, int N, float* y,
             int64_t ldy, bool accumulate, const float* nw, float eps, bool glu, int sm_count, cudaStream_t s) {
  const bool vec = gemv_vec_ok(WT::kPerVec, W, K, x, ldx, nw);
  auto kernel = glu ? (nw ? gemv_kernel<WT, NB, true, true, true> : gemv_kernel<WT, NB, true, false, true>)
                : nw ? (vec ? gemv_kernel<WT, NB, true, true, false> : gemv_kernel<WT, NB, false, true, false>)
                     : (vec ? gemv_kernel<WT, NB, true, false, false> : gemv_kernel<WT, NB, false, false, false>);
  // Warps splitting K per row group. One row (NB = 1, decode of one sequence), from the H100 sweep
  // (bench_cuda_ops --gemv-sweep; docs/cuda-notes.md): 8 for many rows without a folded norm (qkv,
  // gate|up, head: 97-104% of the copy rate, against 94-100% at the earlier choice), 4 otherwise (4096
  // rows: 8 is 4-12% slower; with the norm folded in, 8 is 2-3% slower than 4); at least 2 vectors per
  // lane. Several rows: enough warps for ~32 per SM, at least 4 vectors per lane.
  const int64_t row_groups = glu ? ceil_div(M / 2, 2) : ceil_div(M, kGemvRows);
  int S = 1;
  if (NB == 1) {
    const int64_t max_split = std::max<int64_t>(1, K / WT::kPerVec / (32 * 2));
    S = M >= 8192 && !nw ? 8 : 4;
    while (S > 1 && S > max_split) S /= 2;
  } else {
    const int64_t want = ceil_div(int64_t(sm_count) * 32, row_groups);
    const int64_t max_split = std::max<int64_t>(1, K / WT::kPerVec / (32 * 4));
    while (S < kGemvWarps && S < want && 2 * S <= max_split) S *= 2;
  }
  if (g_force_split > 0) S = g_force_split;
  const unsigned grid = unsigned(ceil_div(row_groups, kGemvWarps / S));
  const auto* w = static_cast<const typename WT::storage*>(W);
  launch_kernel(kernel, grid, kGemvWarps * 32, 0, s, w, M, K, bias, x, ldx, N, y, ldy, S, accumulate, nw, eps);
}

template <typename WT>
void gemv_t(const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx, int64_t N, float* y,
            int64_t ldy, bool accumulate, const float* nw, float eps, bool glu, int sm_count, cudaStream_t s) {
  for (int64_t n0 = 0; n0 < N; n0 += 4) {
    const int nb = int(N - n0 < 4 ? N - n0 : 4);
    const float* xn = x + n0 * ldx;
    float* yn = y + n0 * ldy;
    switch (nb) {
      case 1: gemv_nb<WT, 1>(W, M, K, bias, xn, ldx, nb, yn, ldy, accumulate, nw, eps, glu, sm_count, s); break;
      case 2: gemv_nb<WT, 2>(W, M, K, bias, xn, ldx, nb, yn, ldy, accumulate, nw, eps, glu, sm_count, s); break;
      default: gemv_nb<WT, 4>(W, M, K, bias, xn, ldx, nb, yn, ldy, accumulate, nw, eps, glu, sm_count, s); break;
    }
  }
}

// ---- skinny mma (bf16 tensor cores) --------------------------------------------------------------------
// A warp computes a 16*MT (weight rows) x 8*NT (token rows) tile over its share of K with m16n8k16.
// The dot product is order-free, so each lane feeds the mma with the k indices it loaded itself: lane
// (g = lane/4, c = lane%4) loads 8 consecutive k (16 bytes) of weight rows g and g+8 and of x row g;
// logical mma columns {2c, 2c+1, 2c+8, 2c+9} of the first mma take physical k {8c .. 8c+3}, those of the
// second take {8c+4 .. 8c+7}. A and B use the same map, so the products pair up correctly.
constexpr int kMmaWarps = 8;
constexpr int kMmaUnroll = 4;  // k32 steps in flight per warp

__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                               uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <int MT, int NT>
__global__ __launch_bounds__(kMmaWarps * 32) void skinny_mma_kernel(const uint16_t* __restrict__ W, int64_t M,
                                                                    int64_t K, const float* __restrict__ bias,
                                                                    const uint16_t* __restrict__ xb, int N,
                                                                    float* __restrict__ y, int64_t ldy) {
  __shared__ float red[kMmaWarps][MT * NT * 4][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, c = lane & 3;
  const int64_t m0 = int64_t(blockIdx.x) * 16 * MT;
  const int64_t steps = (K + 31) / 32;
  const int64_t per = (steps + kMmaWarps - 1) / kMmaWarps;
  const int64_t s_begin = warp * per;
  const int64_t s_end = s_begin + per < steps ? s_begin + per : steps;

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  const uint16_t* wrow[MT][2];
  bool wok[MT][2];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t r = m0 + i * 16 + g + 8 * h;
      wok[i][h] = r < M;
      wrow[i][h] = W + (r < M ? r : 0) * K;
    }

  for (int64_t s = s_begin; s < s_end; s += kMmaUnroll) {
    uint4 wv[kMmaUnroll][MT][2], xv[kMmaUnroll][NT];
#pragma unroll
    for (int u = 0; u < kMmaUnroll; ++u) {
      const int64_t k0 = (s + u) * 32 + 8 * c;
      const bool ok = s + u < s_end && k0 < K;
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int h = 0; h < 2; ++h) wv[u][i][h] = ok && wok[i][h] ? ld_stream(wrow[i][h] + k0) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int j = 0; j < NT; ++j)
        xv[u][j] = ok ? __ldg(reinterpret_cast<const uint4*>(xb + (j * 8 + g) * K + k0)) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kMmaUnroll; ++u)
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          mma_bf16_16816(acc[i][j], wv[u][i][0].x, wv[u][i][1].x, wv[u][i][0].y, wv[u][i][1].y, xv[u][j].x,
                         xv[u][j].y);
          mma_bf16_16816(acc[i][j], wv[u][i][0].z, wv[u][i][1].z, wv[u][i][0].w, wv[u][i][1].w, xv[u][j].z,
                         xv[u][j].w);
        }
  }

#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) red[warp][(i * NT + j) * 4 + e][lane] = acc[i][j][e];
  __syncthreads();
  for (int v = threadIdx.x; v < MT * NT * 4 * 32; v += kMmaWarps * 32) {
    const int e = v >> 5, ln = v & 31;
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) sum += red[w][e][ln];
    const int i = e / (NT * 4), j = (e / 4) % NT, reg = e & 3;
    const int64_t row = m0 + i * 16 + (ln >> 2) + (reg >= 2 ? 8 : 0);
    const int n = j * 8 + 2 * (ln & 3) + (reg & 1);
    if (row < M && n < N) y[n * ldy + row] = sum + (bias ? bias[row] : 0.f);
  }
}

}  // namespace

void set_gemv_split(int S) {
  CUDA_REQUIRE(S == 0 || S == 1 || S == 2 || S == 4 || S == 8, "gemv split must be 0 (auto), 1, 2, 4 or 8");
  g_force_split = S;
}

namespace {
void gemv_dispatch(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
                   int64_t N, float* y, int64_t ldy, bool accumulate, const float* nw, float eps, bool glu,
                   int sm_count, cudaStream_t s) {
  if (N <= 0 || M <= 0) return;
  switch (wt) {
    case DType::BF16: gemv_t<Bf16T>(W, M, K, bias, x, ldx, N, y, ldy, accumulate, nw, eps, glu, sm_count, s); break;
    case DType::F16: gemv_t<F16T>(W, M, K, bias, x, ldx, N, y, ldy, accumulate, nw, eps, glu, sm_count, s); break;
    case DType::F32: gemv_t<F32T>(W, M, K, bias, x, ldx, N, y, ldy, accumulate, nw, eps, glu, sm_count, s); break;
  }
}
}  // namespace

void launch_gemv(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
                 int64_t N, float* y, int64_t ldy, bool accumulate, int sm_count, cudaStream_t s, const float* norm_w,
                 float norm_eps) {
  gemv_dispatch(wt, W, M, K, bias, x, ldx, N, y, ldy, accumulate, norm_w, norm_eps, false, sm_count, s);
}

bool gemv_glu_supported(DType wt, const void* W, int64_t M, int64_t K, const float* x, int64_t ldx,
                        const float* norm_w) {
  const int pv = wt == DType::F32 ? F32T::kPerVec : Bf16T::kPerVec;  // (F16T's equals Bf16T's)
  return M % 2 == 0 && gemv_vec_ok(pv, W, K, x, ldx, norm_w);
}

void launch_gemv_glu(DType wt, const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx,
                     int64_t N, float* y, int64_t ldy, int sm_count, cudaStream_t s, const float* norm_w,
                     float norm_eps) {
  CUDA_REQUIRE(gemv_glu_supported(wt, W, M, K, x, ldx, norm_w), "launch_gemv_glu: unsupported shape or alignment");
  gemv_dispatch(wt, W, M, K, bias, x, ldx, N, y, ldy, false, norm_w, norm_eps, true, sm_count, s);
}

bool skinny_mma_supported(DType wt, const void* W, int64_t K, int64_t N) {
  return wt == DType::BF16 && K % 8 == 0 && aligned16(W) && N >= 1 && N <= 16;
}

size_t skinny_mma_scratch_bytes(int64_t K, int64_t N) { return size_t(N <= 8 ? 8 : 16) * size_t(K) * 2; }

void launch_skinny_mma(const void* W, int64_t M, int64_t K, const float* bias, const float* x, int64_t ldx, int64_t N,
                       float* y, int64_t ldy, void* xb_scratch, int sm_count, cudaStream_t s) {
  if (N <= 0 || M <= 0) return;
  const int NT = N <= 8 ? 1 : 2;
  launch_convert_rows(x, ldx, N, K, DType::BF16, xb_scratch, NT * 8, s);
  const auto* w = static_cast<const uint16_t*>(W);
  const auto* xb = static_cast<const uint16_t*>(xb_scratch);
  const bool mt2 = ceil_div(M, 16) >= 4 * int64_t(sm_count);
  const unsigned threads = kMmaWarps * 32;
  if (mt2) {
    const unsigned grid = unsigned(ceil_div(M, 32));
    if (NT == 1) skinny_mma_kernel<2, 1><<<grid, threads, 0, s>>>(w, M, K, bias, xb, int(N), y, ldy);
    else skinny_mma_kernel<2, 2><<<grid, threads, 0, s>>>(w, M, K, bias, xb, int(N), y, ldy);
  } else {
    const unsigned grid = unsigned(ceil_div(M, 16));
    if (NT == 1) skinny_mma_kernel<1, 1><<<grid, threads, 0, s>>>(w, M, K, bias, xb, int(N), y, ldy);
    else skinny_mma_kernel<1, 2><<<grid, threads, 0, s>>>(w, M, K, bias, xb, int(N), y, ldy);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
