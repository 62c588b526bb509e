// Why: a config.json that is missing a field, spells it twice with different values, has the wrong JSON
// type or describes impossible dimensions must be rejected with the field's name, never half-parsed; and a
// checkpoint whose tensors disagree with its config must have every disagreement reported by name, all at
// once (structure discovery, wiring.h), so one run tells the user everything that is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>

#include "backend/backend.h"
#include "common/check.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "model/tensor_names.h"
#include "model/wiring.h"
#include "test_support.h"

namespace xlstm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

using test::error_of;

// A complete, valid config of a tiny model (the fields transformers writes).
json base_config() {
  return {{"model_type", "xlstm"},
          {"vocab_size", 11},
          {"hidden_size", 12},
          {"embedding_dim", 12},
          {"num_hidden_layers", 2},
          {"num_blocks", 2},
          {"num_heads", 2},
          {"qk_dim_factor", 0.5},
          {"v_dim_factor", 1.0},
          {"ffn_proj_factor", 2.667},
          {"ffn_round_up_to_multiple_of", 64},
          {"gate_soft_cap", 15.0},
          {"output_logit_soft_cap", 30.0},
          {"use_bias", false},
          {"tie_word_embeddings", false},
          {"weight_mode", "single"},
          {"norm_eps", 1e-6},
          {"chunk_size", 64},
          {"bos_token_id", 0},
          {"eos_token_id", 2},
          {"pad_token_id", 1}};
}

std::string parse_error(const json& j) {
  return error_of([&] { parse_xlstm_large_config(j, "cfg.json"); });
}
json without(json j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) j.erase(k);
  return j;
}
json with(json j, const char* key, const json& v) {
  j[key] = v;
  return j;
}

TEST(Config, ParsesEveryFieldAndDerivedDims) {
  json j = base_config();
  j["eos_token_id"] = {2, 5};
  j["force_bos_token_insert"] = true;
  j["torch_dtype"] = "bfloat16";
  const XlstmLargeConfig c = parse_xlstm_large_config(j, "cfg.json");
  EXPECT_EQ(c.vocab_size, 11);
  EXPECT_EQ(c.hidden, 12);
  EXPECT_EQ(c.num_blocks, 2);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.qk_dim(), 6);
  EXPECT_EQ(c.v_dim(), 12);
  EXPECT_EQ(c.qk_head_dim(), 3);
  EXPECT_EQ(c.v_head_dim(), 6);
  EXPECT_EQ(c.ffn_dim(), 64);  // round_up(12 * 2.667, 64)
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{2, 5}));
  EXPECT_TRUE(c.force_bos_token_insert);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.gate_soft_cap, 15.f);
  EXPECT_EQ(c.output_logit_soft_cap, 30.f);
  EXPECT_EQ(detect_architecture(j, "cfg.json"), "xlstm");
}

TEST(Config, EitherAliasAloneIsEnough) {
  const XlstmLargeConfig a = parse_xlstm_large_config(without(base_config(), {"hidden_size", "num_blocks"}), "c");
  EXPECT_EQ(a.hidden, 12);
  EXPECT_EQ(a.num_blocks, 2);
  const XlstmLargeConfig b = parse_xlstm_large_config(without(base_config(), {"embedding_dim", "num_hidden_layers"}), "c");
  EXPECT_EQ(b.hidden, 12);
  EXPECT_EQ(b.num_blocks, 2);
  // null counts as absent
  const XlstmLargeConfig n = parse_xlstm_large_config(with(base_config(), "embedding_dim", nullptr), "c");
  EXPECT_EQ(n.hidden, 12);
}

TEST(Config, MissingRequiredFieldsAreNamed) {
  EXPECT_THAT(parse_error(without(base_config(), {"vocab_size"})),
              AllOf(HasSubstr("cfg.json"), HasSubstr("missing field 'vocab_size'")));
  EXPECT_THAT(parse_error(with(base_config(), "vocab_size", nullptr)), HasSubstr("missing field 'vocab_size'"));
  EXPECT_THAT(parse_error(without(base_config(), {"hidden_size", "embedding_dim"})),
              HasSubstr("missing field 'hidden_size' (or 'embedding_dim')"));
  EXPECT_THAT(parse_error(without(base_config(), {"num_hidden_layers", "num_blocks"})),
              HasSubstr("missing field 'num_hidden_layers' (or 'num_blocks')"));
  EXPECT_THAT(parse_error(without(base_config(), {"num_heads"})), HasSubstr("missing field 'num_heads'"));
  EXPECT_THAT(parse_error(json::object()), HasSubstr("missing field 'vocab_size'"));
  EXPECT_THAT(parse_error(json::array()), HasSubstr("missing field 'vocab_size'"));
}

