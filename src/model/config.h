// Why: the configuration of the xLSTM-7B family ("xLSTM Large", HF model_type "xlstm"), parsed from a
// Hugging Face config.json with every field of xlstm-reference.md section 1, aliases resolved and
// derived dimensions computed. Errors name the offending field.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace xlstm {

struct XlstmLargeConfig {
  int64_t vocab_size = 0;
  int64_t hidden = 0;      // hidden_size / embedding_dim (D)
  int64_t num_blocks = 0;  // num_hidden_layers / num_blocks
  int64_t num_heads = 0;   // NH
  double qk_dim_factor = 0.5, v_dim_factor = 1.0;
  double ffn_proj_factor = 2.667;
  int64_t ffn_round_up_to_multiple_of = 64;
  float gate_soft_cap = 15.f;          // <= 0: none (config null)
  float output_logit_soft_cap = 30.f;  // <= 0: none (config null)
  float norm_eps = 1e-6f, eps = 1e-6f;
  bool use_bias = false, tie_word_embeddings = false, add_out_norm = true, norm_reduction_force_float32 = true;
  std::string weight_mode = "single";  // "single" | "fused"
  int64_t chunk_size = 64;
  int64_t max_inference_chunksize = 16384;
  std::string inference_state_dtype = "float32", autocast_kernel_dtype = "bfloat16", torch_dtype;
  int32_t bos_token_id = -1, eos_token_id = -1, pad_token_id = -1;  // -1: none
  std::vector<int32_t> eos_token_ids;  // all eos ids (config may give a list)
  bool force_bos_token_insert = false;

  // Derived (xlstm-reference.md): qk_dim = int(D*qk_dim_factor), v_dim = int(D*v_dim_factor),
  // ffn_dim = round_up(D*ffn_proj_factor, multiple).
  int64_t qk_dim() const;
  int64_t v_dim() const;
  int64_t qk_head_dim() const { return qk_dim() / num_heads; }
  int64_t v_head_dim() const { return v_dim() / num_heads; }
  int64_t ffn_dim() const;
};

// The original xLSTM family (NX-AI `xlstm` package, xLSTMLMModel; xlstm-reference.md section 2), parsed
// from the package's config.json (its YAML fields as written: vocab_size, embedding_dim, num_blocks,
// slstm_at, mlstm_block.mlstm.*, slstm_block.slstm.*, slstm_block.feedforward.*). Fields the package
// defaults are defaulted alike; the structural ones (vocab_size, embedding_dim, num_blocks) are required.
// Errors name the field with its full path (e.g. 'mlstm_block.mlstm.num_heads').
struct XlstmV1Config {
  int64_t vocab_size = 0;
  int64_t embedding_dim = 0;  // D
  int64_t num_blocks = 0;
  int64_t context_length = -1;  // informational: the recurrent forms have no length limit
  bool tie_weights = false, add_post_blocks_norm = true, bias = false;
  std::vector<bool> is_slstm;  // per block, from slstm_at ("all" or a list of indices)

  struct Mlstm {  // mlstm_block.mlstm
    bool present = false;
    int64_t conv1d_kernel_size = 4, qkv_proj_blocksize = 4, num_heads = 4;
    double proj_factor = 2.0;
    bool round_proj_up_dim_up = true;
    int64_t round_proj_up_to_multiple_of = 64;
  } mlstm;
  struct Slstm {  // slstm_block.slstm
    bool present = false;
    std::string backend = "cuda";  // "cuda" | "vanilla": the stored layout of _recurrent_kernel_ and _bias_
    int64_t num_heads = 4, conv1d_kernel_size = 4;
    bool group_norm_weight = true;
  } slstm;
  struct Ffn {  // slstm_block.feedforward (null: sLSTM blocks without FFN)
    bool present = false;
    double proj_factor = 1.3;
    std::string act_fn = "gelu";  // gelu | relu | relu^2 | sigmoid | swish | selu
    bool bias = false;
    bool round_proj_up_dim_up = true;
    int64_t round_proj_up_to_multiple_of = 64;
  } ffn;

  // Derived as the package does (UpProjConfigMixin): round_up(factor * D, multiple) (or down).
  int64_t inner_dim() const;        // mLSTM: proj_up gives 2 * inner
  int64_t mlstm_head_dim() const { return inner_dim() / mlstm.num_heads; }
  int64_t qkv_heads() const { return inner_dim() / mlstm.qkv_proj_blocksize; }
  int64_t slstm_head_dim() const { return embedding_dim / slstm.num_heads; }
  int64_t ffn_dim() const;          // sLSTM block FFN: proj_up gives 2 * ffn_dim (gate | up)
  int64_t num_slstm() const;
  std::string block_kinds() const;  // one letter per block: 'm' mLSTM, 's' sLSTM
};

// Which architecture a config.json describes: "xlstm" (7B family) or "xlstm_v1" (original xLSTM LM).
std::string detect_architecture(const nlohmann::json& j, const std::string& origin);
XlstmLargeConfig parse_xlstm_large_config(const nlohmann::json& j, const std::string& origin);
XlstmV1Config parse_xlstm_v1_config(const nlohmann::json& j, const std::string& origin);
nlohmann::json load_config_json(const std::string& model_dir);  // DIR/config.json, errors name the file

}  // namespace xlstm
