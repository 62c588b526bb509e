// Why: structure discovery for the original xLSTM family (see wiring.h): which blocks of a checkpoint
// are mLSTM and which sLSTM (from their tensors), whether the head is tied and the post-blocks norm
// present, and every tensor's name and shape checked against what the config implies, all problems at once.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/check.h"
#include "model/tensor_names.h"
#include "model/wiring.h"

namespace xlstm {
namespace {

namespace N = names::v1;

using names::blk;


std::string kind_name(char k) { return k == 's' ? "sLSTM" : k == 'm' ? "mLSTM" : "unknown"; }

// The sLSTM recurrent kernel's stored shape for a backend layout (xlstm-reference.md section 2).
std::vector<int64_t> recurrent_shape(const std::string& backend, int64_t NH, int64_t DH) {
  return backend == "vanilla" ? std::vector<int64_t>{NH, 4 * DH, DH} : std::vector<int64_t>{NH, DH, 4 * DH};
}

}  // namespace

std::vector<ExpectedTensor> v1_tensor_list(const XlstmV1Config& c) {
  const int64_t D = c.embedding_dim;
  std::vector<ExpectedTensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape) { t.push_back({std::move(name), std::move(shape)}); };
  add(N::kEmbedding, {c.vocab_size, D});
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    add(blk(N::kNormW, i), {D});
    if (!c.is_slstm[size_t(i)]) {
      const auto& M = c.mlstm;
      const int64_t I = c.inner_dim(), NH = M.num_heads, bs = M.qkv_proj_blocksize;
      add(blk(N::kProjUpW, i), {2 * I, D});
      if (c.bias) add(blk(N::kProjUpB, i), {2 * I});
      for (auto [w, b] : {std::pair{N::kQW, N::kQB}, {N::kKW, N::kKB}, {N::kVW, N::kVB}}) {
        add(blk(w, i), {I / bs, bs, bs});
        if (c.bias) add(blk(b, i), {I});
      }
      if (M.conv1d_kernel_size > 0) {
        add(blk(N::kConvW, i), {I, 1, M.conv1d_kernel_size});
        add(blk(N::kConvB, i), {I});
      }
      add(blk(N::kSkip, i), {I});
      add(blk(N::kIgateW, i), {NH, 3 * I});
      add(blk(N::kIgateB, i), {NH});
      add(blk(N::kFgateW, i), {NH, 3 * I});
      add(blk(N::kFgateB, i), {NH});
      add(blk(N::kOutNormW, i), {I});
      add(blk(N::kProjDownW, i), {D, I});
      if (c.bias) add(blk(N::kProjDownB, i), {D});
    } else {
      const auto& S = c.slstm;
      const int64_t NH = S.num_heads, DH = c.slstm_head_dim();
      if (S.conv1d_kernel_size > 0) {
        add(blk(N::kConvW, i), {D, 1, S.conv1d_kernel_size});
        add(blk(N::kConvB, i), {D});
      }
      for (const char* g : {N::kSFgateW, N::kSIgateW, N::kSZgateW, N::kSOgateW}) add(blk(g, i), {NH, DH, DH});
      add(blk(N::kSRecurrent, i), recurrent_shape(S.backend, NH, DH));
      add(blk(N::kSBias, i), {4 * D});
      if (S.group_norm_weight) add(blk(N::kSGroupNormW, i), {D});
      if (c.ffn.present) {
        const int64_t F = c.ffn_dim();
        add(blk(N::kFfnNormW, i), {D});
        add(blk(N::kFfnUpW, i), {2 * F, D});
        if (c.ffn.bias) add(blk(N::kFfnUpB, i), {2 * F});
        add(blk(N::kFfnDownW, i), {D, F});
        if (c.ffn.bias) add(blk(N::kFfnDownB, i), {D});
      }
    }
  }
  if (c.add_post_blocks_norm) add(N::kPostNorm, {D});
  if (!c.tie_weights) add(N::kLmHead, {c.vocab_size, D});
  return t;
}

