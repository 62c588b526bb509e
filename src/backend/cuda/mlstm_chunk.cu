// Why: the chunkwise mLSTM (prefill) over a window of nc chunks of length L <= 64, in float32-faithful
// precision and without a sequential chain over all chunks. Kernels, in launch order:
//  1. gates_local  (warp per chunk): b_t = cumsum logsig(f~), g_t = i~_t - b_t, P_t = max_{s<=t} g_s.
//  2. gates_scan   (warp per head): the scalar recurrence m_k = max(b_L + m_{k-1}, b_L + P_L); final m.
//  3. gates_final  (block per chunk): u_t = -max(m_prev, P_t) (= b_t - m_t), m_t, the state weights
//     w_t = exp(g_t + b_L - m_k), decay_k = exp(b_L + m_prev - m_k), and nloc_k = sum_t w_t k_t (fp32).
//  4. nscan        (thread per n element): n_k = decay_k n_{k-1} + nloc_k; n entering every chunk; final n.
//  5. prep         (block per chunk): S = qs K^T on tf32x3, M_ts = S_ts exp(u_t + g_s) (s <= t), the
//     operands of the scan split into bf16 hi/lo planes: Q'_t = a_t qs_t, Kw_s = w_s k_s, M
//     (a_t = exp(u_t + m_prev)); and the normaliser den_t = max(|qs_t.n_t|, exp(-m_t)) + eps with the
//     normaliser state n_t = a_t n_prev + N_t, N_t = sum_{s<=t} exp(u_t + g_s) k_s, scanned over the chunk
//     in float32 on CUDA cores like the step form. (qs_t.n_t can cancel to a tiny fraction of its terms;
//     there h = num / den amplifies every error of den, and one computed from tf32x3 row sums of M strayed
//     10-40x further from float64 than the CPU on such rows.)
//  6. scan         (block per 64 columns of DV, head and range of chunks; the C tile [64 x DK] in
//     registers as mma accumulators, transposed: C^T [dv x dk]). Per chunk:
//       h = (Q' C + M V) / den    (the accumulators of C^T are already the B fragments of Q' C)
//       C = decay C + Kw^T V      (both products bf16x3: hi*hi + hi*lo + lo*hi, fp32 sums)
//     Two-level: with G > 1 segments, pass 1 (same kernel, no output) runs the first G-1 segments from
//     zero in P pieces each, giving local end states; 7. combine chains them (C = Delta C + C_local per
//     piece, scalar Delta per head) into the state entering every segment; pass 2 then scans all G
//     segments in parallel with outputs. Each piece / segment has its own stabiliser-consistent weights
//     because every weight above is relative to the true running maximum m computed in step 2.
// All are exact rewrites of xlstm-reference.md's chunkwise form; the tests compare with a float64
// recurrence and with the CPU backend. Operands of chunks shorter than 64 are zero-padded to 64 rows.
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mlstm.cuh"

namespace xlstm::cuda {
namespace {

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }
size_t up256(size_t x) { return (x + 255) / 256 * 256; }

// Scratch layout of one window (all per head-sequence pair bh = b * NH + h).
struct ChunkScratch {
  float* bcum;      // [BH, nc*L]  b_t
  float* gval;      // [BH, nc*L]  g_t = i_t - b_t
  float* utok;      // [BH, nc*L]  P_t, then u_t = -max(m_prev, P_t)
  float* mtok;      // [BH, nc*L]  m_t
  float* wtok;      // [BH, nc*L]  w_t
  float* mprev;     // [BH, nc]    m entering chunk k
  float* mk;        // [BH, nc]    m leaving chunk k
  float* decay;     // [BH, nc]
  float* nloc;      // [BH, nc, DKp]  sum_t w_t k_t
  float* nprev;     // [BH, nc, DKp]  n entering chunk k
  float* den;       // [BH, nc, 64]
  uint16_t* qp;     // [BH, nc, 2, 64, DKp]  Q' as bf16: hi plane, then lo plane
  uint16_t* kw;     // [BH, nc, 2, 64, DKp]  Kw
  uint16_t* mm;     // [BH, nc, 2, 64, 64]   M
  float* delta;     // [BH, Ptot]            decay over each pass-1 piece
  float* cloc;      // [Ptot, BH, DK*DV]     local end state of each piece
  float* cin;       // [G, BH, DK*DV]        state entering each segment (G > 1)
  int DKp;
};

ChunkScratch carve(void* base, int BH, int DK, int DV, int nc, int L, MlstmScanPlan plan, size_t* total) {
  ChunkScratch s{};
  s.DKp = round_up(DK, 64);
  const int G = plan.G, Ptot = G > 1 ? (G - 1) * plan.P : 0;
  char* p = static_cast<char*>(base);
  size_t used = 0;
  auto take = [&](size_t bytes) {
    char* r = p ? p + used : nullptr;
    used += up256(bytes);
    return r;
  };
  const size_t tok = size_t(BH) * nc * L * 4, chk = size_t(BH) * nc * 4, DKDV = size_t(DK) * DV;
  s.bcum = reinterpret_cast<float*>(take(tok));
  s.gval = reinterpret_cast<float*>(take(tok));
  s.utok = reinterpret_cast<float*>(take(tok));
  s.mtok = reinterpret_cast<float*>(take(tok));
  s.wtok = reinterpret_cast<float*>(take(tok));
  s.mprev = reinterpret_cast<float*>(take(chk));
  s.mk = reinterpret_cast<float*>(take(chk));
  s.decay = reinterpret_cast<float*>(take(chk));
  s.nloc = reinterpret_cast<float*>(take(size_t(BH) * nc * s.DKp * 4));
  s.nprev = reinterpret_cast<float*>(take(size_t(BH) * nc * s.DKp * 4));
  s.den = reinterpret_cast<float*>(take(size_t(BH) * nc * 64 * 4));
  s.qp = reinterpret_cast<uint16_t*>(take(size_t(BH) * nc * 2 * 64 * s.DKp * 2));
  s.kw = reinterpret_cast<uint16_t*>(take(size_t(BH) * nc * 2 * 64 * s.DKp * 2));
  s.mm = reinterpret_cast<uint16_t*>(take(size_t(BH) * nc * 2 * 64 * 64 * 2));
  s.delta = reinterpret_cast<float*>(take(size_t(BH) * (Ptot > 0 ? Ptot : 1) * 4));
  s.cloc = reinterpret_cast<float*>(take(size_t(Ptot) * BH * DKDV * 4));
  s.cin = reinterpret_cast<float*>(take(size_t(G > 1 ? G : 0) * BH * DKDV * 4));
  if (total) *total = used;
  return s;
}

// ---- small device helpers -------------------------------------------------------------------------------
__device__ __forceinline__ uint32_t pack_bf16x2(float a, float b) {  // a in the low half
  __nv_bfloat162 p = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<uint32_t*>(&p);
}
// (a, b) = hi + lo with hi, lo bf16 pairs: ~16 significant bits.
__device__ __forceinline__ void split2(float a, float b, uint32_t& hi, uint32_t& lo) {
  hi = pack_bf16x2(a, b);
  const float2 h = unpack_bf16x2(hi);
  lo = pack_bf16x2(a - h.x, b - h.y);
}
__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void split_tf32(float x, uint32_t& hi, uint32_t& lo) {
  hi = to_tf32(x);
  lo = to_tf32(x - __uint_as_float(hi));
}
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const uint16_t* p) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const uint16_t* p) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
// 16 or 4 bytes, the rest of the destination zero-filled when src_bytes is smaller (0: all zeros).
__device__ __forceinline__ void cp_async16_zfill(void* smem, const void* gmem, uint32_t src_bytes) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4_zfill(void* smem, const void* gmem, uint32_t src_bytes) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_1() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

