// Why: see wiring.h.
#include "model/wiring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/check.h"
#include "model/tensor_names.h"

namespace xlstm {
namespace {

namespace N = names::large;

using names::blk;


}  // namespace

std::vector<ExpectedTensor> large_tensor_list(const XlstmLargeConfig& c, bool fused, bool bias, bool tied,
                                              bool out_norm, const std::string& embedding) {
  const int64_t D = c.hidden, QK = c.qk_dim(), V = c.v_dim(), NH = c.num_heads, F = c.ffn_dim();
  std::vector<ExpectedTensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape) { t.push_back({std::move(name), std::move(shape)}); };
  add(embedding, {c.vocab_size, D});
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    add(blk(N::kNormMlstmW, i), {D});
    if (bias) add(blk(N::kNormMlstmB, i), {D});
    if (fused) {
      add(blk(N::kQkvoW, i), {2 * QK + 2 * V, D});
      if (bias) add(blk(N::kQkvoB, i), {2 * QK + 2 * V});
      add(blk(N::kIfW, i), {2 * NH, D});
      add(blk(N::kIfB, i), {2 * NH});
    } else {
      add(blk(N::kQW, i), {QK, D});
      if (bias) add(blk(N::kQB, i), {QK});
      add(blk(N::kKW, i), {QK, D});
      if (bias) add(blk(N::kKB, i), {QK});
      add(blk(N::kVW, i), {V, D});
      if (bias) add(blk(N::kVB, i), {V});
      add(blk(N::kOW, i), {V, D});
      if (bias) add(blk(N::kOB, i), {V});
      add(blk(N::kIW, i), {NH, D});
      add(blk(N::kIB, i), {NH});
      add(blk(N::kFW, i), {NH, D});
      add(blk(N::kFB, i), {NH});
    }
    add(blk(N::kMhNormW, i), {V});
    if (bias) add(blk(N::kMhNormB, i), {V});
    add(blk(N::kOutProjW, i), {D, V});
    if (bias) add(blk(N::kOutProjB, i), {D});
    add(blk(N::kNormFfnW, i), {D});
    if (bias) add(blk(N::kNormFfnB, i), {D});
    if (fused) {
      add(blk(N::kGateUpW, i), {2 * F, D});
      if (bias) add(blk(N::kGateUpB, i), {2 * F});
    } else {
      add(blk(N::kGateW, i), {F, D});
      if (bias) add(blk(N::kGateB, i), {F});
      add(blk(N::kUpW, i), {F, D});
      if (bias) add(blk(N::kUpB, i), {F});
    }
    add(blk(N::kDownW, i), {D, F});
    if (bias) add(blk(N::kDownB, i), {D});
  }
  if (out_norm) add(N::kOutNorm, {D});
  if (!tied) add(N::kLmHead, {c.vocab_size, D});
  return t;
}

LargeWiring discover_large_wiring(const TensorStore& store, const XlstmLargeConfig& cfg) {
  LargeWiring w;
  const auto names = store.names();
  w.blocks = count_blocks(names, N::kBlockPrefix);
  w.fused = store.find(blk(N::kQkvoW, 0)) != nullptr;
  w.bias = store.find(blk(N::kNormMlstmB, 0)) != nullptr || store.find(blk(N::kOutProjB, 0)) != nullptr;
  w.tied = store.find(N::kLmHead) == nullptr;
  w.out_norm = store.find(N::kOutNorm) != nullptr;
  w.embedding = store.find(N::kEmbedding) || !store.find(N::kEmbeddingNxai) ? N::kEmbedding : N::kEmbeddingNxai;

  auto& P = w.problems;
  if (w.blocks == 0) P.push_back("no tensors named 'backbone.blocks.N.*': not an xLSTM-7B-family checkpoint");
  if (w.blocks != cfg.num_blocks)
    P.push_back(fmt::format("checkpoint has {} blocks but config says num_hidden_layers = {}", w.blocks, cfg.num_blocks));
  if (w.fused != (cfg.weight_mode == "fused"))
    P.push_back(fmt::format("checkpoint has {} projections but config says weight_mode = \"{}\"",
                            w.fused ? "fused" : "single", cfg.weight_mode));
  if (w.bias != cfg.use_bias)
    P.push_back(fmt::format("checkpoint {} biases but config says use_bias = {}", w.bias ? "has" : "has no",
                            cfg.use_bias));
  if (w.tied != cfg.tie_word_embeddings)
    P.push_back(w.tied ? "missing tensor 'lm_head.weight' (config says tie_word_embeddings = false)"
                       : "tensor 'lm_head.weight' present but config says tie_word_embeddings = true");
  if (!w.out_norm) P.push_back(fmt::format("missing tensor '{}'", N::kOutNorm));

  // Full list implied by the config (structure as the config states it), compared name by name.
  XlstmLargeConfig c = cfg;
  c.num_blocks = std::min(cfg.num_blocks, w.blocks + 1);  // a config claiming 1e8 blocks must not build 1e9 names
  w.tensors = large_tensor_list(c, cfg.weight_mode == "fused", cfg.use_bias, cfg.tie_word_embeddings, true,
                                w.embedding);
  std::set<std::string> expected;
  for (const auto& e : w.tensors) {
    expected.insert(e.name);
    const HostTensor* t = store.find(e.name);
    if (!t) {
      if (!(e.name == N::kLmHead && w.tied) && !(e.name == N::kOutNorm && !w.out_norm))
        P.push_back(fmt::format("missing tensor '{}' (expected shape {})", e.name, shape_str(e.shape)));
    } else if (t->shape != e.shape) {
      P.push_back(fmt::format("tensor '{}' has shape {}, expected {}", e.name, shape_str(t->shape), shape_str(e.shape)));
    }
  }
  for (const auto& n : names)
    if (!expected.count(n) && !(n == N::kLmHead && cfg.tie_word_embeddings))
      P.push_back(fmt::format("unexpected tensor '{}'", n));
  remove_repeats(P);
  return w;
}

