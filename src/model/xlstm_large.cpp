// Why: the xLSTM-7B family forward pass (xlstm-reference.md section 1) over the backend ops:
//   x = E[ids]; per block: x += out_proj(sigmoid(o) * MHLN(mLSTM(q, k, v, cap(i), cap(f)))) with
//   q|k|v|o|i|f = RMSNorm(x) . W_in; x += down(silu(gate) * up) of RMSNorm(x); logits = cap(head(RMSNorm(x))).
// Projections are fused at load (one [2QK+2V+2NH, D] matrix, one [2F, D] gate|up matrix) so each block
// runs four matrix products. Prefill runs in pieces of bounded length so memory does not grow with T.
#include "model/xlstm_large.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "model/tensor_names.h"

namespace xlstm {
namespace {

namespace N = names::large;

std::string blk(const char* f, int64_t i) { return fmt::format(fmt::runtime(f), i); }

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
    ensure_workspace(max_step_tokens_, 0);  // decode steps of up to max_step_tokens_ sequences never allocate
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
    XLSTM_CHECK(B >= 1 && T >= 1, "forward needs at least one sequence and one token (B = {}, T = {})", B, T);
    XLSTM_CHECK(n_out >= 0 && n_out <= T, "n_out = {} must be in [0, T = {}]", n_out, T);
    for (int64_t i = 0; i < int64_t(B) * T; ++i)
      XLSTM_CHECK(ids[i] >= 0 && ids[i] < c_.vocab_size, "token id {} at position {} is out of range [0, {})", ids[i],
                  i % T, c_.vocab_size);
    // Piece length per sequence: a multiple of the chunk so that only the last piece has a remainder.
    int64_t piece = std::max<int64_t>(1, max_step_tokens_ / B);
    if (piece >= chunk_) piece = piece / chunk_ * chunk_;
    piece = std::min<int64_t>(piece, T);
    ensure_workspace(B * piece, B * std::min<int64_t>(piece, std::max(n_out, 1)));
    std::vector<int32_t> piece_ids;
    for (int64_t t0 = 0; t0 < T; t0 += piece) {
      const int64_t Tp = std::min<int64_t>(piece, T - t0), Nr = B * Tp;
      piece_ids.resize(size_t(Nr));
      for (int b = 0; b < B; ++b)
        std::memcpy(&piece_ids[size_t(b * Tp)], ids + int64_t(b) * T + t0, size_t(Tp) * 4);
      be_.upload(ids_.data(), piece_ids.data(), size_t(Nr) * 4);
      run_rows(static_cast<const int32_t*>(ids_.data()), B, int(Tp), states);
      emit_logits(B, T, t0, Tp, n_out, logits);
    }
  }

