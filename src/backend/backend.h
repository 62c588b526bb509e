// Why: the narrow vocabulary of ops that model code speaks. Model files (src/model/*) are written once
// against this interface; each backend (src/backend/cpu, src/backend/cuda) implements every op and never
// learns which model it runs. Every pointer an op takes lives on the backend's device (host memory for
// the CPU backend) unless marked "host". Activations and recurrent state are float32, row-major, except
// the activations that flow into matrix products (see Act); weights keep their dtype (F32, BF16 or F16)
// and products accumulate in float32.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/dtype.h"

namespace xlstm {

// A tensor as stored in a checkpoint or in host memory; the bytes are not owned.
struct HostTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// A weight owned by (or viewed by) a backend. 2-D weights are [rows, cols] row-major in PyTorch's
// [out, in] layout; 1-D weights (norm scales, biases) have cols == 1 and are always F32.
struct Weight {
  virtual ~Weight() = default;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  const void* data = nullptr;  // device pointer
};
using WeightPtr = std::unique_ptr<Weight>;

// Per-sequence mLSTM state of one layer (all float32, device pointers):
//   C [NH, DK, DV], n [NH, DK], m [NH]. Start at zero (m too).
struct MlstmState {
  float* C;
  float* n;
  float* m;
};

// The mLSTM cell over T steps for B sequences. Inputs are read with a row stride so that they can sit
// inside one fused projection output: element (b, t, h, d) of q is q[(b*T + t) * ld + h*DK + d]; k
// likewise; v uses DV; the gate pre-activations (b, t, h) are igate[(b*T + t) * ld + h] and fgate alike.
// Gates get gate_cap * tanh(x / gate_cap) first when gate_cap > 0. q is scaled by 1/sqrt(DK) inside.
// Output h [B, T, NH, DV] contiguous. States advance in place. chunk: chunk length of the chunkwise form
// (0 or T == 1: step form throughout). Remainders of T not divisible by chunk run in the step form.
struct MlstmArgs {
  int B = 1, T = 1, NH = 1, DK = 0, DV = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* igate = nullptr;
  const float* fgate = nullptr;
  int64_t ld = 0;
  float gate_cap = 0.f;  // <= 0: no cap
  float eps = 1e-6f;     // added to the denominator
  int chunk = 64;
  const MlstmState* states = nullptr;  // host array of B states (pointers inside are device pointers)
  float* h = nullptr;
};

// One sequence's sampling parameters for Backend::sample, as the device sees them. temperature <= 0:
// greedy (argmax, ties to the lowest id). The draw for a row is a pure function of (logits, params,
// seed, step), so host and device paths agree; `step` advances by one per draw.
struct SampleRow {
  float temperature = 0.f;
  int32_t top_k = 0;     // <= 0: off
  float top_p = 1.f;     // >= 1: off
  float min_p = 0.f;     // <= 0: off
  uint64_t seed = 0;
  uint64_t step = 0;
};

// Activations that a matrix product reads (and the ops that produce them write): row-major elements of
// type dt, F32 or a 16-bit float (BF16, F16: rounded to nearest even, F16 saturating at +-65504). A
// backend reads 16-bit activations straight into its tensor cores; Backend::matmul_dtype says which type
// saves it a conversion. A float* converts implicitly (F32). Strides and sizes count elements.
struct Act {
  void* p = nullptr;
  DType dt = DType::F32;
  Act(float* f) : p(f) {}  // NOLINT: implicit on purpose (float32 is the common case)
  Act(void* q, DType t) : p(q), dt(t) {}
};
struct ConstAct {
  const void* p = nullptr;
  DType dt = DType::F32;
  ConstAct(const float* f) : p(f) {}  // NOLINT
  ConstAct(const void* q, DType t) : p(q), dt(t) {}
  ConstAct(const Act& a) : p(a.p), dt(a.dt) {}  // NOLINT
};

// A recorded sequence of launches (a CUDA graph) replayed with the same pointers and sizes.
struct Graph {
  virtual ~Graph() = default;
  virtual void replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu", "cuda"
  virtual std::string description() const = 0;  // e.g. "cpu: 2 threads, AVX-512"

