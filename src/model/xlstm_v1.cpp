// Why: the original xLSTM family's forward pass (xlstm-reference.md section 2) over the backend ops:
//   x = E[ids]; per block  x += layer(LN(x))  (mLSTM v1 or sLSTM layer), sLSTM blocks then
//   x += FFN(LN(x)); x = LN(x) (post_blocks_norm); logits = x . head.
// LayerNorms are the package's "residual weight" kind: the stored weight w scales by 1 + w (folded at load,
// as the package computes it in float32), eps 1e-5, no bias.
//   mLSTM v1: x_m | z = proj_up(x1); xc = silu(conv(x_m)); q, k = headwise(xc), v = headwise(x_m);
//             i, f = Linear([q | k | v]); h = mLSTM(q, k, v, i, f) (the mlstm op: q scaled instead of k,
//             equivalent; no gate cap); y = proj_down((GroupNorm(h) + skip * xc) * silu(z)).
//   sLSTM:    xc = silu(conv(x1)); slots i, f, z, o = fgate(xc), igate(xc), zgate(x1), ogate(x1) (the
//             package's forward feeds the i slot from the module named fgate); y = GroupNorm(sLSTM(.)).
// State of a sequence: the blocks' states one after the other (layout in state_layout below).
#include "model/xlstm_v1.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "model/tensor_names.h"

namespace xlstm {
namespace {

namespace N = names::v1;
using GateAct = Backend::GateAct;

using names::blk;

constexpr float kNormEps = 1e-5f;  // the package's LayerNorm / MultiHeadLayerNorm default
constexpr float kCellEps = 1e-6f;  // mLSTM v1 denominator eps (parallel_stabilized_simple)

GateAct act_of(const std::string& s) {
  if (s == "gelu") return GateAct::Gelu;
  if (s == "relu") return GateAct::Relu;
  if (s == "relu^2") return GateAct::Relu2;
  if (s == "sigmoid") return GateAct::Sigmoid;
  if (s == "swish") return GateAct::Swish;
  if (s == "selu") return GateAct::Selu;
  XLSTM_FAIL("unknown feed-forward activation '{}'", s);
}

struct MBlock {  // mLSTM v1 layer
  WeightPtr up_w, up_b;                    // [2I, D] rows x_m | z
  WeightPtr conv_w, conv_b;                // [I*K], [I]
  WeightPtr q_w, q_b, k_w, k_b, v_w, v_b;  // headwise [NHp*bs*bs], bias [I]
  WeightPtr if_w, if_b;                    // [2NH, 3I] rows igate | fgate, [2NH]
  WeightPtr outnorm_w;                     // [I] (1 + w)
  WeightPtr skip;                          // [I]
  WeightPtr down_w, down_b;                // [D, I]
};

struct SBlock {  // sLSTM layer + FFN
  WeightPtr conv_w, conv_b;              // [D*K], [D]
  WeightPtr wf, wi, wz, wo;              // headwise [NH*DH*DH]
  WeightPtr R, bias;                     // [NH, 4, DH, DH], [4, NH, DH]
  WeightPtr gn_w;                        // [D] (1 + w), or null
  WeightPtr ffn_norm_w, up_w, up_b, down_w, down_b;  // [D]; [2F, D] rows gate | up; [D, F]
};

struct Block {
  bool slstm = false;
  WeightPtr norm_w;  // xlstm_norm [D] (1 + w)
  MBlock m;
  SBlock s;
  size_t state_off = 0;  // offset of this block's state in a sequence's state
};

class XlstmV1 final : public Model {
 public:
  XlstmV1(const XlstmV1Config& c, std::unique_ptr<TensorStore> store, const V1Wiring& w, Backend& be,
          const LoadOptions& opt, const std::string& path)
      : c_(c), store_(std::move(store)), be_(be) {
    XLSTM_CHECK(be.has_v1_ops(), "{}: the original xLSTM family runs on the CPU backend only for now; use --device cpu",
                path);
    D_ = c.embedding_dim;
    has_m_ = c.num_slstm() < c.num_blocks;
    has_s_ = c.num_slstm() > 0;
    if (has_m_) {
      I_ = c.inner_dim(), MNH_ = c.mlstm.num_heads, MDH_ = c.mlstm_head_dim(), MK_ = c.mlstm.conv1d_kernel_size;
      BS_ = c.mlstm.qkv_proj_blocksize, NHP_ = c.qkv_heads();
      P_ = 3 * I_ + 2 * MNH_;
    }
    if (has_s_) {
      SNH_ = c.slstm.num_heads, SDH_ = c.slstm_head_dim(), SK_ = c.slstm.conv1d_kernel_size;
      if (c.ffn.present) F_ = c.ffn_dim(), act_ = act_of(c.ffn.act_fn);
    }
    chunk_ = opt.chunk > 0 ? opt.chunk : 64;
    max_step_tokens_ = opt.max_step_tokens > 0 ? opt.max_step_tokens : 1024;
    const HostTensor& emb = store_->get(N::kEmbedding);
    if (opt.dtype == "auto") {
      wdt_ = emb.dtype;
    } else {
      XLSTM_CHECK(dtype_from_name(opt.dtype, &wdt_), "unknown --dtype '{}' (expected auto, f32, bf16 or f16)",
                  opt.dtype);
    }
    load_weights();
    fill_info(w, path);
    ensure_workspace(max_step_tokens_, 0);
    const size_t B = size_t(max_step_tokens_);
    conv_ptrs_.reserve(B), mst_.reserve(B), sst_.reserve(B);
  }