TEST(Config, AliasDisagreement) {
  EXPECT_THAT(parse_error(with(base_config(), "embedding_dim", 16)),
              HasSubstr("inconsistent fields 'hidden_size' = 12 and 'embedding_dim' = 16"));
  EXPECT_THAT(parse_error(with(base_config(), "num_blocks", 3)),
              HasSubstr("inconsistent fields 'num_hidden_layers' = 2 and 'num_blocks' = 3"));
}

TEST(Config, ModelType) {
  EXPECT_THAT(error_of([] { detect_architecture(with(base_config(), "model_type", "mamba"), "cfg.json"); }),
              AllOf(HasSubstr("cfg.json"), HasSubstr("unsupported model_type 'mamba'")));
  EXPECT_THAT(error_of([] { detect_architecture(with(base_config(), "model_type", "xLSTM"), "cfg.json"); }),
              HasSubstr("unsupported model_type 'xLSTM'"));
  EXPECT_THAT(error_of([] { detect_architecture(with(base_config(), "model_type", 7), "cfg.json"); }),
              HasSubstr("field 'model_type' must be a string"));
  EXPECT_THAT(error_of([] { detect_architecture(without(base_config(), {"model_type"}), "cfg.json"); }),
              HasSubstr("missing field 'model_type'"));
  EXPECT_EQ(detect_architecture(json{{"mlstm_block", json::object()}, {"num_blocks", 2}}, "c"), "xlstm_v1");
}

