// Why: the xLSTM-7B family forward pass (xlstm-reference.md section 1) over the backend ops:
//   x = E[ids]; per block: x += out_proj(sigmoid(o) * MHLN(mLSTM(q, k, v, cap(i), cap(f)))) with
//   q|k|v|o|i|f = RMSNorm(x) . W_in; x += down(silu(gate) * up) of RMSNorm(x); logits = cap(head(RMSNorm(x))).
// Projections are fused at load (one [2QK+2V+2NH, D] matrix, one [2F, D] gate|up matrix) so each block
// runs four matrix products. Prefill runs in pieces of bounded length so memory does not grow with T.
// The residual adds are folded into the out_proj and down products (they accumulate into x), the RMSNorms
// into the products they feed and SwiGLU into the gate|up product (rmsnorm_linear, rmsnorm_linear_swiglu:
// on the CUDA GEMV, N <= 4, no launches of their own), and every product input is written in the
// backend's matmul_dtype (bf16 for many rows on CUDA: no conversion pass inside the product).
// Workspace: four buffers (per row; float32 unless noted):
//   x_  [D]                    the residual stream
//   h_  [V]                    the mLSTM output
//   xy_ [max(D, V)] act        the normed x fed to w_in / gate_up / the head, or the gated MHLN output
//   pg_ [max(P f32, 2F act)]   proj (q|k|v|o|i|f, read by the mLSTM and the gate), later gu (gate|up)
// Prefill runs in pieces of bounded length; all of a prompt's ids go to the device at once, so the host
// queues piece after piece without waiting for the device.
#include "model/xlstm_large.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "model/tensor_names.h"

namespace xlstm {
namespace {

namespace N = names::large;

using names::blk;

struct Block {
  WeightPtr norm_mlstm_w, norm_mlstm_b;  // [D]
  WeightPtr w_in, b_in;                  // [2QK+2V+2NH, D] rows q|k|v|o|i|f; bias [2QK+2V+2NH]
  WeightPtr mh_w, mh_b;                  // [V]
  WeightPtr out_w, out_b;                // [D, V], [D]
  WeightPtr norm_ffn_w, norm_ffn_b;      // [D]
  WeightPtr gate_up_w, gate_up_b;        // [2F, D] rows gate|up; bias [2F]
  WeightPtr down_w, down_b;              // [D, F], [D]
};

class XlstmLarge final : public Model {
 public:
  XlstmLarge(const XlstmLargeConfig& c, std::unique_ptr<TensorStore> store, const LargeWiring& w, Backend& be,
             const LoadOptions& opt, const std::string& path)
      : c_(c), store_(std::move(store)), be_(be) {
    D_ = c.hidden, QK_ = c.qk_dim(), V_ = c.v_dim(), NH_ = c.num_heads, F_ = c.ffn_dim();
    DK_ = QK_ / NH_, DV_ = V_ / NH_;
    P_ = 2 * QK_ + 2 * V_ + 2 * NH_;
    chunk_ = opt.chunk > 0 ? opt.chunk : int(c.chunk_size);
    max_step_tokens_ = opt.max_step_tokens > 0 ? opt.max_step_tokens : be.name() == "cuda" ? 2048 : 1024;
    const HostTensor& emb = store_->get(w.embedding);
    if (opt.dtype == "auto") {
      wdt_ = be.name() == "cuda" ? DType::BF16 : emb.dtype;
    } else {
      XLSTM_CHECK(dtype_from_name(opt.dtype, &wdt_), "unknown --dtype '{}' (expected auto, f32, bf16 or f16)",
                  opt.dtype);
    }
    load_weights(w);
    fill_info(w, path);
    // Decode steps of up to max_step_tokens_ sequences never allocate (the activation type, hence the
    // bytes per row, may change with the row count).
    for (int64_t n = max_step_tokens_; n >= 1; --n) ensure_workspace(n, 0);
  }

  const ModelInfo& info() const override { return info_; }
  Backend& backend() override { return be_; }
  size_t state_floats() const override { return size_t(c_.num_blocks) * layer_floats(); }
  std::string wiring() const override { return wiring_text_; }
  void set_chunk(int chunk) override {
    XLSTM_CHECK(chunk >= 1, "chunk size must be >= 1, got {}", chunk);
    chunk_ = chunk;
  }
  int chunk() const override { return chunk_; }

