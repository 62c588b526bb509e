// Why: `xlstm generate`: prompt (text or ids) in, sampled continuation out, streamed as it comes; the
// state can be saved after the prompt and loaded to continue without re-processing it.
#include <chrono>
#include <cstdio>
#include <sstream>

#include "command.h"
#include "common/check.h"
#include "io/npy.h"
#include "model/state.h"
#include "model_opts.h"
#include "prompt.h"
#include "runtime/generate.h"

namespace xlstm::cli {
namespace {

std::string ids_json(const std::vector<int32_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

XLSTM_COMMAND("generate", "generate text from a prompt", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    PromptOpts p;
    int n = 128;
    SamplingParams s;
    std::vector<int32_t> stop_ids;
    bool ignore_eos = false, print_ids = false, quiet = false;
    std::string save_state, load_state;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, false);
  add_prompt_opts(sub, o->p);
  sub.add_option("-n,--n-predict", o->n, "number of tokens to generate")->capture_default_str();
  sub.add_option("--temp", o->s.temperature, "temperature (0: greedy)")->capture_default_str();
  sub.add_option("--top-k", o->s.top_k, "top-k (0: off)")->capture_default_str();
  sub.add_option("--top-p", o->s.top_p, "top-p (1: off)")->capture_default_str();
  sub.add_option("--min-p", o->s.min_p, "min-p (0: off)")->capture_default_str();
  sub.add_option("--repeat-penalty", o->s.repeat_penalty, "repetition penalty (1: off)")->capture_default_str();
  sub.add_option("--repeat-last-n", o->s.repeat_last_n, "tokens the penalty looks back (-1: all)")
      ->capture_default_str();
  sub.add_option("-s,--seed", o->s.seed, "random seed")->capture_default_str();
  sub.add_option("--stop-id", o->stop_ids, "token id that ends generation (repeatable)");
  sub.add_flag("--ignore-eos", o->ignore_eos, "do not stop at the end-of-sequence token");
  sub.add_flag("--print-ids", o->print_ids, "print the generated ids as a JSON array on the last line");
  sub.add_flag("-q,--quiet", o->quiet, "print no text (with --print-ids: only the ids)");
  sub.add_option("--save-state", o->save_state, "save the state after the prompt to this file");
  sub.add_option("--load-state", o->load_state, "start from a saved state (the prompt continues it)");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->n >= 0, "-n must be >= 0, got {}", o->n);
    Sampler(o->s).validate();  // bad sampling flags fail before any work (or a --save-state file)
    Loaded L = load(o->m);
    Prompt pr = make_prompt(o->p, *L.model, /*continuing=*/!o->load_state.empty());
    State st(*L.model);
    if (!o->load_state.empty()) st.load(o->load_state);
    GenerateOptions g;
    g.n_predict = o->n;
    g.sampling = o->s;
    g.stop_ids = o->stop_ids;
    g.stop_at_eos = !o->ignore_eos;
    if (!o->quiet && !pr.text.empty()) {  // echo the prompt, as llama.cpp does
      std::fwrite(pr.text.data(), 1, pr.text.size(), stdout);
      std::fflush(stdout);
    }
    TextStream out(pr.tokenizer, !o->quiet);
    auto cb = [&](int32_t t) { return out.push(t); };
    Generation res;
    if (!o->save_state.empty()) {  // consume the whole prompt, save, then continue from its logits
      auto t0 = std::chrono::steady_clock::now();
      std::vector<float> logits = prefill(*L.model, st, pr.ids);
      const double t_prefill = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      st.save(o->save_state);
      res = continue_generation(*L.model, st, std::move(logits), pr.ids, g, cb);
      res.prompt_tokens = int64_t(pr.ids.size());
      res.prefill_seconds = t_prefill;
    } else {
      res = generate(*L.model, st, pr.ids, g, cb);
    }
    out.finish();
    std::fprintf(stderr, "prompt %lld tokens in %.3f s (%.1f tok/s); generated %zu tokens in %.3f s (%.2f tok/s)\n",
                 (long long)res.prompt_tokens, res.prefill_seconds, double(res.prompt_tokens) / res.prefill_seconds,
                 res.tokens.size(), res.decode_seconds,
                 res.tokens.size() > 1 ? double(res.tokens.size() - 1) / res.decode_seconds : 0.0);
    if (o->print_ids) std::printf("%s\n", ids_json(res.tokens).c_str());
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
