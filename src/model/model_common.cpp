// Why: what every architecture shares: the argument checks and the piece length of Model::forward, and
// ModelInfo's counts of the checkpoint and of the weights as held.
#include <algorithm>

#include "common/check.h"
#include "io/safetensors.h"
#include "model/model.h"

namespace xlstm {

int64_t check_forward_args(const int32_t* ids, int B, int T, int n_out, int64_t vocab_size, int64_t max_step_tokens,
                           int chunk) {
  XLSTM_CHECK(B >= 1 && T >= 1, "forward needs at least one sequence and one token (B = {}, T = {})", B, T);
  XLSTM_CHECK(n_out >= 0 && n_out <= T, "n_out = {} must be in [0, T = {}]", n_out, T);
  for (int64_t i = 0; i < int64_t(B) * T; ++i)
    XLSTM_CHECK(ids[i] >= 0 && ids[i] < vocab_size, "token id {} at position {} is out of range [0, {})", ids[i],
                i % T, vocab_size);
  int64_t piece = std::max<int64_t>(1, max_step_tokens / B);
  if (piece >= chunk) piece = piece / chunk * chunk;
  return std::min<int64_t>(piece, T);
}

void count_checkpoint(const TensorStore& store, ModelInfo& info) {
  std::vector<std::string> dts;
  for (const auto& n : store.names()) {
    const HostTensor& t = *store.find(n);
    info.n_params += t.numel();
    std::string d = dtype_name(t.dtype);
    if (std::find(dts.begin(), dts.end(), d) == dts.end()) dts.push_back(d);
  }
  for (size_t i = 0; i < dts.size(); ++i) info.stored_dtype += (i ? "+" : "") + dts[i];
}

size_t held_bytes(std::initializer_list<const WeightPtr*> weights) {
  size_t n = 0;
  for (const WeightPtr* p : weights)
    if (*p) n += size_t((*p)->rows * (*p)->cols) * dtype_size((*p)->dtype);
  return n;
}

}  // namespace xlstm
