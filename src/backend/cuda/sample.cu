// Why: see sample.cuh. Two kernels. The first pass over the logits (soft cap in place, maximum with its
// lowest index, minimum) runs on P blocks per row, each over one slice, and leaves a partial per block;
// greedy rows are then one reduction of P partials. The rest (top-k / top-p thresholds, the draw) runs
// on one block of 1024 threads per row, every pass a block-stride loop with block reductions, so any
// vocabulary size works.
#include <algorithm>
#include <cfloat>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/sample.cuh"

namespace xlstm::cuda {
namespace {

constexpr int kThreads = 1024;

__device__ double uniform01(uint64_t seed, uint64_t step) {  // == sample_uniform in backend/sampling.cpp
  uint64_t z = seed ^ (step * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1p-53;
}

struct SamplePartial {
  float best;  // the largest logit of the slice (after the cap)
  int idx;     // its lowest index (INT32_MAX: none, all NaN)
  float lo;    // the smallest
};

// Block-wide argmax with ties to the lowest index (T threads). Returns (value, index) to every thread.
template <int T>
__device__ void block_argmax(float& v, int& i, float* sv, int* si) {
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) v = ov, i = oi;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sv[warp] = v, si[warp] = i;
  __syncthreads();
  v = lane < (T / 32) ? sv[lane] : -FLT_MAX;
  i = lane < (T / 32) ? si[lane] : INT32_MAX;
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) v = ov, i = oi;
  }
}

template <int T>
__device__ float block_min(float v, float* red) {  // every thread gets the minimum
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = (threadIdx.x & 31) < (T / 32) ? red[threadIdx.x & 31] : FLT_MAX;
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float count_at_least(const float* l, int64_t V, float t, float* red) {
  float c = 0.f;
  for (int64_t j = threadIdx.x; j < V; j += kThreads) c += l[j] >= t ? 1.f : 0.f;
  return block_sum(c, red);
}

__device__ float mass_at_least(const float* l, int64_t V, float t, float m, float* red) {
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < V; j += kThreads) s += l[j] >= t ? __expf(l[j] - m) : 0.f;
  return block_sum(s, red);
}

constexpr int kFirstThreads = 256;
constexpr int64_t kSlice = 2048;  // logits per block of the first pass