V1Wiring discover_v1_wiring(const TensorStore& store, const XlstmV1Config& cfg) {
  V1Wiring w;
  const auto names = store.names();
  w.blocks = count_blocks(names, N::kBlockPrefix);
  for (int64_t i = 0; i < w.blocks; ++i)
    w.kinds += store.find(blk(N::kSRecurrent, i))                                            ? 's'
               : store.find(blk(N::kIgateW, i)) || store.find(blk(N::kProjUpW, i)) ? 'm'
                                                                                            : '?';
  w.tied = store.find(N::kLmHead) == nullptr;
  w.post_norm = store.find(N::kPostNorm) != nullptr;

  auto& P = w.problems;
  if (w.blocks == 0)
    P.push_back("no tensors named 'xlstm_block_stack.blocks.N.*': not an original-xLSTM (xLSTMLMModel) checkpoint");
  if (w.blocks != cfg.num_blocks)
    P.push_back(fmt::format("checkpoint has {} blocks but config says num_blocks = {}", w.blocks, cfg.num_blocks));
  for (int64_t i = 0; i < std::min<int64_t>(w.blocks, cfg.num_blocks); ++i) {
    const char want = cfg.is_slstm[size_t(i)] ? 's' : 'm', got = w.kinds[size_t(i)];
    if (got != '?' && got != want)
      P.push_back(fmt::format("block {} is an {} block in the checkpoint but the config's slstm_at makes it an {} block",
                              i, kind_name(got), kind_name(want)));
  }
  if (w.tied && !cfg.tie_weights) P.push_back("missing tensor 'lm_head.weight' (config says tie_weights = false)");

  XlstmV1Config c = cfg;  // a config claiming 1e5 blocks must not build 1e5 blocks of names for a 2-block file
  c.num_blocks = std::min(cfg.num_blocks, w.blocks + 1);
  c.is_slstm.resize(size_t(c.num_blocks));
  w.tensors = v1_tensor_list(c);
  std::set<std::string> expected;
  for (const auto& e : w.tensors) {
    expected.insert(e.name);
    const HostTensor* t = store.find(e.name);
    if (!t) {
      if (!(e.name == N::kLmHead && w.tied))
        P.push_back(fmt::format("missing tensor '{}' (expected shape {})", e.name, shape_str(e.shape)));
    } else if (t->shape != e.shape) {
      std::string hint;
      if (e.name.size() > 20 && e.name.find("._recurrent_kernel_") != std::string::npos) {
        const std::string other = cfg.slstm.backend == "cuda" ? "vanilla" : "cuda";
        if (t->shape == recurrent_shape(other, cfg.slstm.num_heads, cfg.slstm_head_dim()))
          hint = fmt::format(" (the \"{}\" layout: slstm_block.slstm.backend says \"{}\")", other, cfg.slstm.backend);
      }
      P.push_back(fmt::format("tensor '{}' has shape {}, expected {}{}", e.name, shape_str(t->shape),
                              shape_str(e.shape), hint));
    }
  }
  for (const auto& n : names)
    if (!expected.count(n) && !(n == N::kLmHead && cfg.tie_weights))  // a tied head may be stored as well
      P.push_back(fmt::format("unexpected tensor '{}'", n));
  remove_repeats(P);
  return w;
}

void require_consistent(const V1Wiring& w, const std::string& origin) { require_no_problems(w.problems, origin); }

