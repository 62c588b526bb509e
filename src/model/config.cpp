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

// ---- the original xLSTM family ------------------------------------------------------------------------
namespace xlstm {
namespace {

using json = nlohmann::json;

// One (possibly nested) JSON object of the config; `path` prefixes field names in messages.
struct Obj {
  const json& j;
  std::string path;  // "" or e.g. "mlstm_block.mlstm."
  const std::string& origin;
  std::string name(const char* key) const { return path + key; }
  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }
  int64_t integer(const char* key, int64_t def) const {
    if (!has(key)) return def;
    const json& v = j.at(key);
    XLSTM_CHECK(v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                                          std::fabs(v.get<double>()) < 0x1p53),
                "{}: field '{}' must be an integer", origin, name(key));
    return v.is_number_integer() ? v.get<int64_t>() : int64_t(v.get<double>());
  }
  int64_t required_integer(const char* key) const {
    XLSTM_CHECK(has(key), "{}: missing field '{}'", origin, name(key));
    return integer(key, 0);
  }
  double number(const char* key, double def) const {
    if (!has(key)) return def;
    XLSTM_CHECK(j.at(key).is_number(), "{}: field '{}' must be a number", origin, name(key));
    return j.at(key).get<double>();
  }
  bool boolean(const char* key, bool def) const {
    if (!has(key)) return def;
    XLSTM_CHECK(j.at(key).is_boolean(), "{}: field '{}' must be true or false", origin, name(key));
    return j.at(key).get<bool>();
  }
  std::string string(const char* key, const std::string& def) const {
    if (!has(key)) return def;
    XLSTM_CHECK(j.at(key).is_string(), "{}: field '{}' must be a string", origin, name(key));
    return j.at(key).get<std::string>();
  }
  // The sub-object `key`; nullptr when absent or null.
  const json* object(const char* key) const {
    if (!has(key)) return nullptr;
    XLSTM_CHECK(j.at(key).is_object(), "{}: field '{}' must be an object (or null)", origin, name(key));
    return &j.at(key);
  }
};

// UpProjConfigMixin._set_proj_up_dim: int(ceil_or_floor(factor * D / multiple) * multiple), in float64 as
// Python computes it.
int64_t proj_up_dim(int64_t D, double factor, bool round_up, int64_t multiple) {
  const double m = double(D) * factor / double(multiple);
  return int64_t((round_up ? std::ceil(m) : std::floor(m)) * double(multiple));
}

}  // namespace

int64_t XlstmV1Config::inner_dim() const {
  return proj_up_dim(embedding_dim, mlstm.proj_factor, mlstm.round_proj_up_dim_up, mlstm.round_proj_up_to_multiple_of);
}
int64_t XlstmV1Config::ffn_dim() const {
  return proj_up_dim(embedding_dim, ffn.proj_factor, ffn.round_proj_up_dim_up, ffn.round_proj_up_to_multiple_of);
}
int64_t XlstmV1Config::num_slstm() const { return std::count(is_slstm.begin(), is_slstm.end(), true); }
std::string XlstmV1Config::block_kinds() const {
  std::string s;
  for (bool b : is_slstm) s += b ? 's' : 'm';
  return s;
}

