// Why: structure discovery. Reads the block structure of a checkpoint from its tensor names (block
// count, single or fused projections, biases, tied head, out_norm, embedding name), derives the full
// list of tensors and shapes that structure implies, and cross-checks both against the config. Every
// mismatch (missing tensor, unexpected tensor, wrong shape, config disagreement) is reported by name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"

namespace xlstm {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

struct LargeWiring {
  int64_t blocks = 0;
  bool fused = false;      // qkv_opreact / ifgate_preact / proj_up_gate_z
  bool bias = false;       // biases on every linear and norm (use_bias)
  bool tied = false;       // no lm_head: the embedding is the head
  bool out_norm = false;   // backbone.out_norm present
  std::string embedding;   // name of the embedding tensor
  std::vector<ExpectedTensor> tensors;  // everything the structure implies, in model order
  std::vector<std::string> problems;    // empty when the checkpoint is consistent
};

// Discovers the structure from `store` and checks it against `cfg`. Does not throw on mismatches:
// they are listed in .problems (call require_consistent to turn them into an error).
LargeWiring discover_large_wiring(const TensorStore& store, const XlstmLargeConfig& cfg);
void require_consistent(const LargeWiring& w, const std::string& origin);
// "[a, b, c]": a tensor shape as the wiring errors print it.
std::string shape_str(const std::vector<int64_t>& s);
// Shared by both discoveries: the block count (highest N of the names "<prefix>N..." + 1, 0 if none), and the
// problem list with repeats removed (the summary lines and the per-tensor lines can say the same thing).
int64_t count_blocks(const std::vector<std::string>& names, const std::string& prefix);
void remove_repeats(std::vector<std::string>& problems);
// Throws one error naming `origin` and listing the problems (the first 20 and a count) when there are any.
void require_no_problems(const std::vector<std::string>& problems, const std::string& origin);

// The tensor list of a structure (used by discovery and to build random-weight models).
std::vector<ExpectedTensor> large_tensor_list(const XlstmLargeConfig& cfg, bool fused, bool bias, bool tied,
                                              bool out_norm, const std::string& embedding);

// Human-readable block graph for `xlstm wiring`.
std::string describe_large_wiring(const LargeWiring& w, const XlstmLargeConfig& cfg);

// ---- the original xLSTM family (xlstm-reference.md section 2) -----------------------------------------
struct V1Wiring {
  int64_t blocks = 0;
  std::string kinds;       // per block as found in the checkpoint: 'm' mLSTM, 's' sLSTM, '?' neither
  bool tied = false;       // no lm_head: the embedding is the head
  bool post_norm = false;  // post_blocks_norm present
  std::vector<ExpectedTensor> tensors;  // everything the config implies, in model order
  std::vector<std::string> problems;    // empty when the checkpoint is consistent
};

// Discovers block kinds, head and norms from `store` and checks every tensor (name and shape) against
// the config. Does not throw on mismatches: they are listed in .problems.
V1Wiring discover_v1_wiring(const TensorStore& store, const XlstmV1Config& cfg);
void require_consistent(const V1Wiring& w, const std::string& origin);
// The tensor list the config implies (used by discovery and to build random-weight models). The sLSTM
// recurrent kernel and bias have the stored layout of cfg.slstm.backend.
std::vector<ExpectedTensor> v1_tensor_list(const XlstmV1Config& cfg);
// Human-readable block graph for `xlstm wiring`.
std::string describe_v1_wiring(const V1Wiring& w, const XlstmV1Config& cfg);

}  // namespace xlstm
