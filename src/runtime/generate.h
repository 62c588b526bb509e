// Why: the generation loop shared by the CLI, server and Python bindings: prefill the prompt into a
// caller-owned State, then sample one token at a time, stopping at eos, stop ids or the token budget.
// The last sampled token is not fed back (nothing needs its output); Generation::pending says so, and
// a caller continuing a conversation feeds it first.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"
#include "model/state.h"
#include "runtime/sampler.h"

namespace xlstm {

struct GenerateOptions {
  int n_predict = 128;               // new tokens at most (>= 0)
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;     // extra ids that end generation (the id itself is returned)
  bool stop_at_eos = true;           // stop at the model's eos ids
};

struct Generation {
  std::vector<int32_t> tokens;      // new tokens, including a final stop/eos token if one ended it
  bool stopped_by_eos = false;       // ended by eos or a stop id (else: budget or callback)
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  int32_t pending = -1;              // last token, not yet consumed by the state (-1: none)
};

// on_token(id) returns false to stop early. `prompt` must be non-empty.
Generation generate(Model& model, State& state, const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                    const std::function<bool(int32_t)>& on_token = nullptr);

// The decode half of generate(): `logits` [vocab] are those of the last consumed token; `history` the
// tokens consumed so far (for the repetition penalty).
Generation continue_generation(Model& model, State& state, std::vector<float> logits, std::vector<int32_t> history,
                               const GenerateOptions& opt, const std::function<bool(int32_t)>& on_token = nullptr);

// Prefill helper: consumes `ids` into `state`; returns the logits of the last position [vocab].
std::vector<float> prefill(Model& model, State& state, const std::vector<int32_t>& ids);

}  // namespace xlstm
