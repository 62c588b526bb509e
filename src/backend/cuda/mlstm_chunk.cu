// Why: the chunkwise mLSTM (prefill) in five kernels per segment of nc chunks of length L <= 64:
//  1. gates_local  (warp per chunk): b_t = cumsum logsig(f~), g_t = i~_t - b_t, P_t = max_{s<=t} g_s.
//  2. gates_scan   (warp per head): the scalar recurrence over chunks m_k = max(b_L + m_{k-1}, b_L + P_L);
//     writes the final m to the state.
//  3. gates_final  (warp per chunk): per token u_t = -max(m_prev, P_t) (= b_t - m_t), m_t, and the state
//     weights w_t = exp(g_t + b_L - m_k); per chunk decay_k = exp(b_L + m_prev - m_k).
//  4. state_scan   (grid DV/64 x DK/64 x heads, sequential over chunks): the state tile C [64, 64] lives
//     in tensor-core accumulators (fp32); per chunk it is written out (bf16) as the state entering the
//     chunk, then C = decay C + K^T diag(w) V on tf32 mma; blocks of the first DV tile carry n as one
//     more accumulator column (n = decay n + K^T w). The next chunk's K, V, w are loaded into registers
//     while the current one computes; one block barrier per chunk.
//  5. chunk_output (block per chunk and head, all chunks in parallel):
//     S = qs K^T with bf16x3 products (hi*hi + hi*lo + lo*hi: ~16-bit mantissas; plain bf16 here makes the
//     normaliser ill-conditioned: 2-20% error on random inputs), M_ts = S_ts exp(u_t + g_s) for s <= t,
//     h = (diag(exp(u_t + m_prev)) qs C_prev + M V) / (max(|exp(u_t + m_prev) qs.n_prev + sum_s M_ts|,
//     exp(-m_t)) + eps) with bf16 operands and fp32 sums for the two products.
// All are exact rewrites of xlstm-reference.md's chunkwise form; the tests compare with the CPU backend.
#include <mma.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mlstm.cuh"

