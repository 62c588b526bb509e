// Why: `xlstm perplexity`: perplexity of a text file (tokenized with the model's tokenizer, BOS first
// when the model uses one) or of token ids, in one recurrent pass.
#include <cstdio>

#include "command.h"
#include "common/check.h"
#include "io/npy.h"
#include "model_opts.h"
#include "prompt.h"
#include "runtime/perplexity.h"

namespace xlstm::cli {
namespace {

XLSTM_COMMAND("perplexity", "perplexity of a text or of token ids", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    PromptOpts p;
    int segment = 512;
    int64_t max_tokens = 0;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, false);
  o->m.tune_for_prefill = true;  // perplexity is all prefill
  add_prompt_opts(sub, o->p);
  sub.add_option("--segment", o->segment, "tokens per forward call")->capture_default_str();
  sub.add_option("--max-tokens", o->max_tokens, "use only the first N tokens (0: all)");
  return std::function<int()>([o] {
    Loaded L = load(o->m);
    Prompt pr = make_prompt(o->p, *L.model, false);
    XLSTM_CHECK(o->max_tokens >= 0, "--max-tokens must be >= 0");
    if (o->max_tokens > 0 && int64_t(pr.ids.size()) > o->max_tokens) pr.ids.resize(size_t(o->max_tokens));
    PerplexityResult r = perplexity(*L.model, pr.ids, o->segment, [](int64_t done, int64_t total) {
      std::fprintf(stderr, "\r%lld / %lld tokens", (long long)done, (long long)total);
    });
    std::fprintf(stderr, "\n");
    std::printf("tokens %lld, predicted %lld, mean NLL %.6f nats, perplexity %.4f (%.1f tok/s)\n",
                (long long)pr.ids.size(), (long long)r.predicted, r.nll_sum / double(r.predicted), r.ppl(),
                double(r.predicted) / r.seconds);
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