XlstmV1Config parse_xlstm_v1_config(const json& j, const std::string& origin) {
  XlstmV1Config c;
  const Obj top{j, "", origin};
  c.vocab_size = top.required_integer("vocab_size");
  c.embedding_dim = top.required_integer("embedding_dim");
  c.num_blocks = top.required_integer("num_blocks");
  c.context_length = top.integer("context_length", -1);
  c.tie_weights = top.boolean("tie_weights", false);
  c.add_post_blocks_norm = top.boolean("add_post_blocks_norm", true);
  c.bias = top.boolean("bias", false);
  XLSTM_CHECK(c.vocab_size > 0, "{}: field 'vocab_size' must be positive, got {}", origin, c.vocab_size);
  XLSTM_CHECK(c.embedding_dim > 0 && c.embedding_dim < (int64_t(1) << 31),
              "{}: field 'embedding_dim' must be positive (and < 2^31), got {}", origin, c.embedding_dim);
  XLSTM_CHECK(c.num_blocks > 0 && c.num_blocks <= 100000, "{}: field 'num_blocks' must be in [1, 100000], got {}",
              origin, c.num_blocks);

  if (const json* mb = top.object("mlstm_block")) {
    c.mlstm.present = true;
    const Obj blk{*mb, "mlstm_block.", origin};
    static const json empty = json::object();
    const json* m = blk.object("mlstm");
    const Obj o{m ? *m : empty, "mlstm_block.mlstm.", origin};
    auto& M = c.mlstm;
    M.conv1d_kernel_size = o.integer("conv1d_kernel_size", M.conv1d_kernel_size);
    M.qkv_proj_blocksize = o.integer("qkv_proj_blocksize", M.qkv_proj_blocksize);
    M.num_heads = o.integer("num_heads", M.num_heads);
    M.proj_factor = o.number("proj_factor", M.proj_factor);
    M.round_proj_up_dim_up = o.boolean("round_proj_up_dim_up", M.round_proj_up_dim_up);
    M.round_proj_up_to_multiple_of = o.integer("round_proj_up_to_multiple_of", M.round_proj_up_to_multiple_of);
    XLSTM_CHECK(M.conv1d_kernel_size >= 0 && M.conv1d_kernel_size <= 1024,
                "{}: field 'mlstm_block.mlstm.conv1d_kernel_size' must be in [0, 1024], got {}", origin,
                M.conv1d_kernel_size);
    XLSTM_CHECK(M.num_heads > 0, "{}: field 'mlstm_block.mlstm.num_heads' must be positive, got {}", origin,
                M.num_heads);
    XLSTM_CHECK(M.qkv_proj_blocksize > 0, "{}: field 'mlstm_block.mlstm.qkv_proj_blocksize' must be positive, got {}",
                origin, M.qkv_proj_blocksize);
    XLSTM_CHECK(M.proj_factor > 0 && double(c.embedding_dim) * M.proj_factor < 0x1p31,
                "{}: field 'mlstm_block.mlstm.proj_factor' must be positive (and factor x embedding_dim < 2^31), "
                "got {}", origin, M.proj_factor);
    XLSTM_CHECK(M.round_proj_up_to_multiple_of > 0,
                "{}: field 'mlstm_block.mlstm.round_proj_up_to_multiple_of' must be positive", origin);
    const int64_t inner = c.inner_dim();
    XLSTM_CHECK(inner > 0, "{}: the mLSTM inner dimension (proj_factor x embedding_dim, rounded) is 0", origin);
    XLSTM_CHECK(inner % M.num_heads == 0,
                "{}: the mLSTM inner dimension {} (proj_factor x embedding_dim, rounded to a multiple of {}) is not "
                "divisible by 'mlstm_block.mlstm.num_heads' = {}", origin, inner, M.round_proj_up_to_multiple_of,
                M.num_heads);
    XLSTM_CHECK(inner % M.qkv_proj_blocksize == 0,
                "{}: the mLSTM inner dimension {} is not divisible by 'mlstm_block.mlstm.qkv_proj_blocksize' = {}",
                origin, inner, M.qkv_proj_blocksize);
  }

  if (const json* sb = top.object("slstm_block")) {
    c.slstm.present = true;
    const Obj blk{*sb, "slstm_block.", origin};
    static const json empty = json::object();
    const json* s = blk.object("slstm");
    const Obj o{s ? *s : empty, "slstm_block.slstm.", origin};
    auto& S = c.slstm;
    S.backend = o.string("backend", S.backend);
    S.num_heads = o.integer("num_heads", S.num_heads);
    S.conv1d_kernel_size = o.integer("conv1d_kernel_size", S.conv1d_kernel_size);
    S.group_norm_weight = o.boolean("group_norm_weight", S.group_norm_weight);
    const std::string fn = o.string("function", "slstm");
    XLSTM_CHECK(S.backend == "cuda" || S.backend == "vanilla",
                "{}: field 'slstm_block.slstm.backend' must be \"cuda\" or \"vanilla\", got \"{}\"", origin, S.backend);
    XLSTM_CHECK(fn == "slstm", "{}: field 'slstm_block.slstm.function' = \"{}\" is not supported (only \"slstm\")",
                origin, fn);
    XLSTM_CHECK(o.integer("num_gates", 4) == 4, "{}: field 'slstm_block.slstm.num_gates' must be 4", origin);
    XLSTM_CHECK(S.backend != "cuda" || !o.has("gradient_recurrent_clipval"),
                "{}: field 'slstm_block.slstm.gradient_recurrent_clipval' is set: the package's \"cuda\" sLSTM then "
                "clips y in the forward pass, which is not supported", origin);
    XLSTM_CHECK(S.num_heads > 0, "{}: field 'slstm_block.slstm.num_heads' must be positive, got {}", origin,
                S.num_heads);
    XLSTM_CHECK(S.conv1d_kernel_size >= 0 && S.conv1d_kernel_size <= 1024,
                "{}: field 'slstm_block.slstm.conv1d_kernel_size' must be in [0, 1024], got {}", origin,
                S.conv1d_kernel_size);
    XLSTM_CHECK(c.embedding_dim % S.num_heads == 0,
                "{}: 'embedding_dim' = {} is not divisible by 'slstm_block.slstm.num_heads' = {}", origin,
                c.embedding_dim, S.num_heads);
    // feedforward: absent -> the package's default FFN; null -> none.
    c.ffn.present = !blk.j.contains("feedforward") || !blk.j.at("feedforward").is_null();
    if (const json* f = blk.object("feedforward")) {
      const Obj fo{*f, "slstm_block.feedforward.", origin};
      auto& F = c.ffn;
      F.proj_factor = fo.number("proj_factor", F.proj_factor);
      F.act_fn = fo.string("act_fn", F.act_fn);
      F.bias = fo.boolean("bias", F.bias);
      F.round_proj_up_dim_up = fo.boolean("round_proj_up_dim_up", F.round_proj_up_dim_up);
      F.round_proj_up_to_multiple_of = fo.integer("round_proj_up_to_multiple_of", F.round_proj_up_to_multiple_of);
      const std::string ff_type = fo.string("ff_type", "ffn_gated");
      XLSTM_CHECK(ff_type == "ffn_gated", "{}: field 'slstm_block.feedforward.ff_type' must be \"ffn_gated\", got \"{}\"",
                  origin, ff_type);
    }
    if (c.ffn.present) {
      const auto& F = c.ffn;
      static const char* acts[] = {"gelu", "relu", "relu^2", "sigmoid", "swish", "selu"};
      XLSTM_CHECK(std::find(std::begin(acts), std::end(acts), F.act_fn) != std::end(acts),
                  "{}: field 'slstm_block.feedforward.act_fn' = \"{}\" is unknown (expected gelu, relu, relu^2, "
                  "sigmoid, swish or selu)", origin, F.act_fn);
      XLSTM_CHECK(F.proj_factor > 0 && double(c.embedding_dim) * F.proj_factor < 0x1p31,
                  "{}: field 'slstm_block.feedforward.proj_factor' must be positive (and factor x embedding_dim < "
                  "2^31), got {}", origin, F.proj_factor);
      XLSTM_CHECK(F.round_proj_up_to_multiple_of > 0,
                  "{}: field 'slstm_block.feedforward.round_proj_up_to_multiple_of' must be positive", origin);
      XLSTM_CHECK(c.ffn_dim() > 0, "{}: the sLSTM feed-forward dimension (proj_factor x embedding_dim, rounded) is 0",
                  origin);
    }
  }
  XLSTM_CHECK(c.mlstm.present || c.slstm.present,
              "{}: neither 'mlstm_block' nor 'slstm_block' is given (an original xLSTM config needs at least one)",
              origin);

  // Block map: slstm_at "all" or a list of block indices; no mlstm_block means "all" (as the package does).
  c.is_slstm.assign(size_t(c.num_blocks), false);
  if (!c.mlstm.present) {
    c.is_slstm.assign(size_t(c.num_blocks), true);
  } else if (top.has("slstm_at")) {
    const json& at = j.at("slstm_at");
    if (at.is_string()) {
      XLSTM_CHECK(at.get<std::string>() == "all", "{}: field 'slstm_at' must be \"all\" or a list of block indices, "
                  "got \"{}\"", origin, at.get<std::string>());
      c.is_slstm.assign(size_t(c.num_blocks), true);
    } else {
      XLSTM_CHECK(at.is_array(), "{}: field 'slstm_at' must be \"all\" or a list of block indices", origin);
      for (const auto& e : at) {
        XLSTM_CHECK(e.is_number_integer(), "{}: field 'slstm_at' must hold integers, got {}", origin, e.dump());
        const int64_t i = e.get<int64_t>();
        XLSTM_CHECK(i >= 0 && i < c.num_blocks, "{}: field 'slstm_at' holds {}, not a block index in [0, {})", origin,
                    i, c.num_blocks);
        c.is_slstm[size_t(i)] = true;
      }
    }
  }
  XLSTM_CHECK(c.num_slstm() == 0 || c.slstm.present,
              "{}: 'slstm_at' places sLSTM blocks but the config has no 'slstm_block'", origin);
  return c;
}

}  // namespace xlstm