namespace xlstm::cuda {
namespace {

using namespace nvcuda;

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Scratch layout of one segment (all per head-sequence pair bh = b * NH + h).
struct ChunkScratch {
  float* bcum;     // [BH, nc*L]  b_t
  float* gval;     // [BH, nc*L]  g_t = i_t - b_t
  float* pmax;     // [BH, nc*L]  P_t, then u_t = -max(m_prev, P_t)
  float* mtok;     // [BH, nc*L]  m_t
  float* wtok;     // [BH, nc*L]  w_t
  float* mprev;    // [BH, nc]    m entering chunk k
  float* mk;       // [BH, nc]    m leaving chunk k
  float* decay;    // [BH, nc]
  float* nbuf;     // [BH, nc, DKp]      n entering chunk k
  uint16_t* cbuf;  // [BH, nc, DKp, DVp] C entering chunk k (bf16)
  int DKp, DVp;
};

size_t up256(size_t x) { return (x + 255) / 256 * 256; }

ChunkScratch carve(void* base, int BH, int DK, int DV, int nc, int L) {
  ChunkScratch s;
  s.DKp = round_up(DK, 64), s.DVp = round_up(DV, 64);
  char* p = static_cast<char*>(base);
  auto take = [&](size_t bytes) {
    char* r = p;
    p += up256(bytes);
    return r;
  };
  const size_t tok = size_t(BH) * nc * L * 4, chk = size_t(BH) * nc * 4;
  s.bcum = reinterpret_cast<float*>(take(tok));
  s.gval = reinterpret_cast<float*>(take(tok));
  s.pmax = reinterpret_cast<float*>(take(tok));
  s.mtok = reinterpret_cast<float*>(take(tok));
  s.wtok = reinterpret_cast<float*>(take(tok));
  s.mprev = reinterpret_cast<float*>(take(chk));
  s.mk = reinterpret_cast<float*>(take(chk));
  s.decay = reinterpret_cast<float*>(take(chk));
  s.nbuf = reinterpret_cast<float*>(take(size_t(BH) * nc * s.DKp * 4));
  s.cbuf = reinterpret_cast<uint16_t*>(take(size_t(BH) * nc * s.DKp * s.DVp * 2));
  return s;
}

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
      sc.bcum[o] = bt, sc.gval[o] = g, sc.pmax[o] = pt;
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
      A = bL + sc.pmax[o];
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

// ---- 3. gates_final ------------------------------------------------------------------------------------
__global__ __launch_bounds__(kGateWarps * 32) void gates_final_kernel(int nc, int L, ChunkScratch sc) {
  const int lane = threadIdx.x & 31;
  const int chunk = blockIdx.x * kGateWarps + (threadIdx.x >> 5);
  const int bh = blockIdx.y;
  if (chunk >= nc) return;
  const int64_t base = int64_t(bh) * nc * L + int64_t(chunk) * L;
  const float mprev = sc.mprev[int64_t(bh) * nc + chunk], mk = sc.mk[int64_t(bh) * nc + chunk];
  const float bL = sc.bcum[base + L - 1];
  if (lane == 0) sc.decay[int64_t(bh) * nc + chunk] = expf(bL + mprev - mk);
  for (int t = lane; t < L; t += 32) {
    const float u = -fmaxf(mprev, sc.pmax[base + t]);
    const float g = sc.gval[base + t];
    sc.pmax[base + t] = u;
    sc.mtok[base + t] = sc.bcum[base + t] - u;
    sc.wtok[base + t] = expf(g + bL - mk);
  }
}

// ---- 4. state_scan -------------------------------------------------------------------------------------
constexpr int kScanWarps = 4;
constexpr int kScanThreads = kScanWarps * 32;
constexpr int kTile = 64;
constexpr int kLdF = kTile + 4;  // padded float row (68: 16-row and 8-row tiles stay 32-byte aligned)
constexpr int kLdW = 16 + 4;     // the w / n column tile (one used column of 16)
// Shared memory (bytes): K and V tiles (x2 buffers), the w tile (x2), C staging, n staging.
constexpr int kScanOffK = 0, kScanOffV = kScanOffK + 2 * kTile * kLdF * 4, kScanOffW = kScanOffV + 2 * kTile * kLdF * 4,
              kScanOffC = kScanOffW + 2 * kTile * kLdW * 4, kScanOffN = kScanOffC + kTile * kLdF * 4,
              kScanSmem = kScanOffN + kTile * kLdW * 4;

// VEC: k and v rows allow float4 loads (ld, DK, DV multiples of 4, aligned bases).
template <bool VEC>
__global__ __launch_bounds__(kScanThreads, 2) void state_scan_kernel(MlstmCell c,
                                                                    const __grid_constant__ MlstmStatePtrs st,
                                                                    int t_begin, int nc, int L, ChunkScratch sc) {
  extern __shared__ __align__(128) unsigned char smem[];
  float* Ksm = reinterpret_cast<float*>(smem + kScanOffK);  // [2][64][kLdF]
  float* Vsm = reinterpret_cast<float*>(smem + kScanOffV);  // [2][64][kLdF]
  float* Wsm = reinterpret_cast<float*>(smem + kScanOffW);  // [2][64][kLdW], column 0 = w_t
  float* Csm = reinterpret_cast<float*>(smem + kScanOffC);  // [64][kLdF]; warp w uses rows 16w..16w+15
  float* Nsm = reinterpret_cast<float*>(smem + kScanOffN);  // [64][kLdW]; likewise
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int dv0 = blockIdx.x * kTile, dk0 = blockIdx.y * kTile;
  const int bh = blockIdx.z, b = bh / c.NH, hh = bh % c.NH;
  const int DK = c.DK, DV = c.DV;
  float* Cg = st.C[b] + int64_t(hh) * DK * DV;
  float* ng = st.n[b] + int64_t(hh) * DK;
  const bool own_n = blockIdx.x == 0;  // uniform per block
  const float* kb = c.k + int64_t(hh) * DK + dk0;
  const float* vb = c.v + int64_t(hh) * DV + dv0;

  // Initial state tile -> staging -> accumulators; zero the w tiles (only column 0 is ever written).
  for (int e = tid; e < kTile * kTile; e += kScanThreads) {
    const int r = e / kTile, col = e % kTile;
    Csm[r * kLdF + col] = (dk0 + r < DK && dv0 + col < DV) ? Cg[int64_t(dk0 + r) * DV + dv0 + col] : 0.f;
  }
  for (int e = tid; e < 2 * kTile * kLdW; e += kScanThreads) Wsm[e] = 0.f;
  for (int e = tid; e < kTile * kLdW; e += kScanThreads) {  // n in column 0 (one writer per element)
    const int r = e / kLdW;
    Nsm[e] = (own_n && e % kLdW == 0 && dk0 + r < DK) ? ng[dk0 + r] : 0.f;
  }
  __syncthreads();
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4], nacc;
#pragma unroll
  for (int j = 0; j < 4; ++j)
    wmma::load_matrix_sync(acc[j], Csm + warp * 16 * kLdF + j * 16, kLdF, wmma::mem_row_major);
  wmma::load_matrix_sync(nacc, Nsm + warp * 16 * kLdW, kLdW, wmma::mem_row_major);

