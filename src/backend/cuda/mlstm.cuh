// Why: the mLSTM cell on the GPU (xlstm-reference.md section 1). Two forms, as in the contract:
//  - recurrent (mlstm_recurrent.cu): the step form; decode (T == 1), chunk <= 1, and the remainder of T
//    that does not fill a chunk. Reads and writes each state matrix once per call, whatever the steps.
//  - chunkwise (mlstm_chunk.cu): prefill, in windows of chunks: gate prefix sums, the n scan, a per-chunk
//    prep (scores on tf32x3, their decayed mask, the normaliser in fp32, operands split into bf16 hi/lo),
//    then a two-level inter-chunk scan: segments of chunks run in parallel from states a cheap pass
//    computed (local segment states + a sequential combine), each block keeping its C tile in registers
//    and producing the outputs of its chunks on the way (bf16x3 products, fp32 sums).
// This header holds what the kernels and the host dispatch (mlstm_dispatch.cpp) share.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"

namespace xlstm::cuda {

class Workspace;

constexpr int kMlstmMaxSeq = 64;  // sequences per launch (the state pointers travel as a kernel parameter)
constexpr int kMlstmMaxChunk = 64;
constexpr int kMlstmChunkMaxDK = 256;  // the chunkwise kernels keep a [64 x DK] state tile in registers
constexpr int kMlstmMaxRanges = 32;    // segments (or pieces) of chunks per scan launch

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

// How a window of nc chunks is scanned: G segments run the output scan in parallel; when G > 1 the first
// G-1 segments are first reduced to local end states in P pieces each (pass 1) and combined (pass 2).
struct MlstmScanPlan {
  int G = 1;
  int P = 1;
};

// Scratch of the chunkwise form for a window of nc chunks of length L (bytes), and the form itself over
// steps [t_begin, t_begin + nc*L). Needs DK <= kMlstmChunkMaxDK.
// stages: which kernels run (all by default; the benchmark times them one by one).
constexpr unsigned kStageGates = 1, kStagePrep = 2, kStageScan = 4, kStageOutput = 8, kStageAll = 15;
size_t mlstm_chunk_scratch_bytes(int B, int NH, int DK, int DV, int nc, int L, MlstmScanPlan plan);
void launch_mlstm_chunkwise(const MlstmCell& c, const MlstmStatePtrs& st, int B, int t_begin, int nc, int L,
                            MlstmScanPlan plan, void* scratch, cudaStream_t s, unsigned stages = kStageAll);
// The plan the op uses for B sequences on a GPU with sm_count multiprocessors.
MlstmScanPlan mlstm_scan_plan(int B, int NH, int DV, int nc, int sm_count);

// The op: validates, splits into launches, picks the form. window_chunks: chunks per chunkwise window
// (0: as many as the scratch budget allows).
void mlstm_forward(const MlstmArgs& a, Workspace& ws, bool recurrent_only, int window_chunks, cudaStream_t s);

}  // namespace xlstm::cuda
