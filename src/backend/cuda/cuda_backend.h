// Why: the CUDA implementation of the Backend op contract (backend/backend.h). Weights live on the GPU
// in bf16 (or F16/F32 when asked), activations and recurrent state in float32; every op is one or a few
// kernel launches on the backend's own stream (so the caller can capture a CUDA graph of it). The kernels
// are in the other files of this folder, one op family per file; this class holds the device, the
// stream, the cuBLASLt handle and the workspace, and picks a kernel per call.
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/cuda/workspace.h"

namespace xlstm::cuda {

class CublasLtGemm;

// Which kernel family runs an op. Auto is what users get; the others exist so that tests and benchmarks
// can check and time every path.
enum class LinearPath { Auto, Gemv, SkinnyMma, Cublas };
enum class MlstmPath { Auto, Recurrent };  // Recurrent: the step form for every T (ignores chunk)

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device = 0);
  ~CudaBackend() override;
  std::string name() const override { return "cuda"; }
  std::string description() const override { return description_; }

  void* alloc(size_t bytes) override;
  void release(void* p) override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void zero(void* dst, size_t bytes) override;
  void synchronize() override;

  WeightPtr make_weight(const std::vector<HostTensor>& parts, DType as) override;
  WeightPtr make_vector(const std::vector<HostTensor>& parts) override;

  DType matmul_dtype(DType weight, int64_t N) const override;
  void linear(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y, int64_t ldy,
              bool accumulate = false) override;
  void rmsnorm_linear(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                      const Weight& W, const Weight* bias, Act y, int64_t ldy) override;
  void rmsnorm_linear_swiglu(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                             const Weight& W, const Weight* bias, Act gu) override;
  void embed(const Weight& E, const int32_t* ids, int64_t N, float* y) override;
  void rmsnorm(const float* x, const Weight& w, const Weight* b, float eps, int64_t N, int64_t D,
               Act y) override;
  void layernorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int64_t D,
                 float* y) override;
  void add(float* x, const float* y, int64_t n) override;
  void softcap(float* x, int64_t rows, int64_t cols, int64_t ld, float cap) override;
  void mlstm(const MlstmArgs& a) override;
  void mhln_gate(const float* h, const float* o, int64_t ldo, const Weight& w, const Weight* b, float eps,
                 int64_t N, int NH, int DV, Act y) override;
  void swiglu(Act gu, int64_t N, int64_t F) override;
  void sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids) override;
  // Stream capture of fn's launches into a CUDA graph (relaxed mode: fn may not synchronise, free or
  // grow a workspace, so run it once uncaptured first).
  std::unique_ptr<Graph> capture(const std::function<void()>& fn) override;

  // ---- CUDA-specific ----------------------------------------------------------------------------------
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  int sm_count() const { return sm_count_; }
  void set_linear_path(LinearPath p) { linear_path_ = p; }
  LinearPath linear_path() const { return linear_path_; }
  // cuBLASLt algorithm timing for few-row products (CublasLtGemm::set_tuning); on by default.
  void set_gemm_tuning(bool on);
  void set_mlstm_path(MlstmPath p) { mlstm_path_ = p; }
  // Chunks per chunkwise window (0: the default, up to 64 chunks within the scratch cap); tests force small ones.
  void set_mlstm_segment_chunks(int n) { mlstm_segment_chunks_ = n; }
  Workspace& workspace() { return ws_; }
  // Device memory this backend holds, by purpose (bytes), and the device's used memory (cudaMemGetInfo)
  // when the backend was created (the CUDA context and the cuBLASLt handle) and now. With
  // XLSTM_CUDA_MEMORY=1 in the environment the destructor prints it to stderr with the peaks.
  std::string memory_report() const;

 private:
  // The CUDA-core GEMV; x of any type (widened first unless float32), y of any type.
  void linear_gemv(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y, int64_t ldy,
                   bool accumulate);
  int device_ = 0, sm_count_ = 0;
  std::string description_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CublasLtGemm> gemm_;
  Workspace ws_;
  LinearPath linear_path_ = LinearPath::Auto;
  MlstmPath mlstm_path_ = MlstmPath::Auto;
  int mlstm_segment_chunks_ = 0;
  size_t used_at_start_ = 0;                  // device memory in use after context + cuBLASLt creation
  size_t weight_bytes_ = 0, buffer_bytes_ = 0, buffer_peak_ = 0, used_peak_ = 0;
  std::unordered_map<void*, size_t> sizes_;  // alloc()'s buffers
};

}  // namespace xlstm::cuda