  // Prefetch registers (VEC): thread moves float4 j of the K tile and of the V tile: row f/16, col (f%16)*4.
  float4 kreg[8], vreg[8];
  float wreg[8], dreg = 0.f;
  auto fetch = [&](int chunk) {
    const int64_t row0 = int64_t(b) * c.T + t_begin + int64_t(chunk) * L;
    const int64_t tok0 = int64_t(bh) * nc * L + int64_t(chunk) * L;
    dreg = sc.decay[int64_t(bh) * nc + chunk];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int f = tid + kScanThreads * j, r = f >> 4, c4 = (f & 15) * 4;
      const bool rv = r < L;
      wreg[j] = rv ? sc.wtok[tok0 + r] : 0.f;
      kreg[j] = rv && dk0 + c4 < DK ? *reinterpret_cast<const float4*>(kb + (row0 + r) * c.ld + c4)
                                    : make_float4(0.f, 0.f, 0.f, 0.f);
      vreg[j] = rv && dv0 + c4 < DV ? *reinterpret_cast<const float4*>(vb + (row0 + r) * c.ld + c4)
                                    : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  if (VEC) fetch(0);

  for (int k = 0; k < nc; ++k) {
    const int buf = k & 1;
    float* Ks = Ksm + buf * kTile * kLdF;
    float* Vs = Vsm + buf * kTile * kLdF;
    float* Ws = Wsm + buf * kTile * kLdW;
    float decay;
    // (1) chunk k's K, V * w, w -> buffer `buf` (last read two chunks ago, before the previous barrier).
    if (VEC) {
      decay = dreg;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int f = tid + kScanThreads * j, r = f >> 4, c4 = (f & 15) * 4;
        const float w = wreg[j];
        if (c4 == 0) Ws[r * kLdW] = w;
        *reinterpret_cast<float4*>(Ks + r * kLdF + c4) = kreg[j];
        *reinterpret_cast<float4*>(Vs + r * kLdF + c4) =
            make_float4(vreg[j].x * w, vreg[j].y * w, vreg[j].z * w, vreg[j].w * w);
      }
    } else {
      const int64_t row0 = int64_t(b) * c.T + t_begin + int64_t(k) * L;
      const int64_t tok0 = int64_t(bh) * nc * L + int64_t(k) * L;
      decay = sc.decay[int64_t(bh) * nc + k];
      for (int e = tid; e < kTile * kTile; e += kScanThreads) {
        const int r = e / kTile, cc = e % kTile;
        const bool rv = r < L;
        const float w = rv ? sc.wtok[tok0 + r] : 0.f;
        if (cc == 0) Ws[r * kLdW] = w;
        Ks[r * kLdF + cc] = rv && dk0 + cc < DK ? kb[(row0 + r) * c.ld + cc] : 0.f;
        Vs[r * kLdF + cc] = rv && dv0 + cc < DV ? vb[(row0 + r) * c.ld + cc] * w : 0.f;
      }
    }
    __syncthreads();
    if (VEC && k + 1 < nc) fetch(k + 1);
    // (2) this warp's rows of the state entering chunk k -> Cbuf (bf16) and nbuf. Warp-private staging.
#pragma unroll
    for (int j = 0; j < 4; ++j)
      wmma::store_matrix_sync(Csm + warp * 16 * kLdF + j * 16, acc[j], kLdF, wmma::mem_row_major);
    if (own_n) wmma::store_matrix_sync(Nsm + warp * 16 * kLdW, nacc, kLdW, wmma::mem_row_major);
    __syncwarp();
    {
      uint16_t* cb = sc.cbuf + ((int64_t(bh) * nc + k) * sc.DKp + dk0 + warp * 16) * sc.DVp + dv0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {  // 16 rows x 8 groups of 8 columns = 128 uint4 per warp
        const int e = lane + 32 * i, r = e >> 3, c8 = (e & 7) * 8;
        const float* src = Csm + (warp * 16 + r) * kLdF + c8;
        __nv_bfloat162 p0 = __floats2bfloat162_rn(src[0], src[1]), p1 = __floats2bfloat162_rn(src[2], src[3]);
        __nv_bfloat162 p2 = __floats2bfloat162_rn(src[4], src[5]), p3 = __floats2bfloat162_rn(src[6], src[7]);
        uint4 o;
        o.x = *reinterpret_cast<uint32_t*>(&p0), o.y = *reinterpret_cast<uint32_t*>(&p1);
        o.z = *reinterpret_cast<uint32_t*>(&p2), o.w = *reinterpret_cast<uint32_t*>(&p3);
        *reinterpret_cast<uint4*>(cb + int64_t(r) * sc.DVp + c8) = o;
      }
      if (own_n && lane < 16)
        sc.nbuf[(int64_t(bh) * nc + k) * sc.DKp + dk0 + warp * 16 + lane] = Nsm[(warp * 16 + lane) * kLdW];
    }
    __syncwarp();  // staging rows are rewritten next chunk by this warp only
    // (3) C = decay C + K^T diag(w) V; n = decay n + K^T w.   A = K^T: column-major view of Ks.
#pragma unroll
    for (int j = 0; j < 4; ++j)
      for (int e = 0; e < acc[j].num_elements; ++e) acc[j].x[e] *= decay;
    if (own_n)
      for (int e = 0; e < nacc.num_elements; ++e) nacc.x[e] *= decay;
    for (int t0 = 0; t0 < L; t0 += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a;
      wmma::load_matrix_sync(a, Ks + t0 * kLdF + warp * 16, kLdF);
      for (int e = 0; e < a.num_elements; ++e) a.x[e] = wmma::__float_to_tf32(a.x[e]);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bf;
        wmma::load_matrix_sync(bf, Vs + t0 * kLdF + j * 16, kLdF);
        for (int e = 0; e < bf.num_elements; ++e) bf.x[e] = wmma::__float_to_tf32(bf.x[e]);
        wmma::mma_sync(acc[j], a, bf, acc[j]);
      }
      if (own_n) {
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bw;
        wmma::load_matrix_sync(bw, Ws + t0 * kLdW, kLdW);
        for (int e = 0; e < bw.num_elements; ++e) bw.x[e] = wmma::__float_to_tf32(bw.x[e]);
        wmma::mma_sync(nacc, a, bw, nacc);
      }
    }
  }