// ---- 1. gates_local ------------------------------------------------------------------------------------
constexpr int kGateWarps = 8;

__global__ __launch_bounds__(kGateWarps * 32) void gates_local_kernel(MlstmCell c, int t_begin, int nc, int L,
                                                                       ChunkScratch sc) {
  const int lane = threadIdx.x & 31;
  const int chunk = blockIdx.x * kGateWarps + (threadIdx.x >> 5);
  const int bh = blockIdx.y, b = bh / c.NH, hh = bh % c.NH;
  if (chunk >= nc) return;
  float carry_b = 0.f, carry_p = -INFINITY;
  for (int base = 0; base < L; base += 32) {
    const int tl = base + lane;
    const bool valid = tl < L;
    float f = 0.f, i = 0.f;
    if (valid) {
      const int64_t r = (int64_t(b) * c.T + t_begin + int64_t(chunk) * L + tl) * c.ld + hh;
      f = mlstm_logsigmoid(mlstm_cap(c.fg[r], c.gate_cap));
      i = mlstm_cap(c.ig[r], c.gate_cap);
    }
    float x = f;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, x, o);
      if (lane >= o) x += y;
    }
    const float bt = carry_b + x;
    const float g = i - bt;
    float pm = valid ? g : -INFINITY;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, pm, o);
      if (lane >= o) pm = fmaxf(pm, y);
    }
    const float pt = fmaxf(carry_p, pm);
    if (valid) {
      const int64_t o = int64_t(bh) * nc * L + int64_t(chunk) * L + tl;
      sc.bcum[o] = bt, sc.gval[o] = g, sc.utok[o] = pt;
    }
    carry_b = __shfl_sync(0xffffffffu, bt, 31);
    carry_p = __shfl_sync(0xffffffffu, pt, 31);
  }
}

// ---- 2. gates_scan -------------------------------------------------------------------------------------
__global__ void gates_scan_kernel(MlstmCell c, const __grid_constant__ MlstmStatePtrs st, int nc, int L,
                                  ChunkScratch sc) {
  const int lane = threadIdx.x;
  const int bh = blockIdx.x, b = bh / c.NH, hh = bh % c.NH;
  float* mg = st.m[b] + hh;
  float m = *mg;
  for (int k0 = 0; k0 < nc; k0 += 32) {
    const int k = k0 + lane;
    float bL = 0.f, A = 0.f;
    if (k < nc) {
      const int64_t o = int64_t(bh) * nc * L + int64_t(k) * L + (L - 1);
      bL = sc.bcum[o];
      A = bL + sc.utok[o];
    }
    float my_prev = 0.f, my_m = 0.f;
    const int cnt = nc - k0 < 32 ? nc - k0 : 32;
    for (int j = 0; j < cnt; ++j) {
      const float bj = __shfl_sync(0xffffffffu, bL, j), aj = __shfl_sync(0xffffffffu, A, j);
      const float mp = m;
      m = fmaxf(bj + m, aj);
      if (lane == j) my_prev = mp, my_m = m;
    }
    if (k < nc) {
      sc.mprev[int64_t(bh) * nc + k] = my_prev;
      sc.mk[int64_t(bh) * nc + k] = my_m;
    }
  }
  if (lane == 0) *mg = m;
}

// ---- 3. gates_final + nloc -----------------------------------------------------------------------------
constexpr int kFinalThreads = 256;

template <bool VEC>
__global__ __launch_bounds__(kFinalThreads) void gates_final_kernel(MlstmCell c, int t_begin, int nc, int L,
                                                                     ChunkScratch sc) {
  __shared__ float w_s[kMlstmMaxChunk];
  __shared__ __align__(16) float part[3][kMlstmChunkMaxDK];
  const int tid = threadIdx.x;
  const int chunk = blockIdx.x, bh = blockIdx.y, b = bh / c.NH, hh = bh % c.NH;
  const int64_t ci = int64_t(bh) * nc + chunk, base = ci * L;
  const float mprev = sc.mprev[ci], mk = sc.mk[ci];
  const float bL = sc.bcum[base + L - 1];
  if (tid == 0) sc.decay[ci] = expf(bL + mprev - mk);
  if (tid < L) {
    const float u = -fmaxf(mprev, sc.utok[base + tid]);
    const float w = expf(sc.gval[base + tid] + bL - mk);
    sc.utok[base + tid] = u;
    sc.mtok[base + tid] = sc.bcum[base + tid] - u;
    sc.wtok[base + tid] = w;
    w_s[tid] = w;
  }
  __syncthreads();
  // nloc[d] = sum_t w_t k_t[d]: 4 token groups x 64 threads of 4 columns, then a sum over the groups.
  const float* kb = c.k + (int64_t(b) * c.T + t_begin + int64_t(chunk) * L) * c.ld + int64_t(hh) * c.DK;
  const int tg = tid >> 6, d = (tid & 63) * 4;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  if (d < sc.DKp) {
#pragma unroll 4
    for (int t = tg; t < L; t += 4) {
      const float w = w_s[t];
      const float* kr = kb + int64_t(t) * c.ld + d;
      if (VEC) {
        if (d < c.DK) {
          const float4 k4 = *reinterpret_cast<const float4*>(kr);
          acc[0] += k4.x * w, acc[1] += k4.y * w, acc[2] += k4.z * w, acc[3] += k4.w * w;
        }
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (d + e < c.DK) acc[e] += kr[e] * w;
      }
    }
  }
  if (tg > 0 && d < sc.DKp) *reinterpret_cast<float4*>(&part[tg - 1][d]) = make_float4(acc[0], acc[1], acc[2], acc[3]);
  __syncthreads();
  if (tg == 0 && d < sc.DKp) {
    float* out = sc.nloc + ci * sc.DKp + d;
#pragma unroll
    for (int e = 0; e < 4; ++e) out[e] = acc[e] + part[0][d + e] + part[1][d + e] + part[2][d + e];
  }
}

// ---- 4. nscan ------------------------------------------------------------------------------------------
constexpr int kNscanThreads = 64;

