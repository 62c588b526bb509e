// Why: generate() on CUDA (prefill, then the Decoder's graph-captured steps with device sampling) must
// leave the state exactly where its contract says when the caller stops it: after the prompt and every
// returned id but the last, which is pending and never fed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../unit/test_support.h"
#include "model/model.h"
#include "model/state.h"
#include "runtime/generate.h"

namespace xlstm {
namespace {

class CudaGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    dir_ = test::make_temp_dir();
    test::TinySpec spec;
    spec.heads = 2, spec.hidden = 64;
    test::write_tiny_model(dir_, spec);
    be_ = make_backend("cuda");
    LoadOptions lo;
    lo.dtype = "f32";
    model_ = load_model(dir_, *be_, lo);
  }
  void TearDown() override {
    model_.reset();
    be_.reset();
    if (!dir_.empty()) test::remove_tree(dir_);
  }
  std::vector<float> host(const State& s) {
    std::vector<float> h(s.floats());
    be_->synchronize();
    be_->download(h.data(), s.data(), h.size() * 4);
    return h;
  }
  static SamplingParams params(int b) {
    SamplingParams p;
    p.temperature = b == 0 ? 0.f : 0.8f, p.top_k = 20, p.seed = 11 + uint64_t(b);
    return p;
  }
  std::string dir_;
  std::unique_ptr<Backend> be_;
  std::unique_ptr<Model> model_;
};

// generate() stopping on a callback (a host-side decision the device cannot know) leaves the state
// exactly after the ids it returned, minus the last (which is pending, never fed).
TEST_F(CudaGenerate, GenerateStoppedByCallbackLeavesTheStateExact) {
  const auto prompt = test::random_ids(23, 61, 7);
  GenerateOptions g;
  g.n_predict = 12, g.stop_at_eos = false, g.sampling = params(1);
  State full(*model_);
  const Generation all = generate(*model_, full, prompt, g);
  ASSERT_EQ(all.tokens.size(), 12u);
  State part(*model_);
  int seen = 0;
  const Generation cut = generate(*model_, part, prompt, g, [&](int32_t) { return ++seen < 6; });
  ASSERT_EQ(cut.tokens.size(), 6u);
  EXPECT_EQ(cut.tokens, std::vector<int32_t>(all.tokens.begin(), all.tokens.begin() + 6));
  // The reference: the prompt and the first five ids fed by a forward pass.
  State ref(*model_);
  std::vector<int32_t> fed = prompt;
  fed.insert(fed.end(), all.tokens.begin(), all.tokens.begin() + 5);
  prefill(*model_, ref, fed);
  EXPECT_EQ(part.n_tokens, ref.n_tokens);
  const auto a = host(part), r = host(ref);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - r[i])) / (1.0 + std::fabs(r[i])));
  EXPECT_LT(worst, 1e-4) << "(prefill runs the chunkwise form, decode the step form: float32 rounding apart)";
}

}  // namespace
}  // namespace xlstm
