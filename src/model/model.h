// Why: what the runtime, CLI, server and Python bindings see of a model: its facts (ModelInfo), the size
// of one sequence's recurrent state, and one forward call that advances B sequences by T tokens each.
// Each architecture is one file (xlstm_large.cpp, ...) implementing this interface against backend.h.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace xlstm {

struct ModelInfo {
  std::string arch;          // "xlstm" (7B family) or "xlstm_v1" (original family: mLSTM v1 / sLSTM blocks)
  std::string path;          // model directory, or "random:<config>"
  int64_t vocab_size = 0, hidden = 0, num_blocks = 0, num_heads = 0;
  int64_t qk_dim = 0, v_dim = 0, ffn_dim = 0;
  int64_t n_params = 0;           // parameters as stored (tied head counted once)
  size_t weight_bytes = 0;        // bytes of weights as held by the backend
  DType weight_dtype = DType::F32;  // dtype of the matrices as run
  std::string stored_dtype;       // dtype(s) in the checkpoint
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
  std::vector<int32_t> eos_ids;
  bool force_bos = false;
  int64_t default_chunk = 64;
  float logit_soft_cap = 0.f;  // > 0: logits are cap * tanh(l / cap) (decode_step leaves that to the sampler)
  std::string fingerprint;  // identifies the state layout (arch and dims); saved with states
  std::vector<std::pair<std::string, std::string>> extra;  // further (label, text) rows for `xlstm info`
};

struct LoadOptions {
  std::string dtype = "auto";  // "auto" (as stored; bf16 on CUDA), "f32", "bf16", "f16"
  int chunk = 0;               // chunk length of the chunkwise form; 0: the config's chunk_size
  int max_step_tokens = 0;     // token rows per forward piece (bounds memory); 0: 1024 (cpu), 2048 (cuda)
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual Backend& backend() = 0;
  // Floats in one sequence's state (float32, on the backend's device).
  virtual size_t state_floats() const = 0;
  // Advances B sequences by T tokens each. ids: host [B, T]; states: host array of B device pointers to
  // state_floats() floats each. Writes logits for the last n_out positions of each sequence (0 <= n_out
  // <= T) into host `logits` [B, n_out, vocab]. Throws on out-of-range ids before touching any state.
  virtual void forward(const int32_t* ids, int B, int T, float* const* states, int n_out, float* logits) = 0;
  // One decode step for B sequences, all on the device, no host transfer: ids_dev [B] int32 and
  // logits_dev [B, vocab] float32 are device pointers; ids are not range-checked here (the sampler or
  // the caller guarantees them). The logits are written before the output soft cap: Backend::sample
  // applies info().logit_soft_cap as it reads them (one pass over the vocabulary instead of two). Never allocates for B <= LoadOptions::max_step_tokens, so a backend
  // can capture it in a graph.
  virtual void decode_step(const int32_t* ids_dev, int B, float* const* states, float* logits_dev) = 0;
  virtual std::string wiring() const = 0;  // block graph (xlstm wiring)
  virtual void set_chunk(int chunk) = 0;
  virtual int chunk() const = 0;
};

// Shared by the architectures' forward(): checks B, T, n_out and every id of ids [B, T] against the vocabulary
// (one-line errors naming the position), and returns the piece length per sequence that a forward of T tokens
// runs in: at most max_step_tokens / B rows per piece, a multiple of the chunk where it can be (so only the
// last piece has a remainder), at most T.
int64_t check_forward_args(const int32_t* ids, int B, int T, int n_out, int64_t vocab_size, int64_t max_step_tokens,
                           int chunk);

class TensorStore;
// Shared by the architectures' ModelInfo: n_params and stored_dtype from every tensor of the checkpoint, and
// the bytes the backend holds for the given weights (null ones count 0).
void count_checkpoint(const TensorStore& store, ModelInfo& info);
size_t held_bytes(std::initializer_list<const WeightPtr*> weights);

// Loads the model in `dir` (config.json + safetensors) onto `be`. Architecture from config.json.
std::unique_ptr<Model> load_model(const std::string& dir, Backend& be, const LoadOptions& opt = {});
// The device for `device` ("cpu", "cuda", "auto") and the model at `path` (a model directory or a
// config.json): "auto" means the CPU for models whose ops the CUDA backend lacks (the original xLSTM family,
// for now); anything else is returned as given.
std::string resolve_device(const std::string& device, const std::string& path);
// Builds a model with random weights from a config.json (no checkpoint), e.g. the 7B for benchmarks.
std::unique_ptr<Model> random_model(const std::string& config_path, Backend& be, const LoadOptions& opt = {},
                                    uint64_t seed = 1);

}  // namespace xlstm
