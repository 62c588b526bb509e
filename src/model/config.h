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

// Which architecture a config.json describes: "xlstm" (7B family) or "xlstm_v1" (original xLSTM LM).
std::string detect_architecture(const nlohmann::json& j, const std::string& origin);
XlstmLargeConfig parse_xlstm_large_config(const nlohmann::json& j, const std::string& origin);
nlohmann::json load_config_json(const std::string& model_dir);  // DIR/config.json, errors name the file

}  // namespace xlstm
