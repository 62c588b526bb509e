// Why: shared helpers for the tests: temporary directories, tiny random xLSTM model directories written
// as real checkpoints (config.json + safetensors), and running the `xlstm` CLI as a subprocess.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/check.h"
#include "common/dtype.h"

namespace xlstm::test {

std::string source_dir();              // repository root
std::string cli_path();                // the built xlstm executable
std::string make_temp_dir();           // fresh directory under $TMPDIR, removed by remove_tree
void remove_tree(const std::string& dir);
void write_file(const std::string& path, const std::string& bytes);

struct TinySpec {
  int64_t vocab = 61, hidden = 48, blocks = 2, heads = 3;
  double qk_factor = 0.5, v_factor = 1.0;
  bool fused = false, bias = false, tied = false;
  DType dtype = DType::F32;
  float gate_cap = 15.f, logit_cap = 30.f;  // <= 0: null in config
  int64_t chunk = 64;
  uint64_t seed = 7;
};
// Writes DIR/config.json and DIR/model.safetensors with random (never zero) weights; returns the config.
nlohmann::json write_tiny_model(const std::string& dir, const TinySpec& s);

struct CliResult {
  int code = -1;
  std::string out, err;
};
// Runs `xlstm ARGS` (args already shell-quoted where needed), capturing stdout and stderr.
CliResult run_cli(const std::string& args);
std::string shell_quote(const std::string& s);

// Random ids in [0, vocab) (seeded).
std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed);
// max |a - b| / max |b|
double rel_max_err(const float* a, const float* b, size_t n);
// ||a - b||_2 / ||b||_2 (NaN anywhere: infinity)
double rel_l2_err(const float* a, const float* b, size_t n);

// The message of the xlstm::Error `f` throws; a marker string when it throws nothing or something else.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("unexpected exception type: ") + e.what();
  }
  return "(no error thrown)";
}

}  // namespace xlstm::test