__global__ __launch_bounds__(kNscanThreads) void nscan_kernel(MlstmCell c, const __grid_constant__ MlstmStatePtrs st,
                                                              int nc, ChunkScratch sc) {
  const int bh = blockIdx.y, b = bh / c.NH, hh = bh % c.NH;
  const int d = blockIdx.x * kNscanThreads + threadIdx.x;
  if (d >= sc.DKp) return;
  float* ng = st.n[b] + int64_t(hh) * c.DK;
  float n = d < c.DK ? ng[d] : 0.f;
  const float* dec = sc.decay + int64_t(bh) * nc;
  const float* nl = sc.nloc + int64_t(bh) * nc * sc.DKp + d;
  float* np = sc.nprev + int64_t(bh) * nc * sc.DKp + d;
  // Loads in batches ahead of the chain (the stores to nprev could alias them otherwise).
  constexpr int kBatch = 16;
  for (int k0 = 0; k0 < nc; k0 += kBatch) {
    float dk[kBatch], lk[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const bool ok = k0 + j < nc;
      dk[j] = ok ? dec[k0 + j] : 0.f;
      lk[j] = ok ? nl[int64_t(k0 + j) * sc.DKp] : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (k0 + j < nc) {
        np[int64_t(k0 + j) * sc.DKp] = n;
        n = dk[j] * n + lk[j];
      }
    }
  }
  if (d < c.DK) ng[d] = n;
}

// ---- 5. prep -------------------------------------------------------------------------------------------
constexpr int kPrepThreads = 256;
constexpr int kPrepLd = 68;  // fp32 row of a 64-wide slab: 68 = 4 mod 32 keeps the tf32 fragment loads conflict-free
constexpr int kPrepSlab = 64 * kPrepLd;                          // floats of one q or k slab
constexpr int kPrepSmem = 4 * kPrepSlab * 4;                      // q, k slabs, double-buffered (bytes)

template <bool VEC>
__global__ __launch_bounds__(kPrepThreads, 3) void prep_kernel(MlstmCell c, int t_begin, int nc, int L, ChunkScratch sc) {
  extern __shared__ __align__(128) unsigned char psmem[];
  float* slabs = reinterpret_cast<float*>(psmem);  // [2 buffers][q, k][64][kPrepLd]
  __shared__ float u_s[64], g_s[64], a_s[64], w_s[64];
  // The normaliser scan: dec_s[t] = exp(u_t - u_{t-1}), win_s[t] = exp(u_t + g_t) (1 and 0 past L); dq_s[j]
  // = exp(u at the end of row quarter j - u at the end of quarter j-1); endv_s the quarters' local sums
  // (per column of the slab); dacc_s the per-warp partial dot products qs_t.n_t of its 16 rows.
  __shared__ float dec_s[64], win_s[64], dq_s[4], endv_s[4][64], dacc_s[8][16];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, cq = lane & 3;
  const int chunk = blockIdx.x, bh = blockIdx.y, b = bh / c.NH, hh = bh % c.NH;
  const int DK = c.DK, DKp = sc.DKp, nslab = DKp / 64;
  const int64_t row0 = int64_t(b) * c.T + t_begin + int64_t(chunk) * L;
  const int64_t ci = int64_t(bh) * nc + chunk, tok0 = ci * L;
  const float mprev = sc.mprev[ci];
  const float* qb = c.q + row0 * c.ld + int64_t(hh) * DK;
  const float* kb = c.k + row0 * c.ld + int64_t(hh) * DK;

  // Slab d0..d0+63 of q and k (rows >= L and columns >= DK zero-filled) into buffer `buf`.
  auto issue = [&](int s, int buf) {
    float* qd = slabs + (2 * buf) * kPrepSlab;
    float* kd = qd + kPrepSlab;
    const int d0 = s * 64;
    if (VEC) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int e = tid + kPrepThreads * i, r = e >> 4, cc = (e & 15) * 4;
        const bool ok = r < L && d0 + cc < DK;
        const int64_t off = ok ? int64_t(r) * c.ld + d0 + cc : 0;
        cp_async16_zfill(qd + r * kPrepLd + cc, qb + off, ok ? 16u : 0u);
        cp_async16_zfill(kd + r * kPrepLd + cc, kb + off, ok ? 16u : 0u);
      }
    } else {
#pragma unroll 4
      for (int i = 0; i < 16; ++i) {
        const int e = tid + kPrepThreads * i, r = e >> 6, cc = e & 63;
        const bool ok = r < L && d0 + cc < DK;
        const int64_t off = ok ? int64_t(r) * c.ld + d0 + cc : 0;
        cp_async4_zfill(qd + r * kPrepLd + cc, qb + off, ok ? 4u : 0u);
        cp_async4_zfill(kd + r * kPrepLd + cc, kb + off, ok ? 4u : 0u);
      }
    }
    cp_async_commit();
  };
  issue(0, 0);
  if (tid < 64) {
    const bool v = tid < L;
    const float u = v ? sc.utok[tok0 + tid] : 0.f;
    u_s[tid] = u;
    g_s[tid] = v ? sc.gval[tok0 + tid] : 0.f;
    a_s[tid] = v ? expf(u + mprev) : 0.f;
    w_s[tid] = v ? sc.wtok[tok0 + tid] : 0.f;
    dec_s[tid] = v && tid > 0 ? expf(u - sc.utok[tok0 + tid - 1]) : 1.f;
    win_s[tid] = v ? expf(u + sc.gval[tok0 + tid]) : 0.f;
    if (tid < 4) {
      auto uu = [&](int t) { return sc.utok[tok0 + (t < L ? t : L - 1)]; };
      dq_s[tid] = tid > 0 ? expf(uu(16 * tid + 15) - uu(16 * tid - 1)) : 0.f;
    }
  }
  if (tid < 128) dacc_s[tid >> 4][tid & 15] = 0.f;

  // Scores: warp -> m-tile mt (16 rows t), n-tiles nt0..nt0+3 (8 columns s each); only s <= t is needed.
  const int mt = warp >> 1, nt0 = (warp & 1) * 4;
  float sacc[4][4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) sacc[j][e] = 0.f;
  // Planes: thread -> row pr = tid / 4, 16 columns pc..pc+15 of each slab. Normaliser: thread -> column
  // dcol of each slab, rows 16 qq .. 16 qq + 15.
  const int pr = tid >> 2, pc = (tid & 3) * 16;
  const int dcol = tid & 63, qq = tid >> 6;
  const float* np = sc.nprev + ci * DKp;
  uint16_t* qph = sc.qp + ci * (2 * 64 * int64_t(DKp));
  uint16_t* qpl = qph + 64 * DKp;
  uint16_t* kwh = sc.kw + ci * (2 * 64 * int64_t(DKp));
  uint16_t* kwl = kwh + 64 * DKp;
  for (int s = 0; s < nslab; ++s) {
    const int buf = s & 1, d0 = s * 64;
    if (s + 1 < nslab) {
      issue(s + 1, buf ^ 1);
      cp_async_wait_1();
    } else {
      cp_async_wait_all();
    }
    __syncthreads();  // slab s (and, the first time, the gate values) visible
    const float* qsm = slabs + (2 * buf) * kPrepSlab;
    const float* ksm = qsm + kPrepSlab;
    {  // normaliser, part 1: the local prefix of this column over the thread's row quarter, to its end
      float run = 0.f;
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const int t = 16 * qq + i;
        run = dec_s[t] * run + win_s[t] * ksm[t * kPrepLd + dcol];
      }
      endv_s[qq][dcol] = run;
    }
    {
      const float a = a_s[pr], w = w_s[pr];
      const float* qr = qsm + pr * kPrepLd + pc;
      const float* kr = ksm + pr * kPrepLd + pc;
#pragma unroll 1
      for (int h8 = 0; h8 < 2; ++h8) {
        uint32_t qh[4], ql[4], kh[4], kl[4];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const float4 q4 = *reinterpret_cast<const float4*>(qr + 8 * h8 + 4 * j);
          const float4 k4 = *reinterpret_cast<const float4*>(kr + 8 * h8 + 4 * j);
          const float q0 = q4.x * c.scale, q1 = q4.y * c.scale, q2 = q4.z * c.scale, q3 = q4.w * c.scale;
          split2(a * q0, a * q1, qh[2 * j], ql[2 * j]);
          split2(a * q2, a * q3, qh[2 * j + 1], ql[2 * j + 1]);
          split2(w * k4.x, w * k4.y, kh[2 * j], kl[2 * j]);
          split2(w * k4.z, w * k4.w, kh[2 * j + 1], kl[2 * j + 1]);
        }
        const int64_t o = int64_t(pr) * DKp + d0 + pc + 8 * h8;
        *reinterpret_cast<uint4*>(qph + o) = make_uint4(qh[0], qh[1], qh[2], qh[3]);
        *reinterpret_cast<uint4*>(qpl + o) = make_uint4(ql[0], ql[1], ql[2], ql[3]);
        *reinterpret_cast<uint4*>(kwh + o) = make_uint4(kh[0], kh[1], kh[2], kh[3]);
        *reinterpret_cast<uint4*>(kwl + o) = make_uint4(kl[0], kl[1], kl[2], kl[3]);
      }
    }
    if (16 * mt < L) {
#pragma unroll
      for (int k8 = 0; k8 < 64; k8 += 8) {
        const float* ar = qsm + (16 * mt + g) * kPrepLd + k8 + cq;
        uint32_t ah[4], al[4];
        split_tf32(ar[0] * c.scale, ah[0], al[0]);
        split_tf32(ar[8 * kPrepLd] * c.scale, ah[1], al[1]);
        split_tf32(ar[4] * c.scale, ah[2], al[2]);
        split_tf32(ar[8 * kPrepLd + 4] * c.scale, ah[3], al[3]);
        uint32_t bh[4][2], bl[4][2];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float* br = ksm + (8 * (nt0 + j) + g) * kPrepLd + k8 + cq;
          split_tf32(br[0], bh[j][0], bl[j][0]);
          split_tf32(br[4], bh[j][1], bl[j][1]);
        }
        // term-major: the four tiles' products interleave (independent accumulators)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (nt0 + j <= 2 * mt + 1 && 8 * (nt0 + j) < L) mma_tf32(sacc[j], al, bh[j][0], bh[j][1]);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (nt0 + j <= 2 * mt + 1 && 8 * (nt0 + j) < L) mma_tf32(sacc[j], ah, bl[j][0], bl[j][1]);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (nt0 + j <= 2 * mt + 1 && 8 * (nt0 + j) < L) mma_tf32(sacc[j], ah, bh[j][0], bh[j][1]);
      }
    }
    __syncthreads();  // endv_s complete
    {  // normaliser, part 2: the column's n_t on the thread's rows (carried in from the quarters before)
       // and its share of qs_t.n_t, summed over the warp's 32 columns in a fixed order
      float run = 0.f;
      for (int j = 0; j < qq; ++j) run = dq_s[j] * run + endv_s[j][dcol];
      const float npv = d0 + dcol < DK ? np[d0 + dcol] : 0.f;
      float part[16];
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const int t = 16 * qq + i;
        run = dec_s[t] * run + win_s[t] * ksm[t * kPrepLd + dcol];
        part[i] = qsm[t * kPrepLd + dcol] * fmaf(a_s[t], npv, run);
      }
      // Butterfly: after the steps of 16, 8, 4, 2 lanes each lane holds one row's sum over half the lanes.
