// Why: turns a model directory (or a config for random weights) into a Model: reads config.json, picks
// the architecture, opens the checkpoint, checks its wiring, and hands over to the architecture's file.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/parallel.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "model/tensor_names.h"
#include "model/wiring.h"
#include "model/xlstm_large.h"
#include "model/xlstm_v1.h"

namespace xlstm {
namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Fills `bytes` with n values uniform in [lo, hi) stored as `dt`, in parallel, deterministic per seed.
std::vector<uint8_t> random_tensor(DType dt, int64_t n, float lo, float hi, uint64_t seed) {
  std::vector<uint8_t> bytes(size_t(n) * dtype_size(dt));
  const int64_t block = 1 << 16;
  parallel_for((n + block - 1) / block, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> tmp(static_cast<size_t>(block));
    for (int64_t b = b0; b < b1; ++b) {
      uint64_t s = seed * 0x100000001b3ull + uint64_t(b);
      const int64_t i0 = b * block, m = std::min(block, n - i0);
      for (int64_t i = 0; i < m; ++i) tmp[size_t(i)] = lo + (hi - lo) * float(splitmix(s) >> 40) * 0x1p-24f;
      convert_from_f32(dt, tmp.data(), bytes.data() + size_t(i0) * dtype_size(dt), size_t(m));
    }
  });
  return bytes;
}

// An original-xLSTM model with random weights in the ranges its training starts from (roughly): matrices
// uniform in +-sqrt(3 / fan_in), norm weights (residual: scale 1 + w) and biases small, the mLSTM forget
// gate bias in [3, 6] as the package initialises it.
std::unique_ptr<Model> random_v1_model(const nlohmann::json& j, const std::string& config_path, Backend& be,
                                       const LoadOptions& opt, uint64_t seed) {
  XlstmV1Config cfg = parse_xlstm_v1_config(j, config_path);
  XLSTM_CHECK(be.has_v1_ops(), "{}: the original xLSTM family runs on the CPU backend only for now; use --device cpu",
              config_path);
  DType dt = DType::F32;
  if (opt.dtype != "auto")
    XLSTM_CHECK(dtype_from_name(opt.dtype, &dt), "unknown --dtype '{}' (expected auto, f32, bf16 or f16)", opt.dtype);
  auto store = std::make_unique<TensorStore>();
  uint64_t k = 0;
  for (const auto& t : v1_tensor_list(cfg)) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    ++k;
    auto has = [&](const char* s) { return t.name.find(s) != std::string::npos; };
    if (t.shape.size() == 2) {  // matrices
      const float a = t.name == names::v1::kEmbedding ? 1.0f : std::sqrt(3.0f / float(t.shape[1]));
      store->add_owned(t.name, dt, t.shape, random_tensor(dt, n, -a, a, seed + k));
    } else if (t.shape.size() == 3) {  // headwise blocks, conv kernels, the sLSTM recurrent kernel
      const float a = std::sqrt(3.0f / float(std::max(t.shape[2], has("_recurrent_kernel_") ? t.shape[1] : 1))) *
                      (has("_recurrent_kernel_") ? 0.5f : 1.0f);
      store->add_owned(t.name, DType::F32, t.shape, random_tensor(DType::F32, n, -a, a, seed + k));
    } else {
      const bool fbias = has("mlstm_cell.fgate.bias");
      const float lo = fbias ? 3.f : has("learnable_skip") ? 0.9f : -0.1f, hi = fbias ? 6.f : has("learnable_skip") ? 1.1f : 0.1f;
      store->add_owned(t.name, DType::F32, t.shape, random_tensor(DType::F32, n, lo, hi, seed + k));
    }
  }
  V1Wiring w = discover_v1_wiring(*store, cfg);
  require_consistent(w, "random:" + config_path);
  LoadOptions o = opt;
  if (o.dtype == "auto") o.dtype = dtype_name(dt);
  return make_xlstm_v1(cfg, std::move(store), w, be, o, "random:" + config_path);
}

}  // namespace