  void decode_step(const int32_t* ids_dev, int B, float* const* states, float* logits_dev) override {
    ensure_workspace(B, 0);
    run_rows(ids_dev, B, 1, states);
    be_.rmsnorm(x_.f32(), *out_norm_, nullptr, c_.norm_eps, B, D_, x1_.f32());
    be_.linear(*head_view_, nullptr, x1_.f32(), D_, B, logits_dev, c_.vocab_size);
    if (c_.output_logit_soft_cap > 0) be_.softcap(logits_dev, B, c_.vocab_size, c_.vocab_size, c_.output_logit_soft_cap);
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

  size_t layer_floats() const { return size_t(NH_) * size_t(DK_ * DV_ + DK_ + 1); }
  MlstmState layer_state(float* base, int64_t l) const {
    float* p = base + size_t(l) * layer_floats();
    return {p, p + NH_ * DK_ * DV_, p + NH_ * DK_ * DV_ + NH_ * DK_};
  }

  void run_block(const Block& k, int B, int Tp, const MlstmState* st) {
    const int64_t Nr = int64_t(B) * Tp;
    float *x = x_.f32(), *x1 = x1_.f32(), *proj = proj_.f32(), *h = h_.f32(), *y = y_.f32(), *gu = gu_.f32();
    be_.rmsnorm(x, *k.norm_mlstm_w, k.norm_mlstm_b.get(), c_.norm_eps, Nr, D_, x1);
    be_.linear(*k.w_in, k.b_in.get(), x1, D_, Nr, proj, P_);
    MlstmArgs a;
    a.B = B, a.T = Tp, a.NH = int(NH_), a.DK = int(DK_), a.DV = int(DV_);
    a.q = proj, a.k = proj + QK_, a.v = proj + 2 * QK_;
    a.igate = proj + 2 * QK_ + 2 * V_, a.fgate = a.igate + NH_;
    a.ld = P_, a.gate_cap = c_.gate_soft_cap, a.eps = c_.eps, a.chunk = chunk_, a.states = st, a.h = h;
    be_.mlstm(a);
    be_.mhln_gate(h, proj + 2 * QK_ + V_, P_, *k.mh_w, k.mh_b.get(), c_.norm_eps, Nr, int(NH_), int(DV_), y);
    be_.linear(*k.out_w, k.out_b.get(), y, V_, Nr, x1, D_);
    be_.add(x, x1, Nr * D_);
    be_.rmsnorm(x, *k.norm_ffn_w, k.norm_ffn_b.get(), c_.norm_eps, Nr, D_, x1);
    be_.linear(*k.gate_up_w, k.gate_up_b.get(), x1, D_, Nr, gu, 2 * F_);
    be_.swiglu(gu, Nr, F_, y_ffn_.f32());
    be_.linear(*k.down_w, k.down_b.get(), y_ffn_.f32(), F_, Nr, x1, D_);
    be_.add(x, x1, Nr * D_);
  }

  // Logits for positions [t0, t0+Tp) that fall in the last n_out positions of each sequence.
  void emit_logits(int B, int T, int64_t t0, int64_t Tp, int n_out, float* logits) {
    const int64_t first = std::max<int64_t>(t0, T - n_out), last = t0 + Tp;
    if (first >= last) return;
    const int64_t cnt = last - first, V = c_.vocab_size;
    for (int b = 0; b < B; ++b)
      be_.copy(x1_.f32() + b * cnt * D_, x_.f32() + (b * Tp + (first - t0)) * D_, size_t(cnt * D_) * 4);
    be_.rmsnorm(x1_.f32(), *out_norm_, nullptr, c_.norm_eps, B * cnt, D_, x1_.f32());
    be_.linear(*head_view_, nullptr, x1_.f32(), D_, B * cnt, logits_.f32(), V);
    if (c_.output_logit_soft_cap > 0) be_.softcap(logits_.f32(), B * cnt, V, V, c_.output_logit_soft_cap);
    for (int b = 0; b < B; ++b)
      be_.download(logits + (int64_t(b) * n_out + (first - (T - n_out))) * V, logits_.f32() + b * cnt * V,
                   size_t(cnt * V) * 4);
  }

  void ensure_workspace(int64_t rows, int64_t logit_rows) {
    if (rows > ws_rows_) {
      ws_rows_ = rows;
      auto buf = [&](int64_t cols) { return DeviceBuffer(&be_, size_t(rows * cols) * 4); };
      ids_ = DeviceBuffer(&be_, size_t(rows) * 4);
      x_ = buf(D_), x1_ = buf(std::max(D_, V_)), proj_ = buf(P_), h_ = buf(V_), y_ = buf(V_);
      gu_ = buf(2 * F_), y_ffn_ = buf(F_);
    }
    if (logit_rows > logit_rows_) {
      logit_rows_ = logit_rows;
      logits_ = DeviceBuffer(&be_, size_t(logit_rows * c_.vocab_size) * 4);
    }
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
    std::vector<std::string> dts;
    for (const auto& n : store_->names()) {
      const HostTensor& t = *store_->find(n);
      I.n_params += t.numel();
      std::string d = dtype_name(t.dtype);
      if (std::find(dts.begin(), dts.end(), d) == dts.end()) dts.push_back(d);
    }
    for (size_t i = 0; i < dts.size(); ++i) I.stored_dtype += (i ? "+" : "") + dts[i];
    I.weight_dtype = wdt_;
    auto bytes = [](const WeightPtr& p) { return p ? size_t(p->rows * p->cols) * dtype_size(p->dtype) : 0; };
    I.weight_bytes = bytes(embed_) + bytes(head_) + bytes(out_norm_);
    for (const auto& k : blocks_)
      for (const WeightPtr* p : {&k.norm_mlstm_w, &k.norm_mlstm_b, &k.w_in, &k.b_in, &k.mh_w, &k.mh_b, &k.out_w,
                                 &k.out_b, &k.norm_ffn_w, &k.norm_ffn_b, &k.gate_up_w, &k.gate_up_b, &k.down_w,
                                 &k.down_b})
        I.weight_bytes += bytes(*p);
    I.bos_id = c_.bos_token_id, I.eos_id = c_.eos_token_id, I.pad_id = c_.pad_token_id;
    I.eos_ids = c_.eos_token_ids;
    I.force_bos = c_.force_bos_token_insert;
    I.default_chunk = c_.chunk_size;
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
  // Workspace, [rows, cols] float32 on the backend (rows = B * piece).
  int64_t ws_rows_ = 0, logit_rows_ = 0;
  DeviceBuffer ids_, x_, x1_, proj_, h_, y_, gu_, y_ffn_, logits_;
};

}  // namespace

std::unique_ptr<Model> make_xlstm_large(const XlstmLargeConfig& cfg, std::unique_ptr<TensorStore> store,
                                        const LargeWiring& wiring, Backend& be, const LoadOptions& opt,
                                        const std::string& path) {
  return std::make_unique<XlstmLarge>(cfg, std::move(store), wiring, be, opt, path);
}

}  // namespace xlstm