  void forward(const int32_t* ids, int B, int T, float* const* states, int n_out, float* logits) override {
    const int64_t piece = check_forward_args(ids, B, T, n_out, c_.vocab_size, max_step_tokens_, chunk_);
    ensure_workspace(B * piece, B * std::min<int64_t>(piece, std::max(n_out, 1)));
    // Every piece's ids ([B, Tp] each, one after the other) in one upload.
    std::vector<int32_t> all(size_t(B) * size_t(T));
    for (int64_t t0 = 0, off = 0; t0 < T; t0 += piece) {
      const int64_t Tp = std::min<int64_t>(piece, T - t0);
      for (int b = 0; b < B; ++b, off += Tp) std::memcpy(&all[size_t(off)], ids + int64_t(b) * T + t0, size_t(Tp) * 4);
    }
    if (all_ids_.bytes() < all.size() * 4) all_ids_ = DeviceBuffer(), all_ids_ = DeviceBuffer(&be_, all.size() * 4);
    be_.upload(all_ids_.data(), all.data(), all.size() * 4);
    for (int64_t t0 = 0; t0 < T; t0 += piece) {
      const int64_t Tp = std::min<int64_t>(piece, T - t0);
      run_rows(static_cast<const int32_t*>(all_ids_.data()) + int64_t(B) * t0, B, int(Tp), states);
      emit_logits(B, T, t0, Tp, n_out, logits);
    }
  }

  void decode_step(const int32_t* ids_dev, int B, float* const* states, float* logits_dev) override {
    ensure_workspace(B, 0);
    run_rows(ids_dev, B, 1, states);
    be_.rmsnorm_linear(x_.f32(), *out_norm_, nullptr, c_.norm_eps, B, act(xy_, B), *head_view_, nullptr, logits_dev,
                       c_.vocab_size);  // the soft cap is the sampler's (ModelInfo::logit_soft_cap)
  }

 private:
  // Embeds B x Tp tokens (device ids, row b*Tp + t) and runs every block; the result is in x_.
  void run_rows(const int32_t* ids_dev, int B, int Tp, float* const* states) {
    st_.resize(size_t(B));
    be_.embed(*embed_, ids_dev, int64_t(B) * Tp, x_.f32());
    for (int64_t l = 0; l < c_.num_blocks; ++l) {
      for (int b = 0; b < B; ++b) st_[size_t(b)] = layer_state(states[b], l);
      run_block(blocks_[size_t(l)], B, Tp, st_.data());
    }
  }

  // The activation type the backend wants for products over `rows` rows, on buffer buf.
  Act act(const DeviceBuffer& buf, int64_t rows) const { return Act(buf.data(), be_.matmul_dtype(wdt_, rows)); }

  size_t layer_floats() const { return size_t(NH_) * size_t(DK_ * DV_ + DK_ + 1); }
  MlstmState layer_state(float* base, int64_t l) const {
    float* p = base + size_t(l) * layer_floats();
    return {p, p + NH_ * DK_ * DV_, p + NH_ * DK_ * DV_ + NH_ * DK_};
  }

  void run_block(const Block& k, int B, int Tp, const MlstmState* st) {
    const int64_t Nr = int64_t(B) * Tp;
    float *x = x_.f32(), *h = h_.f32(), *proj = pg_.f32();
    const Act xy = act(xy_, Nr), gu = act(pg_, Nr);
    be_.rmsnorm_linear(x, *k.norm_mlstm_w, k.norm_mlstm_b.get(), c_.norm_eps, Nr, xy, *k.w_in, k.b_in.get(), proj, P_);
    MlstmArgs a;
    a.B = B, a.T = Tp, a.NH = int(NH_), a.DK = int(DK_), a.DV = int(DV_);
    a.q = proj, a.k = proj + QK_, a.v = proj + 2 * QK_;
    a.igate = proj + 2 * QK_ + 2 * V_, a.fgate = a.igate + NH_;
    a.ld = P_, a.gate_cap = c_.gate_soft_cap, a.eps = c_.eps, a.chunk = chunk_, a.states = st, a.h = h;
    be_.mlstm(a);
    be_.mhln_gate(h, proj + 2 * QK_ + V_, P_, *k.mh_w, k.mh_b.get(), c_.norm_eps, Nr, int(NH_), int(DV_), xy);
    be_.linear(*k.out_w, k.out_b.get(), xy, V_, Nr, x, D_, true);  // x += out_proj(...)
    be_.rmsnorm_linear_swiglu(x, *k.norm_ffn_w, k.norm_ffn_b.get(), c_.norm_eps, Nr, xy, *k.gate_up_w,
                              k.gate_up_b.get(), gu);                              // gu[:, :F] = silu(gate) * up
    be_.linear(*k.down_w, k.down_b.get(), gu, 2 * F_, Nr, x, D_, true);  // x += down(gu[:, :F])
  }