#pragma unroll
      for (int w = 8, o = 16; w >= 1; w >>= 1, o >>= 1) {
        const bool up = lane & o;
#pragma unroll
        for (int i = 0; i < w; ++i) {
          const float send = up ? part[i] : part[i + w], keep = up ? part[i + w] : part[i];
          part[i] = keep + __shfl_xor_sync(0xffffffffu, send, o);
        }
      }
      part[0] += __shfl_xor_sync(0xffffffffu, part[0], 1);
      const int row = ((lane >> 4) & 1) * 8 + ((lane >> 3) & 1) * 4 + ((lane >> 2) & 1) * 2 + ((lane >> 1) & 1);
      if ((lane & 1) == 0) dacc_s[warp][row] += part[0];
    }
    __syncthreads();  // buffer `buf` is refilled by the next iteration's issue
  }

  // M = S * exp(u_t + g_s) on and below the diagonal; M planes (zeros elsewhere).
  uint16_t* mh = sc.mm + ci * (2 * 64 * 64);
  uint16_t* ml = mh + 64 * 64;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int s0 = 8 * (nt0 + j) + 2 * cq;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int t = 16 * mt + g + 8 * hf;
      const float m0 = (t < L && s0 <= t) ? sacc[j][2 * hf] * expf(u_s[t] + g_s[s0]) : 0.f;
      const float m1 = (t < L && s0 + 1 <= t) ? sacc[j][2 * hf + 1] * expf(u_s[t] + g_s[s0 + 1]) : 0.f;
      uint32_t hi, lo;
      split2(m0, m1, hi, lo);
      *reinterpret_cast<uint32_t*>(mh + t * 64 + s0) = hi;
      *reinterpret_cast<uint32_t*>(ml + t * 64 + s0) = lo;
    }
  }
  if (tid < 64) {  // dacc_s is complete: the last slab's part 2 came before the loop's last barrier
    float den = 1.f;
    if (tid < L) {
      const float qn = c.scale * (dacc_s[2 * (tid >> 4)][tid & 15] + dacc_s[2 * (tid >> 4) + 1][tid & 15]);
      den = fmaxf(fabsf(qn), expf(-sc.mtok[tok0 + tid])) + c.eps;
    }
    sc.den[ci * 64 + tid] = den;
  }
}

