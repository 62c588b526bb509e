// Why: the device side of the token loop. B sequences decode together: a step feeds one token per
// sequence, runs Model::decode_step, draws the next tokens with Backend::sample on the device, and
// copies back only the B new ids. Where the backend has graphs the step is captured once and replayed
// (no launches, allocations or host synchronisation inside the loop but the id copy). The ids a step
// draws are already its successor's input on the device, so a chained step uploads nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "runtime/sampler.h"

namespace xlstm {

class Decoder {
 public:
  Decoder(Model& model, int B);
  int batch() const { return B_; }
  // Sequence b decodes into `state` (device pointer, Model::state_floats() floats) with parameters p,
  // its next draw being number `step` of its sampler. Parameters must not need a token history
  // (Sampler::needs_history() false): the repetition penalty runs on the host path of generate().
  void set_sequence(int b, float* state, const SamplingParams& p, uint64_t step);
  // Feeds tokens[b] (host) to each sequence; returns the drawn next token of each.
  const std::vector<int32_t>& step(const int32_t* tokens);
  // Feeds the tokens the previous step drew (no upload).
  const std::vector<int32_t>& step_chained();
  bool graphed() const { return graph_ != nullptr; }

 private:
  void run();
  Model& model_;
  Backend& be_;
  int B_;
  int64_t V_;
  std::vector<float*> states_;
  std::vector<SampleRow> rows_;
  DeviceBuffer ids_, logits_, rows_dev_;
  std::unique_ptr<Graph> graph_;
  bool dirty_ = true;   // states or rows changed since the last upload / capture
  int runs_ = 0;        // uncaptured runs since the last change (the first one may allocate)
  std::vector<int32_t> out_;
};

}  // namespace xlstm
