// Why: the host side of the mLSTM op: checks the arguments, groups sequences into launches of at most
// kMlstmMaxSeq, runs whole chunks in the chunkwise form in windows whose scratch stays under a fixed
// budget (so memory does not grow with the prompt), and the remainder (T mod chunk) in the step form.
// Heads wider than the chunkwise kernels take (DK > 256) run in the step form throughout.
#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "common/check.h"
#include "backend/cuda/mlstm.cuh"
#include "backend/cuda/workspace.h"

namespace xlstm::cuda {

namespace {
// Bytes of chunkwise scratch per call (per-chunk operands of a window plus the two-level scan's states).
// 7B heads, B=1: windows of 64 chunks (4096 tokens), about 92 MiB.
constexpr size_t kChunkScratchBudget = size_t(96) << 20;

int device_sm_count() {
  int dev = 0, n = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  return n;
}
}  // namespace

void mlstm_forward(const MlstmArgs& a, Workspace& ws, bool recurrent_only, int window_chunks, cudaStream_t s) {
  XLSTM_CHECK(a.B >= 1 && a.T >= 1 && a.NH >= 1 && a.DK >= 1 && a.DV >= 1,
              "mlstm: bad shape B={} T={} NH={} DK={} DV={}", a.B, a.T, a.NH, a.DK, a.DV);
  XLSTM_CHECK(a.q && a.k && a.v && a.igate && a.fgate && a.h && a.states, "mlstm: null argument");
  XLSTM_CHECK(a.DK <= 512, "mlstm on CUDA: head dim DK={} is above the supported 512", a.DK);
  const int L = std::min(a.chunk, kMlstmMaxChunk);
  const bool chunked = !recurrent_only && a.T > 1 && L > 1 && a.T >= L && a.DK <= kMlstmChunkMaxDK;

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
      static const int sms = device_sm_count();
      const int nc_total = a.T / L;
      // Window length: the largest whose scratch fits the budget (at least one chunk), then balanced.
      auto bytes_for = [&](int nc) {
        return mlstm_chunk_scratch_bytes(nb, a.NH, a.DK, a.DV, nc, L, mlstm_scan_plan(nb, a.NH, a.DV, nc, sms));
      };
      int win = nc_total;
      if (bytes_for(win) > kChunkScratchBudget) {  // largest window that fits (bytes grow with the window)
        int lo = 1, hi = nc_total;
        while (hi - lo > 1) {
          const int mid = (lo + hi) / 2;
          (bytes_for(mid) <= kChunkScratchBudget ? lo : hi) = mid;
        }
        win = lo;
      }
      if (window_chunks > 0) win = std::min(win, window_chunks);
      const int nwin = (nc_total + win - 1) / win;
      win = (nc_total + nwin - 1) / nwin;
      const int last = nc_total - (nwin - 1) * win;  // the last window may be shorter (another plan)
      void* scratch = ws.get(Workspace::kMlstmStates, std::max(bytes_for(win), bytes_for(last)));
      for (int c0 = 0; c0 < nc_total; c0 += win) {
        const int nc = std::min(win, nc_total - c0);
        launch_mlstm_chunkwise(c, st, nb, c0 * L, nc, L, mlstm_scan_plan(nb, a.NH, a.DV, nc, sms), scratch, s);
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