// ---- 6. scan (pass 1 without outputs, pass 2 with) ----------------------------------------------------
constexpr int kScanThreads = 256;
constexpr int kTileDV = 64;
constexpr int kLdV = kTileDV + 8;  // bf16 row of the V planes (144 bytes: ldmatrix rows hit distinct banks)
constexpr int kLdM = 64 + 8;

struct ScanRanges {
  int begin[kMlstmMaxRanges + 1];  // range z = chunks [begin[z], begin[z+1])
  int count;
  int init_from_state;  // pass 2 only: 1 = start from the state (G == 1), 0 = from cin[z]
};

inline int scan_smem_bytes(int DKp) {
  const int ldq = DKp + 8;
  return 2 * 128 * ldq * 2 + 128 * kLdM * 2 + 2 * 128 * kLdV * 2 + 4 * 1024 * 4 + 2 * 64 * 4;
}

// NK: k16 steps of each warp's half of DK (DKp = 32 NK).
template <bool OUT, bool VEC, int NK>
__global__ __launch_bounds__(kScanThreads, 1) void scan_kernel(MlstmCell c, const __grid_constant__ MlstmStatePtrs st,
                                                               int t_begin, int nc, int L, ChunkScratch sc,
                                                               const __grid_constant__ ScanRanges rg) {
  extern __shared__ __align__(128) unsigned char smem[];
  constexpr int DKp = 32 * NK, ldq = DKp + 8, dkw = DKp / 2;
  uint16_t* Qs = reinterpret_cast<uint16_t*>(smem);  // [128][ldq]: Q' hi rows 0..63, lo rows 64..127 (pass 1: Kw buffer 1)
  uint16_t* Ks = Qs + 128 * ldq;                      // [128][ldq]: Kw
  uint16_t* Ms = Ks + 128 * ldq;                      // [128][kLdM]: M
  uint16_t* Vs = Ms + 128 * kLdM;                     // [2][128][kLdV]: V (double-buffered)
  float* red = reinterpret_cast<float*>(Vs + 2 * 128 * kLdV);  // [4][32 x 32]: partial outputs of the dk-half 1 warps
  float* den_s = red + 4 * 1024;                               // [2][64]: 1 / den

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, cq = lane & 3;
  const int rgp = warp >> 1, kp = warp & 1;  // this warp: dv rows 16*rgp.., dk half kp
  const int bh = blockIdx.y, z = blockIdx.z, b = bh / c.NH, hh = bh % c.NH, BH = gridDim.y;
  const int dv0 = blockIdx.x * kTileDV;
  const int DK = c.DK, DV = c.DV;
  const int64_t DKDV = int64_t(DK) * DV;
  const int kb = rg.begin[z], ke = rg.begin[z + 1];

  // ---- state tile: acc[j] = C^T[dv = dv0 + 16 rgp + g (+8)][dk = kp*dkw + 8j + 2cq (+1)]
  float acc[2 * NK][4];
  const int dvA = dv0 + rgp * 16 + g, dvB = dvA + 8;
  {
    const float* Ci = nullptr;
    if (OUT) Ci = rg.init_from_state ? st.C[b] + hh * DKDV : sc.cin + (int64_t(z) * BH + bh) * DKDV;
#pragma unroll
    for (int j = 0; j < 2 * NK; ++j) {
      const int dk = kp * dkw + 8 * j + 2 * cq;
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][e] = 0.f;
      if (OUT) {
        if (dk < DK) {
          if (dvA < DV) acc[j][0] = Ci[int64_t(dk) * DV + dvA];
          if (dvB < DV) acc[j][2] = Ci[int64_t(dk) * DV + dvB];
        }
        if (dk + 1 < DK) {
          if (dvA < DV) acc[j][1] = Ci[int64_t(dk + 1) * DV + dvA];
          if (dvB < DV) acc[j][3] = Ci[int64_t(dk + 1) * DV + dvB];
        }
      }
    }
  }

  auto plane = [&](const uint16_t* base, int k, int cols) {
    return base + (int64_t(bh) * nc + k) * (2 * 64 * int64_t(cols));
  };
  // 128 rows (hi plane, lo plane) of `cols` bf16 into [128][ld] shared memory, 16 bytes per cp.async.
  auto load_rows = [&](uint16_t* dst, int ld, const uint16_t* src, int cols) {
    const int per_row = cols >> 3, total = 128 * per_row;
    for (int e = tid; e < total; e += kScanThreads) {
      const int r = e / per_row, cc = (e - r * per_row) * 8;
      cp_async16(dst + r * ld + cc, src + int64_t(r) * cols + cc);
    }
  };
  auto load_q = [&](int k) {  // Q' and M of chunk k
    load_rows(Qs, ldq, plane(sc.qp, k, DKp), DKp);
    load_rows(Ms, kLdM, plane(sc.mm, k, 64), 64);
    cp_async_commit();
  };
  auto load_k = [&](uint16_t* dst, int k) {  // Kw of chunk k
    load_rows(dst, ldq, plane(sc.kw, k, DKp), DKp);
    cp_async_commit();
  };
  // This thread's copies have landed and every thread is done with the previous step's buffers.
  auto step_sync = [&]() {
    cp_async_wait_all();
    __syncthreads();
  };

  // V of a chunk: registers (prefetched one chunk ahead), then split into the bf16 planes of a buffer.
  float4 vreg[4];
  float dreg = 1.f, decreg = 1.f;
  auto fetch_v = [&](int k) {
    const int64_t r0 = int64_t(b) * c.T + t_begin + int64_t(k) * L;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int s = (tid >> 4) + 16 * i, col = dv0 + (tid & 15) * 4;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (s < L) {
        const float* src = c.v + (r0 + s) * c.ld + int64_t(hh) * DV + col;
        if (VEC) {
          if (col < DV) v = *reinterpret_cast<const float4*>(src);
        } else {
          if (col < DV) v.x = src[0];
          if (col + 1 < DV) v.y = src[1];
          if (col + 2 < DV) v.z = src[2];
          if (col + 3 < DV) v.w = src[3];
        }
      }
      vreg[i] = v;
    }
    if (OUT && tid < 64) dreg = sc.den[(int64_t(bh) * nc + k) * 64 + tid];
    decreg = sc.decay[int64_t(bh) * nc + k];
  };
  auto store_v = [&](int buf) {
    uint16_t* vh = Vs + buf * 128 * kLdV;
    uint16_t* vl = vh + 64 * kLdV;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int s = (tid >> 4) + 16 * i, cc = (tid & 15) * 4;
      uint32_t h0, l0, h1, l1;
      split2(vreg[i].x, vreg[i].y, h0, l0);
      split2(vreg[i].z, vreg[i].w, h1, l1);
      *reinterpret_cast<uint2*>(vh + s * kLdV + cc) = make_uint2(h0, h1);
      *reinterpret_cast<uint2*>(vl + s * kLdV + cc) = make_uint2(l0, l1);
    }
    if (OUT && tid < 64) den_s[buf * 64 + tid] = 1.f / dreg;
  };
  // C^T = decay C^T + V^T Kw over the chunk (Kb: the Kw planes in shared memory, Vh: this chunk's V).
  // Term-major over pairs of 16-column steps: 4 independent accumulators between dependent products.
  auto update = [&](const uint16_t* Kb, const uint16_t* Vh, float decay) {
    const uint16_t* Vl = Vh + 64 * kLdV;
#pragma unroll
    for (int j = 0; j < 2 * NK; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][e] *= decay;
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      uint32_t va_h[4], va_l[4];
      const int arow = 16 * ks + ((lane >> 4) << 3) + (lane & 7), acol = rgp * 16 + (((lane >> 3) & 1) << 3);
      ldsm_x4_t(va_h, Vh + arow * kLdV + acol);
      ldsm_x4_t(va_l, Vl + arow * kLdV + acol);
      const int brow = 16 * ks + (lane & 15);
#pragma unroll
      for (int jp = 0; jp < NK; jp += 2) {
        uint32_t bh0[4], bl0[4], bh1[4], bl1[4];
        const int bcol = kp * dkw + 16 * jp + ((lane >> 4) << 3);
        ldsm_x4_t(bh0, Kb + brow * ldq + bcol);
        ldsm_x4_t(bl0, Kb + (64 + brow) * ldq + bcol);
        ldsm_x4_t(bh1, Kb + brow * ldq + bcol + 16);
        ldsm_x4_t(bl1, Kb + (64 + brow) * ldq + bcol + 16);
        float(&a0)[4] = acc[2 * jp];
        float(&a1)[4] = acc[2 * jp + 1];
        float(&a2)[4] = acc[2 * jp + 2];
        float(&a3)[4] = acc[2 * jp + 3];
        mma_bf16(a0, va_l, bh0[0], bh0[1]);
        mma_bf16(a1, va_l, bh0[2], bh0[3]);
        mma_bf16(a2, va_l, bh1[0], bh1[1]);
        mma_bf16(a3, va_l, bh1[2], bh1[3]);
        mma_bf16(a0, va_h, bl0[0], bl0[1]);
        mma_bf16(a1, va_h, bl0[2], bl0[3]);
        mma_bf16(a2, va_h, bl1[0], bl1[1]);
        mma_bf16(a3, va_h, bl1[2], bl1[3]);
        mma_bf16(a0, va_h, bh0[0], bh0[1]);
        mma_bf16(a1, va_h, bh0[2], bh0[3]);
        mma_bf16(a2, va_h, bh1[0], bh1[1]);
        mma_bf16(a3, va_h, bh1[2], bh1[3]);
      }
    }
  };

  if (OUT) load_q(kb);
  else load_k(Ks, kb);
  fetch_v(kb);
  store_v(0);
  float dec_cur = decreg;
  if (kb + 1 < ke) fetch_v(kb + 1);

  for (int k = kb; k < ke; ++k) {
    const int buf = (k - kb) & 1;
    const uint16_t* Vh = Vs + buf * 128 * kLdV;
    step_sync();  // this chunk's V is visible; everyone is done with the previous chunk's buffers
    if (OUT) {
      load_k(Ks, k);
      // ---- output: h = Q' C (dk half of this warp) + M V (two of the four 16-token steps), then / den
      float hacc[4][2][4];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) hacc[mt][nt][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < NK; ++kk) {
        // B fragments straight from the C^T accumulators (k = dk, n = dv).
        uint32_t bhi[2][2], blo[2][2];
        split2(acc[2 * kk][0], acc[2 * kk][1], bhi[0][0], blo[0][0]);
        split2(acc[2 * kk + 1][0], acc[2 * kk + 1][1], bhi[0][1], blo[0][1]);
        split2(acc[2 * kk][2], acc[2 * kk][3], bhi[1][0], blo[1][0]);
        split2(acc[2 * kk + 1][2], acc[2 * kk + 1][3], bhi[1][1], blo[1][1]);
        const int col = kp * dkw + 16 * kk + ((lane >> 4) << 3);
#pragma unroll
        for (int mp = 0; mp < 4; mp += 2) {
          uint32_t ah0[4], al0[4], ah1[4], al1[4];
          ldsm_x4(ah0, Qs + (16 * mp + (lane & 15)) * ldq + col);
          ldsm_x4(al0, Qs + (64 + 16 * mp + (lane & 15)) * ldq + col);
          ldsm_x4(ah1, Qs + (16 * mp + 16 + (lane & 15)) * ldq + col);
          ldsm_x4(al1, Qs + (64 + 16 * mp + 16 + (lane & 15)) * ldq + col);
          mma_bf16(hacc[mp][0], al0, bhi[0][0], bhi[0][1]);
          mma_bf16(hacc[mp][1], al0, bhi[1][0], bhi[1][1]);
          mma_bf16(hacc[mp + 1][0], al1, bhi[0][0], bhi[0][1]);
          mma_bf16(hacc[mp + 1][1], al1, bhi[1][0], bhi[1][1]);
          mma_bf16(hacc[mp][0], ah0, blo[0][0], blo[0][1]);
          mma_bf16(hacc[mp][1], ah0, blo[1][0], blo[1][1]);
          mma_bf16(hacc[mp + 1][0], ah1, blo[0][0], blo[0][1]);
          mma_bf16(hacc[mp + 1][1], ah1, blo[1][0], blo[1][1]);
          mma_bf16(hacc[mp][0], ah0, bhi[0][0], bhi[0][1]);
          mma_bf16(hacc[mp][1], ah0, bhi[1][0], bhi[1][1]);
          mma_bf16(hacc[mp + 1][0], ah1, bhi[0][0], bhi[0][1]);
          mma_bf16(hacc[mp + 1][1], ah1, bhi[1][0], bhi[1][1]);
        }
      }
      {
        const uint16_t* Vl = Vh + 64 * kLdV;
#pragma unroll
        for (int q2 = 0; q2 < 2; ++q2) {
          const int ks = kp == 0 ? (q2 == 0 ? 0 : 3) : (q2 == 0 ? 1 : 2);  // 5 + 5 causal tiles per half
          uint32_t vbh[4], vbl[4];
          const int vrow = 16 * ks + (lane & 15), vcol = rgp * 16 + ((lane >> 4) << 3);
          ldsm_x4_t(vbh, Vh + vrow * kLdV + vcol);
          ldsm_x4_t(vbl, Vl + vrow * kLdV + vcol);
#pragma unroll
          for (int mt = 0; mt < 4; ++mt) {
            if (mt >= ks) {
              uint32_t ah[4], al[4];
              ldsm_x4(ah, Ms + (16 * mt + (lane & 15)) * kLdM + 16 * ks + ((lane >> 4) << 3));
              ldsm_x4(al, Ms + (64 + 16 * mt + (lane & 15)) * kLdM + 16 * ks + ((lane >> 4) << 3));
              mma_bf16(hacc[mt][0], al, vbh[0], vbh[1]);
              mma_bf16(hacc[mt][1], al, vbh[2], vbh[3]);
              mma_bf16(hacc[mt][0], ah, vbl[0], vbl[1]);
              mma_bf16(hacc[mt][1], ah, vbl[2], vbl[3]);
              mma_bf16(hacc[mt][0], ah, vbh[0], vbh[1]);
              mma_bf16(hacc[mt][1], ah, vbh[2], vbh[3]);
            }
          }
        }
      }
      // The two dk halves of a row group add up through shared memory; each warp finishes two m-tiles
      // (kp 0: tokens 0..31, kp 1: tokens 32..63) and hands the other two over.
      float4* rp = reinterpret_cast<float4*>(red + rgp * 1024) + lane;
      auto handover = [&](int mt) {
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
          rp[(mt * 2 + nt) * 32] = make_float4(hacc[mt][nt][0], hacc[mt][nt][1], hacc[mt][nt][2], hacc[mt][nt][3]);
      };
      if (kp == 0) {
        handover(2);
        handover(3);
      } else {
        handover(0);
        handover(1);
      }
      step_sync();  // partials visible; Kw landed; Q' and M may be overwritten
      if (k + 1 < ke) load_q(k + 1);
      const float* dinv = den_s + buf * 64;  // 1 / den
      const int64_t hrow0 = int64_t(b) * c.T + t_begin + int64_t(k) * L;
      auto finish = [&](int mt) {
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int t = 16 * mt + g + 8 * hf;
          if (t < L) {
            const float inv = dinv[t];
            float* hrow = c.h + ((hrow0 + t) * c.NH + hh) * DV;
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) {
              const float4 o = rp[(mt * 2 + nt) * 32];
              const float x0 = (hacc[mt][nt][2 * hf] + (hf ? o.z : o.x)) * inv;
              const float x1 = (hacc[mt][nt][2 * hf + 1] + (hf ? o.w : o.y)) * inv;
              const int dv = dv0 + rgp * 16 + nt * 8 + 2 * cq;
              if ((DV & 1) == 0 && dv + 1 < DV) {
                *reinterpret_cast<float2*>(hrow + dv) = make_float2(x0, x1);
              } else {
                if (dv < DV) hrow[dv] = x0;
                if (dv + 1 < DV) hrow[dv + 1] = x1;
              }
            }
          }
        }
      };
      if (kp == 0) {
        finish(0);
        finish(1);
      } else {
        finish(2);
        finish(3);
      }
      update(Ks, Vh, dec_cur);
    } else {
      uint16_t* Kcur = buf ? Qs : Ks;
      uint16_t* Knext = buf ? Ks : Qs;
      if (k + 1 < ke) load_k(Knext, k + 1);
      update(Kcur, Vh, dec_cur);
    }
    if (k + 1 < ke) {
      store_v(buf ^ 1);  // that buffer was last read in the previous chunk
      const float dec_nxt = decreg;
      if (k + 2 < ke) fetch_v(k + 2);
      dec_cur = dec_nxt;
    }
  }
  // ---- the state after the range: pass 2's last segment -> the state; pass 1 -> its local slot.
  float* Co = nullptr;
  if (OUT) {
    if (z == rg.count - 1) Co = st.C[b] + hh * DKDV;
  } else {
    Co = sc.cloc + (int64_t(z) * BH + bh) * DKDV;
    if (blockIdx.x == 0 && tid == 0) {  // the decay over this piece, for the combine pass
      float sb = 0.f;
      for (int k = kb; k < ke; ++k) sb += sc.bcum[(int64_t(bh) * nc + k) * L + L - 1];
      sc.delta[int64_t(bh) * rg.count + z] = expf(sb + sc.mprev[int64_t(bh) * nc + kb] - sc.mk[int64_t(bh) * nc + ke - 1]);
    }
  }
  if (Co) {
#pragma unroll
    for (int j = 0; j < 2 * NK; ++j) {
      const int dk = kp * dkw + 8 * j + 2 * cq;
      if (dk < DK) {
        if (dvA < DV) Co[int64_t(dk) * DV + dvA] = acc[j][0];
        if (dvB < DV) Co[int64_t(dk) * DV + dvB] = acc[j][2];
      }
      if (dk + 1 < DK) {
        if (dvA < DV) Co[int64_t(dk + 1) * DV + dvA] = acc[j][1];
        if (dvB < DV) Co[int64_t(dk + 1) * DV + dvB] = acc[j][3];
      }
    }
  }
}

