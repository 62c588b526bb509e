// Why: the CPU implementation of the Backend op contract (backend.h). Float32 math with float32
// reductions; matrix products in cpu_matmul.cpp, the mLSTM cell in cpu_mlstm.cpp, the rest here.
// It is also the reference every other backend is checked against. Its matmul_dtype is F32, so models
// hand it float32 activations throughout; 16-bit activations are accepted at the op boundary (widened
// exactly on input, rounded once on output) so that other backends' 16-bit paths can be checked here.
#pragma once
#include "backend/backend.h"

namespace xlstm::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);
  std::string name() const override { return "cpu"; }
  std::string description() const override;

  void* alloc(size_t bytes) override;
  void release(void* p) override;
  void upload(void* dst, const void* src, size_t bytes) override;
  void download(void* dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void zero(void* dst, size_t bytes) override;
  void synchronize() override {}

  WeightPtr make_weight(const std::vector<HostTensor>& parts, DType as) override;
  WeightPtr make_vector(const std::vector<HostTensor>& parts) override;

  void linear(const Weight& W, const Weight* bias, ConstAct x, int64_t ldx, int64_t N, Act y, int64_t ldy,
              bool accumulate = false) override;
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

  // ---- ops of the original xLSTM family (cpu_v1_ops.cpp, cpu_slstm.cpp) ----
  bool has_v1_ops() const override { return true; }
  void causal_conv1d(const Conv1dArgs& a) override;
  void headwise_linear(const Weight& W, const Weight* bias, const float* x, int64_t ldx, int64_t N, int NH, int I,
                       int O, float* y, int64_t ldy) override;
  void groupnorm(const float* x, const Weight* w, const Weight* b, float eps, int64_t N, int NH, int DH,
                 float* y) override;
  void slstm(const SlstmArgs& a) override;
  void skip_silu_gate(const float* h, const float* xc, int64_t ldxc, const Weight& skip, const float* z, int64_t ldz,
                      int64_t N, int64_t C, float* y) override;
  void gated_act(const float* gu, int64_t N, int64_t F, GateAct act, float* y) override;
};

// The mLSTM cell on the CPU (cpu_mlstm.cpp).
void mlstm_forward(const MlstmArgs& a);

}  // namespace xlstm::cpu
