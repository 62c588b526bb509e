// Why: the mLSTM cell on the GPU (xlstm-reference.md section 1). Two forms, as in the contract:
//  - recurrent (mlstm_recurrent.cu): the step form; decode (T == 1), chunk <= 1, and the remainder of T
//    that does not fill a chunk. Reads and writes each state matrix once per call, whatever the steps.
//  - chunkwise (mlstm_chunk.cu): prefill; gate prefix sums, an inter-chunk state scan on tensor cores
//    (tf32, fp32 state), and the intra-chunk parallel part on tensor cores (bf16x3 for the scores, bf16
//    operands for the two value products, fp32 sums).
// This header holds what the kernels and the host dispatch (mlstm.cu) share.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"

namespace xlstm::cuda {

class Workspace;

constexpr int kMlstmMaxSeq = 64;  // sequences per launch (the state pointers travel as a kernel parameter)
constexpr int kMlstmMaxChunk = 64;

// State pointers of up to kMlstmMaxSeq sequences, passed by value (so a captured graph holds them).
struct MlstmStatePtrs {
  float* C[kMlstmMaxSeq];
  float* n[kMlstmMaxSeq];
  float* m[kMlstmMaxSeq];
};

// The inputs every kernel reads (device pointers). Row of sequence b, step t: (b*T + t) * ld.
struct MlstmCell {
  const float* q;
  const float* k;
  const float* v;
  const float* ig;
  const float* fg;
  int64_t ld;
  int T, NH, DK, DV;
  float gate_cap, eps, scale;
  float* h;  // [B, T, NH, DV]
};

__device__ __forceinline__ float mlstm_cap(float x, float cap) { return cap > 0.f ? cap * tanhf(x / cap) : x; }
__device__ __forceinline__ float mlstm_logsigmoid(float x) { return fminf(x, 0.f) - log1pf(expf(-fabsf(x))); }

// Steps [t_begin, t_begin + t_count) in the step form for sequences 0..B-1. counters: B*NH ints, zero
// (left zero).
void launch_mlstm_recurrent(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int t_count,
                            int* counters, cudaStream_t s);

// Scratch of the chunkwise form for nc chunks of length L (bytes), and the form itself over steps
// [t_begin, t_begin + nc*L). vec: q, k, v rows allow float4 loads.
// stages: which kernels run (all by default; the benchmark times them one by one).
constexpr unsigned kStageGates = 1, kStageScan = 2, kStageOutput = 4, kStageAll = 7;
size_t mlstm_chunk_scratch_bytes(int B, int NH, int DK, int DV, int nc, int L);
void launch_mlstm_chunkwise(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int nc, int L,
                            void* scratch, cudaStream_t s, unsigned stages = kStageAll);

// The op: validates, splits into launches, picks the form. segment_chunks: chunks per chunkwise segment
// (0: as many as the scratch budget allows).
void mlstm_forward(const MlstmArgs& a, Workspace& ws, bool recurrent_only, int segment_chunks, cudaStream_t s);

}  // namespace xlstm::cuda