std::string resolve_device(const std::string& device, const std::string& path) {
  if (device != "auto" || path.empty()) return device;
  try {
    const std::string file = file_exists(path + "/config.json") ? path + "/config.json" : path;
    const nlohmann::json j = nlohmann::json::parse(read_text_file(file));
    if (j.is_object() && detect_architecture(j, file) == "xlstm_v1") return "cpu";  // CUDA lacks its ops for now
  } catch (const std::exception&) {
    // unreadable or invalid: loading reports it
  }
  return device;
}

std::unique_ptr<Model> load_model(const std::string& dir, Backend& be, const LoadOptions& opt) {
  XLSTM_CHECK(!dir.empty(), "no model directory given");
  nlohmann::json j = load_config_json(dir);
  const std::string origin = dir + "/config.json";
  const std::string arch = detect_architecture(j, origin);
  if (arch == "xlstm_v1") {
    XlstmV1Config cfg = parse_xlstm_v1_config(j, origin);
    XLSTM_CHECK(be.has_v1_ops(), "{}: the original xLSTM family runs on the CPU backend only for now; use --device cpu",
                dir);
    auto store = std::make_unique<TensorStore>(TensorStore::open(dir));
    V1Wiring w = discover_v1_wiring(*store, cfg);
    require_consistent(w, dir);
    return make_xlstm_v1(cfg, std::move(store), w, be, opt, dir);
  }
  XlstmLargeConfig cfg = parse_xlstm_large_config(j, origin);
  auto store = std::make_unique<TensorStore>(TensorStore::open(dir));
  LargeWiring w = discover_large_wiring(*store, cfg);
  require_consistent(w, dir);
  return make_xlstm_large(cfg, std::move(store), w, be, opt, dir);
}

std::unique_ptr<Model> random_model(const std::string& config_path, Backend& be, const LoadOptions& opt,
                                    uint64_t seed) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    XLSTM_FAIL("{}: invalid JSON: {}", config_path, e.what());
  }
  if (detect_architecture(j, config_path) == "xlstm_v1") return random_v1_model(j, config_path, be, opt, seed);
  XlstmLargeConfig cfg = parse_xlstm_large_config(j, config_path);
  DType dt = DType::BF16;
  if (opt.dtype != "auto")
    XLSTM_CHECK(dtype_from_name(opt.dtype, &dt), "unknown --dtype '{}' (expected auto, f32, bf16 or f16)", opt.dtype);
  // Build the structure the config states (fused projections save a copy at load).
  cfg.weight_mode = "fused";
  auto store = std::make_unique<TensorStore>();
  auto list = large_tensor_list(cfg, true, cfg.use_bias, cfg.tie_word_embeddings, true, names::large::kEmbedding);
  uint64_t k = 0;
  for (const auto& t : list) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    ++k;
    if (t.shape.size() == 2) {
      float a = std::sqrt(3.0f / float(t.shape[1]));
      if (t.name == names::large::kEmbedding) a = 1.0f;
      store->add_owned(t.name, dt, t.shape, random_tensor(dt, n, -a, a, seed + k));
    } else {
      const bool gate_bias = t.name.find("ifgate_preact.bias") != std::string::npos;
      const bool norm = t.name.find("norm") != std::string::npos && t.name.find(".weight") != std::string::npos;
      std::vector<uint8_t> b = gate_bias ? random_tensor(DType::F32, n, -2.f, 6.f, seed + k)
                               : norm    ? random_tensor(DType::F32, n, 0.9f, 1.1f, seed + k)
                                         : random_tensor(DType::F32, n, -0.1f, 0.1f, seed + k);
      store->add_owned(t.name, DType::F32, t.shape, std::move(b));
    }
  }
  LargeWiring w = discover_large_wiring(*store, cfg);
  require_consistent(w, "random:" + config_path);
  LoadOptions o = opt;
  if (o.dtype == "auto") o.dtype = dtype_name(dt);
  return make_xlstm_large(cfg, std::move(store), w, be, o, "random:" + config_path);
}

}  // namespace xlstm