// The first pass of row blockIdx.y over slice blockIdx.x: the soft cap in place (as the softcap op), and
// the slice's (max, its lowest index, min) in part[row * P + slice].
__global__ void __launch_bounds__(kFirstThreads) sample_first_kernel(float* __restrict__ logits, int64_t V,
                                                                     float cap, SamplePartial* part) {
  __shared__ float sv[32], red[32];
  __shared__ int si[32];
  const int64_t per = (V + gridDim.x - 1) / gridDim.x, j0 = int64_t(blockIdx.x) * per;
  const int64_t j1 = j0 + per < V ? j0 + per : V;
  float* l = logits + int64_t(blockIdx.y) * V;
  pdl_trigger();
  pdl_wait();
  float best = -FLT_MAX, lo_v = FLT_MAX;
  int bi = INT32_MAX;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += kFirstThreads) {
    float x = l[j];
    if (cap > 0.f) x = cap * tanhf(x / cap), l[j] = x;
    if (x > best) best = x, bi = int(j);
    lo_v = fminf(lo_v, x);
  }
  block_argmax<kFirstThreads>(best, bi, sv, si);
  lo_v = block_min<kFirstThreads>(lo_v, red);
  if (threadIdx.x == 0) part[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = SamplePartial{best, bi, lo_v};
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* __restrict__ logits, int64_t V,
                                                          const SamplePartial* part, int P, SampleRow* rows,
                                                          int32_t* ids) {
  __shared__ float red[32];
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float scan[kThreads];
  const float* l = logits + int64_t(blockIdx.x) * V;
  pdl_trigger();
  pdl_wait();
  const SampleRow r = rows[blockIdx.x];
  float best = -FLT_MAX, lo_v = FLT_MAX;
  int bi = INT32_MAX;
  for (int p = threadIdx.x; p < P; p += kThreads) {
    const SamplePartial q = part[int64_t(blockIdx.x) * P + p];
    if (q.best > best || (q.best == best && q.idx < bi)) best = q.best, bi = q.idx;
    lo_v = fminf(lo_v, q.lo);
  }
  block_argmax<kThreads>(best, bi, sv, si);
  if (bi == INT32_MAX) bi = 0;  // every logit NaN: as the host's argmax
  const float m = best;
  if (r.temperature <= 0.f) {
    if (threadIdx.x == 0) ids[blockIdx.x] = bi, rows[blockIdx.x].step = r.step + 1;
    return;
  }
  const float row_min = block_min<kThreads>(lo_v, red);
  float tau = -FLT_MAX;
  if (r.top_k > 0 && int64_t(r.top_k) < V) {  // the k-th largest logit: largest t with count(l >= t) >= k
    float lo = row_min, hi = m;               // invariant: count(l >= lo) >= k
    for (int it = 0; it < 48; ++it) {
      float mid = lo + (hi - lo) * 0.5f;
      if (mid <= lo || mid >= hi) break;
      if (count_at_least(l, V, mid, red) >= float(r.top_k)) lo = mid; else hi = mid;
    }
    tau = count_at_least(l, V, hi, red) >= float(r.top_k) ? hi : lo;
  }
  if (r.top_p < 1.f) {  // smallest nucleus: largest t >= tau with mass(l >= t) >= top_p * mass(l >= tau)
    const float Z = mass_at_least(l, V, tau, m, red);
    float lo = tau == -FLT_MAX ? m - 88.f : tau, hi = m;
    for (int it = 0; it < 48 && lo < hi; ++it) {
      float mid = lo + (hi - lo) * 0.5f;
      if (mid <= lo || mid >= hi) break;
      if (mass_at_least(l, V, mid, m, red) >= r.top_p * Z) lo = mid; else hi = mid;
    }
    tau = fmaxf(tau, lo);
  }
  if (r.min_p > 0.f) tau = fmaxf(tau, m + logf(r.min_p));
  // Draw: weights exp((l - m) / T) of candidates l >= tau, walked in id order.
  const float invT = 1.f / r.temperature;
  float W = 0.f;
  for (int64_t j = threadIdx.x; j < V; j += kThreads) W += l[j] >= tau ? __expf((l[j] - m) * invT) : 0.f;
  W = block_sum(W, red);
  const float target = float(uniform01(r.seed, r.step)) * W;
  float running = 0.f;
  int chosen = bi;  // fallback (rounding past the end): the argmax, always a candidate
  for (int64_t base = 0; base < V; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    float w = (j < V && l[j] >= tau) ? __expf((l[j] - m) * invT) : 0.f;
    scan[threadIdx.x] = w;
    __syncthreads();
    for (int o = 1; o < kThreads; o <<= 1) {  // inclusive Hillis-Steele scan
      float add = threadIdx.x >= o ? scan[threadIdx.x - o] : 0.f;
      __syncthreads();
      scan[threadIdx.x] += add;
      __syncthreads();
    }
    const float tile = scan[kThreads - 1];
    if (running + tile > target) {
      // First j whose inclusive prefix exceeds the target, among candidates.
      int mine = (w > 0.f && running + scan[threadIdx.x] > target) ? int(j) : INT32_MAX;
      float dummy = 0.f;
      block_argmax<kThreads>(dummy, mine, sv, si);  // equal values: lowest index wins
      chosen = mine;
      break;
    }
    running += tile;
    __syncthreads();
  }
  if (threadIdx.x == 0) ids[blockIdx.x] = chosen, rows[blockIdx.x].step = r.step + 1;
}

}  // namespace

size_t sample_scratch_bytes(int B, int64_t V) {
  return size_t(B) * size_t(std::min<int64_t>(kThreads, ceil_div(V, kSlice))) * sizeof(SamplePartial);
}

void launch_sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids, void* scratch,
                   cudaStream_t s) {
  if (B <= 0) return;
  CUDA_REQUIRE(V >= 1 && V < INT32_MAX && B <= 65535, "sample: vocabulary or batch out of range");
  const int P = int(std::min<int64_t>(kThreads, ceil_div(V, kSlice)));
  auto* part = static_cast<SamplePartial*>(scratch);
  launch_kernel(sample_first_kernel, dim3(unsigned(P), unsigned(B)), dim3(kFirstThreads), 0, s, logits, V, cap, part);
  launch_kernel(sample_kernel, dim3(unsigned(B)), dim3(kThreads), 0, s, static_cast<const float*>(logits), V,
                static_cast<const SamplePartial*>(part), P, rows, ids);
}

}  // namespace xlstm::cuda