  // Logits for positions [t0, t0+Tp) that fall in the last n_out positions of each sequence.
  void emit_logits(int B, int T, int64_t t0, int64_t Tp, int n_out, float* logits) {
    const int64_t first = std::max<int64_t>(t0, T - n_out), last = t0 + Tp;
    if (first >= last) return;
    const int64_t cnt = last - first, V = c_.vocab_size;
    const Act xn = act(xy_, B * cnt);
    const size_t esz = dtype_size(xn.dt);
    for (int b = 0; b < B; ++b)  // the final norm of the rows wanted, then the head over all of them
      be_.rmsnorm(x_.f32() + (b * Tp + (first - t0)) * D_, *out_norm_, nullptr, c_.norm_eps, cnt, D_,
                  Act(static_cast<char*>(xn.p) + size_t(b * cnt * D_) * esz, xn.dt));
    be_.linear(*head_view_, nullptr, xn, D_, B * cnt, logits_.f32(), V);
    if (c_.output_logit_soft_cap > 0) be_.softcap(logits_.f32(), B * cnt, V, V, c_.output_logit_soft_cap);
    for (int b = 0; b < B; ++b)
      be_.download(logits + (int64_t(b) * n_out + (first - (T - n_out))) * V, logits_.f32() + b * cnt * V,
                   size_t(cnt * V) * 4);
  }

  // Grows the workspace for `rows` rows through the blocks and `logit_rows` rows through the head; the
  // sizes depend on the activation type the backend wants at those row counts.
  void ensure_workspace(int64_t rows, int64_t logit_rows) {
    auto act_bytes = [&](int64_t n, int64_t cols) { return size_t(n * cols) * dtype_size(be_.matmul_dtype(wdt_, n)); };
    auto grow = [&](DeviceBuffer& b, size_t bytes) {
      if (bytes > b.bytes()) b = DeviceBuffer(), b = DeviceBuffer(&be_, bytes);
    };
    grow(x_, size_t(rows * D_) * 4);
    grow(h_, size_t(rows * V_) * 4);
    grow(xy_, std::max(act_bytes(rows, std::max(D_, V_)), act_bytes(logit_rows, D_)));
    grow(pg_, std::max(size_t(rows * P_) * 4, act_bytes(rows, 2 * F_)));
    grow(logits_, size_t(logit_rows * c_.vocab_size) * 4);
  }

  // ---- loading ----------------------------------------------------------------------------------------
  const HostTensor& tensor(const char* f, int64_t i) { return store_->get(blk(f, i)); }
  HostTensor zeros(int64_t n) {
    zero_pool_.emplace_back(size_t(n), 0.f);
    return HostTensor{"zeros", DType::F32, {n}, zero_pool_.back().data()};
  }
  WeightPtr matrix(const std::vector<HostTensor>& parts) {
    WeightPtr w = be_.make_weight(parts, wdt_);
    if (w->data != parts[0].data)  // the backend copied (fused, converted or uploaded): free the source
      for (const auto& p : parts) store_->release(p.name);
    return w;
  }
  WeightPtr vec(const std::vector<HostTensor>& parts) { return be_.make_vector(parts); }
  WeightPtr opt_vec(const char* f, int64_t i) {
    const HostTensor* t = store_->find(blk(f, i));
    return t ? vec({*t}) : nullptr;
  }