// ---- 7. combine ----------------------------------------------------------------------------------------
// cin[0] = state; cin[g+1] = chain over the pieces of segment g: x = delta_p x + cloc_p.
constexpr int kCombineThreads = 256;

template <bool VEC4>
__global__ __launch_bounds__(kCombineThreads) void combine_kernel(int NH, int64_t DKDV, const __grid_constant__ MlstmStatePtrs st,
                                                                  ChunkScratch sc, int G, int P) {
  const int bh = blockIdx.y, b = bh / NH, hh = bh % NH, BH = gridDim.y, Ptot = (G - 1) * P;
  const int64_t e = (int64_t(blockIdx.x) * kCombineThreads + threadIdx.x) * (VEC4 ? 4 : 1);
  if (e >= DKDV) return;
  const float* src = st.C[b] + hh * DKDV + e;
  if (VEC4) {
    float4 x = *reinterpret_cast<const float4*>(src);
    for (int gi = 0; gi < G; ++gi) {
      *reinterpret_cast<float4*>(sc.cin + (int64_t(gi) * BH + bh) * DKDV + e) = x;
      if (gi == G - 1) break;
      for (int p = 0; p < P; ++p) {
        const int zz = gi * P + p;
        const float d = sc.delta[int64_t(bh) * Ptot + zz];
        const float4 l = *reinterpret_cast<const float4*>(sc.cloc + (int64_t(zz) * BH + bh) * DKDV + e);
        x = make_float4(d * x.x + l.x, d * x.y + l.y, d * x.z + l.z, d * x.w + l.w);
      }
    }
  } else {
    float x = *src;
    for (int gi = 0; gi < G; ++gi) {
      sc.cin[(int64_t(gi) * BH + bh) * DKDV + e] = x;
      if (gi == G - 1) break;
      for (int p = 0; p < P; ++p) {
        const int zz = gi * P + p;
        x = sc.delta[int64_t(bh) * Ptot + zz] * x + sc.cloc[(int64_t(zz) * BH + bh) * DKDV + e];
      }
    }
  }
}

