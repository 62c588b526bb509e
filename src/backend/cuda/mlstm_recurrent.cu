// Why: the mLSTM step form (decode, and the T mod chunk remainder). One kernel; a block owns 32 columns
// of one head's state matrix C [DK, DV] and every row of it: 8 threads cover the 32 columns of a row with
// 16-byte loads (each row segment is one whole 128-byte line), 32 row groups of threads cover the rows.
// C is read and written exactly once per call, whatever the number of steps. Every block also runs the
// cheap vector/scalar part (n, m, the normaliser) for its head; one block per head writes n and m back:
// the block that counts last on a per-head counter, taken right after every block has read the old n
// and m (so the count costs no wait on the block's stores, and no block can read an updated n).
// Launched with programmatic dependent launch (its blocks are placed while the product before it drains).
//
// Per step (xlstm-reference.md):  m' = max(logsig(f) + m, i);  fa = exp(logsig(f) + m - m');
// ia = exp(i - m');  C' = fa C + ia k v^T;  n' = fa n + ia k;  h = (qs^T C') / (max(|qs.n'|, exp(-m')) + eps)
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mlstm.cuh"

namespace xlstm::cuda {
namespace {

constexpr int kCols = 32;      // columns per block (128 bytes of each row)
constexpr int kThreads = 256;  // 8 column groups of 4 x 32 row groups
constexpr int kRowGroups = kThreads / (kCols / 4);

// RPT: rows per thread (DK <= 32 * RPT). VEC: DV % 4 == 0 and 16-byte aligned rows of C.
template <int RPT, bool VEC>
__global__ __launch_bounds__(kThreads) void step_kernel(const MlstmCell c, const __grid_constant__ MlstmStatePtrs st,
                                                        int t_begin, int t_count, int* counters) {
  __shared__ float red[kThreads / 32][kCols + 1];  // per warp: the 32 column sums and q.n
  __shared__ float tot[kCols + 1];
  __shared__ int is_last;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int cg = tid & 7, rg = tid >> 3;  // column group (4 columns), row group
  const int b = blockIdx.z, hh = blockIdx.y, col0 = blockIdx.x * kCols + 4 * cg;
  const int DK = c.DK, DV = c.DV;
  float* Cg = st.C[b] + int64_t(hh) * DK * DV;
  float* ng = st.n[b] + int64_t(hh) * DK;
  float* mg = st.m[b] + hh;
  pdl_trigger();
  pdl_wait();

  float C[RPT][4], n[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int row = rg + i * kRowGroups;
#pragma unroll
    for (int j = 0; j < 4; ++j) C[i][j] = 0.f;
    n[i] = 0.f;
    if (row < DK) {
      const float* cr = Cg + int64_t(row) * DV + col0;
      if (VEC) {
        if (col0 < DV) {
          const float4 t = *reinterpret_cast<const float4*>(cr);
          C[i][0] = t.x, C[i][1] = t.y, C[i][2] = t.z, C[i][3] = t.w;
        }
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (col0 + j < DV) C[i][j] = cr[j];
      }
      n[i] = ng[row];
    }
  }
  float m = *mg;
  // Every thread of every block of this head has its n and m now: count this block in.
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    is_last = atomicAdd(&counters[b * c.NH + hh], 1) == int(gridDim.x) - 1;
  }

