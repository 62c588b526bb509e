// Why: times the CUDA backend's ops at the xLSTM-7B shapes (D=4096, NH=8, DK=256, DV=512, FFN 10944,
// V=50304) and prints each as a fraction of its floor: bytes over the measured copy bandwidth for the
// bandwidth-bound ops (decode GEMV, mLSTM step, norms), FLOP over ~790 TFLOP/s bf16 for GEMMs.
// CUDA events on the backend's stream, warm-up, median of repeats, random data; weights and states
// rotate over copies larger than L2 so that repeats do not hit the cache.
//   bench_cuda_ops [--quick] [--mlstm-only | --mlstm-profile | --model-only | --gemv-sweep]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elementwise.cuh"
#include "backend/cuda/linear.cuh"
#include "backend/cuda/mlstm.cuh"
#include "backend/cuda/workspace.h"

using namespace xlstm;
using cuda::CudaBackend;
using cuda::LinearPath;

namespace {

CudaBackend* g_be = nullptr;
int g_reps = 20;

// Median milliseconds of fn() over g_reps runs after 3 warm-ups; fn gets the repetition index.
double time_ms(const std::function<void(int)>& fn, int reps = -1) {
  if (reps < 0) reps = g_reps;
  cudaStream_t s = g_be->stream();
  for (int i = 0; i < 3; ++i) fn(i);
  std::vector<cudaEvent_t> ev(size_t(reps) + 1);
  for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
  std::vector<double> t(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    CUDA_CHECK(cudaEventRecord(ev[size_t(i)], s));
    fn(i + 3);
    CUDA_CHECK(cudaEventRecord(ev[size_t(i) + 1], s));
  }
  CUDA_CHECK(cudaEventSynchronize(ev.back()));
  for (int i = 0; i < reps; ++i) {
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev[size_t(i)], ev[size_t(i) + 1]));
    t[size_t(i)] = ms;
  }
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Median milliseconds per call of fn(i), i = 0..calls-1, captured once into a CUDA graph and replayed
// (as a decode loop would run): launch gaps of the host stay out of the number.
double time_graph_ms(const std::function<void(int)>& fn, int calls, int reps = -1) {
  if (reps < 0) reps = g_reps;
  cudaStream_t s = g_be->stream();
  for (int i = 0; i < calls; ++i) fn(i);  // warm-up: workspaces reach their size outside the capture
  g_be->synchronize();
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  for (int i = 0; i < calls; ++i) fn(i);
  CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  const double ms = time_ms([&](int) { CUDA_CHECK(cudaGraphLaunch(exec, s)); }, reps);
  CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaGraphDestroy(graph));
  return ms / calls;
}