  // Final state -> global (through this warp's staging rows).
#pragma unroll
  for (int j = 0; j < 4; ++j)
    wmma::store_matrix_sync(Csm + warp * 16 * kLdF + j * 16, acc[j], kLdF, wmma::mem_row_major);
  if (own_n) wmma::store_matrix_sync(Nsm + warp * 16 * kLdW, nacc, kLdW, wmma::mem_row_major);
  __syncwarp();
  for (int e = lane; e < 16 * kTile; e += 32) {
    const int r = warp * 16 + e / kTile, col = e % kTile;
    if (dk0 + r < DK && dv0 + col < DV) Cg[int64_t(dk0 + r) * DV + dv0 + col] = Csm[r * kLdF + col];
  }
  if (own_n && lane < 16 && dk0 + warp * 16 + lane < DK) ng[dk0 + warp * 16 + lane] = Nsm[(warp * 16 + lane) * kLdW];
}

// ---- 5. chunk_output -----------------------------------------------------------------------------------
constexpr int kOutWarps = 8;
constexpr int kOutThreads = kOutWarps * 32;
constexpr int kOutCols = kOutWarps * 32;  // output columns per pass (32 per warp)
constexpr int kLdH = 64 + 8;              // bf16 row of a 64-wide tile (144 bytes)
constexpr int kLdC = kOutCols + 8;        // bf16 row of a 256-wide tile (528 bytes)
constexpr int kLdS = 64 + 4;              // f32 row of S (272 bytes)
constexpr int kLdO = kOutCols + 4;        // f32 row of the output staging (1040 bytes)
// Shared memory (bytes): [Q2: 64 x (DKp+8) bf16, persistent] [region: phase 1 = Qh Ql Kh Kl slabs;
// then S (f32); then per output pass C slab + V slice, then O staging] [P bf16] [per-row values].
constexpr int kTileH = 64 * kLdH * 2;
constexpr int kRegion1 = 4 * kTileH, kRegionS = 64 * kLdS * 4, kRegion3 = 2 * 64 * kLdC * 2, kRegionO = 64 * kLdO * 4;
constexpr int kRegion = kRegion3 > kRegionO ? kRegion3 : kRegionO;
static_assert(kRegion >= kRegion1 && kRegion >= kRegionS, "region sizes");
inline int out_smem_bytes(int DKp) { return 64 * (DKp + 8) * 2 + kRegion + kTileH + 5 * 64 * 4; }