  for (int s = 0; s < t_count; ++s) {
    const int t = t_begin + s;
    const int64_t r = (int64_t(b) * c.T + t) * c.ld;
    const float ig = mlstm_cap(c.ig[r + hh], c.gate_cap), fg = mlstm_cap(c.fg[r + hh], c.gate_cap);
    const float lf = mlstm_logsigmoid(fg);
    const float mn = fmaxf(lf + m, ig);
    const float fa = expf(lf + m - mn), ia = expf(ig - mn);
    m = mn;
    const float* kr = c.k + r + int64_t(hh) * DK;
    const float* qr = c.q + r + int64_t(hh) * DK;
    const float* vr = c.v + r + int64_t(hh) * DV + col0;
    float vv[4] = {0.f, 0.f, 0.f, 0.f};
    if (VEC) {
      if (col0 < DV) {
        const float4 t4 = *reinterpret_cast<const float4*>(vr);
        vv[0] = t4.x, vv[1] = t4.y, vv[2] = t4.z, vv[3] = t4.w;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (col0 + j < DV) vv[j] = vr[j];
    }
    float acc[4] = {0.f, 0.f, 0.f, 0.f}, qn = 0.f;
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const int row = rg + i * kRowGroups;
      if (row < DK) {
        const float kv = kr[row], qs = qr[row] * c.scale, ki = ia * kv;
        n[i] = fa * n[i] + ki;
        qn += qs * n[i];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          C[i][j] = fa * C[i][j] + ki * vv[j];
          acc[j] += qs * C[i][j];
        }
      }
    }
    // Sum over the row groups: lanes 8 and 16 apart share a column group, then the 8 warps.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      acc[j] += __shfl_xor_sync(0xffffffffu, acc[j], 8);
      acc[j] += __shfl_xor_sync(0xffffffffu, acc[j], 16);
    }
    qn += __shfl_xor_sync(0xffffffffu, qn, 8);
    qn += __shfl_xor_sync(0xffffffffu, qn, 16);
    if (lane < 8) {
#pragma unroll
      for (int j = 0; j < 4; ++j) red[warp][4 * lane + j] = acc[j];
      if (lane == 0) red[warp][kCols] = qn;
    }
    __syncthreads();
    if (tid <= kCols) {
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kThreads / 32; ++w) sum += red[w][tid];
      tot[tid] = sum;
    }
    __syncthreads();
    if (tid < kCols && blockIdx.x * kCols + tid < DV) {
      const float den = fmaxf(fabsf(tot[kCols]), expf(-m)) + c.eps;
      c.h[((int64_t(b) * c.T + t) * c.NH + hh) * DV + blockIdx.x * kCols + tid] = tot[tid] / den;
    }
  }

#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int row = rg + i * kRowGroups;
    if (row < DK) {
      float* cr = Cg + int64_t(row) * DV + col0;
      if (VEC) {
        if (col0 < DV) *reinterpret_cast<float4*>(cr) = make_float4(C[i][0], C[i][1], C[i][2], C[i][3]);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (col0 + j < DV) cr[j] = C[i][j];
      }
    }
  }
  __syncthreads();  // is_last (t_count may be 0 steps in principle)
  if (is_last) {
    if (cg == 0) {
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const int row = rg + i * kRowGroups;
        if (row < DK) ng[row] = n[i];
      }
    }
    if (tid == 0) {
      *mg = m;
      counters[b * c.NH + hh] = 0;
    }
  }
}

template <int RPT>
void launch_rpt(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int t_count, int* counters,
                cudaStream_t s) {
  bool vec = c.DV % 4 == 0;
  for (int b = 0; b < B && vec; ++b) vec = aligned16(st.C[b]);
  if (vec) vec = c.ld % 4 == 0 && aligned16(c.v);
  const dim3 grid(unsigned(ceil_div(c.DV, kCols)), unsigned(c.NH), unsigned(B));
  launch_kernel(vec ? step_kernel<RPT, true> : step_kernel<RPT, false>, grid, dim3(kThreads), 0, s, c, st, t_begin,
                t_count, counters);
}

}  // namespace

void launch_mlstm_recurrent(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int t_count,
                            int* counters, cudaStream_t s) {
  if (t_count <= 0 || B <= 0) return;
  CUDA_REQUIRE(c.DK <= 512, "mlstm on CUDA: head dim DK=" + std::to_string(c.DK) + " is above the supported 512");
  if (c.DK <= kRowGroups) launch_rpt<1>(c, st, B, t_begin, t_count, counters, s);
  else if (c.DK <= 2 * kRowGroups) launch_rpt<2>(c, st, B, t_begin, t_count, counters, s);
  else if (c.DK <= 4 * kRowGroups) launch_rpt<4>(c, st, B, t_begin, t_count, counters, s);
  else if (c.DK <= 8 * kRowGroups) launch_rpt<8>(c, st, B, t_begin, t_count, counters, s);
  else launch_rpt<16>(c, st, B, t_begin, t_count, counters, s);
}

}  // namespace xlstm::cuda
