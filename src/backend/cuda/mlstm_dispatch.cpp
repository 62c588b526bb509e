// Why: the host side of the mLSTM op: checks the arguments, groups sequences into launches of at most
// kMlstmMaxSeq, runs whole chunks in the chunkwise form in segments whose scratch stays under a fixed
// budget (so memory does not grow with the prompt), and the remainder (T mod chunk) in the step form.
#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "common/check.h"
#include "backend/cuda/mlstm.cuh"
#include "backend/cuda/workspace.h"

namespace xlstm::cuda {

namespace {
constexpr size_t kChunkScratchBudget = size_t(256) << 20;  // bytes of per-chunk states per segment
}

void mlstm_forward(const MlstmArgs& a, Workspace& ws, bool recurrent_only, int segment_chunks, cudaStream_t s) {
  XLSTM_CHECK(a.B >= 1 && a.T >= 1 && a.NH >= 1 && a.DK >= 1 && a.DV >= 1,
              "mlstm: bad shape B={} T={} NH={} DK={} DV={}", a.B, a.T, a.NH, a.DK, a.DV);
  XLSTM_CHECK(a.q && a.k && a.v && a.igate && a.fgate && a.h && a.states, "mlstm: null argument");
  XLSTM_CHECK(a.DK <= 512, "mlstm on CUDA: head dim DK={} is above the supported 512", a.DK);
  const int L = std::min(a.chunk, kMlstmMaxChunk);
  const bool chunked = !recurrent_only && a.T > 1 && L > 1 && a.T >= L;

  for (int b0 = 0; b0 < a.B; b0 += kMlstmMaxSeq) {
    const int nb = std::min(kMlstmMaxSeq, a.B - b0);
    const int64_t row_off = int64_t(b0) * a.T * a.ld;
    MlstmCell c{a.q + row_off, a.k + row_off, a.v + row_off, a.igate + row_off, a.fgate + row_off, a.ld,
                a.T, a.NH, a.DK, a.DV, a.gate_cap, a.eps, 1.0f / std::sqrt(float(a.DK)),
                a.h + int64_t(b0) * a.T * a.NH * a.DV};
    MlstmStatePtrs st{};
    for (int i = 0; i < nb; ++i) {
      const MlstmState& x = a.states[b0 + i];
      XLSTM_CHECK(x.C && x.n && x.m, "mlstm: state {} has a null pointer", b0 + i);
      st.C[i] = x.C, st.n[i] = x.n, st.m[i] = x.m;
    }
    int t = 0;
    if (chunked) {
      const int nc_total = a.T / L;
      const size_t per_chunk = mlstm_chunk_scratch_bytes(nb, a.NH, a.DK, a.DV, 1, L);
      int seg = int(std::max<size_t>(1, std::min<size_t>(size_t(nc_total), kChunkScratchBudget / per_chunk)));
      if (segment_chunks > 0) seg = std::min(seg, segment_chunks);
      void* scratch = ws.get(Workspace::kMlstmStates, mlstm_chunk_scratch_bytes(nb, a.NH, a.DK, a.DV, seg, L));
      for (int c0 = 0; c0 < nc_total; c0 += seg) {
        const int nc = std::min(seg, nc_total - c0);
        launch_mlstm_chunkwise(c, st, nb, c0 * L, nc, L, scratch, s);
      }
      t = nc_total * L;
    }
    if (t < a.T) {
      int* counters = static_cast<int*>(ws.get(Workspace::kCounters, size_t(kMlstmMaxSeq) * a.NH * 4, true));
      launch_mlstm_recurrent(c, st, nb, t, a.T - t, counters, s);
    }
  }
}

}  // namespace xlstm::cuda
