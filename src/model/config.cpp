// Why: see config.h. Defaults follow transformers' xLSTMConfig for fields a file may omit; the
// structural fields (vocab_size, hidden size, block count, heads) are required.
#include "model/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "io/mapped_file.h"

namespace xlstm {
namespace {

using json = nlohmann::json;

int64_t get_int(const json& j, const char* key, const std::string& origin) {
  const json& v = j.at(key);
  XLSTM_CHECK(v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                                        std::fabs(v.get<double>()) < 0x1p53),  // exact, and no UB in the cast
              "{}: field '{}' must be an integer", origin, key);
  return v.is_number_integer() ? v.get<int64_t>() : int64_t(v.get<double>());
}
double get_num(const json& j, const char* key, const std::string& origin) {
  XLSTM_CHECK(j.at(key).is_number(), "{}: field '{}' must be a number", origin, key);
  return j.at(key).get<double>();
}
bool get_bool(const json& j, const char* key, const std::string& origin) {
  XLSTM_CHECK(j.at(key).is_boolean(), "{}: field '{}' must be true or false", origin, key);
  return j.at(key).get<bool>();
}
std::string get_str(const json& j, const char* key, const std::string& origin) {
  XLSTM_CHECK(j.at(key).is_string(), "{}: field '{}' must be a string", origin, key);
  return j.at(key).get<std::string>();
}
bool has(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

// Reads one of two alias fields; both present must agree; one is required.
int64_t aliased_int(const json& j, const char* a, const char* b, const std::string& origin) {
  bool ha = has(j, a), hb = has(j, b);
  XLSTM_CHECK(ha || hb, "{}: missing field '{}' (or '{}')", origin, a, b);
  if (ha && hb) {
    int64_t va = get_int(j, a, origin), vb = get_int(j, b, origin);
    XLSTM_CHECK(va == vb, "{}: inconsistent fields '{}' = {} and '{}' = {}", origin, a, va, b, vb);
    return va;
  }
  return ha ? get_int(j, a, origin) : get_int(j, b, origin);
}

bool fits_int32(const json& v) {
  return v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                                : v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX;
}

int32_t token_id(const json& j, const char* key, const std::string& origin, std::vector<int32_t>* all = nullptr) {
  if (!has(j, key)) return -1;
  const json& v = j.at(key);
  if (v.is_array()) {
    XLSTM_CHECK(!v.empty(), "{}: field '{}' is an empty list", origin, key);
    for (auto& e : v) {
      XLSTM_CHECK(e.is_number_integer(), "{}: field '{}' must hold integers", origin, key);
      XLSTM_CHECK(fits_int32(e), "{}: field '{}' holds {}, not a token id", origin, key, e.dump());
      if (all) all->push_back(e.get<int32_t>());
    }
    return v[0].get<int32_t>();
  }
  XLSTM_CHECK(v.is_number_integer(), "{}: field '{}' must be an integer", origin, key);
  XLSTM_CHECK(fits_int32(v), "{}: field '{}' = {} is not a token id", origin, key, v.dump());
  if (all) all->push_back(v.get<int32_t>());
  return v.get<int32_t>();
}

}  // namespace

int64_t XlstmLargeConfig::qk_dim() const { return int64_t(double(hidden) * qk_dim_factor); }
int64_t XlstmLargeConfig::v_dim() const { return int64_t(double(hidden) * v_dim_factor); }
int64_t XlstmLargeConfig::ffn_dim() const {
  const double raw = double(hidden) * ffn_proj_factor;
  const int64_t m = ffn_round_up_to_multiple_of;
  return int64_t(std::ceil(raw / double(m))) * m;
}

json load_config_json(const std::string& model_dir) {
  std::string path = model_dir + "/config.json";
  XLSTM_CHECK(file_exists(model_dir), "model directory '{}' does not exist", model_dir);
  XLSTM_CHECK(file_exists(path), "no config.json in '{}'", model_dir);
  try {
    json j = json::parse(read_text_file(path));
    XLSTM_CHECK(j.is_object(), "{}: not a JSON object", path);
    return j;
  } catch (const json::exception& e) {
    XLSTM_FAIL("{}: invalid JSON: {}", path, e.what());
  }
}

std::string detect_architecture(const json& j, const std::string& origin) {
  if (has(j, "model_type")) {
    std::string mt = get_str(j, "model_type", origin);
    XLSTM_CHECK(mt == "xlstm", "{}: unsupported model_type '{}' (supported: 'xlstm'; original xLSTM configs have no "
                "model_type)", origin, mt);
    return "xlstm";
  }
  if (has(j, "mlstm_block") || has(j, "slstm_block") || has(j, "slstm_at")) return "xlstm_v1";
  XLSTM_FAIL("{}: missing field 'model_type' (expected \"xlstm\")", origin);
}

XlstmLargeConfig parse_xlstm_large_config(const json& j, const std::string& origin) {
  XlstmLargeConfig c;
  try {
    XLSTM_CHECK(has(j, "vocab_size"), "{}: missing field 'vocab_size'", origin);
    c.vocab_size = get_int(j, "vocab_size", origin);
    c.hidden = aliased_int(j, "hidden_size", "embedding_dim", origin);
    c.num_blocks = aliased_int(j, "num_hidden_layers", "num_blocks", origin);
    XLSTM_CHECK(has(j, "num_heads"), "{}: missing field 'num_heads'", origin);
    c.num_heads = get_int(j, "num_heads", origin);
    if (has(j, "qk_dim_factor")) c.qk_dim_factor = get_num(j, "qk_dim_factor", origin);
    if (has(j, "v_dim_factor")) c.v_dim_factor = get_num(j, "v_dim_factor", origin);
    if (has(j, "ffn_proj_factor")) c.ffn_proj_factor = get_num(j, "ffn_proj_factor", origin);
    if (has(j, "ffn_round_up_to_multiple_of"))
      c.ffn_round_up_to_multiple_of = get_int(j, "ffn_round_up_to_multiple_of", origin);
    // Soft caps: absent -> transformers' default; null -> no cap.
    if (j.contains("gate_soft_cap")) c.gate_soft_cap = has(j, "gate_soft_cap") ? float(get_num(j, "gate_soft_cap", origin)) : 0.f;
    if (j.contains("output_logit_soft_cap"))
      c.output_logit_soft_cap = has(j, "output_logit_soft_cap") ? float(get_num(j, "output_logit_soft_cap", origin)) : 0.f;
    if (has(j, "norm_eps")) c.norm_eps = float(get_num(j, "norm_eps", origin));
    if (has(j, "eps")) c.eps = float(get_num(j, "eps", origin));
    if (has(j, "use_bias")) c.use_bias = get_bool(j, "use_bias", origin);
    if (has(j, "tie_word_embeddings")) c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", origin);
    if (has(j, "add_out_norm")) c.add_out_norm = get_bool(j, "add_out_norm", origin);
    if (has(j, "norm_reduction_force_float32"))
      c.norm_reduction_force_float32 = get_bool(j, "norm_reduction_force_float32", origin);
    if (has(j, "weight_mode")) c.weight_mode = get_str(j, "weight_mode", origin);
    if (has(j, "chunk_size")) c.chunk_size = get_int(j, "chunk_size", origin);
    if (has(j, "max_inference_chunksize")) c.max_inference_chunksize = get_int(j, "max_inference_chunksize", origin);
    if (has(j, "inference_state_dtype")) c.inference_state_dtype = get_str(j, "inference_state_dtype", origin);
    if (has(j, "autocast_kernel_dtype")) c.autocast_kernel_dtype = get_str(j, "autocast_kernel_dtype", origin);
    if (has(j, "torch_dtype")) c.torch_dtype = get_str(j, "torch_dtype", origin);
    else if (has(j, "dtype") && j.at("dtype").is_string()) c.torch_dtype = get_str(j, "dtype", origin);
    c.bos_token_id = token_id(j, "bos_token_id", origin);
    c.eos_token_id = token_id(j, "eos_token_id", origin, &c.eos_token_ids);
    c.pad_token_id = token_id(j, "pad_token_id", origin);
    if (has(j, "force_bos_token_insert")) c.force_bos_token_insert = get_bool(j, "force_bos_token_insert", origin);
  } catch (const json::exception& e) {
    XLSTM_FAIL("{}: {}", origin, e.what());
  }
  XLSTM_CHECK(c.vocab_size > 0, "{}: field 'vocab_size' must be positive, got {}", origin, c.vocab_size);
  XLSTM_CHECK(c.hidden > 0, "{}: field 'hidden_size' must be positive, got {}", origin, c.hidden);
  XLSTM_CHECK(c.num_blocks > 0, "{}: field 'num_hidden_layers' must be positive, got {}", origin, c.num_blocks);
  XLSTM_CHECK(c.num_heads > 0, "{}: field 'num_heads' must be positive, got {}", origin, c.num_heads);
  XLSTM_CHECK(c.qk_dim_factor > 0 && c.v_dim_factor > 0 && c.ffn_proj_factor > 0,
              "{}: qk_dim_factor, v_dim_factor and ffn_proj_factor must be positive", origin);
  XLSTM_CHECK(double(c.hidden) * std::max({c.qk_dim_factor, c.v_dim_factor, c.ffn_proj_factor}) < 0x1p53,
              "{}: hidden_size x qk_dim_factor, v_dim_factor or ffn_proj_factor is too large", origin);
  XLSTM_CHECK(c.ffn_round_up_to_multiple_of > 0, "{}: field 'ffn_round_up_to_multiple_of' must be positive", origin);
  XLSTM_CHECK(c.qk_dim() > 0 && c.qk_dim() % c.num_heads == 0,
              "{}: qk_dim = int(hidden_size * qk_dim_factor) = {} is not divisible by num_heads = {}", origin,
              c.qk_dim(), c.num_heads);
  XLSTM_CHECK(c.v_dim() > 0 && c.v_dim() % c.num_heads == 0,
              "{}: v_dim = int(hidden_size * v_dim_factor) = {} is not divisible by num_heads = {}", origin, c.v_dim(),
              c.num_heads);
  XLSTM_CHECK(c.weight_mode == "single" || c.weight_mode == "fused",
              "{}: field 'weight_mode' must be \"single\" or \"fused\", got \"{}\"", origin, c.weight_mode);
  XLSTM_CHECK(c.chunk_size > 0, "{}: field 'chunk_size' must be positive", origin);
  XLSTM_CHECK(c.norm_eps > 0 && c.eps >= 0, "{}: fields 'norm_eps' and 'eps' must be positive", origin);
  XLSTM_CHECK(c.inference_state_dtype == "float32" || c.inference_state_dtype == "bfloat16" ||
                  c.inference_state_dtype == "float16",
              "{}: field 'inference_state_dtype' has unknown value \"{}\"", origin, c.inference_state_dtype);
  for (int32_t id : {c.bos_token_id, c.eos_token_id, c.pad_token_id})
    XLSTM_CHECK(id < c.vocab_size, "{}: special token id {} is outside the vocabulary ({})", origin, id, c.vocab_size);
  return c;
}

}  // namespace xlstm