  const ModelInfo& info() const override { return info_; }
  Backend& backend() override { return be_; }
  size_t state_floats() const override { return state_floats_; }
  std::string wiring() const override { return wiring_text_; }
  void set_chunk(int chunk) override {
    XLSTM_CHECK(chunk >= 1, "chunk size must be >= 1, got {}", chunk);
    chunk_ = chunk;
  }
  int chunk() const override { return chunk_; }

  void forward(const int32_t* ids, int B, int T, float* const* states, int n_out, float* logits) override {
    const int64_t piece = check_forward_args(ids, B, T, n_out, c_.vocab_size, max_step_tokens_, chunk_);
    ensure_workspace(B * piece, B * std::min<int64_t>(piece, std::max(n_out, 1)));
    std::vector<int32_t> piece_ids;
    for (int64_t t0 = 0; t0 < T; t0 += piece) {
      const int64_t Tp = std::min<int64_t>(piece, T - t0), Nr = B * Tp;
      piece_ids.resize(size_t(Nr));
      for (int b = 0; b < B; ++b) std::memcpy(&piece_ids[size_t(b * Tp)], ids + int64_t(b) * T + t0, size_t(Tp) * 4);
      be_.upload(ids_.data(), piece_ids.data(), size_t(Nr) * 4);
      run_rows(static_cast<const int32_t*>(ids_.data()), B, int(Tp), states);
      emit_logits(B, T, t0, Tp, n_out, logits);
    }
  }

  void decode_step(const int32_t* ids_dev, int B, float* const* states, float* logits_dev) override {
    ensure_workspace(B, 0);
    run_rows(ids_dev, B, 1, states);
    head(x_.f32(), B, logits_dev);
  }

 private:
  // ---- state layout -------------------------------------------------------------------------------------
  // mLSTM block: C [NH, DH, DH], n [NH, DH], m [NH], conv [K-1, I] (K > 1 only).
  // sLSTM block: y, c, n, m [D] each, conv [K-1, D] (K > 1 only).
  size_t block_state_floats(bool slstm) const {
    if (!slstm)
      return size_t(MNH_ * MDH_ * MDH_ + MNH_ * MDH_ + MNH_) + size_t(std::max<int64_t>(MK_ - 1, 0) * I_);
    return size_t(4 * D_) + size_t(std::max<int64_t>(SK_ - 1, 0) * D_);
  }

  void run_rows(const int32_t* ids_dev, int B, int Tp, float* const* states) {
    be_.embed(*embed_, ids_dev, int64_t(B) * Tp, x_.f32());
    for (const Block& k : blocks_) {
      if (k.slstm)
        run_slstm(k, B, Tp, states);
      else
        run_mlstm(k, B, Tp, states);
    }
  }