__device__ __forceinline__ void split_bf16(float x, __nv_bfloat16& hi, __nv_bfloat16& lo) {
  hi = __float2bfloat16_rn(x);
  lo = __float2bfloat16_rn(x - __bfloat162float(hi));
}

template <bool VEC>
__global__ __launch_bounds__(kOutThreads, 2) void chunk_output_kernel(MlstmCell c, int t_begin, int nc, int L,
                                                                     ChunkScratch sc) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int DKp = sc.DKp, ldq = DKp + 8;
  __nv_bfloat16* Q2 = reinterpret_cast<__nv_bfloat16*>(smem);
  unsigned char* region = smem + 64 * ldq * 2;
  __nv_bfloat16* Qh = reinterpret_cast<__nv_bfloat16*>(region);
  __nv_bfloat16* Ql = Qh + 64 * kLdH;
  __nv_bfloat16* Kh = Ql + 64 * kLdH;
  __nv_bfloat16* Kl = Kh + 64 * kLdH;
  float* Sf = reinterpret_cast<float*>(region);
  __nv_bfloat16* Cb = reinterpret_cast<__nv_bfloat16*>(region);
  __nv_bfloat16* Vb = Cb + 64 * kLdC;
  float* Of = reinterpret_cast<float*>(region);
  __nv_bfloat16* Pb = reinterpret_cast<__nv_bfloat16*>(region + kRegion);
  float* u_s = reinterpret_cast<float*>(region + kRegion + kTileH);
  float* g_s = u_s + 64;
  float* mt_s = g_s + 64;
  float* den_s = mt_s + 64;

  const int tid = threadIdx.x, warp = tid >> 5;
  const int chunk = blockIdx.x, bh = blockIdx.y, b = bh / c.NH, hh = bh % c.NH;
  const int DK = c.DK, DV = c.DV;
  const int64_t row0 = int64_t(b) * c.T + t_begin + int64_t(chunk) * L;  // first row of the chunk
  const int64_t tok0 = int64_t(bh) * nc * L + int64_t(chunk) * L;
  const float mprev = sc.mprev[int64_t(bh) * nc + chunk];
  const float* nprev = sc.nbuf + (int64_t(bh) * nc + chunk) * DKp;
  const uint16_t* cprev = sc.cbuf + (int64_t(bh) * nc + chunk) * DKp * sc.DVp;

  // Row of this thread for the Q/K loads and the P computation: r = tid / 4, quarter = tid % 4.
  const int r = tid >> 2, quarter = tid & 3;
  const bool rvalid = r < L;
  const float u = rvalid ? sc.pmax[tok0 + r] : 0.f;
  const float srow = rvalid ? expf(u + mprev) : 0.f;
  if (quarter == 0) {
    u_s[r] = u;
    g_s[r] = rvalid ? sc.gval[tok0 + r] : 0.f;
    mt_s[r] = rvalid ? sc.mtok[tok0 + r] : 0.f;
  }

  // ---- phase 1: S = qs K^T (bf16x3) over DK slabs; Q2 = qs * exp(u + m_prev) kept for the inter part.
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> sacc[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) wmma::fill_fragment(sacc[i], 0.f);
  const int st0 = warp * 2;  // this warp's two S tiles: (st / 4, st % 4)
  float qn = 0.f;
  const float* qrow = c.q + (row0 + r) * c.ld + int64_t(hh) * DK;
  const float* krow = c.k + (row0 + r) * c.ld + int64_t(hh) * DK;
  for (int d0 = 0; d0 < DKp; d0 += 64) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int cc = quarter * 16 + 4 * j, d = d0 + cc;
      float qv[4] = {0.f, 0.f, 0.f, 0.f}, kv[4] = {0.f, 0.f, 0.f, 0.f};
      if (rvalid) {
        if (VEC) {
          if (d < DK) {
            float4 t = *reinterpret_cast<const float4*>(qrow + d);
            qv[0] = t.x, qv[1] = t.y, qv[2] = t.z, qv[3] = t.w;
            t = *reinterpret_cast<const float4*>(krow + d);
            kv[0] = t.x, kv[1] = t.y, kv[2] = t.z, kv[3] = t.w;
          }
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (d + e < DK) qv[e] = qrow[d + e], kv[e] = krow[d + e];
        }
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float qs = qv[e] * c.scale;
        qn += qs * nprev[d + e];
        split_bf16(qs, Qh[r * kLdH + cc + e], Ql[r * kLdH + cc + e]);
        split_bf16(kv[e], Kh[r * kLdH + cc + e], Kl[r * kLdH + cc + e]);
        Q2[r * ldq + d + e] = __float2bfloat16_rn(qs * srow);
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int st = st0 + i, ti = st >> 2, tj = st & 3;
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> ah, al;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bh_, bl;
        wmma::load_matrix_sync(ah, Qh + ti * 16 * kLdH + kk * 16, kLdH);
        wmma::load_matrix_sync(al, Ql + ti * 16 * kLdH + kk * 16, kLdH);
        wmma::load_matrix_sync(bh_, Kh + tj * 16 * kLdH + kk * 16, kLdH);
        wmma::load_matrix_sync(bl, Kl + tj * 16 * kLdH + kk * 16, kLdH);
        wmma::mma_sync(sacc[i], al, bh_, sacc[i]);
        wmma::mma_sync(sacc[i], ah, bl, sacc[i]);
        wmma::mma_sync(sacc[i], ah, bh_, sacc[i]);
      }
    }
    __syncthreads();
  }
  qn += __shfl_xor_sync(0xffffffffu, qn, 1);
  qn += __shfl_xor_sync(0xffffffffu, qn, 2);

  // ---- phase 2: P = S * exp(u_t + g_s) below the diagonal (bf16), row sums, the denominator.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int st = st0 + i, ti = st >> 2, tj = st & 3;
    wmma::store_matrix_sync(Sf + ti * 16 * kLdS + tj * 16, sacc[i], kLdS, wmma::mem_row_major);
  }
  __syncthreads();
  {
    float rs = 0.f;
#pragma unroll 4
    for (int j = 0; j < 16; ++j) {
      const int s = quarter * 16 + j;
      float mv = 0.f;
      if (rvalid && s <= r) mv = Sf[r * kLdS + s] * expf(u_s[r] + g_s[s]);
      rs += mv;
      Pb[r * kLdH + s] = __float2bfloat16_rn(mv);
    }
    rs += __shfl_xor_sync(0xffffffffu, rs, 1);
    rs += __shfl_xor_sync(0xffffffffu, rs, 2);
    if (quarter == 0) den_s[r] = rvalid ? fmaxf(fabsf(srow * qn + rs), expf(-mt_s[r])) + c.eps : 1.f;
  }
  __syncthreads();  // Sf is dead from here; P, den are ready

  // ---- phase 3: per pass of 256 output columns, acc = Q2 C_prev[:, cols] + P V[:, cols].
  const int Lp = (L + 15) / 16 * 16;
  for (int dv0 = 0; dv0 < DV; dv0 += kOutCols) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> oacc[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::fill_fragment(oacc[i][j], 0.f);
    // C_prev slabs [64 x 256] bf16 (8 independent 16-byte loads per thread; the other resident block
    // computes meanwhile).
    for (int d0 = 0; d0 < DKp; d0 += 64) {
      uint4 creg[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int e = tid + kOutThreads * j, rr = e >> 5, c8 = (e & 31) * 8;
        creg[j] = dv0 + c8 < sc.DVp ? *reinterpret_cast<const uint4*>(cprev + int64_t(d0 + rr) * sc.DVp + dv0 + c8)
                                    : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int e = tid + kOutThreads * j, rr = e >> 5, c8 = (e & 31) * 8;
        *reinterpret_cast<uint4*>(Cb + rr * kLdC + c8) = creg[j];
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b0, b1;
        wmma::load_matrix_sync(b0, Cb + kk * 16 * kLdC + warp * 32, kLdC);
        wmma::load_matrix_sync(b1, Cb + kk * 16 * kLdC + warp * 32 + 16, kLdC);
#pragma unroll
        for (int rt = 0; rt < 4; ++rt) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
          wmma::load_matrix_sync(a, Q2 + rt * 16 * ldq + d0 + kk * 16, ldq);
          wmma::mma_sync(oacc[rt][0], a, b0, oacc[rt][0]);
          wmma::mma_sync(oacc[rt][1], a, b1, oacc[rt][1]);
        }
      }
      __syncthreads();
    }
    // V slice [64 x 256] -> bf16.
    {
      const float* vb = c.v + int64_t(hh) * DV + dv0;
      for (int e = tid; e < 64 * kOutCols / 4; e += kOutThreads) {
        const int rr = e / (kOutCols / 4), c4 = (e % (kOutCols / 4)) * 4;
        float vv[4] = {0.f, 0.f, 0.f, 0.f};
        if (rr < L) {
          const float* src = vb + (row0 + rr) * c.ld + c4;
          if (VEC) {
            if (dv0 + c4 < DV) {
              float4 t = *reinterpret_cast<const float4*>(src);
              vv[0] = t.x, vv[1] = t.y, vv[2] = t.z, vv[3] = t.w;
            }
          } else {
#pragma unroll
            for (int x = 0; x < 4; ++x)
              if (dv0 + c4 + x < DV) vv[x] = src[x];
          }
        }
        __nv_bfloat162 p0 = __floats2bfloat162_rn(vv[0], vv[1]), p1 = __floats2bfloat162_rn(vv[2], vv[3]);
        uint2 o;
        o.x = *reinterpret_cast<uint32_t*>(&p0), o.y = *reinterpret_cast<uint32_t*>(&p1);
        *reinterpret_cast<uint2*>(Vb + rr * kLdC + c4) = o;
      }
    }
    __syncthreads();
    for (int kk = 0; kk < Lp / 16; ++kk) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b0, b1;
      wmma::load_matrix_sync(b0, Vb + kk * 16 * kLdC + warp * 32, kLdC);
      wmma::load_matrix_sync(b1, Vb + kk * 16 * kLdC + warp * 32 + 16, kLdC);
