// Why: see cuda_backend.h. Memory ops are stream-ordered on the backend's stream; upload and download
// return when the bytes have arrived (the host buffer may be reused at once). Ops check their
// arguments cheaply and launch; nothing synchronises with the host inside an op.
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
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
constexpr size_t kLinearXBudget = size_t(192) << 20;    // bf16 copy of x for one cuBLASLt call (8192 x 10944)

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
}

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  gemm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void* CudaBackend::alloc(size_t bytes) { return device_malloc(bytes, "a buffer"); }
void CudaBackend::release(void* p) {
  if (p) CUDA_CHECK(cudaFree(p));
}
void CudaBackend::upload(void* dst, const void* host_src, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::download(void* host_dst, const void* src, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}
void CudaBackend::zero(void* dst, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
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
  char* dst = static_cast<char*>(w->owned);
  for (const auto& p : parts) {
    const size_t n = size_t(p.numel());
    const size_t src_esz = dtype_size(p.dtype);
    if (p.dtype == as) {
      CUDA_CHECK(cudaMemcpyAsync(dst, p.data, n * esz, cudaMemcpyHostToDevice, stream_));
    } else {  // upload slices in the source dtype and convert on the GPU
      void* staging = ws_.get(Workspace::kStaging, kStagingBytes);
      const size_t slice = kStagingBytes / src_esz;
      for (size_t off = 0; off < n; off += slice) {
        const size_t m = std::min(slice, n - off);
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
  upload(w->owned, host.data(), host.size() * 4);
  return w;
}

void CudaBackend::linear(const Weight& W, const Weight* bias, const float* x, int64_t ldx, int64_t N, float* y,
                         int64_t ldy) {
  if (N <= 0) return;
  const int64_t M = W.rows, K = W.cols;
  XLSTM_CHECK(K >= 1 && (N == 1 || (ldx >= K && ldy >= M)), "linear: bad strides (K={}, ldx={}, M={}, ldy={})", K, ldx, M, ldy);
  XLSTM_CHECK(!bias || bias->rows == M, "linear: bias has {} entries, expected {}", bias ? bias->rows : 0, M);
  LinearPath path = linear_path_;
  if (path == LinearPath::Auto) {
    // Measured on the H100 (docs/cuda-notes.md): the f32-x GEMV reads the weights at 89-100% of the copy
    // bandwidth for N <= 2 and 56-94% at N = 4; from N = 5 cuBLASLt (bf16 x) beats both the GEMV (which
    // re-reads W per 4 rows) and the skinny mma kernel (80-88% vs 55-71% at N = 8..16).
    path = N <= 4 ? LinearPath::Gemv : LinearPath::Cublas;
  }
  if (path == LinearPath::SkinnyMma && !skinny_mma_supported(W.dtype, W.data, K, N)) path = LinearPath::Gemv;
  switch (path) {
    case LinearPath::Gemv:
      launch_gemv(W.dtype, W.data, M, K, fptr(bias), x, ldx, N, y, ldy, sm_count_, stream_);
      return;
    case LinearPath::SkinnyMma: {
      void* xb = ws_.get(Workspace::kLinearX, skinny_mma_scratch_bytes(K, N));
      launch_skinny_mma(W.data, M, K, fptr(bias), x, ldx, N, y, ldy, xb, sm_count_, stream_);
      return;
    }
    default: break;
  }
  if (W.dtype == DType::F32) {  // exact float32 product, no conversion of x
    gemm_->run(DType::F32, W.data, M, K, fptr(bias), x, ldx, N, y, ldy);
    return;
  }
  // bf16/f16 tensor cores: x is rounded to the weight's dtype in pieces of at most kLinearXBudget bytes.
  const int64_t rows_per = std::max<int64_t>(256, int64_t(kLinearXBudget / (size_t(K) * 2)) / 256 * 256);
  for (int64_t n0 = 0; n0 < N; n0 += rows_per) {
    const int64_t nn = std::min(rows_per, N - n0);
    void* xb = ws_.get(Workspace::kLinearX, size_t(nn) * size_t(K) * 2);
    launch_convert_rows(x + n0 * ldx, ldx, nn, K, W.dtype, xb, nn, stream_);
    gemm_->run(W.dtype, W.data, M, K, fptr(bias), xb, K, nn, y + n0 * ldy, ldy);
  }
}

void CudaBackend::embed(const Weight& E, const int32_t* ids, int64_t N, float* y) {
  launch_embed(E.dtype, E.data, E.rows, E.cols, ids, N, y, stream_);
}

void CudaBackend::rmsnorm(const float* x, const Weight& w, const Weight* b, float eps, int64_t N, int64_t D,
                          float* y) {
  launch_rmsnorm(x, fptr(&w), fptr(b), eps, N, D, y, stream_);
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
  mlstm_forward(a, ws_, mlstm_path_ == MlstmPath::Recurrent, mlstm_segment_chunks_, stream_);
}

void CudaBackend::mhln_gate(const float* h, const float* o, int64_t ldo, const Weight& w, const Weight* b, float eps,
                            int64_t N, int NH, int DV, float* y) {
  launch_mhln_gate(h, o, ldo, fptr(&w), fptr(b), eps, N, NH, DV, y, stream_);
}

void CudaBackend::swiglu(const float* gu, int64_t N, int64_t F, float* y) { launch_swiglu(gu, N, F, y, stream_); }

void CudaBackend::sample(const float* logits, int B, int64_t V, SampleRow* rows, int32_t* ids) {
  launch_sample(logits, B, V, rows, ids, stream_);
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