  void run_mlstm(const Block& blk, int B, int Tp, float* const* states) {
    const MBlock& k = blk.m;
    const int64_t Nr = int64_t(B) * Tp, I = I_;
    float *x = x_.f32(), *xn = xn_.f32(), *up = up_.f32(), *xc = xc_.f32(), *qkv = qkv_.f32(), *h = h_.f32();
    mst_.resize(size_t(B)), conv_ptrs_.resize(size_t(B));
    for (int b = 0; b < B; ++b) {
      float* p = states[b] + blk.state_off;
      const int64_t nC = MNH_ * MDH_ * MDH_, nn = MNH_ * MDH_;
      mst_[size_t(b)] = {p, p + nC, p + nC + nn};
      conv_ptrs_[size_t(b)] = p + nC + nn + MNH_;
    }
    be_.layernorm(x, blk.norm_w.get(), nullptr, kNormEps, Nr, D_, xn);
    be_.linear(*k.up_w, k.up_b.get(), xn, D_, Nr, up, 2 * I);  // x_m | z
    const float* xcp = up;
    int64_t ldxc = 2 * I;
    if (MK_ > 0) {
      Backend::Conv1dArgs a;
      a.B = B, a.T = Tp, a.K = int(MK_), a.C = I, a.x = up, a.ldx = 2 * I, a.w = k.conv_w.get(), a.bias = k.conv_b.get();
      a.states = conv_ptrs_.data(), a.silu = true, a.y = xc, a.ldy = I;
      be_.causal_conv1d(a);
      xcp = xc, ldxc = I;
    }
    be_.headwise_linear(*k.q_w, k.q_b.get(), xcp, ldxc, Nr, int(NHP_), int(BS_), int(BS_), qkv, P_);
    be_.headwise_linear(*k.k_w, k.k_b.get(), xcp, ldxc, Nr, int(NHP_), int(BS_), int(BS_), qkv + I, P_);
    be_.headwise_linear(*k.v_w, k.v_b.get(), up, 2 * I, Nr, int(NHP_), int(BS_), int(BS_), qkv + 2 * I, P_);
    be_.linear(*k.if_w, k.if_b.get(), qkv, P_, Nr, qkv + 3 * I, P_);  // i | f from [q | k | v]
    MlstmArgs a;
    a.B = B, a.T = Tp, a.NH = int(MNH_), a.DK = int(MDH_), a.DV = int(MDH_);
    a.q = qkv, a.k = qkv + I, a.v = qkv + 2 * I, a.igate = qkv + 3 * I, a.fgate = qkv + 3 * I + MNH_;
    a.ld = P_, a.gate_cap = 0.f, a.eps = kCellEps, a.chunk = chunk_, a.states = mst_.data(), a.h = h;
    be_.mlstm(a);
    be_.groupnorm(h, k.outnorm_w.get(), nullptr, kNormEps, Nr, int(MNH_), int(MDH_), h);
    be_.skip_silu_gate(h, xcp, ldxc, *k.skip, up + I, 2 * I, Nr, I, h);
    be_.linear(*k.down_w, k.down_b.get(), h, I, Nr, xn, D_);
    be_.add(x, xn, Nr * D_);
  }

  void run_slstm(const Block& blk, int B, int Tp, float* const* states) {
    const SBlock& k = blk.s;
    const int64_t Nr = int64_t(B) * Tp, D = D_;
    float *x = x_.f32(), *xn = xn_.f32(), *up = up_.f32(), *xc = xc_.f32(), *g = qkv_.f32(), *h = h_.f32();
    sst_.resize(size_t(B)), conv_ptrs_.resize(size_t(B));
    for (int b = 0; b < B; ++b) {
      float* p = states[b] + blk.state_off;
      sst_[size_t(b)] = {p, p + D, p + 2 * D, p + 3 * D};
      conv_ptrs_[size_t(b)] = p + 4 * D;
    }
    be_.layernorm(x, blk.norm_w.get(), nullptr, kNormEps, Nr, D, xn);
    const float* xcp = xn;
    if (SK_ > 0) {
      Backend::Conv1dArgs a;
      a.B = B, a.T = Tp, a.K = int(SK_), a.C = D, a.x = xn, a.ldx = D, a.w = k.conv_w.get(), a.bias = k.conv_b.get();
      a.states = conv_ptrs_.data(), a.silu = true, a.y = xc, a.ldy = D;
      be_.causal_conv1d(a);
      xcp = xc;
    }
    const int NH = int(SNH_), DH = int(SDH_);
    be_.headwise_linear(*k.wf, nullptr, xcp, D, Nr, NH, DH, DH, g, 4 * D);          // i slot <- 'fgate'
    be_.headwise_linear(*k.wi, nullptr, xcp, D, Nr, NH, DH, DH, g + D, 4 * D);      // f slot <- 'igate'
    be_.headwise_linear(*k.wz, nullptr, xn, D, Nr, NH, DH, DH, g + 2 * D, 4 * D);
    be_.headwise_linear(*k.wo, nullptr, xn, D, Nr, NH, DH, DH, g + 3 * D, 4 * D);
    Backend::SlstmArgs a;
    a.B = B, a.T = Tp, a.NH = NH, a.DH = DH, a.x = g, a.ld = 4 * D, a.R = k.R.get(), a.bias = k.bias.get();
    a.states = sst_.data(), a.y = h;
    be_.slstm(a);
    be_.groupnorm(h, k.gn_w.get(), nullptr, kNormEps, Nr, NH, DH, h);
    be_.add(x, h, Nr * D);
    if (!k.ffn_norm_w) return;
    be_.layernorm(x, k.ffn_norm_w.get(), nullptr, kNormEps, Nr, D, xn);
    be_.linear(*k.up_w, k.up_b.get(), xn, D, Nr, up, 2 * F_);
    be_.gated_act(up, Nr, F_, act_, h);
    be_.linear(*k.down_w, k.down_b.get(), h, F_, Nr, xn, D);
    be_.add(x, xn, Nr * D);
  }