template <typename K>
void set_smem(K kernel, int bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}

template <bool OUT, bool VEC>
void launch_scan(int NK, dim3 grid, int smem, cudaStream_t s, const MlstmCell& c, const MlstmStatePtrs& st, int t_begin,
                 int nc, int L, const ChunkScratch& sc, const ScanRanges& r) {
  auto run = [&](auto kernel) {
    set_smem(kernel, smem);
    kernel<<<grid, kScanThreads, smem, s>>>(c, st, t_begin, nc, L, sc, r);
    CUDA_CHECK_LAUNCH();
  };
  switch (NK) {
    case 2: run(scan_kernel<OUT, VEC, 2>); break;
    case 4: run(scan_kernel<OUT, VEC, 4>); break;
    case 6: run(scan_kernel<OUT, VEC, 6>); break;
    default: run(scan_kernel<OUT, VEC, 8>); break;
  }
}

}  // namespace

size_t mlstm_chunk_scratch_bytes(int B, int NH, int DK, int DV, int nc, int L, MlstmScanPlan plan) {
  size_t total = 0;
  carve(nullptr, B * NH, DK, DV, nc, L, plan, &total);
  return total;
}

MlstmScanPlan mlstm_scan_plan(int B, int NH, int DV, int nc, int sm_count) {
  MlstmScanPlan p;
  const int per_seg = int(ceil_div(DV, kTileDV)) * B * NH;  // scan blocks per segment (one per SM)
  p.G = std::max(1, std::min({sm_count / std::max(1, per_seg), nc / 2, 8}));
  if (p.G > 1) {
    const int seg_len = nc / p.G;
    p.P = std::max(1, std::min({sm_count / (per_seg * (p.G - 1)), seg_len, kMlstmMaxRanges / (p.G - 1)}));
  }
  return p;
}

