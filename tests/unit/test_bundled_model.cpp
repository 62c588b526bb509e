// Why: the bundled model models/xlstm-kjv-tiny against what transformers computed from the same bf16
// weights (upcast to float32; scripts/train_tiny.py wrote tests/fixtures/kjv_tiny/expected.json):
// the tokenizer gives the same prompt ids ([bos] + encode), greedy continuations are equal token for
// token, and the held-out slice perplexity is within 0.5% (observed: a few 1e-6 relative).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "io/mapped_file.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/state.h"
#include "runtime/generate.h"
#include "runtime/perplexity.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace xlstm {
namespace {

struct Bundled : ::testing::Test {
  std::string dir = test::source_dir() + "/models/xlstm-kjv-tiny";
  nlohmann::json expected =
      nlohmann::json::parse(read_text_file(test::source_dir() + "/tests/fixtures/kjv_tiny/expected.json"));
};

TEST_F(Bundled, PromptIdsGreedyContinuationsMatchTransformers) {
  auto be = make_backend("cpu", 2);
  auto model = load_model(dir, *be);
  auto tok = Tokenizer::from_dir(dir);
  ASSERT_EQ(expected["prompts"].size(), 3u);
  for (auto& p : expected["prompts"]) {
    auto want_ids = p["prompt_ids"].get<std::vector<int32_t>>();
    auto ids = tok->encode(p["prompt"].get<std::string>());
    ids.insert(ids.begin(), model->info().bos_id);  // force_bos_token_insert
    EXPECT_EQ(ids, want_ids) << p["prompt"];
    State st(*model);
    GenerateOptions g;
    auto want = p["greedy_new"].get<std::vector<int32_t>>();
    g.n_predict = int(want.size());
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    EXPECT_EQ(generate(*model, st, want_ids, g).tokens, want) << p["prompt"];
  }
}

TEST_F(Bundled, HeldOutPerplexityWithinHalfAPercent) {
  auto be = make_backend("cpu", 2);
  auto model = load_model(dir, *be);
  auto ids = read_npy_ids(test::source_dir() + "/tests/fixtures/kjv_tiny/heldout_ids.npy");
  const double want = expected["heldout_slice"]["perplexity"].get<double>();
  const double got = perplexity(*model, ids).ppl();
  EXPECT_LT(std::fabs(got - want) / want, 0.005) << "ours " << got << ", transformers " << want;
}

}  // namespace
}  // namespace xlstm