std::string describe_v1_wiring(const V1Wiring& w, const XlstmV1Config& c) {
  const int64_t D = c.embedding_dim;
  std::string s, kinds;
  for (size_t i = 0; i < c.is_slstm.size(); ++i) {
    if (i) kinds += ' ';
    kinds += c.is_slstm[i] ? 's' : 'm';
  }
  auto indices = [&](bool slstm) {
    std::string r;
    for (size_t i = 0; i < c.is_slstm.size(); ++i)
      if (c.is_slstm[i] == slstm) {
        if (!r.empty()) r += ' ';
        r += std::to_string(i);
      }
    return r;
  };
  s += fmt::format("xLSTM (original family, xLSTMLMModel): {} blocks [{}] (m = mLSTM, s = sLSTM), {} head, "
                   "post_blocks_norm {}\n", w.blocks, kinds, c.tie_weights ? "tied" : "separate", w.post_norm ? "yes" : "no");
  s += fmt::format("embedding  {} [{} x {}]\n", N::kEmbedding, c.vocab_size, D);
  s += "LayerNorm(x; w) below: (x - mean) / sqrt(var + 1e-5) * (1 + w)\n";
  if (c.num_slstm() < c.num_blocks) {
    const auto& M = c.mlstm;
    const int64_t I = c.inner_dim(), NH = M.num_heads, DH = c.mlstm_head_dim(), K = M.conv1d_kernel_size;
    s += fmt::format("mLSTM block ({}): inner {}, {} heads of {}, qkv blocks of {}, conv1d kernel {}\n",
                     indices(false), I, NH, DH, M.qkv_proj_blocksize, K);
    s += "  x1 = LayerNorm(x; xlstm_norm)\n";
    s += fmt::format("  x_m | z = x1 . proj_up[{} x {}]{}\n", 2 * I, D, c.bias ? " + b" : "");
    s += K > 0 ? fmt::format("  xc = silu(causal_conv1d(x_m; kernel {}, bias))\n", K) : "  xc = x_m (no conv1d)\n";
    s += fmt::format("  q, k = headwise(q_proj, k_proj)(xc), v = headwise(v_proj)(x_m)   ({} blocks [{} x {}])\n",
                     c.qkv_heads(), M.qkv_proj_blocksize, M.qkv_proj_blocksize);
    s += fmt::format("  i, f = [q | k | v] . (igate | fgate)[{} x {}] + b\n", NH, 3 * I);
    s += fmt::format("  h = mLSTM(q, k / sqrt({}), v, i, f; state C [{}, {}, {}], n [{}, {}], m [{}]{})\n", DH, NH, DH,
                     DH, NH, DH, NH, K > 1 ? fmt::format(", conv [{}, {}]", K - 1, I) : "");
    s += fmt::format("  x += proj_down[{} x {}]( (GroupNorm_{}(h; outnorm) + learnable_skip * xc) * silu(z) )\n", D, I,
                     NH);
  }
  if (c.num_slstm() > 0) {
    const auto& S = c.slstm;
    const int64_t NH = S.num_heads, DH = c.slstm_head_dim(), K = S.conv1d_kernel_size;
    s += fmt::format("sLSTM block ({}): {} heads of {}, conv1d kernel {}, stored cell layout \"{}\"\n", indices(true), NH,
                     DH, K, S.backend);
    s += "  x1 = LayerNorm(x; xlstm_norm)\n";
    s += K > 0 ? fmt::format("  xc = silu(causal_conv1d(x1; kernel {}, bias))\n", K) : "  xc = x1 (no conv1d)\n";
    s += "  i~ = headwise(fgate)(xc), f~ = headwise(igate)(xc)   (the package feeds the i slot from 'fgate')\n";
    s += "  z~ = headwise(zgate)(x1), o~ = headwise(ogate)(x1)\n";
    s += fmt::format("  y = sLSTM(i~, f~, z~, o~ + R y_prev + _bias_; R [{} x 4 x {} x {}], state y, c, n, m [{}]{})\n",
                     NH, DH, DH, D, K > 1 ? fmt::format(", conv [{}, {}]", K - 1, D) : "");
    s += fmt::format("  x += GroupNorm_{}(y{})\n", NH, S.group_norm_weight ? "; group_norm" : ", no affine");
    if (c.ffn.present) {
      const int64_t F = c.ffn_dim();
      s += fmt::format("  x += proj_down[{} x {}]( {}(x2 . gate[{}]) * (x2 . up[{}]) ){}   x2 = LayerNorm(x; ffn_norm)\n",
                       D, F, c.ffn.act_fn, F, F, c.ffn.bias ? " (+ biases)" : "");
    }
  }
  if (c.add_post_blocks_norm) s += "post_blocks_norm  LayerNorm(x)\n";
  s += fmt::format("lm_head    {} [{} x {}]\n", c.tie_weights ? "embedding (tied)" : "lm_head.weight", c.vocab_size, D);
  if (!w.problems.empty()) {
    s += fmt::format("problems ({}):\n", w.problems.size());
    for (auto& p : w.problems) s += "  - " + p + "\n";
  }
  return s;
}

}  // namespace xlstm