void launch_mlstm_chunkwise(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int nc, int L,
                            MlstmScanPlan plan, void* scratch, cudaStream_t s, unsigned stages) {
  if (nc <= 0 || B <= 0) return;
  CUDA_REQUIRE(L >= 1 && L <= kMlstmMaxChunk, "mlstm: chunk length " + std::to_string(L) + " outside [1, 64]");
  CUDA_REQUIRE(c.DK <= kMlstmChunkMaxDK, "mlstm: chunkwise form needs DK <= 256");
  const int G = std::max(1, std::min(plan.G, nc)), P = G > 1 ? std::max(1, std::min(plan.P, nc / G)) : 1;
  CUDA_REQUIRE(G <= kMlstmMaxRanges && (G - 1) * P <= kMlstmMaxRanges, "mlstm: too many scan ranges");
  const MlstmScanPlan pl{G, P};
  const int BH = B * c.NH;
  const ChunkScratch sc = carve(scratch, BH, c.DK, c.DV, nc, L, pl, nullptr);
  const bool vec = c.ld % 4 == 0 && c.DK % 4 == 0 && c.DV % 4 == 0 && aligned16(c.q) && aligned16(c.k) && aligned16(c.v);

  if (stages & kStageGates) {
    gates_local_kernel<<<dim3(unsigned(ceil_div(nc, kGateWarps)), unsigned(BH)), kGateWarps * 32, 0, s>>>(c, t_begin, nc,
                                                                                                         L, sc);
    CUDA_CHECK_LAUNCH();
    gates_scan_kernel<<<unsigned(BH), 32, 0, s>>>(c, st, nc, L, sc);
    CUDA_CHECK_LAUNCH();
    if (vec) gates_final_kernel<true><<<dim3(unsigned(nc), unsigned(BH)), kFinalThreads, 0, s>>>(c, t_begin, nc, L, sc);
    else gates_final_kernel<false><<<dim3(unsigned(nc), unsigned(BH)), kFinalThreads, 0, s>>>(c, t_begin, nc, L, sc);
    CUDA_CHECK_LAUNCH();
  }
  if (stages & kStagePrep) {
    nscan_kernel<<<dim3(unsigned(sc.DKp / kNscanThreads), unsigned(BH)), kNscanThreads, 0, s>>>(c, st, nc, sc);
    CUDA_CHECK_LAUNCH();
    set_smem(prep_kernel<true>, kPrepSmem);
    set_smem(prep_kernel<false>, kPrepSmem);
    if (vec) prep_kernel<true><<<dim3(unsigned(nc), unsigned(BH)), kPrepThreads, kPrepSmem, s>>>(c, t_begin, nc, L, sc);
    else prep_kernel<false><<<dim3(unsigned(nc), unsigned(BH)), kPrepThreads, kPrepSmem, s>>>(c, t_begin, nc, L, sc);
    CUDA_CHECK_LAUNCH();
  }
  const int smem = scan_smem_bytes(sc.DKp), NK = sc.DKp / 32;
  const int ntile = int(ceil_div(c.DV, kTileDV));
  auto seg_begin = [&](int gi) { return int(int64_t(nc) * gi / G); };
  if ((stages & kStageScan) && G > 1) {
    ScanRanges r{};
    r.count = (G - 1) * P;
    for (int gi = 0; gi < G - 1; ++gi)
      for (int p = 0; p <= P; ++p) {
        const int a = seg_begin(gi), len = seg_begin(gi + 1) - a;
        r.begin[gi * P + p] = a + int(int64_t(len) * p / P);
      }
    const dim3 grid{unsigned(ntile), unsigned(BH), unsigned(r.count)};
    if (vec) launch_scan<false, true>(NK, grid, smem, s, c, st, t_begin, nc, L, sc, r);
    else launch_scan<false, false>(NK, grid, smem, s, c, st, t_begin, nc, L, sc, r);
    const int64_t DKDV = int64_t(c.DK) * c.DV;
    bool v4 = DKDV % 4 == 0;
    for (int b = 0; b < B && v4; ++b) v4 = aligned16(st.C[b]);
    const dim3 gc(unsigned(ceil_div(v4 ? DKDV / 4 : DKDV, kCombineThreads)), unsigned(BH));
    if (v4) combine_kernel<true><<<gc, kCombineThreads, 0, s>>>(c.NH, DKDV, st, sc, G, P);
    else combine_kernel<false><<<gc, kCombineThreads, 0, s>>>(c.NH, DKDV, st, sc, G, P);
    CUDA_CHECK_LAUNCH();
  }
  if (stages & kStageOutput) {
    ScanRanges r{};
    r.count = G;
    r.init_from_state = G == 1;
    for (int gi = 0; gi <= G; ++gi) r.begin[gi] = seg_begin(gi);
    const dim3 grid{unsigned(ntile), unsigned(BH), unsigned(G)};
    if (vec) launch_scan<true, true>(NK, grid, smem, s, c, st, t_begin, nc, L, sc, r);
    else launch_scan<true, false>(NK, grid, smem, s, c, st, t_begin, nc, L, sc, r);
  }
}

}  // namespace xlstm::cuda