  // logits [rows, V] = head(post_blocks_norm(xs)); xs [rows, D] is overwritten when normed in place.
  void head(float* xs, int64_t rows, float* logits) {
    if (post_norm_) be_.layernorm(xs, post_norm_.get(), nullptr, kNormEps, rows, D_, xs);
    be_.linear(*head_view_, nullptr, xs, D_, rows, logits, c_.vocab_size);
  }

  void emit_logits(int B, int T, int64_t t0, int64_t Tp, int n_out, float* logits) {
    const int64_t first = std::max<int64_t>(t0, T - n_out), last = t0 + Tp;
    if (first >= last) return;
    const int64_t cnt = last - first, V = c_.vocab_size;
    for (int b = 0; b < B; ++b)
      be_.copy(xn_.f32() + b * cnt * D_, x_.f32() + (b * Tp + (first - t0)) * D_, size_t(cnt * D_) * 4);
    head(xn_.f32(), B * cnt, logits_.f32());
    for (int b = 0; b < B; ++b)
      be_.download(logits + (int64_t(b) * n_out + (first - (T - n_out))) * V, logits_.f32() + b * cnt * V,
                   size_t(cnt * V) * 4);
  }

  void ensure_workspace(int64_t rows, int64_t logit_rows) {
    if (rows > ws_rows_) {
      ws_rows_ = rows;
      auto buf = [&](int64_t cols) { return DeviceBuffer(&be_, size_t(rows * std::max<int64_t>(cols, 1)) * 4); };
      ids_ = DeviceBuffer(&be_, size_t(rows) * 4);
      x_ = buf(D_), xn_ = buf(D_);
      up_ = buf(std::max(2 * I_, 2 * F_));
      xc_ = buf(std::max(I_, has_s_ ? D_ : 0));
      qkv_ = buf(std::max(P_, has_s_ ? 4 * D_ : 0));
      h_ = buf(std::max({I_, F_, has_s_ ? D_ : 0}));
    }
    if (logit_rows > logit_rows_) {
      logit_rows_ = logit_rows;
      logits_ = DeviceBuffer(&be_, size_t(logit_rows * c_.vocab_size) * 4);
    }
  }

  // ---- loading ----------------------------------------------------------------------------------------
  const HostTensor& tensor(const char* f, int64_t i) { return store_->get(blk(f, i)); }
  const HostTensor* find(const char* f, int64_t i) { return store_->find(blk(f, i)); }
  WeightPtr matrix(const HostTensor& t) {
    WeightPtr w = be_.make_weight({t}, wdt_);
    if (w->data != t.data) store_->release(t.name);  // the backend copied: free the source
    return w;
  }
  WeightPtr matrix(const char* f, int64_t i) { return matrix(tensor(f, i)); }
  WeightPtr opt_vec(const char* f, int64_t i) {
    const HostTensor* t = find(f, i);
    return t ? be_.make_vector({*t}) : nullptr;
  }
  WeightPtr vec(const char* f, int64_t i) { return be_.make_vector({tensor(f, i)}); }
  // A float32 vector made from host floats.
  WeightPtr host_vec(const std::string& name, const std::vector<float>& v) {
    return be_.make_vector({HostTensor{name, DType::F32, {int64_t(v.size())}, v.data()}});
  }
  static std::vector<float> to_f32(const HostTensor& t) {
    std::vector<float> v(size_t(t.numel()));
    convert_to_f32(t.dtype, t.data, v.data(), v.size());
    return v;
  }
  // The package's residual-weight LayerNorm scale: 1 + w, computed in float32.
  WeightPtr plus_one(const HostTensor& t) {
    std::vector<float> v = to_f32(t);
    for (float& e : v) e = 1.0f + e;
    return host_vec(t.name, v);
  }
  WeightPtr plus_one(const char* f, int64_t i) { return plus_one(tensor(f, i)); }

