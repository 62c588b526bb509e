// Why: see test_support.h.
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/tensor_names.h"
#include "model/wiring.h"

namespace xlstm::test {

namespace {
// The CLI runs the tests start must not depend on a tuning file the developer's `xlstm tune` wrote
// (~/.cache/xlstm/tune.json): it would change thread counts and add a stderr note. test_cli_tune.cpp
// unsets this for its own runs.
const bool no_tune_file = [] { return ::setenv("XLSTM_NO_TUNE", "1", 1) == 0; }();
}  // namespace

std::string source_dir() { return XLSTM_SOURCE_DIR; }
std::string cli_path() { return XLSTM_CLI; }

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/xlstm_test_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = ::mkdtemp(buf.data());
  if (!d) throw std::runtime_error("mkdtemp failed");
  return d;
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

nlohmann::json write_tiny_model(const std::string& dir, const TinySpec& s) {
  nlohmann::json cfg = {{"model_type", "xlstm"},
                        {"vocab_size", s.vocab},
                        {"hidden_size", s.hidden},
                        {"embedding_dim", s.hidden},
                        {"num_hidden_layers", s.blocks},
                        {"num_blocks", s.blocks},
                        {"num_heads", s.heads},
                        {"qk_dim_factor", s.qk_factor},
                        {"v_dim_factor", s.v_factor},
                        {"ffn_proj_factor", 2.667},
                        {"ffn_round_up_to_multiple_of", 64},
                        {"use_bias", s.bias},
                        {"tie_word_embeddings", s.tied},
                        {"add_out_norm", true},
                        {"norm_eps", 1e-6},
                        {"eps", 1e-6},
                        {"chunk_size", s.chunk},
                        {"weight_mode", s.fused ? "fused" : "single"},
                        {"bos_token_id", 0},
                        {"eos_token_id", 2},
                        {"pad_token_id", 1}};
  cfg["gate_soft_cap"] = s.gate_cap > 0 ? nlohmann::json(s.gate_cap) : nlohmann::json(nullptr);
  cfg["output_logit_soft_cap"] = s.logit_cap > 0 ? nlohmann::json(s.logit_cap) : nlohmann::json(nullptr);
  write_file(dir + "/config.json", cfg.dump(1));
  XlstmLargeConfig c = parse_xlstm_large_config(cfg, "test");
  auto list = large_tensor_list(c, s.fused, s.bias, s.tied, true, names::large::kEmbedding);
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<HostTensor> ts;
  for (const auto& e : list) {
    int64_t n = 1;
    for (auto d : e.shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    const bool is_matrix = e.shape.size() == 2;
    const bool gate_bias = e.name.find("gate_preact.bias") != std::string::npos;
    for (auto& x : v) {
      float r = nd(rng);
      if (is_matrix) x = r / std::sqrt(float(e.shape[1])) * 1.5f;
      else if (gate_bias) x = 2.0f * r;
      else if (e.name.find("norm") != std::string::npos && e.name.find("weight") != std::string::npos) x = 1.f + 0.2f * r;
      else x = 0.3f * r;
    }
    DType dt = is_matrix ? s.dtype : DType::F32;
    std::vector<uint8_t> b(size_t(n) * dtype_size(dt));
    convert_from_f32(dt, v.data(), b.data(), size_t(n));
    bufs.push_back(std::move(b));
    ts.push_back(HostTensor{e.name, dt, e.shape, bufs.back().data()});
  }
  write_safetensors(dir + "/model.safetensors", ts);
  return cfg;
}

std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

CliResult run_cli(const std::string& args) {
  std::string dir = make_temp_dir();
  std::string cmd = shell_quote(cli_path()) + " " + args + " >" + dir + "/out 2>" + dir + "/err";
  int st = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  r.out = read_text_file(dir + "/out");
  r.err = read_text_file(dir + "/err");
  remove_tree(dir);
  return r;
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& x : ids) x = int32_t(rng() % uint64_t(vocab));
  return ids;
}

double rel_max_err(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, double(std::fabs(a[i] - b[i])));
    den = std::max(den, double(std::fabs(b[i])));
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
  }
  return den > 0 ? num / den : num;
}

double rel_l2_err(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    num += double(a[i] - b[i]) * double(a[i] - b[i]);
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace xlstm::test
