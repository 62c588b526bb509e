// Why: parity with the reference implementation. Every model under tests/fixtures/models was built
// and run by transformers 5.17 (scripts/make_fixtures.py, float32 on the CPU); our CPU logits must
// match within 1e-4 relative max error (max |ours - ref| / max |ref|) for every prompt length, and our
// greedy continuations must equal transformers' token for token.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "io/mapped_file.h"
#include "io/npy.h"
#include "model/model.h"
#include "model/state.h"
#include "runtime/generate.h"
#include "test_support.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> fixture_models() {
  std::vector<std::string> out;
  const fs::path root = fs::path(test::source_dir()) / "tests/fixtures/models";
  if (fs::exists(root))
    for (auto& e : fs::directory_iterator(root))
      if (fs::exists(e.path() / "config.json")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FixturesHF, AtLeastSixModelsArePresent) { EXPECT_GE(fixture_models().size(), 6u); }

class FixtureModel : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureModel, LogitsMatchTransformers) {
  const std::string dir = GetParam();
  auto be = make_backend("cpu", 2);
  auto model = load_model(dir, *be);
  const int64_t V = model->info().vocab_size;
  int cases = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("logits_", 0) != 0) continue;
    // logits_<L>.npy (all rows) or logits_<L>_last<K>.npy (the last K rows)
    std::string stem = f.substr(7, f.size() - 11);
    int L = std::stoi(stem);
    std::vector<int64_t> shape;
    auto ref = read_npy_f32(e.path().string(), &shape);
    ASSERT_EQ(shape.size(), 2u);
    ASSERT_EQ(shape[1], V);
    auto ids = read_npy_ids(dir + "/ids_" + std::to_string(L) + ".npy");
    ASSERT_EQ(int(ids.size()), L);
    const int n_out = int(shape[0]);
    for (int chunk : {model->info().default_chunk > 0 ? int(model->info().default_chunk) : 64, 16}) {
      model->set_chunk(chunk);
      State st(*model);
      float* p = st.data();
      std::vector<float> got(size_t(n_out) * size_t(V));
      model->forward(ids.data(), 1, L, &p, n_out, got.data());
      EXPECT_LT(test::rel_max_err(got.data(), ref.data(), ref.size()), 1e-4) << f << " chunk " << chunk;
    }
    ++cases;
  }
  EXPECT_GE(cases, 5) << dir;
}

TEST_P(FixtureModel, GreedyContinuationsMatchTransformers) {
  const std::string dir = GetParam();
  auto be = make_backend("cpu", 2);
  auto model = load_model(dir, *be);
  auto j = nlohmann::json::parse(read_text_file(dir + "/expected.json"));
  ASSERT_TRUE(j.contains("cases"));
  for (auto& [len, c] : j["cases"].items()) {
    auto ids = read_npy_ids(dir + "/ids_" + len + ".npy");
    auto want = c["greedy_new"].get<std::vector<int32_t>>();
    State st(*model);
    GenerateOptions g;
    g.n_predict = int(want.size());
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    auto got = generate(*model, st, ids, g).tokens;
    EXPECT_EQ(got, want) << dir << " prompt length " << len;
  }
}

INSTANTIATE_TEST_SUITE_P(All, FixtureModel, ::testing::ValuesIn(fixture_models()),
                         [](const auto& info) {
                           std::string n = fs::path(info.param).filename().string();
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FixtureModel);

}  // namespace
}  // namespace xlstm