  void load_weights() {
    embed_ = matrix(store_->get(N::kEmbedding));
    size_t off = 0;
    for (int64_t i = 0; i < c_.num_blocks; ++i) {
      Block b;
      b.slstm = c_.is_slstm[size_t(i)];
      b.norm_w = plus_one(N::kNormW, i);
      b.state_off = off;
      off += block_state_floats(b.slstm);
      if (!b.slstm) {
        MBlock& k = b.m;
        k.up_w = matrix(N::kProjUpW, i);
        k.up_b = opt_vec(N::kProjUpB, i);
        if (MK_ > 0) k.conv_w = vec(N::kConvW, i), k.conv_b = vec(N::kConvB, i);
        k.q_w = vec(N::kQW, i), k.q_b = opt_vec(N::kQB, i);
        k.k_w = vec(N::kKW, i), k.k_b = opt_vec(N::kKB, i);
        k.v_w = vec(N::kVW, i), k.v_b = opt_vec(N::kVB, i);
        k.if_w = be_.make_weight({tensor(N::kIgateW, i), tensor(N::kFgateW, i)}, wdt_);
        k.if_b = be_.make_vector({tensor(N::kIgateB, i), tensor(N::kFgateB, i)});
        k.outnorm_w = plus_one(N::kOutNormW, i);
        k.skip = vec(N::kSkip, i);
        k.down_w = matrix(N::kProjDownW, i);
        k.down_b = opt_vec(N::kProjDownB, i);
      } else {
        SBlock& k = b.s;
        if (SK_ > 0) k.conv_w = vec(N::kConvW, i), k.conv_b = vec(N::kConvB, i);
        k.wf = vec(N::kSFgateW, i), k.wi = vec(N::kSIgateW, i), k.wz = vec(N::kSZgateW, i), k.wo = vec(N::kSOgateW, i);
        load_cell(k, i);
        if (c_.slstm.group_norm_weight) k.gn_w = plus_one(N::kSGroupNormW, i);
        if (c_.ffn.present) {
          k.ffn_norm_w = plus_one(N::kFfnNormW, i);
          k.up_w = matrix(N::kFfnUpW, i);
          k.up_b = opt_vec(N::kFfnUpB, i);
          k.down_w = matrix(N::kFfnDownW, i);
          k.down_b = opt_vec(N::kFfnDownB, i);
        }
      }
      blocks_.push_back(std::move(b));
    }
    state_floats_ = off;
    if (c_.add_post_blocks_norm) post_norm_ = plus_one(store_->get(N::kPostNorm));
    if (c_.tie_weights) {
      head_view_ = embed_.get();
    } else {
      head_ = matrix(store_->get(N::kLmHead));
      head_view_ = head_.get();
    }
  }

  // The sLSTM cell's recurrent kernel and bias in the op's layout (R [NH, 4, DH out, DH in], bias [4, NH,
  // DH]) from the stored layout of slstm.backend (xlstm-reference.md section 2): "vanilla" stores R as
  // [NH, 4*DH, DH] and the bias as [4, NH, DH], both already so; "cuda" stores R as [NH, DH in, 4*DH]
  // and the bias as [NH, 4, DH].
  void load_cell(SBlock& k, int64_t i) {
    const int64_t NH = SNH_, DH = SDH_;
    std::vector<float> r = to_f32(tensor(N::kSRecurrent, i)), bias = to_f32(tensor(N::kSBias, i));
    if (c_.slstm.backend == "cuda") {
      std::vector<float> rr(r.size()), bb(bias.size());
      for (int64_t h = 0; h < NH; ++h)
        for (int64_t e = 0; e < DH; ++e)          // input unit
          for (int64_t g = 0; g < 4; ++g)
            for (int64_t d = 0; d < DH; ++d)      // output unit
              rr[size_t(((h * 4 + g) * DH + d) * DH + e)] = r[size_t((h * DH + e) * 4 * DH + g * DH + d)];
      for (int64_t h = 0; h < NH; ++h)
        for (int64_t g = 0; g < 4; ++g)
          for (int64_t d = 0; d < DH; ++d) bb[size_t((g * NH + h) * DH + d)] = bias[size_t((h * 4 + g) * DH + d)];
      r.swap(rr), bias.swap(bb);
    }
    k.R = host_vec(blk(N::kSRecurrent, i), r);
    k.bias = host_vec(blk(N::kSBias, i), bias);
  }