  // ---- memory on the backend's device -------------------------------------------------------------
  virtual void* alloc(size_t bytes) = 0;  // throws xlstm::Error when out of memory
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void zero(void* dst, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // ---- weights ----------------------------------------------------------------------------------------
  // Concatenates row blocks (each [r_i, cols], same cols) into one [sum r_i, cols] weight of dtype `as`.
  // A single part in the same dtype may be kept as a zero-copy view of host memory where the backend can.
  virtual WeightPtr make_weight(const std::vector<HostTensor>& parts, DType as) = 0;
  // A 1-D weight [n] of float32 (norm scale or bias), from parts concatenated; converted from any dtype.
  virtual WeightPtr make_vector(const std::vector<HostTensor>& parts) = 0;

  // ---- ops (shapes in brackets; N = number of token rows) ---------------------------------------------
  // The activation type in which linear() reads x for N rows of weights of dtype `weight` without a
  // conversion pass (F32 or that 16-bit dtype). Model code makes the producers of a product's input
  // (rmsnorm, mhln_gate, rmsnorm_linear_swiglu) write this type. CPU: always F32.
  virtual DType matmul_dtype(DType weight, int64_t N) const { (void)weight, (void)N; return DType::F32; }
  // y[N, W.rows] (row stride ldy) = x[N, W.cols] (row stride ldx) · W^T (+ bias[W.rows]); x and y of any
  // Act type (y rounded once, after the bias). accumulate: y += that instead (y F32; the residual add
  // folded into the product). x and y must not overlap.
  virtual void linear(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y,
                      int64_t ldy, bool accumulate = false) = 0;
  // y[N, W.rows] (row stride ldy) = RMSNorm(x) · W^T (+ bias), RMSNorm(x) = x * rsqrt(mean(x^2) + eps) * nw
  // (+ nb); x [N, W.cols] float32 contiguous; xn: scratch [N, W.cols] of matmul_dtype(W.dtype, N) that the
  // normed rows may be written to (a backend that folds the norm into the product leaves it unwritten;
  // callers must not read it afterwards). The default is exactly rmsnorm(x -> xn), then linear(xn): the
  // CPU's result. The CUDA GEMV (N <= 4) folds the norm in: each block sums x^2 as it reads x, scales x by
  // nw and the dot products by the row's rsqrt, so the norm costs no launch.
  virtual void rmsnorm_linear(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                              const Weight& W, const Weight* bias, Act y, int64_t ldy);
  // The FFN's input half: gu[N, 2F] = [gate | up] = RMSNorm(x) · W^T (+ bias), F = W.rows / 2, then
  // gu[:, 0:F] = silu(gate) * up (gu[:, F:2F] is scratch afterwards); the down projection is linear() over
  // gu[:, 0:F] with row stride 2F. Arguments as rmsnorm_linear; gu contiguous, of any Act type. The default
  // is exactly rmsnorm_linear(x -> gu), then swiglu(gu): the CPU's result. The CUDA GEMV (N <= 4) gives
  // each of its row groups gate rows j, j+1 and up rows j, j+1 and writes silu(gate) * up directly.
  virtual void rmsnorm_linear_swiglu(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N,
                                     Act xn, const Weight& W, const Weight* bias, Act gu);
  // y[N, E.cols] = E[ids[n], :]; ids: device int32 [N], each in [0, E.rows) (checked by the caller)
  virtual void embed(const Weight& E, const int32_t* ids, int64_t N, float* y) = 0;
  // y[N, D] = x * rsqrt(mean(x^2) + eps) * w (+ b)        (x, y may alias when y is F32)
  virtual void rmsnorm(const float* x, const Weight& w, const Weight* b, float eps, int64_t N, int64_t D,
                       Act y) = 0;
  // y[N, D] = (x - mean) * rsqrt(var + eps) * w (+ b), biased variance per row (x, y may alias)
  // w == nullptr: no scale.
  virtual void layernorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int64_t D,
                         float* y) = 0;
  // x[n] += y[n]
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // x[r, c] = cap * tanh(x[r, c] / cap) for rows of `cols` elements with row stride ld
  virtual void softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap) = 0;
  // The mLSTM cell (see MlstmArgs).
  virtual void mlstm(const MlstmArgs& a) = 0;
  // y[N, NH*DV] = sigmoid(o) * (LN_per_head(h) * w (+ b)), LN over each head's DV values, biased variance,
  // no per-head affine; o read with row stride ldo; h [N, NH, DV] contiguous; w, b [NH*DV]; y any Act type.
  virtual void mhln_gate(const float* h, const float* o, int64_t ldo, const Weight& w, const Weight* b,
                         float eps, int64_t N, int NH, int DV, Act y) = 0;
  // In place: gu[n, 0:F] = silu(gu[n, 0:F]) * gu[n, F:2F]      (gu [N, 2F] contiguous, any Act type)
  virtual void swiglu(Act gu, int64_t N, int64_t F) = 0;
  // cap > 0: first logits = cap * tanh(logits / cap) in place (softcap). Then ids[b] = the draw of
  // sample_row (backend/sampling.h) from logits[b, :] with rows[b], and rows[b].step += 1. logits [B, V],
  // rows [B] and ids [B] live on the device. The default downloads, samples on the host and uploads; a
  // backend may override it with a kernel.
  virtual void sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids);

  // ---- graphs -----------------------------------------------------------------------------------------
  // Records the launches fn makes for later replay; nullptr when the backend has no graphs (callers then
  // simply call fn again). fn must not allocate, synchronise or copy from pageable host memory.
  virtual std::unique_ptr<Graph> capture(const std::function<void()>& fn) { (void)fn; return nullptr; }

  // ---- ops of the original xLSTM family ----------------------------------------------------------------
  // mLSTM v1 and sLSTM blocks (xlstm-reference.md section 2, model/xlstm_v1.cpp); the mLSTM v1 cell itself
  // is mlstm() above (no gate cap). A backend without these ops keeps the defaults (backend_v1.cpp):
  // has_v1_ops() false, so that the model refuses to load there, and ops that throw. The parameters of
  // these ops that are not plain matrices (conv kernels, headwise blocks, the sLSTM recurrent kernel and
  // bias) are float32 vectors made by make_vector, in the layouts stated here.
  virtual bool has_v1_ops() const { return false; }

  // Causal depthwise conv1d over T steps of B sequences, C channels, kernel K >= 1 (rows b*T + t):
  //   y[b, t, c] = bias[c] + sum_{j<K} w[c*K + j] * x[b, t-K+1+j, c]        then silu(.) when `silu`
  // Inputs before t = 0 come from the sequence's state [K-1, C]: the K-1 inputs that preceded (oldest
  // first; zeros at the start of a sequence). The state is advanced in place to the last K-1 inputs, so
  // T = 1 steps continue a prefill exactly. x row stride ldx, y row stride ldy; x and y must not overlap.
  struct Conv1dArgs {
    int B = 1, T = 1, K = 1;
    int64_t C = 0;
    const float* x = nullptr;
    int64_t ldx = 0;
    const Weight* w = nullptr;        // F32 vector [C, K] (PyTorch's Conv1d weight [C, 1, K])
    const Weight* bias = nullptr;     // F32 vector [C], or nullptr
    float* const* states = nullptr;   // host array of B device pointers to [K-1, C] floats
    bool silu = true;
    float* y = nullptr;
    int64_t ldy = 0;
  };
  virtual void causal_conv1d(const Conv1dArgs& a);

  // Block-diagonal ("headwise") linear over NH heads, head h mapping x[n, h*I : (h+1)*I] to
  // y[n, h*O : (h+1)*O]:  y[n, h*O + o] = sum_i W[(h*O + o)*I + i] * x[n, h*I + i] (+ bias[h*O + o]).
  // W: F32 vector [NH, O, I] (PyTorch LinearHeadwiseExpand's weight); bias: F32 vector [NH*O] or nullptr.
  // x row stride ldx, y row stride ldy; x and y must not overlap.
  virtual void headwise_linear(const Weight& W, const Weight* bias, const float* x, int64_t ldx, int64_t N, int NH,
                               int I, int O, float* y, int64_t ldy);

  // GroupNorm with one group per head: y[n, h*DH + d] = (x - mean_h) * rsqrt(var_h + eps) * w[h*DH + d]
  // (+ b[h*DH + d]); mean and biased variance over each head's DH values. x, y [N, NH*DH] contiguous (may
  // alias); w, b F32 vectors [NH*DH] or nullptr (no scale / no shift).
  virtual void groupnorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int NH, int DH,
                         float* y);

  // sLSTM state of one sequence (device pointers): y, c, n, m, each [NH*DH] float32, all zero at the start.
  struct SlstmState {
    float *y, *c, *n, *m;
  };
  // The sLSTM cell over T steps of B sequences (heads independent; R block-diagonal per head). For each
  // step, head h, gate g in (i, f, z, o), unit d:
  //   raw_g[d] = (x_g[d] + sum_e R[h, g, d, e] * y_prev[h, e]) + bias[g, h, d]
  //   m' = i if n == 0 else max(i, m + logsigmoid(f));  ia = min(exp(i - m'), 1);  fa = min(exp(m + logsigmoid(f) - m'), 1)
  //   c' = fa c + ia tanh(z);  n' = fa n + ia;  y' = sigmoid(o) c' / n'
  // (i, f, z, o the raw values of the unit). x: pre-activations [B*T rows, row stride ld], each row
  // [4, NH, DH] (gate-major: all heads' i, then f, z, o). y: [B, T, NH*DH] contiguous. States advance.
  struct SlstmArgs {
    int B = 1, T = 1, NH = 1, DH = 0;
    const float* x = nullptr;
    int64_t ld = 0;
    const Weight* R = nullptr;           // F32 vector [NH, 4, DH (out), DH (in)]
    const Weight* bias = nullptr;        // F32 vector [4, NH, DH]
    const SlstmState* states = nullptr;  // host array of B states
    float* y = nullptr;
  };
  virtual void slstm(const SlstmArgs& a);

  // The mLSTM v1 output gate: y[n, c] = (h[n, c] + skip[c] * xc[n*ldxc + c]) * silu(z[n*ldz + c]) for C
  // channels; h, y [N, C] contiguous (may alias); skip: F32 vector [C].
  virtual void skip_silu_gate(const float* h, const float* xc, int64_t ldxc, const Weight& skip, const float* z,
                              int64_t ldz, int64_t N, int64_t C, float* y);

  // Gated feed-forward activation: y[n, f] = act(gu[n, f]) * gu[n, F + f] (gu [N, 2F] contiguous, rows
  // gate | up), act from the package's registry: gelu (exact, erf), relu, relu^2, sigmoid, swish (silu), selu.
  enum class GateAct { Gelu, Relu, Relu2, Sigmoid, Swish, Selu };
  virtual void gated_act(const float* gu, int64_t N, int64_t F, GateAct act, float* y);
  // ---- end of the ops of the original xLSTM family -----------------------------------------------------
};

// Shape [rows, cols] of row blocks concatenated (each part [r_i, ...], same trailing size); throws naming
// the first part that disagrees. Shared by the backends' make_weight.
std::pair<int64_t, int64_t> concat_shape(const std::vector<HostTensor>& parts);

// Backends built into this binary. "cpu" always; "cuda" when compiled with XLSTM_CUDA and a GPU is usable.
// "auto" picks cuda when available, else cpu. Unknown or unavailable names throw with a suggestion.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads = 0);
bool cuda_available(std::string* why_not = nullptr);

// RAII device buffer of float32 (or raw bytes) on a backend.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* be, size_t bytes) : be_(be), bytes_(bytes), p_(bytes ? be->alloc(bytes) : nullptr) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_, bytes_ = o.bytes_, p_ = o.p_;
      o.p_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reset() {
    if (p_) be_->release(p_);
    p_ = nullptr, bytes_ = 0;
  }
  float* f32() const { return static_cast<float*>(p_); }
  void* data() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  Backend* be_ = nullptr;
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace xlstm
