// Why: the mLSTM step form (decode, and the T mod chunk remainder). One kernel; a block owns 8 columns
// of one head's state matrix C [DK, DV] and every row of it (one thread per row, two for DK > 256), so
// each warp reads 32 rows x 32 contiguous bytes: C is read and written exactly once per call, whatever
// the number of steps, by thousands of warps (enough bytes in flight even at batch 1). Every block also
// runs the cheap vector/scalar part (n, m, the normaliser) for its head; the last block of the head to
// finish (a counter per head decides) writes n and m back, so no block reads a value another block has
// already overwritten.
//
// Per step (xlstm-reference.md):  m' = max(logsig(f) + m, i);  fa = exp(logsig(f) + m - m');
// ia = exp(i - m');  C' = fa C + ia k v^T;  n' = fa n + ia k;  h = (qs^T C') / (max(|qs.n'|, exp(-m')) + eps)
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mlstm.cuh"

namespace xlstm::cuda {
namespace {

constexpr int kCols = 8;  // columns per block (32 bytes per row)

// RPT: rows per thread (DK <= RPT * blockDim.x). VEC: DV % 4 == 0 and 16-byte aligned rows of C.
template <int RPT, bool VEC>
__global__ __launch_bounds__(256) void step_kernel(const MlstmCell c, const __grid_constant__ MlstmStatePtrs st,
                                                   int t_begin, int t_count, int* counters) {
  __shared__ float red[8][kCols + 1];  // per warp: the 8 column sums and q.n
  __shared__ float tot[kCols + 1];
  __shared__ int is_last;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
  const int b = blockIdx.z, hh = blockIdx.y, col0 = blockIdx.x * kCols;
  const int DK = c.DK, DV = c.DV;
  float* Cg = st.C[b] + int64_t(hh) * DK * DV;
  float* ng = st.n[b] + int64_t(hh) * DK;
  float* mg = st.m[b] + hh;

  float C[RPT][kCols], n[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int row = tid + i * blockDim.x;
#pragma unroll
    for (int j = 0; j < kCols; ++j) C[i][j] = 0.f;
    n[i] = 0.f;
    if (row < DK) {
      const float* cr = Cg + int64_t(row) * DV + col0;
      if (VEC) {
        if (col0 < DV) {
          const float4 t = *reinterpret_cast<const float4*>(cr);
          C[i][0] = t.x, C[i][1] = t.y, C[i][2] = t.z, C[i][3] = t.w;
        }
        if (col0 + 4 < DV) {
          const float4 t = *reinterpret_cast<const float4*>(cr + 4);
          C[i][4] = t.x, C[i][5] = t.y, C[i][6] = t.z, C[i][7] = t.w;
        }
      } else {
#pragma unroll
        for (int j = 0; j < kCols; ++j)
          if (col0 + j < DV) C[i][j] = cr[j];
      }
      n[i] = ng[row];
    }
  }
  float m = *mg;

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
    float vv[kCols];
#pragma unroll
    for (int j = 0; j < kCols; ++j) vv[j] = col0 + j < DV ? vr[j] : 0.f;
    float acc[kCols], qn = 0.f;
#pragma unroll
    for (int j = 0; j < kCols; ++j) acc[j] = 0.f;
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const int row = tid + i * blockDim.x;
      if (row < DK) {
        const float kv = kr[row], qs = qr[row] * c.scale, ki = ia * kv;
        n[i] = fa * n[i] + ki;
        qn += qs * n[i];
#pragma unroll
        for (int j = 0; j < kCols; ++j) {
          C[i][j] = fa * C[i][j] + ki * vv[j];
          acc[j] += qs * C[i][j];
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kCols; ++j) acc[j] = warp_sum(acc[j]);
    qn = warp_sum(qn);
    if (lane == 0) {
#pragma unroll
      for (int j = 0; j < kCols; ++j) red[warp][j] = acc[j];
      red[warp][kCols] = qn;
    }
    __syncthreads();
    if (tid <= kCols) {
      float sum = 0.f;
      for (int w = 0; w < nwarps; ++w) sum += red[w][tid];
      tot[tid] = sum;
    }
    __syncthreads();
    if (tid < kCols && col0 + tid < DV) {
      const float den = fmaxf(fabsf(tot[kCols]), expf(-m)) + c.eps;
      c.h[((int64_t(b) * c.T + t) * c.NH + hh) * DV + col0 + tid] = tot[tid] / den;
    }
  }

#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int row = tid + i * blockDim.x;
    if (row < DK) {
      float* cr = Cg + int64_t(row) * DV + col0;
      if (VEC) {
        if (col0 < DV) *reinterpret_cast<float4*>(cr) = make_float4(C[i][0], C[i][1], C[i][2], C[i][3]);
        if (col0 + 4 < DV) *reinterpret_cast<float4*>(cr + 4) = make_float4(C[i][4], C[i][5], C[i][6], C[i][7]);
      } else {
#pragma unroll
        for (int j = 0; j < kCols; ++j)
          if (col0 + j < DV) cr[j] = C[i][j];
      }
    }
  }

  // The last block of this head to get here writes n and m: every block has read the old ones by now.
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    is_last = atomicAdd(&counters[b * c.NH + hh], 1) == int(gridDim.x) - 1;
  }
  __syncthreads();
  if (is_last) {
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const int row = tid + i * blockDim.x;
      if (row < DK) ng[row] = n[i];
    }
    if (tid == 0) {
      *mg = m;
      counters[b * c.NH + hh] = 0;
    }
  }
}

template <int RPT>
void launch_rpt(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int t_count, int* counters,
                unsigned threads, cudaStream_t s) {
  bool vec = c.DV % 4 == 0;
  for (int b = 0; b < B && vec; ++b) vec = aligned16(st.C[b]);
  const dim3 grid(unsigned(ceil_div(c.DV, kCols)), unsigned(c.NH), unsigned(B));
  if (vec) step_kernel<RPT, true><<<grid, threads, 0, s>>>(c, st, t_begin, t_count, counters);
  else step_kernel<RPT, false><<<grid, threads, 0, s>>>(c, st, t_begin, t_count, counters);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_mlstm_recurrent(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int t_count,
                            int* counters, cudaStream_t s) {
  if (t_count <= 0 || B <= 0) return;
  CUDA_REQUIRE(c.DK <= 512, "mlstm on CUDA: head dim DK=" + std::to_string(c.DK) + " is above the supported 512");
  const unsigned threads = unsigned(c.DK >= 256 ? 256 : (c.DK + 31) / 32 * 32);
  if (c.DK <= int(threads)) launch_rpt<1>(c, st, B, t_begin, t_count, counters, threads, s);
  else launch_rpt<2>(c, st, B, t_begin, t_count, counters, threads, s);
}

}  // namespace xlstm::cuda