TEST(Config, WrongJsonTypesNameTheField) {
  EXPECT_THAT(parse_error(with(base_config(), "vocab_size", "11")), HasSubstr("field 'vocab_size' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "num_heads", 2.5)), HasSubstr("field 'num_heads' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "num_heads", true)), HasSubstr("field 'num_heads' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "hidden_size", json::array({12}))),
              HasSubstr("field 'hidden_size' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "num_blocks", json::object())),
              HasSubstr("field 'num_blocks' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "qk_dim_factor", "0.5")), HasSubstr("field 'qk_dim_factor' must be a number"));
  EXPECT_THAT(parse_error(with(base_config(), "gate_soft_cap", "15")), HasSubstr("field 'gate_soft_cap' must be a number"));
  EXPECT_THAT(parse_error(with(base_config(), "use_bias", "false")), HasSubstr("field 'use_bias' must be true or false"));
  EXPECT_THAT(parse_error(with(base_config(), "tie_word_embeddings", 0)),
              HasSubstr("field 'tie_word_embeddings' must be true or false"));
  EXPECT_THAT(parse_error(with(base_config(), "weight_mode", 1)), HasSubstr("field 'weight_mode' must be a string"));
  EXPECT_THAT(parse_error(with(base_config(), "eos_token_id", "2")), HasSubstr("field 'eos_token_id' must be an integer"));
  EXPECT_THAT(parse_error(with(base_config(), "eos_token_id", json::array({2, "x"}))),
              HasSubstr("field 'eos_token_id' must hold integers"));
  EXPECT_THAT(parse_error(with(base_config(), "eos_token_id", json::array())), HasSubstr("field 'eos_token_id' is an empty list"));
  // Ids beyond int32 must not wrap around to a valid id.
  EXPECT_THAT(parse_error(with(base_config(), "eos_token_id", 4294967298ll)),
              HasSubstr("field 'eos_token_id' = 4294967298 is not a token id"));
  EXPECT_THAT(parse_error(with(base_config(), "bos_token_id", json::array({0, 18446744073709551615ull}))),
              HasSubstr("field 'bos_token_id' holds 18446744073709551615, not a token id"));
  EXPECT_THAT(parse_error(with(base_config(), "force_bos_token_insert", 1)),
              HasSubstr("field 'force_bos_token_insert' must be true or false"));
  // Integral floats are integers (some exporters write 2048.0); out-of-range ones are not.
  EXPECT_EQ(parse_xlstm_large_config(with(base_config(), "vocab_size", 11.0), "c").vocab_size, 11);
  EXPECT_THAT(parse_error(with(base_config(), "vocab_size", 1e30)), HasSubstr("field 'vocab_size'"));
  EXPECT_THAT(parse_error(with(base_config(), "num_heads", -1e300)), HasSubstr("field 'num_heads'"));
}

TEST(Config, NullSoftCapsMeanNoCapAbsentMeansDefault) {
  json j = base_config();
  j["gate_soft_cap"] = nullptr;
  j["output_logit_soft_cap"] = nullptr;
  XlstmLargeConfig c = parse_xlstm_large_config(j, "c");
  EXPECT_LE(c.gate_soft_cap, 0.f);
  EXPECT_LE(c.output_logit_soft_cap, 0.f);
  c = parse_xlstm_large_config(without(base_config(), {"gate_soft_cap", "output_logit_soft_cap"}), "c");
  EXPECT_EQ(c.gate_soft_cap, 15.f);
  EXPECT_EQ(c.output_logit_soft_cap, 30.f);
  c = parse_xlstm_large_config(with(base_config(), "output_logit_soft_cap", 50), "c");
  EXPECT_EQ(c.output_logit_soft_cap, 50.f);
  // Optional fields given as null take their defaults.
  c = parse_xlstm_large_config(with(with(base_config(), "use_bias", nullptr), "weight_mode", nullptr), "c");
  EXPECT_FALSE(c.use_bias);
  EXPECT_EQ(c.weight_mode, "single");
  c = parse_xlstm_large_config(with(base_config(), "eos_token_id", nullptr), "c");
  EXPECT_EQ(c.eos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
}

TEST(Config, DimsMustDivideByHeads) {
  EXPECT_THAT(parse_error(with(base_config(), "num_heads", 4)),  // qk_dim 6
              AllOf(HasSubstr("qk_dim"), HasSubstr("= 6 is not divisible by num_heads = 4")));
  EXPECT_THAT(parse_error(with(with(base_config(), "num_heads", 3), "v_dim_factor", 0.5)),  // qk 6, v 6 ok
              HasSubstr("(no error thrown)"));
  EXPECT_THAT(parse_error(with(with(base_config(), "num_heads", 3), "v_dim_factor", 0.75)),  // v 9 ok, qk 6 ok
              HasSubstr("(no error thrown)"));
  EXPECT_THAT(parse_error(with(with(base_config(), "num_heads", 3), "v_dim_factor", 1.25)),  // v 15 ok
              HasSubstr("(no error thrown)"));
  EXPECT_THAT(parse_error(with(with(base_config(), "num_heads", 2), "v_dim_factor", 1.25)),  // v 15 % 2
              AllOf(HasSubstr("v_dim"), HasSubstr("= 15 is not divisible by num_heads = 2")));
  EXPECT_THAT(parse_error(with(base_config(), "qk_dim_factor", 0.01)),  // qk_dim 0
              HasSubstr("qk_dim"));
  EXPECT_THAT(parse_error(with(base_config(), "num_heads", 0)), HasSubstr("field 'num_heads' must be positive, got 0"));
}

TEST(Config, NonPositiveOrOutOfRangeValues) {
  EXPECT_THAT(parse_error(with(base_config(), "vocab_size", 0)), HasSubstr("field 'vocab_size' must be positive"));
  EXPECT_THAT(parse_error(with(with(base_config(), "hidden_size", -12), "embedding_dim", -12)),
              HasSubstr("field 'hidden_size' must be positive"));
  EXPECT_THAT(parse_error(with(with(base_config(), "num_blocks", 0), "num_hidden_layers", 0)),
              HasSubstr("field 'num_hidden_layers' must be positive"));
  EXPECT_THAT(parse_error(with(base_config(), "chunk_size", 0)), HasSubstr("field 'chunk_size' must be positive"));
  EXPECT_THAT(parse_error(with(base_config(), "ffn_proj_factor", -1)), HasSubstr("ffn_proj_factor"));
  EXPECT_THAT(parse_error(with(base_config(), "qk_dim_factor", 1e300)), HasSubstr("qk_dim_factor"));
  EXPECT_THAT(parse_error(with(base_config(), "ffn_proj_factor", 1e300)), HasSubstr("too large"));
  EXPECT_THAT(parse_error(with(base_config(), "ffn_round_up_to_multiple_of", 0)),
              HasSubstr("field 'ffn_round_up_to_multiple_of' must be positive"));
  EXPECT_THAT(parse_error(with(base_config(), "norm_eps", 0)), HasSubstr("'norm_eps'"));
  EXPECT_THAT(parse_error(with(base_config(), "inference_state_dtype", "int8")),
              HasSubstr("field 'inference_state_dtype' has unknown value \"int8\""));
  EXPECT_THAT(parse_error(with(base_config(), "eos_token_id", 11)),
              HasSubstr("special token id 11 is outside the vocabulary (11)"));
}

TEST(Config, BadWeightMode) {
  EXPECT_THAT(parse_error(with(base_config(), "weight_mode", "mixed")),
              HasSubstr("field 'weight_mode' must be \"single\" or \"fused\", got \"mixed\""));
  EXPECT_THAT(parse_error(with(base_config(), "weight_mode", "")), HasSubstr("field 'weight_mode'"));
  EXPECT_EQ(parse_xlstm_large_config(with(base_config(), "weight_mode", "fused"), "c").weight_mode, "fused");
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir(); }
  void TearDown() override { test::remove_tree(dir_); }
  std::string load_error() {
    return error_of([&] { load_config_json(dir_); });
  }
  std::string dir_;
};

TEST_F(ConfigFile, InvalidJsonFile) {
  test::write_file(dir_ + "/config.json", "{\"vocab_size\": 11,");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("invalid JSON")));
  test::write_file(dir_ + "/config.json", "");
  EXPECT_THAT(load_error(), HasSubstr("invalid JSON"));
  test::write_file(dir_ + "/config.json", "[1, 2]");
  EXPECT_THAT(load_error(), HasSubstr("not a JSON object"));
  test::write_file(dir_ + "/config.json", base_config().dump());
  EXPECT_EQ(load_config_json(dir_)["vocab_size"], 11);
}

TEST_F(ConfigFile, NoConfigJson) {
  EXPECT_THAT(load_error(), AllOf(HasSubstr("no config.json in"), HasSubstr(dir_)));
  EXPECT_THAT(error_of([&] { load_config_json(dir_ + "/does-not-exist"); }),
              AllOf(HasSubstr("does-not-exist"), HasSubstr("does not exist")));
  ::mkdir((dir_ + "/config.json").c_str(), 0755);  // a directory named config.json
  EXPECT_THAT(load_error(), HasSubstr("config.json"));
}

// ---- wiring: config vs checkpoint ---------------------------------------------------------------------

struct Ckpt {
  bool fused = false, bias = false, tied = false, out_norm = true;
  int64_t blocks = 2;
};

// An in-memory checkpoint (zeros) with the structure of `k` for the dims of base_config().
std::vector<ExpectedTensor> ckpt_list(const Ckpt& k) {
  XlstmLargeConfig c = parse_xlstm_large_config(base_config(), "c");
  c.num_blocks = k.blocks;
  return large_tensor_list(c, k.fused, k.bias, k.tied, k.out_norm, names::large::kEmbedding);
}
TensorStore store_of(const std::vector<ExpectedTensor>& list) {
  TensorStore st;
  for (const auto& e : list) {
    int64_t n = 1;
    for (auto d : e.shape) n *= d;
    st.add_owned(e.name, DType::F32, e.shape, std::vector<uint8_t>(size_t(n) * 4));
  }
  return st;
}
XlstmLargeConfig cfg_of(json j) { return parse_xlstm_large_config(j, "c"); }
std::string all_problems(const LargeWiring& w) {
  std::string s;
  for (const auto& p : w.problems) s += p + "\n";
  return s;
}
void erase_named(std::vector<ExpectedTensor>& l, const std::string& name) {
  auto it = std::find_if(l.begin(), l.end(), [&](const ExpectedTensor& e) { return e.name == name; });
  ASSERT_NE(it, l.end()) << name;
  l.erase(it);
}

TEST(Wiring, ConsistentCheckpointsHaveNoProblems) {
  for (int m = 0; m < 8; ++m) {
    Ckpt k;
    k.fused = m & 1, k.bias = m & 2, k.tied = m & 4;
    json j = base_config();
    j["weight_mode"] = k.fused ? "fused" : "single";
    j["use_bias"] = k.bias;
    j["tie_word_embeddings"] = k.tied;
    TensorStore st = store_of(ckpt_list(k));
    LargeWiring w = discover_large_wiring(st, cfg_of(j));
    EXPECT_TRUE(w.problems.empty()) << m << ":\n" << all_problems(w);
    EXPECT_EQ(w.blocks, 2);
    EXPECT_EQ(w.fused, k.fused);
    EXPECT_EQ(w.bias, k.bias);
    EXPECT_EQ(w.tied, k.tied);
    EXPECT_TRUE(w.out_norm);
    EXPECT_EQ(w.tensors.size(), st.size());
    EXPECT_EQ(error_of([&] { require_consistent(w, "dir"); }), "(no error thrown)");
  }
}

TEST(Wiring, WrongShapeIsNamedWithBothShapes) {
  auto l = ckpt_list({});
  for (auto& e : l)
    if (e.name == "backbone.blocks.1.mlstm_layer.q.weight") e.shape = {5, 12};
  LargeWiring w = discover_large_wiring(store_of(l), cfg_of(base_config()));
  EXPECT_THAT(all_problems(w),
              HasSubstr("tensor 'backbone.blocks.1.mlstm_layer.q.weight' has shape [5, 12], expected [6, 12]"));
  EXPECT_EQ(w.problems.size(), 1u) << all_problems(w);
  l = ckpt_list({});
  for (auto& e : l)
    if (e.name == names::large::kEmbedding) e.shape = {12, 11};  // transposed
  EXPECT_THAT(all_problems(discover_large_wiring(store_of(l), cfg_of(base_config()))),
              HasSubstr("tensor 'backbone.embeddings.weight' has shape [12, 11], expected [11, 12]"));
  l = ckpt_list({});
  for (auto& e : l)
    if (e.name == "backbone.blocks.0.norm_ffn.weight") e.shape = {12, 1};  // extra dim
  EXPECT_THAT(all_problems(discover_large_wiring(store_of(l), cfg_of(base_config()))),
              HasSubstr("tensor 'backbone.blocks.0.norm_ffn.weight' has shape [12, 1], expected [12]"));
}

TEST(Wiring, MissingAndUnexpectedTensors) {
  auto l = ckpt_list({});
  erase_named(l, "backbone.blocks.0.mlstm_layer.k.weight");
  erase_named(l, "backbone.blocks.1.ffn.proj_down.weight");
  l.push_back({"backbone.blocks.0.mlstm_layer.extra.weight", {3}});
  l.push_back({"something.else", {1}});
  const std::string p = all_problems(discover_large_wiring(store_of(l), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.0.mlstm_layer.k.weight' (expected shape [6, 12])"));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.1.ffn.proj_down.weight' (expected shape [12, 64])"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'backbone.blocks.0.mlstm_layer.extra.weight'"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'something.else'"));
  l = ckpt_list({});
  erase_named(l, names::large::kOutNorm);
  EXPECT_THAT(all_problems(discover_large_wiring(store_of(l), cfg_of(base_config()))),
              HasSubstr("missing tensor 'backbone.out_norm.weight'"));
  l = ckpt_list({});
  erase_named(l, names::large::kEmbedding);
  EXPECT_THAT(all_problems(discover_large_wiring(store_of(l), cfg_of(base_config()))),
              HasSubstr("missing tensor 'backbone.embeddings.weight' (expected shape [11, 12])"));
}

TEST(Wiring, UseBiasDisagreement) {
  Ckpt k;
  k.bias = true;
  std::string p = all_problems(discover_large_wiring(store_of(ckpt_list(k)), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("checkpoint has biases but config says use_bias = false"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'backbone.blocks.0.mlstm_layer.q.bias'"));
  p = all_problems(discover_large_wiring(store_of(ckpt_list({})), cfg_of(with(base_config(), "use_bias", true))));
  EXPECT_THAT(p, HasSubstr("checkpoint has no biases but config says use_bias = true"));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.1.mlstm_layer.out_proj.bias' (expected shape [12])"));
}

TEST(Wiring, WeightModeDisagreement) {
  Ckpt k;
  k.fused = true;
  std::string p = all_problems(discover_large_wiring(store_of(ckpt_list(k)), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("checkpoint has fused projections but config says weight_mode = \"single\""));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.0.mlstm_layer.q.weight'"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'backbone.blocks.0.mlstm_layer.qkv_opreact.weight'"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'backbone.blocks.1.ffn.proj_up_gate_z.weight'"));
  p = all_problems(discover_large_wiring(store_of(ckpt_list({})), cfg_of(with(base_config(), "weight_mode", "fused"))));
  EXPECT_THAT(p, HasSubstr("checkpoint has single projections but config says weight_mode = \"fused\""));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.1.mlstm_layer.ifgate_preact.weight' (expected shape [4, 12])"));
}

TEST(Wiring, TieWordEmbeddingsDisagreement) {
  Ckpt k;
  k.tied = true;  // no lm_head in the checkpoint
  EXPECT_THAT(all_problems(discover_large_wiring(store_of(ckpt_list(k)), cfg_of(base_config()))),
              HasSubstr("missing tensor 'lm_head.weight' (config says tie_word_embeddings = false)"));
  const std::string p = all_problems(
      discover_large_wiring(store_of(ckpt_list({})), cfg_of(with(base_config(), "tie_word_embeddings", true))));
  EXPECT_THAT(p, HasSubstr("tensor 'lm_head.weight' present but config says tie_word_embeddings = true"));
}

TEST(Wiring, BlockCountDisagreement) {
  Ckpt k;
  k.blocks = 3;
  std::string p = all_problems(discover_large_wiring(store_of(ckpt_list(k)), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("checkpoint has 3 blocks but config says num_hidden_layers = 2"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'backbone.blocks.2.norm_mlstm.weight'"));
  k.blocks = 1;
  p = all_problems(discover_large_wiring(store_of(ckpt_list(k)), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("checkpoint has 1 blocks but config says num_hidden_layers = 2"));
  EXPECT_THAT(p, HasSubstr("missing tensor 'backbone.blocks.1.norm_mlstm.weight'"));
  // Not the 7B family at all.
  p = all_problems(discover_large_wiring(store_of(std::vector<ExpectedTensor>{ExpectedTensor{"weight", {3}}}), cfg_of(base_config())));
  EXPECT_THAT(p, HasSubstr("no tensors named 'backbone.blocks.N.*'"));
  EXPECT_THAT(p, HasSubstr("unexpected tensor 'weight'"));
}

TEST(Wiring, SeveralProblemsAreReportedAtOnce) {
  Ckpt k;
  k.bias = true, k.blocks = 3;
  auto l = ckpt_list(k);
  for (auto& e : l)
    if (e.name == "backbone.blocks.0.mlstm_layer.v.weight") e.shape = {12, 13};
  erase_named(l, "lm_head.weight");
  json j = with(base_config(), "weight_mode", "single");
  const LargeWiring w = discover_large_wiring(store_of(l), cfg_of(j));
  const std::string msg = error_of([&] { require_consistent(w, "/some/model"); });
  EXPECT_THAT(msg, HasSubstr("/some/model: checkpoint does not match its config ("));
  EXPECT_THAT(msg, HasSubstr("3 blocks but config says num_hidden_layers = 2"));
  EXPECT_THAT(msg, HasSubstr("has biases but config says use_bias = false"));
  EXPECT_THAT(msg, HasSubstr("missing tensor 'lm_head.weight'"));
  EXPECT_THAT(msg, HasSubstr("tensor 'backbone.blocks.0.mlstm_layer.v.weight' has shape [12, 13], expected [12, 12]"));
  // Long lists are cut, with a count of the rest.
  EXPECT_GT(w.problems.size(), 20u);
  EXPECT_THAT(msg, HasSubstr(std::to_string(w.problems.size()) + " problems"));
  EXPECT_THAT(msg, HasSubstr("... and " + std::to_string(w.problems.size() - 20) + " more"));
  // The wiring description lists the problems too.
  EXPECT_THAT(describe_large_wiring(w, cfg_of(j)), HasSubstr("problems ("));
}

TEST(Wiring, LoadingAMismatchedCheckpointNamesTheProblems) {
  const std::string dir = test::make_temp_dir();
  test::TinySpec s;
  s.vocab = 11, s.hidden = 12, s.heads = 2, s.blocks = 2;
  json cfg = test::write_tiny_model(dir, s);
  cfg["num_hidden_layers"] = 3, cfg["num_blocks"] = 3, cfg["tie_word_embeddings"] = true;
  test::write_file(dir + "/config.json", cfg.dump());
  auto be = make_backend("cpu", 1);
  const std::string msg = error_of([&] { load_model(dir, *be); });
  EXPECT_THAT(msg, HasSubstr(dir));
  EXPECT_THAT(msg, HasSubstr("checkpoint has 2 blocks but config says num_hidden_layers = 3"));
  EXPECT_THAT(msg, HasSubstr("tensor 'lm_head.weight' present but config says tie_word_embeddings = true"));
  EXPECT_THAT(msg, HasSubstr("missing tensor 'backbone.blocks.2.norm_mlstm.weight'"));
  EXPECT_THAT(msg, HasSubstr("missing tensor 'backbone.blocks.2.ffn.proj_down.weight'"));
  test::remove_tree(dir);
}

}  // namespace
}  // namespace xlstm