#pragma unroll
      for (int rt = 0; rt < 4; ++rt) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
        wmma::load_matrix_sync(a, Pb + rt * 16 * kLdH + kk * 16, kLdH);
        wmma::mma_sync(oacc[rt][0], a, b0, oacc[rt][0]);
        wmma::mma_sync(oacc[rt][1], a, b1, oacc[rt][1]);
      }
    }
    __syncthreads();  // Vb / Cb reads done before the staging overwrites them
#pragma unroll
    for (int rt = 0; rt < 4; ++rt)
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::store_matrix_sync(Of + rt * 16 * kLdO + warp * 32 + j * 16, oacc[rt][j], kLdO, wmma::mem_row_major);
    __syncthreads();
    const int ncols = DV - dv0 < kOutCols ? DV - dv0 : kOutCols;
    for (int e = tid; e < L * kOutCols; e += kOutThreads) {
      const int rr = e / kOutCols, cc = e % kOutCols;
      if (cc < ncols) c.h[((row0 + rr) * c.NH + hh) * DV + dv0 + cc] = Of[rr * kLdO + cc] / den_s[rr];
    }
    __syncthreads();  // staging is overwritten by the next pass
  }
}

}  // namespace

size_t mlstm_chunk_scratch_bytes(int B, int NH, int DK, int DV, int nc, int L) {
  const size_t BH = size_t(B) * NH, DKp = size_t(round_up(DK, 64)), DVp = size_t(round_up(DV, 64));
  return 5 * up256(BH * nc * L * 4) + 3 * up256(BH * nc * 4) + up256(BH * nc * DKp * 4) + up256(BH * nc * DKp * DVp * 2);
}