std::mt19937 rng(12345);
std::vector<float> randn(size_t n, float sd = 1.f) {
  std::normal_distribution<float> d(0.f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
// Device buffer of n random floats (generated in slices so the host never holds much).
DeviceBuffer rand_dev(size_t n, float sd = 1.f) {
  DeviceBuffer b(g_be, n * 4);
  const size_t slice = size_t(1) << 22;
  std::vector<float> h;
  for (size_t off = 0; off < n; off += slice) {
    h = randn(std::min(slice, n - off), sd);
    g_be->upload(b.f32() + off, h.data(), h.size() * 4);
  }
  return b;
}
WeightPtr rand_weight(int64_t M, int64_t K) {
  std::vector<float> h = randn(size_t(M * K), 1.f / std::sqrt(float(K)));
  return g_be->make_weight({HostTensor{"w", DType::F32, {M, K}, h.data()}}, DType::BF16);
}

struct Row {
  std::string what;
  double ms;
  std::string rate;
  std::string floor;
};
std::vector<Row> rows;
void report(const std::string& what, double ms, const std::string& rate, const std::string& floor) {
  rows.push_back({what, ms, rate, floor});
  std::printf("%-52s %10.4f ms  %-22s %s\n", what.c_str(), ms, rate.c_str(), floor.c_str());
  std::fflush(stdout);
}
std::string fmtd(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// ---- the whole 7B stack: one decode step (a CUDA graph) and a prefill, with random bf16 weights ---------
struct View final : Weight {};
WeightPtr view(void* p, int64_t rows, int64_t cols) {
  auto w = std::make_unique<View>();
  w->dtype = DType::BF16, w->rows = rows, w->cols = cols, w->data = p;
  return w;
}

void model_bench(CudaBackend& be, double copy_tbs, double peak_tflops, bool quick, bool for_profiler) {
  const int64_t D = 4096, NH = 8, DK = 256, DV = 512, F = 10944, V = 50304, QK = NH * DK, VV = NH * DV;
  const int64_t P = 2 * QK + 2 * VV + 2 * NH;
  const int layers = 32;
  const int64_t per_layer = P * D + D * VV + 2 * F * D + D * F;
  const int64_t total = per_layer * layers + V * D;
  std::printf("\n-- xLSTM-7B stack, random bf16 weights (%.2f GB), floors: bytes / %.2f TB/s, FLOP / %.0f TFLOP/s --\n",
              double(total) * 2 / 1e9, copy_tbs, peak_tflops);
  DeviceBuffer wbuf(&be, size_t(total) * 2);
  {                                       // fill with a repeated random block (never zeros)
    const size_t blk = size_t(32) << 20;  // bf16 elements
    std::vector<uint16_t> h(blk);
    std::normal_distribution<float> d(0.f, 0.02f);
    for (auto& v : h) v = f32_to_bf16(d(rng));
    DeviceBuffer src(&be, blk * 2);
    be.upload(src.data(), h.data(), blk * 2);
    for (size_t off = 0; off < size_t(total); off += blk)
      be.copy(static_cast<uint16_t*>(wbuf.data()) + off, src.data(), std::min(blk, size_t(total) - off) * 2);
    be.synchronize();
  }
  struct Layer {
    WeightPtr in, out, gu, down;
  };
  std::vector<Layer> L(layers);
  uint16_t* p = static_cast<uint16_t*>(wbuf.data());
  for (auto& l : L) {
    l.in = view(p, P, D), p += P * D;
    l.out = view(p, D, VV), p += D * VV;
    l.gu = view(p, 2 * F, D), p += 2 * F * D;
    l.down = view(p, D, F), p += D * F;
  }
  WeightPtr head = view(p, V, D);
  std::vector<float> ones_d(size_t(D), 1.f), ones_v(size_t(VV), 1.f);
  WeightPtr nw = be.make_vector({HostTensor{"n", DType::F32, {D}, ones_d.data()}});
  WeightPtr mw = be.make_vector({HostTensor{"m", DType::F32, {VV}, ones_v.data()}});

  const int64_t maxN = quick ? 2048 : 8192;
  // The model's buffers (xlstm_large.cpp): x, hr (h, then the products added into x), xy (normed x or
  // gated MHLN output, in matmul_dtype), pg (proj, then gate|up in matmul_dtype).
  DeviceBuffer x = rand_dev(size_t(maxN * D)), hr(&be, size_t(maxN * std::max(VV, D)) * 4),
               xy(&be, size_t(maxN * std::max(D, VV)) * 4), pg(&be, size_t(maxN * std::max(P, 2 * F)) * 4),
               logits(&be, size_t(16 * V) * 4), rows(&be, 16 * sizeof(SampleRow)), ids(&be, 16 * 4);
  {
    const std::vector<SampleRow> greedy(16);
    be.upload(rows.data(), greedy.data(), greedy.size() * sizeof(SampleRow));
  }
  const size_t layer_state = size_t(NH) * size_t(DK * DV + DK + 1);

  // Categories for the prefill breakdown: 0 linear, 1 mlstm, 2 the rest.
  cudaEvent_t evs[2];
  CUDA_CHECK(cudaEventCreate(&evs[0]));
  CUDA_CHECK(cudaEventCreate(&evs[1]));
  double cat_ms[3] = {0, 0, 0};
  bool profile = false;
  auto op = [&](int cat, const std::function<void()>& f) {
    if (!profile) return f();
    CUDA_CHECK(cudaEventRecord(evs[0], be.stream()));
    f();
    CUDA_CHECK(cudaEventRecord(evs[1], be.stream()));
    CUDA_CHECK(cudaEventSynchronize(evs[1]));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, evs[0], evs[1]));
    cat_ms[cat] += ms;
  };
  // One forward over B sequences of T tokens (rows N = B*T), logits for the last token of each: the op
  // sequence of XlstmLarge::run_block. shape: 0 as the model runs it; 2 the products and the mLSTM only
  // (no norms, no SwiGLU pass: what the small ops cost in place); 3 the products only.
  int shape = 0;
  auto forward = [&](int B, int T, std::vector<std::vector<MlstmState>>& st) {
    const int64_t N = int64_t(B) * T;
    const DType at = be.matmul_dtype(DType::BF16, N);
    float *xp = x.f32(), *hp = hr.f32(), *pp = pg.f32();
    const Act xa(xy.data(), at), gu(pg.data(), at);
    // As the model: the norms folded into the products where the backend does that (the GEMV, N <= 4;
    // timed as products then), separate ops otherwise.
    const bool fuse_norm = shape == 0 && N <= 4;
    for (int l = 0; l < layers; ++l) {
      const Layer& w = L[size_t(l)];
      if (fuse_norm) op(0, [&] { be.rmsnorm_linear(xp, *nw, nullptr, 1e-6f, N, xa, *w.in, nullptr, pp, P); });
      else {
        if (shape == 0) op(2, [&] { be.rmsnorm(xp, *nw, nullptr, 1e-6f, N, D, xa); });
        op(0, [&] { be.linear(*w.in, nullptr, xa, D, N, pp, P); });
      }
      MlstmArgs a;
      a.B = B, a.T = T, a.NH = int(NH), a.DK = int(DK), a.DV = int(DV), a.ld = P, a.gate_cap = 15.f, a.chunk = 64;
      a.q = pp, a.k = pp + QK, a.v = pp + 2 * QK, a.igate = pp + 2 * QK + 2 * VV, a.fgate = a.igate + NH;
      a.states = st[size_t(l)].data(), a.h = hp;
      if (shape != 3) op(1, [&] { be.mlstm(a); });
      if (shape == 0) op(2, [&] { be.mhln_gate(hp, pp + 2 * QK + VV, P, *mw, nullptr, 1e-6f, N, int(NH), int(DV), xa); });
      op(0, [&] { be.linear(*w.out, nullptr, xa, VV, N, xp, D, true); });
      // rmsnorm_linear_swiglu: one GEMV with the norm and SwiGLU folded in at N <= 4; otherwise its parts
      if (fuse_norm) op(0, [&] { be.rmsnorm_linear_swiglu(xp, *nw, nullptr, 1e-6f, N, xa, *w.gu, nullptr, gu); });
      else {
        if (shape == 0) op(2, [&] { be.rmsnorm(xp, *nw, nullptr, 1e-6f, N, D, xa); });
        op(0, [&] { be.linear(*w.gu, nullptr, xa, D, N, gu, 2 * F); });
        if (shape == 0) op(2, [&] { be.swiglu(gu, N, F); });
      }
      op(0, [&] { be.linear(*w.down, nullptr, ConstAct(gu), 2 * F, N, xp, D, true); });
    }
    // Last token of each sequence: the final norm, then the head.
    const DType ht = be.matmul_dtype(DType::BF16, B);
    char* xyb = static_cast<char*>(xy.data());
    const bool fuse_head = shape == 0 && T == 1 && B <= 4;  // as the model's decode_step
    if (fuse_head) {
      op(0, [&] { be.rmsnorm_linear(xp, *nw, nullptr, 1e-6f, B, Act(xyb, ht), *head, nullptr, logits.f32(), V); });
    } else if (T == 1) {
      op(2, [&] { be.rmsnorm(xp, *nw, nullptr, 1e-6f, B, D, Act(xyb, ht)); });
    } else {
      for (int b = 0; b < B; ++b)
        op(2, [&] {
          const int64_t row = int64_t(b) * T + T - 1;
          be.rmsnorm(xp + row * D, *nw, nullptr, 1e-6f, 1, D, Act(xyb + size_t(b * D) * dtype_size(ht), ht));
        });
    }
    if (!fuse_head) op(0, [&] { be.linear(*head, nullptr, ConstAct(xy.data(), ht), D, B, logits.f32(), V); });
    if (T == 1)  // decode, as the Decoder runs it: the soft cap inside the (greedy) sampler
      op(2, [&] { be.sample(logits.f32(), B, V, 30.f, static_cast<SampleRow*>(rows.data()),
                                static_cast<int32_t*>(ids.data())); });
    else
      op(2, [&] { be.softcap(logits.f32(), B, V, V, 30.f); });
  };

  // Zeroed states of B sequences in `states` ([layers][B] blocks of layer_state floats), per layer.
  auto decode_states = [&](DeviceBuffer& states, int B) {
    be.zero(states.data(), states.bytes());
    std::vector<std::vector<MlstmState>> st(size_t(layers), std::vector<MlstmState>(static_cast<size_t>(B)));
    for (int l = 0; l < layers; ++l)
      for (int b = 0; b < B; ++b) {
        float* q = states.f32() + (size_t(l) * size_t(B) + size_t(b)) * layer_state;
        st[size_t(l)][size_t(b)] = {q, q + NH * DK * DV, q + NH * DK * DV + NH * DK};
      }
    return st;
  };
  if (for_profiler) {  // plain launches for ncu: two decode steps at B = 1 and at B = 16, one prefill of 8192
    for (int B : {1, 16}) {
      DeviceBuffer states(&be, layer_state * size_t(layers) * size_t(B) * 4);
      auto st = decode_states(states, B);
      forward(B, 1, st);
      forward(B, 1, st);
      if (B == 1) forward(1, int(maxN), st);
    }
    be.synchronize();
    return;
  }
  for (int B : {1, 16}) {  // decode: one step as a graph; with and without programmatic dependent launch
    DeviceBuffer states(&be, layer_state * size_t(layers) * size_t(B) * 4);
    auto st = decode_states(states, B);
    const double bytes = double(total) * 2 + double(B) * layers * double(layer_state) * 4 * 2;
    const double floor_ms = bytes / (copy_tbs * 1e12) * 1e3;
    struct Mode {
      bool pdl, tune;
      int shape;
      const char* name;
    };
    for (Mode v : {Mode{true, true, 0, "graph, PDL"}, Mode{false, true, 0, "graph, no PDL"},
                   Mode{true, true, 2, "graph, PDL, products + mLSTM only"},
                   Mode{true, true, 3, "graph, PDL, products only"}, Mode{true, false, 0, "graph, PDL, GEMM heuristic"}}) {
      if (B == 1 && !v.tune) continue;  // no cuBLASLt at B = 1
      cuda::set_pdl_enabled(v.pdl);
      be.set_gemm_tuning(v.tune);
      shape = v.shape;
      const double ms = time_graph_ms([&](int) { forward(B, 1, st); }, 1, quick ? 5 : 20);
      report("decode step B=" + std::to_string(B) + " (" + v.name + ")", ms, fmtd("%.0f tok/s", B * 1e3 / ms),
             fmtd("floor %.3f ms = ", floor_ms) + fmtd("%.0f%%", 100 * floor_ms / ms));
    }
    shape = 0;
    cuda::set_pdl_enabled(true);
    be.set_gemm_tuning(true);
    // The token loop as the Decoder runs it: a graph replay then the ids copied back, per step (the host's
    // share of a step is this row minus the graph's).
    {
      using clk = std::chrono::steady_clock;
      const int n = quick ? 16 : 64;
      std::vector<int32_t> out(static_cast<size_t>(B));
      auto g = be.capture([&] { forward(B, 1, st); });
      auto t0 = clk::now();
      for (int i = 0; i < n; ++i) g->replay(), be.download(out.data(), ids.data(), size_t(B) * 4);
      double ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count() / n;
      report("token loop B=" + std::to_string(B) + " (replay + id copy)", ms, fmtd("%.0f tok/s", B * 1e3 / ms), "");
    }
  }
  for (int T : {2048, 8192}) {  // prefill of one sequence
    if (T > maxN) continue;
    DeviceBuffer states(&be, layer_state * size_t(layers) * 4);
    std::vector<std::vector<MlstmState>> st(size_t(layers), std::vector<MlstmState>(1));
    for (int l = 0; l < layers; ++l) {
      float* q = states.f32() + size_t(l) * layer_state;
      st[size_t(l)][0] = {q, q + NH * DK * DV, q + NH * DK * DV + NH * DK};
    }
    const double ms = time_ms(
        [&](int) {
          be.zero(states.data(), states.bytes());
          forward(1, T, st);
        },
        quick ? 2 : 5);
    const double flop = 2.0 * double(total - V * D) * T + 2.0 * double(V * D);
    const double floor_ms = flop / (peak_tflops * 1e12) * 1e3;
    report("prefill T=" + std::to_string(T), ms, fmtd("%.0f tok/s", T * 1e3 / ms),
           fmtd("GEMM floor %.1f ms = ", floor_ms) + fmtd("%.0f%%", 100 * floor_ms / ms));
    profile = true;
    cat_ms[0] = cat_ms[1] = cat_ms[2] = 0;
    be.zero(states.data(), states.bytes());
    forward(1, T, st);
    profile = false;
    report("  prefill T=" + std::to_string(T) + ": linear", cat_ms[0], "", "");
    report("  prefill T=" + std::to_string(T) + ": mlstm", cat_ms[1], "", "");
    report("  prefill T=" + std::to_string(T) + ": norms/elementwise", cat_ms[2], "", "");
  }
  cudaEventDestroy(evs[0]);
  cudaEventDestroy(evs[1]);
}


void print_summary() {
  g_be->synchronize();
  std::printf("\nsummary (median of %d)\n| op | ms | rate | vs floor |\n|---|---|---|---|\n", g_reps);
  for (const Row& r : rows)
    std::printf("| %s | %.4f | %s | %s |\n", r.what.c_str(), r.ms, r.rate.c_str(), r.floor.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, mlstm_only = false, mlstm_profile = false, model_only = false, model_profile = false,
       gemv_sweep = false;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    mlstm_only = mlstm_only || std::strcmp(argv[i], "--mlstm-only") == 0;  // for profilers
    mlstm_profile = mlstm_profile || std::strcmp(argv[i], "--mlstm-profile") == 0;
    model_only = model_only || std::strcmp(argv[i], "--model-only") == 0;  // the 7B stack only
    model_profile = model_profile || std::strcmp(argv[i], "--model-profile") == 0;  // its steps once, for ncu
    gemv_sweep = gemv_sweep || std::strcmp(argv[i], "--gemv-sweep") == 0;  // decode products, every K split
  }
  if (quick) g_reps = 5;
  std::string why;
  if (!cuda_available(&why)) {
    std::fprintf(stderr, "no usable CUDA device: %s\n", why.c_str());
    return 1;
  }
  CudaBackend be(0);
  g_be = &be;
  std::printf("%s\n\n", be.description().c_str());
  if (mlstm_profile) {  // two chunkwise calls (7B layer, B=1, T=8192), then one step at B=16: for ncu
    const int NH = 8, DK = 256, DV = 512, T = 8192, B = 16;
    const int64_t QK = NH * DK, V = NH * DV, ld = 2 * QK + 2 * V + 2 * NH;
    const size_t layer_state = size_t(NH) * (DK * DV + DK + 1);
    DeviceBuffer state(&be, layer_state * B * 4), proj = rand_dev(size_t(T) * size_t(ld)), h(&be, size_t(T) * size_t(V) * 4);
    be.zero(state.data(), layer_state * B * 4);
    std::vector<MlstmState> st(B);
    for (int b = 0; b < B; ++b) {
      float* p = state.f32() + size_t(b) * layer_state;
      st[size_t(b)] = {p, p + size_t(NH) * DK * DV, p + size_t(NH) * DK * DV + size_t(NH) * DK};
    }
    MlstmArgs a;
    a.B = 1, a.T = T, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
    a.q = proj.f32(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + 2 * V, a.fgate = a.igate + NH, a.h = h.f32();
    a.states = st.data();
    be.mlstm(a);
    be.mlstm(a);
    a.B = B, a.T = 1;
    be.mlstm(a);
    be.synchronize();
    return 0;
  }
  const double peak_tflops = 790.0;

  // ---- ceiling: device-to-device copy ------------------------------------------------------------------
  double copy_tbs = 0;
  {
    const size_t bytes = size_t(1) << 30;
    DeviceBuffer a(&be, bytes), b(&be, bytes);
    be.zero(a.data(), bytes);
    const double ms = time_ms([&](int) { be.copy(b.data(), a.data(), bytes); });
    copy_tbs = 2.0 * double(bytes) / (ms * 1e-3) / 1e12;
    report("d2d copy 1 GiB (read + write)", ms, fmtd("%.2f TB/s", copy_tbs), "ceiling");
  }

  if (model_profile) {
    model_bench(be, copy_tbs, peak_tflops, false, true);
    return 0;
  }
  if (model_only) {
    model_bench(be, copy_tbs, peak_tflops, false, false);
    print_summary();
    return 0;
  }
  if (!mlstm_only) {
    // ---- decode GEMV / skinny GEMM: weights read once ----------------------------------------------------
    struct Shape {
      const char* name;
      int64_t M, K;
    };
    const Shape shapes[] = {{"qkv|o|i|f 12304x4096", 12304, 4096},
                            {"out_proj 4096x4096", 4096, 4096},
                            {"gate|up 21888x4096", 21888, 4096},
                            {"down 4096x10944", 4096, 10944},
                            {"lm_head 50304x4096", 50304, 4096}};
    constexpr int kCopies = 4;  // >= 4 x 32 MiB per shape: repeats miss L2 (50 MiB)
    std::printf("\n-- linear, few rows (floor: weight bytes / %.2f TB/s) --\n", copy_tbs);
    const int64_t xmax = 8192 * 10944;
    DeviceBuffer x = rand_dev(size_t(xmax)), y(&be, size_t(8192) * 50304 * 4);
    double layer_ms[2] = {0, 0};  // N = 1, 16 at auto path; sum over the four block weights
    for (const Shape& sh : shapes) {
      std::vector<WeightPtr> ws;
      for (int i = 0; i < kCopies; ++i) ws.push_back(rand_weight(sh.M, sh.K));
      const double wbytes = double(sh.M) * double(sh.K) * 2;
      struct Variant {
        int64_t N;
        LinearPath p;
        const char* pname;
      };
      const Variant vs[] = {{1, LinearPath::Auto, "auto"},
                            {2, LinearPath::Auto, "auto"},
                            {4, LinearPath::Auto, "auto"},
                            {1, LinearPath::SkinnyMma, "skinny-mma"},
                            {8, LinearPath::SkinnyMma, "skinny-mma"},
                            {8, LinearPath::Cublas, "cublas"},
                            {16, LinearPath::SkinnyMma, "skinny-mma"},
                            {16, LinearPath::Cublas, "cublas"},
                            {16, LinearPath::Cublas, "cublas-heuristic"},
                            {16, LinearPath::Auto, "auto"},
                            {32, LinearPath::Auto, "auto"}};
      for (const Variant& v : vs) {
        if (quick && v.p != LinearPath::Auto) continue;
        if (v.N == 16 && v.p == LinearPath::Auto) be.set_linear_path(LinearPath::Auto);
        be.set_linear_path(v.p);
        be.set_gemm_tuning(std::strcmp(v.pname, "cublas-heuristic") != 0);
        const double ms = time_graph_ms(
            [&](int i) { be.linear(*ws[size_t(i % kCopies)], nullptr, x.f32(), sh.K, v.N, y.f32(), sh.M); }, 16);
        const double tbs = wbytes / (ms * 1e-3) / 1e12;
        report(std::string(sh.name) + " N=" + std::to_string(v.N) + " " + v.pname, ms, fmtd("%.2f TB/s", tbs),
               fmtd("%.0f%% of copy", 100.0 * tbs / copy_tbs));
        if (v.p == LinearPath::Auto && std::strncmp(sh.name, "lm_head", 7) != 0) {
          if (v.N == 1) layer_ms[0] += ms;
          if (v.N == 16) layer_ms[1] += ms;
        }
      }
      be.set_linear_path(LinearPath::Auto);
      be.set_gemm_tuning(true);
      if (gemv_sweep) {  // the GEMV's K split, forced (N = 1); with the RMSNorm folded in where K = 4096
        std::vector<float> ones(size_t(sh.K), 1.f);
        WeightPtr nw = be.make_vector({HostTensor{"n", DType::F32, {sh.K}, ones.data()}});
        for (bool norm : {false, true}) {
          if (norm && sh.K != 4096) continue;
          for (int S : {1, 2, 4, 8}) {
            cuda::set_gemv_split(S);
            const double ms = time_graph_ms(
                [&](int i) {
                  const Weight& w = *ws[size_t(i % kCopies)];
                  if (norm) be.rmsnorm_linear(x.f32(), *nw, nullptr, 1e-6f, 1, y.f32(), w, nullptr, y.f32() + sh.K, sh.M);
                  else be.linear(w, nullptr, x.f32(), sh.K, 1, y.f32(), sh.M);
                },
                16);
            const double tbs = wbytes / (ms * 1e-3) / 1e12;
            report(std::string(sh.name) + " N=1 gemv" + (norm ? "+norm" : "") + " S=" + std::to_string(S), ms,
                   fmtd("%.2f TB/s", tbs), fmtd("%.0f%% of copy", 100.0 * tbs / copy_tbs));
            cuda::set_gemv_split(0);
          }
        }
      }
    }
    {
      const double layer_bytes = 2.0 * 4096 * (12304 + 4096 + 21888) + 2.0 * 4096 * 10944;
      report("block projections N=1 (4 GEMVs)", layer_ms[0],
             fmtd("%.2f TB/s", layer_bytes / (layer_ms[0] * 1e-3) / 1e12),
             fmtd("floor %.4f ms", layer_bytes / (copy_tbs * 1e12) * 1e3));
      report("block projections N=16 (4 GEMVs)", layer_ms[1],
             fmtd("%.2f TB/s", layer_bytes / (layer_ms[1] * 1e-3) / 1e12),
             fmtd("floor %.4f ms", layer_bytes / (copy_tbs * 1e12) * 1e3));
    }
    if (gemv_sweep) {
      print_summary();
      return 0;
    }

    // ---- prefill GEMM ------------------------------------------------------------------------------------
    std::printf("\n-- linear, many rows (cuBLASLt bf16; floor: FLOP / %.0f TFLOP/s) --\n", peak_tflops);
    DeviceBuffer xb(&be, size_t(xmax) * 2);  // the activations as the model now hands them: bf16
    cuda::launch_act_rows(x.data(), DType::F32, xmax, 1, xmax, xb.data(), DType::BF16, xmax, 1, be.stream());
    for (const Shape& sh : shapes) {
      if (std::strncmp(sh.name, "lm_head", 7) == 0) continue;
      WeightPtr w = rand_weight(sh.M, sh.K);
      for (int64_t N : {int64_t(2048), int64_t(8192)}) {
        struct G {
          bool f32x, bf16y;
          const char* name;
        };
        for (G g : {G{false, false, "bf16 x"}, G{true, false, "f32 x (converted)"}, G{false, true, "bf16 x -> bf16 y"}}) {
          if (g.f32x && N != 8192) continue;
          if (g.bf16y && std::strncmp(sh.name, "gate|up", 7) != 0) continue;
          const ConstAct xa = g.f32x ? ConstAct(x.f32()) : ConstAct(xb.data(), DType::BF16);
          const Act ya = g.bf16y ? Act(y.data(), DType::BF16) : Act(y.f32());
          const double ms = time_ms([&](int) { be.linear(*w, nullptr, xa, sh.K, N, ya, sh.M); }, quick ? 3 : 10);
          const double tf = 2.0 * double(sh.M) * double(N) * double(sh.K) / (ms * 1e-3) / 1e12;
          report(std::string(sh.name) + " N=" + std::to_string(N) + " " + g.name, ms, fmtd("%.0f TFLOP/s", tf),
                 fmtd("%.0f%% of peak", 100.0 * tf / peak_tflops));
        }
      }
    }
  }

  // ---- mLSTM ---------------------------------------------------------------------------------------------
  const int NH = 8, DK = 256, DV = 512, layers = 32;
  const int64_t QK = NH * DK, V = NH * DV, ld = 2 * QK + 2 * V + 2 * NH;
  const size_t layer_state = size_t(NH) * (DK * DV + DK + 1);
  std::printf("\n-- mLSTM step (7B layer; floor: state bytes read + written / %.2f TB/s) --\n", copy_tbs);
  for (int B : {1, 16}) {
    DeviceBuffer states = rand_dev(layer_state * size_t(layers) * size_t(B), 0.1f);
    DeviceBuffer proj = rand_dev(size_t(B) * size_t(ld)), h(&be, size_t(B) * size_t(V) * 4);
    std::vector<std::vector<MlstmState>> st(static_cast<size_t>(layers),
                                            std::vector<MlstmState>(static_cast<size_t>(B)));
    for (int l = 0; l < layers; ++l)
      for (int b = 0; b < B; ++b) {
        float* p = states.f32() + (size_t(l) * size_t(B) + size_t(b)) * layer_state;
        be.zero(p + size_t(NH) * DK * DV + size_t(NH) * DK, size_t(NH) * 4);  // m = 0
        st[size_t(l)][size_t(b)] = {p, p + size_t(NH) * DK * DV, p + size_t(NH) * DK * DV + size_t(NH) * DK};
      }
    MlstmArgs a;
    a.B = B, a.T = 1, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
    a.q = proj.f32(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + 2 * V, a.fgate = a.igate + NH, a.h = h.f32();
    const double ms = time_graph_ms(
        [&](int i) {
          a.states = st[size_t(i % layers)].data();
          be.mlstm(a);
        },
        layers);
    const double bytes = 2.0 * double(B) * double(layer_state) * 4;
    const double tbs = bytes / (ms * 1e-3) / 1e12;
    report("mlstm step B=" + std::to_string(B), ms, fmtd("%.2f TB/s", tbs),
           fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
  }
  std::printf("\n-- mLSTM chunkwise prefill (7B layer, chunk 64) --\n");
  // Floor: q, k, v read once (float32) + h written once; FLOP of the chunkwise form at bf16 peak.
  auto chunk_floor = [&](int B, int T) {
    const double tok = double(B) * T;
    const double bytes = tok * double(2 * QK + V) * 4 + tok * double(V) * 4;
    const double L = 64, flop = tok * NH * (2.0 * L * DK + 2.0 * L * DV + 4.0 * DK * DV);
    return std::max(bytes / (copy_tbs * 1e12), flop / (peak_tflops * 1e12)) * 1e3;
  };
  struct ChunkRun {
    int B, T, window;  // window: chunks per window (0: the op's default)
  };
  for (ChunkRun run : {ChunkRun{1, 2048, 0}, ChunkRun{1, 8192, 0}, ChunkRun{1, 8192, 32}, ChunkRun{1, 8192, 16},
                       ChunkRun{1, 16384, 0}, ChunkRun{4, 2048, 0}}) {
    const int B = run.B, T = run.T;
    DeviceBuffer state(&be, layer_state * size_t(B) * 4);
    be.zero(state.data(), layer_state * size_t(B) * 4);
    DeviceBuffer proj = rand_dev(size_t(B) * size_t(T) * size_t(ld)), h(&be, size_t(B) * size_t(T) * size_t(V) * 4);
    std::vector<MlstmState> st(static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) {
      float* p = state.f32() + size_t(b) * layer_state;
      st[size_t(b)] = {p, p + size_t(NH) * DK * DV, p + size_t(NH) * DK * DV + size_t(NH) * DK};
    }
    MlstmArgs a;
    a.B = B, a.T = T, a.NH = NH, a.DK = DK, a.DV = DV, a.ld = ld, a.gate_cap = 15.f, a.chunk = 64;
    a.q = proj.f32(), a.k = a.q + QK, a.v = a.k + QK, a.igate = a.v + 2 * V, a.fgate = a.igate + NH, a.h = h.f32();
    a.states = st.data();
    be.set_mlstm_segment_chunks(run.window);
    const double ms = time_ms([&](int) { be.mlstm(a); }, quick ? 3 : 10);
    be.set_mlstm_segment_chunks(0);
    const std::string name = "mlstm chunkwise B=" + std::to_string(B) + " T=" + std::to_string(T) +
                             (run.window ? " window " + std::to_string(run.window) : std::string());
    report(name, ms, fmtd("%.0f ktok/s", double(B) * T / ms), fmtd("floor %.3f ms", chunk_floor(B, T)));
    if (B == 1 && run.window == 0 && T <= 8192) {  // the kernels one by one, over one window of all chunks
      cuda::MlstmCell c{a.q, a.k, a.v, a.igate, a.fgate, a.ld, T, NH, DK, DV, 15.f, 1e-6f, 1.0f / 16.0f, a.h};
      cuda::MlstmStatePtrs sp{};
      sp.C[0] = st[0].C, sp.n[0] = st[0].n, sp.m[0] = st[0].m;
      const int nc = T / 64;
      const cuda::MlstmScanPlan plan = cuda::mlstm_scan_plan(1, NH, DV, nc, be.sm_count());
      const size_t bytes = cuda::mlstm_chunk_scratch_bytes(1, NH, DK, DV, nc, 64, plan);
      void* scratch = be.workspace().get(cuda::Workspace::kMlstmStates, bytes);
      std::printf("  one window of %d chunks: plan G=%d P=%d, scratch %.1f MiB\n", nc, plan.G, plan.P,
                  double(bytes) / (1 << 20));
      for (unsigned stage : {cuda::kStageAll, cuda::kStageGates, cuda::kStagePrep, cuda::kStageScan, cuda::kStageOutput}) {
        const double sms = time_ms(
            [&](int) { cuda::launch_mlstm_chunkwise(c, sp, 1, 0, nc, 64, plan, scratch, be.stream(), stage); },
            quick ? 3 : 10);
        report(std::string("  one window: ") + (stage == cuda::kStageAll     ? "all stages"
                                                : stage == cuda::kStageGates ? "gates (3 kernels)"
                                                : stage == cuda::kStagePrep  ? "n scan + prep"
                                                : stage == cuda::kStageScan  ? "pass 1 + combine"
                                                                             : "pass 2 (scan with outputs)"),
               sms, "", "");
      }
      // Variant: one segment (no two-level scan).
      struct Variant {
        const char* name;
        cuda::MlstmScanPlan p;
        unsigned stages;
      };
      for (const Variant& v : {Variant{"  variant: G=1 (no two-level scan), pass 2", {1, 1}, cuda::kStageOutput}}) {
        const double vms = time_ms(
            [&](int) { cuda::launch_mlstm_chunkwise(c, sp, 1, 0, nc, 64, v.p, scratch, be.stream(), v.stages); },
            quick ? 3 : 10);
        report(v.name, vms, "", "");
      }
    }
  }

  if (!mlstm_only) {
    // ---- norms and elementwise at prefill size -------------------------------------------------------------
    std::printf("\n-- norms / elementwise, 8192 rows --\n");
    {
      const int64_t N = 8192, D = 4096, F = 10944;
      std::vector<float> wv = randn(size_t(D));
      WeightPtr w = be.make_vector({HostTensor{"w", DType::F32, {D}, wv.data()}});
      DeviceBuffer a = rand_dev(size_t(N * D)), b(&be, size_t(N * D) * 4);
      double ms = time_ms([&](int) { be.rmsnorm(a.f32(), *w, nullptr, 1e-6f, N, D, b.f32()); });
      double bytes = 2.0 * N * D * 4;
      report("rmsnorm 8192x4096", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      DeviceBuffer gu = rand_dev(size_t(N * 2 * F)), gu2 = rand_dev(size_t(N * 2 * F));
      ms = time_ms([&](int) { be.swiglu(gu2.f32(), N, F); });
      bytes = 3.0 * N * F * 4;
      report("swiglu in place 8192x10944", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      std::vector<float> wm = randn(size_t(V));
      WeightPtr mw = be.make_vector({HostTensor{"w", DType::F32, {V}, wm.data()}});
      DeviceBuffer hh = rand_dev(size_t(N * V)), o = rand_dev(size_t(N * V)), yy(&be, size_t(N * V) * 4);
      ms = time_ms([&](int) { be.mhln_gate(hh.f32(), o.f32(), V, *mw, nullptr, 1e-6f, N, NH, DV, yy.f32()); });
      bytes = 3.0 * N * V * 4;
      report("mhln_gate 8192x8x512", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      ms = time_ms([&](int) { be.add(a.f32(), b.f32(), N * D); });
      bytes = 3.0 * N * D * 4;
      report("add 8192x4096", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      // The fused / bf16-output forms the model runs at prefill.
      DeviceBuffer hb(&be, size_t(N * D) * 2);
      const Act hbf(hb.data(), DType::BF16);
      ms = time_ms([&](int) { be.rmsnorm(a.f32(), *w, nullptr, 1e-6f, N, D, hbf); });
      bytes = double(N) * D * (4 + 2);
      report("rmsnorm 8192x4096 -> bf16", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      DeviceBuffer gub(&be, size_t(N * 2 * F) * 2);
      cuda::launch_act_rows(gu.data(), DType::F32, 2 * F, N, 2 * F, gub.data(), DType::BF16, 2 * F, N, be.stream());
      ms = time_ms([&](int) { cuda::launch_swiglu_inplace(gub.data(), DType::BF16, N, F, be.stream()); });
      bytes = double(N) * F * (2 + 2 + 2);
      report("swiglu in place bf16 8192x10944", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
      DeviceBuffer yyb(&be, size_t(N * V) * 2);
      ms = time_ms([&](int) {
        be.mhln_gate(hh.f32(), o.f32(), V, *mw, nullptr, 1e-6f, N, NH, DV, Act(yyb.data(), DType::BF16));
      });
      bytes = double(N) * V * (4 + 4 + 2);
      report("mhln_gate 8192x8x512 -> bf16", ms, fmtd("%.2f TB/s", bytes / (ms * 1e-3) / 1e12),
             fmtd("floor %.4f ms", bytes / (copy_tbs * 1e12) * 1e3));
    }
    model_bench(be, copy_tbs, peak_tflops, quick, false);
  }
  print_summary();
  return 0;
}
