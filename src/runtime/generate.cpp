// Why: see generate.h.
#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "common/check.h"
#include "runtime/decoder.h"

namespace xlstm {
namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::vector<float> prefill(Model& model, State& state, const std::vector<int32_t>& ids) {
  XLSTM_CHECK(!ids.empty(), "empty prompt: at least one token is needed");
  std::vector<float> logits(size_t(model.info().vocab_size));
  float* st = state.data();
  model.forward(ids.data(), 1, int(ids.size()), &st, 1, logits.data());
  state.n_tokens += int64_t(ids.size());
  return logits;
}

Generation generate(Model& model, State& state, const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                    const std::function<bool(int32_t)>& on_token) {
  XLSTM_CHECK(opt.n_predict >= 0, "number of tokens to predict must be >= 0, got {}", opt.n_predict);
  double t0 = now();
  std::vector<float> logits = prefill(model, state, prompt);
  double t_prefill = now() - t0;
  Generation g = continue_generation(model, state, std::move(logits), prompt, opt, on_token);
  g.prompt_tokens = int64_t(prompt.size());
  g.prefill_seconds = t_prefill;
  return g;
}

Generation continue_generation(Model& model, State& state, std::vector<float> logits, std::vector<int32_t> history,
                               const GenerateOptions& opt, const std::function<bool(int32_t)>& on_token) {
  XLSTM_CHECK(opt.n_predict >= 0, "number of tokens to predict must be >= 0, got {}", opt.n_predict);
  const int64_t V = model.info().vocab_size;
  XLSTM_CHECK(int64_t(logits.size()) == V, "continue_generation: {} logits for a vocabulary of {}", logits.size(), V);
  Sampler sampler(opt.sampling);
  Generation g;
  const auto& eos = model.info().eos_ids;
  double t0 = now();
  // Device path (graph-captured where the backend can) unless the repetition penalty needs the history.
  std::unique_ptr<Decoder> dec;
  if (!sampler.needs_history() && opt.n_predict > 1) dec = std::make_unique<Decoder>(model, 1);
  float* st = state.data();
  for (int i = 0; i < opt.n_predict; ++i) {
    int32_t tok;
    if (i == 0) {
      tok = sampler.sample(logits.data(), V, history);  // from the prefill's logits
    } else if (dec) {
      if (i == 1) dec->set_sequence(0, st, opt.sampling, sampler.step());
      tok = (i == 1 ? dec->step(&g.pending) : dec->step_chained())[0];
      state.n_tokens += 1;
    } else {  // host path: feed the previous token, sample with the history
      model.forward(&g.pending, 1, 1, &st, 1, logits.data());
      state.n_tokens += 1;
      tok = sampler.sample(logits.data(), V, history);
    }
    g.tokens.push_back(tok);
    history.push_back(tok);
    g.pending = tok;
    bool stop = (opt.stop_at_eos && std::find(eos.begin(), eos.end(), tok) != eos.end()) ||
                std::find(opt.stop_ids.begin(), opt.stop_ids.end(), tok) != opt.stop_ids.end();
    g.stopped_by_eos = stop;
    if (on_token && !on_token(tok)) break;
    if (stop) break;
  }
  g.decode_seconds = now() - t0;
  return g;
}

}  // namespace xlstm