void launch_mlstm_chunkwise(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int nc, int L,
                            void* scratch, cudaStream_t s, unsigned stages) {
  if (nc <= 0 || B <= 0) return;
  CUDA_REQUIRE(L >= 1 && L <= kMlstmMaxChunk, "mlstm: chunk length " + std::to_string(L) + " outside [1, 64]");
  const int BH = B * c.NH;
  const ChunkScratch sc = carve(scratch, BH, c.DK, c.DV, nc, L);
  const bool vec = c.ld % 4 == 0 && c.DK % 4 == 0 && c.DV % 4 == 0 && aligned16(c.q) && aligned16(c.k) && aligned16(c.v);
  const dim3 gchunks{unsigned(ceil_div(nc, kGateWarps)), unsigned(BH), 1u};

  if (stages & kStageGates) {
    gates_local_kernel<<<gchunks, kGateWarps * 32, 0, s>>>(c, t_begin, nc, L, sc);
    CUDA_CHECK_LAUNCH();
    gates_scan_kernel<<<unsigned(BH), 32, 0, s>>>(c, st, nc, L, sc);
    CUDA_CHECK_LAUNCH();
    gates_final_kernel<<<gchunks, kGateWarps * 32, 0, s>>>(nc, L, sc);
    CUDA_CHECK_LAUNCH();
  }
  if (stages & kStageScan) {
    CUDA_CHECK(cudaFuncSetAttribute(state_scan_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, kScanSmem));
    CUDA_CHECK(cudaFuncSetAttribute(state_scan_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, kScanSmem));
    const dim3 gscan(unsigned(sc.DVp / kTile), unsigned(sc.DKp / kTile), unsigned(BH));
    if (vec) state_scan_kernel<true><<<gscan, kScanThreads, kScanSmem, s>>>(c, st, t_begin, nc, L, sc);
    else state_scan_kernel<false><<<gscan, kScanThreads, kScanSmem, s>>>(c, st, t_begin, nc, L, sc);
    CUDA_CHECK_LAUNCH();
  }
  if (stages & kStageOutput) {
    const int smem = out_smem_bytes(sc.DKp);
    CUDA_CHECK(cudaFuncSetAttribute(chunk_output_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_CHECK(cudaFuncSetAttribute(chunk_output_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const dim3 gout{unsigned(nc), unsigned(BH), 1u};
    if (vec) chunk_output_kernel<true><<<gout, kOutThreads, smem, s>>>(c, t_begin, nc, L, sc);
    else chunk_output_kernel<false><<<gout, kOutThreads, smem, s>>>(c, t_begin, nc, L, sc);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace xlstm::cuda