  void load_weights(const LargeWiring& w) {
    embed_ = matrix({store_->get(w.embedding)});
    for (int64_t i = 0; i < c_.num_blocks; ++i) {
      Block k;
      k.norm_mlstm_w = vec({tensor(N::kNormMlstmW, i)});
      k.norm_mlstm_b = opt_vec(N::kNormMlstmB, i);
      if (w.fused) {
        k.w_in = matrix({tensor(N::kQkvoW, i), tensor(N::kIfW, i)});
        const HostTensor* qb = store_->find(blk(N::kQkvoB, i));
        k.b_in = vec({qb ? *qb : zeros(2 * QK_ + 2 * V_), tensor(N::kIfB, i)});
        k.gate_up_w = matrix({tensor(N::kGateUpW, i)});
        k.gate_up_b = opt_vec(N::kGateUpB, i);
      } else {
        k.w_in = matrix({tensor(N::kQW, i), tensor(N::kKW, i), tensor(N::kVW, i), tensor(N::kOW, i), tensor(N::kIW, i), tensor(N::kFW, i)});
        auto b_or_zero = [&](const char* f, int64_t n) {
          const HostTensor* t = store_->find(blk(f, i));
          return t ? *t : zeros(n);
        };
        k.b_in = vec({b_or_zero(N::kQB, QK_), b_or_zero(N::kKB, QK_), b_or_zero(N::kVB, V_), b_or_zero(N::kOB, V_),
                      tensor(N::kIB, i), tensor(N::kFB, i)});
        k.gate_up_w = matrix({tensor(N::kGateW, i), tensor(N::kUpW, i)});
        const HostTensor* gb = store_->find(blk(N::kGateB, i));
        if (gb) k.gate_up_b = vec({*gb, tensor(N::kUpB, i)});
      }
      k.mh_w = vec({tensor(N::kMhNormW, i)});
      k.mh_b = opt_vec(N::kMhNormB, i);
      k.out_w = matrix({tensor(N::kOutProjW, i)});
      k.out_b = opt_vec(N::kOutProjB, i);
      k.norm_ffn_w = vec({tensor(N::kNormFfnW, i)});
      k.norm_ffn_b = opt_vec(N::kNormFfnB, i);
      k.down_w = matrix({tensor(N::kDownW, i)});
      k.down_b = opt_vec(N::kDownB, i);
      blocks_.push_back(std::move(k));
    }
    out_norm_ = vec({store_->get(N::kOutNorm)});
    if (w.tied) {
      head_view_ = embed_.get();
    } else {
      head_ = matrix({store_->get(N::kLmHead)});
      head_view_ = head_.get();
    }
    zero_pool_.clear();
    zero_pool_.shrink_to_fit();
  }

  void fill_info(const LargeWiring& w, const std::string& path) {
    ModelInfo& I = info_;
    I.arch = "xlstm";
    I.path = path;
    I.vocab_size = c_.vocab_size, I.hidden = D_, I.num_blocks = c_.num_blocks, I.num_heads = NH_;
    I.qk_dim = QK_, I.v_dim = V_, I.ffn_dim = F_;
    count_checkpoint(*store_, I);
    I.weight_dtype = wdt_;
    I.weight_bytes = held_bytes({&embed_, &head_, &out_norm_});
    for (const auto& k : blocks_)
      I.weight_bytes += held_bytes({&k.norm_mlstm_w, &k.norm_mlstm_b, &k.w_in, &k.b_in, &k.mh_w, &k.mh_b, &k.out_w,
                                    &k.out_b, &k.norm_ffn_w, &k.norm_ffn_b, &k.gate_up_w, &k.gate_up_b, &k.down_w,
                                    &k.down_b});
    I.bos_id = c_.bos_token_id, I.eos_id = c_.eos_token_id, I.pad_id = c_.pad_token_id;
    I.eos_ids = c_.eos_token_ids;
    I.force_bos = c_.force_bos_token_insert;
    I.default_chunk = c_.chunk_size;
    I.logit_soft_cap = c_.output_logit_soft_cap;
    I.fingerprint = fmt::format("xlstm:L{}:NH{}:DK{}:DV{}", c_.num_blocks, NH_, DK_, DV_);
    wiring_text_ = describe_large_wiring(w, c_);
  }

  XlstmLargeConfig c_;
  std::unique_ptr<TensorStore> store_;
  Backend& be_;
  ModelInfo info_;
  std::string wiring_text_;
  DType wdt_ = DType::F32;
  int64_t D_, QK_, V_, NH_, F_, DK_, DV_, P_;
  int chunk_ = 64;
  int64_t max_step_tokens_ = 1024;
  WeightPtr embed_, head_, out_norm_;
  const Weight* head_view_ = nullptr;
  std::vector<Block> blocks_;
  std::vector<std::vector<float>> zero_pool_;
  std::vector<MlstmState> st_;  // per-layer state pointers of the sequences in flight
  // Workspace on the backend (see the top of the file; rows = B * piece).
  DeviceBuffer all_ids_, x_, h_, xy_, pg_, logits_;
};

}  // namespace

std::unique_ptr<Model> make_xlstm_large(const XlstmLargeConfig& cfg, std::unique_ptr<TensorStore> store,
                                        const LargeWiring& wiring, Backend& be, const LoadOptions& opt,
                                        const std::string& path) {
  return std::make_unique<XlstmLarge>(cfg, std::move(store), wiring, be, opt, path);
}

}  // namespace xlstm
