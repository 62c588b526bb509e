// Why: see cuda_backend.h. Memory ops are stream-ordered on the backend's stream; upload and download
// return when the bytes have arrived (the host buffer may be reused at once). Ops check their
// arguments cheaply and launch; nothing synchronises with the host inside an op.
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

#include "backend/cuda/cublas_gemm.h"
#include "backend/cuda/cuda_check.h"
#include "common/check.h"
#include "backend/cuda/elementwise.cuh"
#include "backend/cuda/linear.cuh"
#include "backend/cuda/mlstm.cuh"
#include "backend/cuda/norm.cuh"
#include "backend/cuda/sample.cuh"

namespace xlstm::cuda {
namespace {

constexpr size_t kCublasWorkspace = size_t(32) << 20;
constexpr size_t kStagingBytes = size_t(64) << 20;      // weight upload slices
constexpr size_t kLinearXBudget = size_t(192) << 20;    // converted x (+ float32 y) for one cuBLASLt call
constexpr double kMiB = 1024.0 * 1024.0;

size_t device_used() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return total_b - free_b;
}

struct CudaWeight final : Weight {
  void* owned = nullptr;
  ~CudaWeight() override {
    if (owned) cudaFree(owned);
  }
};

class CudaGraph final : public Graph {
 public:
  CudaGraph(cudaGraphExec_t exec, cudaStream_t stream) : exec_(exec), stream_(stream) {}
  ~CudaGraph() override { cudaGraphExecDestroy(exec_); }
  void replay() override { CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

 private:
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
};

const float* fptr(const Weight* w) { return w ? static_cast<const float*>(w->data) : nullptr; }

}  // namespace

CudaBackend::CudaBackend(int device) : device_(device) {
  CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  sm_count_ = prop.multiProcessorCount;
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  description_ = fmt::format("cuda: {} (sm_{}{}, {} SMs, {:.1f} GiB)", prop.name, prop.major, prop.minor, sm_count_,
                             double(total_b) / (1024.0 * 1024.0 * 1024.0));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  gemm_ = std::make_unique<CublasLtGemm>(stream_, ws_.get(Workspace::kCublas, kCublasWorkspace), kCublasWorkspace);
  used_at_start_ = device_used() - kCublasWorkspace;
  used_peak_ = device_used();
}

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  const char* e = std::getenv("XLSTM_CUDA_MEMORY");
  if (e && *e && std::strcmp(e, "0") != 0) std::fprintf(stderr, "%s\n", memory_report().c_str());
  gemm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void* CudaBackend::alloc(size_t bytes) {
  void* p = device_malloc(bytes, "a buffer");
  sizes_[p] = bytes;
  buffer_bytes_ += bytes;
  buffer_peak_ = std::max(buffer_peak_, buffer_bytes_);
  used_peak_ = std::max(used_peak_, device_used());
  return p;
}
void CudaBackend::release(void* p) {
  if (!p) return;
  auto it = sizes_.find(p);
  if (it != sizes_.end()) buffer_bytes_ -= it->second, sizes_.erase(it);
  CUDA_CHECK(cudaFree(p));
}

void CudaBackend::set_gemm_tuning(bool on) { gemm_->set_tuning(on); }

std::string CudaBackend::memory_report() const {
  std::string ws;
  for (int i = 0; i < Workspace::kNumSlots; ++i) {
    const auto slot = Workspace::Slot(i);
    if (ws_.bytes(slot)) ws += fmt::format("{}{}: {:.1f}", ws.empty() ? "" : ", ", Workspace::slot_name(slot),
                                           double(ws_.bytes(slot)) / kMiB);
  }
  return fmt::format(
      "cuda memory (MiB): in use after context + cuBLASLt handle {:.1f}; weights {:.1f}; buffers {:.1f} now, "
      "{:.1f} peak; workspace {:.1f} ({}); device in use now {:.1f}, peak seen at allocations {:.1f}",
      double(used_at_start_) / kMiB, double(weight_bytes_) / kMiB, double(buffer_bytes_) / kMiB,
      double(buffer_peak_) / kMiB, double(ws_.bytes_held()) / kMiB, ws, double(device_used()) / kMiB,
      double(std::max(used_peak_, device_used())) / kMiB);
}
void CudaBackend::upload(void* dst, const void* host_src, size_t bytes) {
  if (!bytes) return;
  note_stream_op();
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::download(void* host_dst, const void* src, size_t bytes) {
  if (!bytes) return;
  note_stream_op();
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  note_stream_op();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}
void CudaBackend::zero(void* dst, size_t bytes) {
  if (!bytes) return;
  note_stream_op();
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
}
void CudaBackend::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

WeightPtr CudaBackend::make_weight(const std::vector<HostTensor>& parts, DType as) {
  auto w = std::make_unique<CudaWeight>();
  w->dtype = as;
  std::tie(w->rows, w->cols) = concat_shape(parts);
  const size_t esz = dtype_size(as);
  const size_t total = size_t(w->rows) * size_t(w->cols) * esz;
  w->owned = device_malloc(total, fmt::format("weight '{}' ({} x {} {})", parts[0].name, w->rows, w->cols,
                                              dtype_name(as)).c_str());
  w->data = w->owned;
  weight_bytes_ += total;
  char* dst = static_cast<char*>(w->owned);
  for (const auto& p : parts) {
    const size_t n = size_t(p.numel());
    const size_t src_esz = dtype_size(p.dtype);
    note_stream_op();
    if (p.dtype == as) {
      CUDA_CHECK(cudaMemcpyAsync(dst, p.data, n * esz, cudaMemcpyHostToDevice, stream_));
    } else {  // upload slices in the source dtype and convert on the GPU
      void* staging = ws_.get(Workspace::kStaging, kStagingBytes);
      const size_t slice = kStagingBytes / src_esz;
      for (size_t off = 0; off < n; off += slice) {
        const size_t m = std::min(slice, n - off);
        note_stream_op();
        CUDA_CHECK(cudaMemcpyAsync(staging, static_cast<const char*>(p.data) + off * src_esz, m * src_esz,
                                   cudaMemcpyHostToDevice, stream_));
        launch_convert(p.dtype, staging, as, dst + off * esz, int64_t(m), stream_);
      }
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host part may be unmapped after we return
    dst += n * esz;
  }
  return w;
}

WeightPtr CudaBackend::make_vector(const std::vector<HostTensor>& parts) {
  auto w = std::make_unique<CudaWeight>();
  w->dtype = DType::F32;
  w->cols = 1;
  for (const auto& p : parts) w->rows += p.numel();
  std::vector<float> host(size_t(w->rows));
  float* dst = host.data();
  for (const auto& p : parts) {
    convert_to_f32(p.dtype, p.data, dst, size_t(p.numel()));
    dst += p.numel();
  }
  w->owned = device_malloc(host.size() * 4, "a vector weight");
  w->data = w->owned;
  weight_bytes_ += host.size() * 4;
  upload(w->owned, host.data(), host.size() * 4);
  return w;
}

DType CudaBackend::matmul_dtype(DType weight, int64_t N) const {
  if (weight == DType::F32) return DType::F32;
  LinearPath p = linear_path_;
  if (p == LinearPath::Auto) p = N <= 4 ? LinearPath::Gemv : LinearPath::Cublas;
  return p == LinearPath::Cublas ? weight : DType::F32;  // the GEMV and skinny kernels read float32 x
}

void CudaBackend::linear_gemv(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y,
                              int64_t ldy, bool accumulate) {
  const int64_t M = W.rows, K = W.cols;
  const float* xf = static_cast<const float*>(x.p);
  if (x.dt != DType::F32) {  // the GEMV reads float32: widen first
    void* t = ws_.get(Workspace::kLinearX, size_t(N * K) * 4);
    launch_act_rows(x.p, x.dt, ldx, N, K, t, DType::F32, K, N, stream_);
    xf = static_cast<const float*>(t), ldx = K;
  }
  if (y.dt == DType::F32) {
    launch_gemv(W.dtype, W.data, M, K, fptr(bias), xf, ldx, N, static_cast<float*>(y.p), ldy, accumulate, sm_count_,
                stream_);
    return;
  }
  float* yf = static_cast<float*>(ws_.get(Workspace::kLinearY, size_t(N * M) * 4));
  launch_gemv(W.dtype, W.data, M, K, fptr(bias), xf, ldx, N, yf, M, false, sm_count_, stream_);
  launch_act_rows(yf, DType::F32, M, N, M, y.p, y.dt, ldy, N, stream_);
}

void CudaBackend::linear(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y,
                         int64_t ldy, bool accumulate) {
  if (N <= 0) return;
  const int64_t M = W.rows, K = W.cols;
  XLSTM_CHECK(K >= 1 && (N == 1 || (ldx >= K && ldy >= M)), "linear: bad strides (K={}, ldx={}, M={}, ldy={})", K, ldx, M, ldy);
  XLSTM_CHECK(!bias || bias->rows == M, "linear: bias has {} entries, expected {}", bias ? bias->rows : 0, M);
  XLSTM_CHECK(!accumulate || y.dt == DType::F32, "linear: accumulate needs a float32 y");
  LinearPath path = linear_path_;
  if (path == LinearPath::Auto) {
    // Measured on the H100 (docs/cuda-notes.md): the f32-x GEMV reads the weights at 89-100% of the copy
    // bandwidth for N <= 2 and 56-94% at N = 4; from N = 5 cuBLASLt (bf16 x) beats both the GEMV (which
    // re-reads W per 4 rows) and the skinny mma kernel (80-88% vs 55-71% at N = 8..16).
    path = N <= 4 ? LinearPath::Gemv : LinearPath::Cublas;
  }
  if (path == LinearPath::SkinnyMma &&
      !(skinny_mma_supported(W.dtype, W.data, K, N) && x.dt == DType::F32 && y.dt == DType::F32 && !accumulate))
    path = LinearPath::Gemv;
  switch (path) {
    case LinearPath::Gemv: return linear_gemv(W, bias, x, ldx, N, y, ldy, accumulate);
    case LinearPath::SkinnyMma: {
      void* xb = ws_.get(Workspace::kLinearX, skinny_mma_scratch_bytes(K, N));
      launch_skinny_mma(W.data, M, K, fptr(bias), static_cast<const float*>(x.p), ldx, N, static_cast<float*>(y.p),
                        ldy, xb, sm_count_, stream_);
      return;
    }
    default: break;
  }
  // cuBLASLt reads x in the weight's dtype (float32 weights: float32, exact products, no tf32) and writes
  // float32 y, or 16-bit y when there is no bias (the bias epilogue's vector has the output's type).
  const DType xt = W.dtype;
  const bool conv_x = x.dt != xt;
  const bool conv_y = y.dt != DType::F32 && (bias != nullptr || y.dt != W.dtype);
  // Few-row products time cuBLASLt's candidates once per shape; those runs write a scratch output.
  auto tune_out = [&](int64_t n, int64_t ld, DType t) -> void* {
    return n <= CublasLtGemm::kTuneMaxN ? ws_.get(Workspace::kLinearY, size_t(n * ld) * dtype_size(t)) : nullptr;
  };
  if (!conv_x && !conv_y) {
    gemm_->run(W.dtype, W.data, M, K, fptr(bias), x.p, ldx, N, y.p, y.dt, ldy, accumulate, tune_out(N, ldy, y.dt));
    return;
  }
  // Otherwise in pieces of rows whose converted x (and float32 y) fit kLinearXBudget bytes.
  const size_t row_bytes = (conv_x ? size_t(K) * dtype_size(xt) : 0) + (conv_y ? size_t(M) * 4 : 0);
  const int64_t rows_per = std::max<int64_t>(256, int64_t(kLinearXBudget / row_bytes) / 256 * 256);
  for (int64_t n0 = 0; n0 < N; n0 += rows_per) {
    const int64_t nn = std::min(rows_per, N - n0);
    const void* xp = static_cast<const char*>(x.p) + size_t(n0 * ldx) * dtype_size(x.dt);
    int64_t lx = ldx;
    if (conv_x) {
      void* xb = ws_.get(Workspace::kLinearX, size_t(nn) * size_t(K) * dtype_size(xt));
      if (x.dt == DType::F32)
        launch_convert_rows(static_cast<const float*>(xp), ldx, nn, K, xt, xb, nn, stream_);
      else
        launch_act_rows(xp, x.dt, ldx, nn, K, xb, xt, K, nn, stream_);
      xp = xb, lx = K;
    }
    void* yp = static_cast<char*>(y.p) + size_t(n0 * ldy) * dtype_size(y.dt);
    if (conv_y) {  // (never accumulating: y is 16-bit)
      float* yf = static_cast<float*>(ws_.get(Workspace::kLinearY, size_t(nn) * size_t(M) * 4));
      gemm_->run(W.dtype, W.data, M, K, fptr(bias), xp, lx, nn, yf, DType::F32, M);
      launch_act_rows(yf, DType::F32, M, nn, M, yp, y.dt, ldy, nn, stream_);
    } else {
      gemm_->run(W.dtype, W.data, M, K, fptr(bias), xp, lx, nn, yp, y.dt, ldy, accumulate, tune_out(nn, ldy, y.dt));
    }
  }
}

void CudaBackend::rmsnorm_linear(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                                 const Weight& W, const Weight* bias, Act y, int64_t ldy) {
  if (N <= 0) return;
  const int64_t M = W.rows, K = W.cols;
  LinearPath path = linear_path_;
  if (path == LinearPath::Auto) path = N <= 4 ? LinearPath::Gemv : LinearPath::Cublas;  // as linear()
  // The GEMV folds the norm into its read of x (no norm launch, no xn round trip); a norm bias would need
  // a second dot product per row, so that case (no 7B checkpoint has one) keeps the two ops.
  if (path != LinearPath::Gemv || nb != nullptr || y.dt != DType::F32 || nw.rows != K) {
    Backend::rmsnorm_linear(x, nw, nb, eps, N, xn, W, bias, y, ldy);
    return;
  }
  XLSTM_CHECK(N == 1 || ldy >= M, "rmsnorm_linear: bad stride (M={}, ldy={})", M, ldy);
  XLSTM_CHECK(!bias || bias->rows == M, "rmsnorm_linear: bias has {} entries, expected {}", bias ? bias->rows : 0, M);
  launch_gemv(W.dtype, W.data, M, K, fptr(bias), x, K, N, static_cast<float*>(y.p), ldy, false, sm_count_, stream_,
              fptr(&nw), eps);
}

void CudaBackend::rmsnorm_linear_swiglu(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N,
                                        Act xn, const Weight& W, const Weight* bias, Act gu) {
  if (N <= 0) return;
  const int64_t M = W.rows, K = W.cols;
  LinearPath path = linear_path_;
  if (path == LinearPath::Auto) path = N <= 4 ? LinearPath::Gemv : LinearPath::Cublas;  // as linear()
  // The GEMV computes gate and up rows side by side and writes silu(gate) * up: no SwiGLU launch, and
  // gu[:, F:2F] is never written. (Applying SwiGLU as the down product reads its input measured no gain
  // at N = 1: each of its blocks re-reads the whole gate|up row from L2; docs/cuda-notes.md.)
  if (path != LinearPath::Gemv || nb != nullptr || gu.dt != DType::F32 || nw.rows != K ||
      !gemv_glu_supported(W.dtype, W.data, M, K, x, K, fptr(&nw))) {
    Backend::rmsnorm_linear_swiglu(x, nw, nb, eps, N, xn, W, bias, gu);
    return;
  }
  XLSTM_CHECK(!bias || bias->rows == M, "rmsnorm_linear_swiglu: bias has {} entries, expected {}",
              bias ? bias->rows : 0, M);
  launch_gemv_glu(W.dtype, W.data, M, K, fptr(bias), x, K, N, static_cast<float*>(gu.p), M, sm_count_, stream_,
                  fptr(&nw), eps);
}

void CudaBackend::embed(const Weight& E, const int32_t* ids, int64_t N, float* y) {
  launch_embed(E.dtype, E.data, E.rows, E.cols, ids, N, y, stream_);
}

void CudaBackend::rmsnorm(const float* x, const Weight& w, const Weight* b, float eps, int64_t N, int64_t D, Act y) {
  launch_rmsnorm(x, fptr(&w), fptr(b), eps, N, D, y.p, y.dt, stream_);
}

void CudaBackend::layernorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int64_t D,
                            float* y) {
  launch_layernorm(x, fptr(w), fptr(b), eps, N, D, y, stream_);
}

void CudaBackend::add(float* x, const float* y, int64_t n) { launch_add(x, y, n, stream_); }

void CudaBackend::softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap) {
  launch_softcap(x, rows, cols, ld, cap, stream_);
}

void CudaBackend::mlstm(const MlstmArgs& a) {
  // No copies or memsets on the stream (the counters are zeroed once, synchronously, when allocated); the
  // chunkwise kernels are plain launches (a later kernel waits for them to complete), the step kernel a
  // PDL launch.
  mlstm_forward(a, ws_, mlstm_path_ == MlstmPath::Recurrent, mlstm_segment_chunks_, stream_);
}

void CudaBackend::mhln_gate(const float* h, const float* o, int64_t ldo, const Weight& w, const Weight* b, float eps,
                            int64_t N, int NH, int DV, Act y) {
  launch_mhln_gate(h, o, ldo, fptr(&w), fptr(b), eps, N, NH, DV, y.p, y.dt, stream_);
}

void CudaBackend::swiglu(Act gu, int64_t N, int64_t F) { launch_swiglu_inplace(gu.p, gu.dt, N, F, stream_); }

void CudaBackend::sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids) {
  // Sized for at least 64 rows, so that a graph captured at one batch size is not left holding a slot that
  // a later, larger batch reallocated.
  void* part = ws_.get(Workspace::kSample, sample_scratch_bytes(std::max(B, 64), V));
  launch_sample(logits, B, V, cap, rows, ids, part, stream_);
}

std::unique_ptr<Graph> CudaBackend::capture(const std::function<void()>& fn) {
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  try {
    fn();
  } catch (...) {
    if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
    throw;
  }
  CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(err);
  return std::make_unique<CudaGraph>(exec, stream_);
}

}  // namespace xlstm::cuda