  void fill_info(const V1Wiring& w, const std::string& path) {
    ModelInfo& I = info_;
    I.arch = "xlstm_v1";
    I.path = path;
    I.vocab_size = c_.vocab_size, I.hidden = D_, I.num_blocks = c_.num_blocks;
    I.num_heads = has_m_ ? MNH_ : SNH_;
    I.qk_dim = has_m_ ? I_ : D_, I.v_dim = has_m_ ? I_ : D_, I.ffn_dim = F_;
    count_checkpoint(*store_, I);
    I.weight_dtype = wdt_;
    I.weight_bytes = held_bytes({&embed_, &head_, &post_norm_});
    for (const auto& b : blocks_) {
      const MBlock& m = b.m;
      const SBlock& s = b.s;
      I.weight_bytes += held_bytes({&b.norm_w, &m.up_w, &m.up_b, &m.conv_w, &m.conv_b, &m.q_w, &m.q_b, &m.k_w, &m.k_b,
                                    &m.v_w, &m.v_b, &m.if_w, &m.if_b, &m.outnorm_w, &m.skip, &m.down_w, &m.down_b,
                                    &s.conv_w, &s.conv_b, &s.wf, &s.wi, &s.wz, &s.wo, &s.R, &s.bias, &s.gn_w,
                                    &s.ffn_norm_w, &s.up_w, &s.up_b, &s.down_w, &s.down_b});
    }
    I.default_chunk = 64;
    std::string kinds;
    for (char ch : c_.block_kinds()) {
      if (!kinds.empty()) kinds += ' ';
      kinds += ch;
    }
    I.extra.push_back({"block kinds", kinds + "  (m = mLSTM v1, s = sLSTM)"});
    if (has_m_)
      I.extra.push_back({"mLSTM", fmt::format("inner {}, {} heads of {}, conv1d kernel {}, qkv blocks of {}", I_, MNH_,
                                              MDH_, MK_, BS_)});
    if (has_s_)
      I.extra.push_back({"sLSTM", fmt::format("{} heads of {}, conv1d kernel {}, {}", SNH_, SDH_, SK_,
                                              F_ ? fmt::format("ffn {} ({})", F_, c_.ffn.act_fn) : "no ffn")});
    std::string m_part, s_part;
    if (has_m_) m_part = fmt::format(":m{}x{}k{}", MNH_, MDH_, MK_);
    if (has_s_) s_part = fmt::format(":s{}x{}k{}", SNH_, SDH_, SK_);
    I.fingerprint = fmt::format("xlstm_v1:{}:D{}{}{}", c_.block_kinds(), D_, m_part, s_part);
    wiring_text_ = describe_v1_wiring(w, c_);
  }

  XlstmV1Config c_;
  std::unique_ptr<TensorStore> store_;
  Backend& be_;
  ModelInfo info_;
  std::string wiring_text_;
  DType wdt_ = DType::F32;
  int64_t D_ = 0;
  bool has_m_ = false, has_s_ = false;
  int64_t I_ = 0, MNH_ = 0, MDH_ = 0, MK_ = 0, BS_ = 1, NHP_ = 0, P_ = 0;  // mLSTM dims (0 when no mLSTM block)
  int64_t SNH_ = 0, SDH_ = 0, SK_ = 0, F_ = 0;                           // sLSTM dims (0 when no sLSTM block)
  GateAct act_ = GateAct::Gelu;
  int chunk_ = 64;
  int64_t max_step_tokens_ = 1024;
  size_t state_floats_ = 0;
  WeightPtr embed_, head_, post_norm_;
  const Weight* head_view_ = nullptr;
  std::vector<Block> blocks_;
  // Per-block state pointers of the sequences in flight (host arrays; reserved so decode never allocates).
  std::vector<float*> conv_ptrs_;
  std::vector<MlstmState> mst_;
  std::vector<Backend::SlstmState> sst_;
  int64_t ws_rows_ = 0, logit_rows_ = 0;
  DeviceBuffer ids_, x_, xn_, up_, xc_, qkv_, h_, logits_;
};

}  // namespace

std::unique_ptr<Model> make_xlstm_v1(const XlstmV1Config& cfg, std::unique_ptr<TensorStore> store,
                                     const V1Wiring& wiring, Backend& be, const LoadOptions& opt,
                                     const std::string& path) {
  return std::make_unique<XlstmV1>(cfg, std::move(store), wiring, be, opt, path);
}

}  // namespace xlstm