int64_t count_blocks(const std::vector<std::string>& names, const std::string& prefix) {
  int64_t max_block = -1;
  for (const auto& n : names) {
    if (n.rfind(prefix, 0) != 0) continue;
    const size_t end = n.find('.', prefix.size());
    const std::string idx = n.substr(prefix.size(), end == std::string::npos ? std::string::npos : end - prefix.size());
    if (!idx.empty() && idx.size() < 7 &&
        std::all_of(idx.begin(), idx.end(), [](unsigned char ch) { return std::isdigit(ch) != 0; }))
      max_block = std::max<int64_t>(max_block, std::stoll(idx));
  }
  return max_block + 1;
}

void remove_repeats(std::vector<std::string>& problems) {
  std::vector<std::string> uniq;
  for (auto& p : problems)
    if (std::find(uniq.begin(), uniq.end(), p) == uniq.end()) uniq.push_back(std::move(p));
  problems = std::move(uniq);
}

void require_no_problems(const std::vector<std::string>& problems, const std::string& origin) {
  if (problems.empty()) return;
  std::string msg = fmt::format("{}: checkpoint does not match its config ({} problem{}): ", origin, problems.size(),
                                problems.size() == 1 ? "" : "s");
  const size_t shown = std::min<size_t>(problems.size(), 20);
  for (size_t i = 0; i < shown; ++i) msg += (i ? "; " : "") + problems[i];
  if (problems.size() > shown) msg += fmt::format("; ... and {} more (xlstm wiring lists them all)", problems.size() - shown);
  XLSTM_FAIL("{}", msg);
}

void require_consistent(const LargeWiring& w, const std::string& origin) { require_no_problems(w.problems, origin); }

std::string describe_large_wiring(const LargeWiring& w, const XlstmLargeConfig& c) {
  const int64_t D = c.hidden, QK = c.qk_dim(), V = c.v_dim(), NH = c.num_heads, F = c.ffn_dim();
  std::string s;
  s += fmt::format("xLSTM (7B family): {} blocks, {} projections, {}biases, {} head, out_norm {}\n", w.blocks,
                   w.fused ? "fused" : "single", w.bias ? "" : "no ", w.tied ? "tied" : "separate",
                   w.out_norm ? "yes" : "no");
  s += fmt::format("embedding  {} [{} x {}]\n", w.embedding, c.vocab_size, D);
  s += fmt::format("block i (x {}):\n", w.blocks);
  s += fmt::format("  x1 = RMSNorm(x; norm_mlstm, eps {})\n", c.norm_eps);
  s += fmt::format("  q,k [{}] v,o [{}] i,f [{}] = x1 . {}\n", QK, V, NH,
                   w.fused ? "[qkv_opreact | ifgate_preact]" : "[q | k | v | ogate_preact | igate_preact | fgate_preact]");
  s += fmt::format("  i,f = {} * tanh(. / {})\n", c.gate_soft_cap, c.gate_soft_cap);
  s += fmt::format("  h = mLSTM(q, k, v, i, f; state C [{}, {}, {}], n [{}, {}], m [{}])\n", NH, QK / NH, V / NH, NH,
                   QK / NH, NH);
  s += fmt::format("  x += out_proj[{} x {}]( sigmoid(o) * MultiHeadLayerNorm(h) )\n", D, V);
  s += fmt::format("  x2 = RMSNorm(x; norm_ffn)\n");
  s += fmt::format("  x += proj_down[{} x {}]( silu(x2 . gate[{}]) * (x2 . up[{}]) )\n", D, F, F, F);
  s += fmt::format("out_norm   RMSNorm(x)\n");
  s += fmt::format("lm_head    {} [{} x {}]{}\n", w.tied ? "embedding (tied)" : "lm_head.weight", c.vocab_size, D,
                   c.output_logit_soft_cap > 0 ? fmt::format(", logits = {} * tanh(. / {})", c.output_logit_soft_cap,
                                                             c.output_logit_soft_cap)
                                               : "");
  if (!w.problems.empty()) {
    s += fmt::format("problems ({}):\n", w.problems.size());
    for (auto& p : w.problems) s += "  - " + p + "\n";
  }
  return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace xlstm
