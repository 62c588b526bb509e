// Why: `xlstm tune` writes a tuning file that later runs read when no -t is given. These tests run the built
// binary with XDG_CACHE_HOME in a temporary directory: the file tune writes has the documented keys, a later
// run takes its thread count (and says so once on stderr), -t / --no-tune / XLSTM_NO_TUNE override it, and
// a malformed file or an entry for another device or model never breaks a run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>

#include "io/mapped_file.h"
#include "test_support.h"

namespace xlstm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;

std::string describe(const test::CliResult& r) {
  return "exit " + std::to_string(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

class CliTune : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = test::make_temp_dir();
    ::setenv("XDG_CACHE_HOME", (tmp_ + "/cache").c_str(), 1);
    ::unsetenv("XLSTM_NO_TUNE");
    ::unsetenv("XLSTM_THREADS");
    file_ = tmp_ + "/cache/xlstm/tune.json";
    std::filesystem::create_directories(tmp_ + "/cache/xlstm");
  }
  void TearDown() override {
    ::unsetenv("XDG_CACHE_HOME");
    ::unsetenv("XLSTM_NO_TUNE");
    test::remove_tree(tmp_);
  }
  // Tunes the bundled model (small measurements) into the default file; returns its JSON.
  json tune() {
    const auto r = test::run_cli("tune -n 4 -p 16 -r 1 --candidates 1,2");
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_THAT(r.out, HasSubstr("wrote " + file_)) << describe(r);
    return json::parse(read_text_file(file_));
  }
  test::CliResult generate(const std::string& extra = "") {
    return test::run_cli("generate -p 'In the beginning' -n 3 --temp 0 " + extra);
  }
  std::string tmp_, file_;
};

TEST_F(CliTune, WritesAnEntryWithTheDocumentedKeys) {
  const json j = tune();
  EXPECT_EQ(j["version"], 1);
  ASSERT_EQ(j["entries"].size(), 1u) << j.dump(2);
  const json& e = j["entries"][0];
  EXPECT_THAT(e["device"].get<std::string>(), StartsWith("cpu:"));
  EXPECT_THAT(e["model"].get<std::string>(), StartsWith("xlstm:L6:NH4:DK32:DV64:V4096:D256:"));
  EXPECT_EQ(e["backend"], "cpu");
  for (const char* k : {"threads", "prefill_threads"}) {
    ASSERT_TRUE(e[k].is_number_integer()) << k;
    EXPECT_TRUE(e[k] == 1 || e[k] == 2) << e.dump(2);
  }
  for (const char* k : {"decode", "prefill"}) {
    ASSERT_EQ(e[k].size(), 2u) << k;
    for (const auto& m : e[k]) EXPECT_GT(m["tokens_per_s"].get<double>(), 0) << e.dump(2);
  }
  // Tuning again replaces the entry; entries for other devices stay.
  json other = e;
  other["device"] = "cpu:some other machine:64t";
  json both = {{"version", 1}, {"entries", {other, e}}};
  test::write_file(file_, both.dump());
  const json again = tune();
  ASSERT_EQ(again["entries"].size(), 2u) << again.dump(2);
  EXPECT_EQ(again["entries"][0]["device"], "cpu:some other machine:64t");
  EXPECT_EQ(again["entries"][1]["device"], e["device"]);
}

TEST_F(CliTune, LaterRunsUseTheRecordedThreadCount) {
  json j = tune();
  j["entries"][0]["threads"] = 1;
  j["entries"][0]["prefill_threads"] = 2;
  test::write_file(file_, j.dump());
  const auto r = generate();
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("note: using 1 thread from " + file_)) << describe(r);
  // perplexity is prefill-only: it takes prefill_threads.
  test::write_file(tmp_ + "/t.txt", "In the beginning God created the heaven and the earth.");
  const auto p = test::run_cli("perplexity -f " + test::shell_quote(tmp_ + "/t.txt"));
  EXPECT_EQ(p.code, 0) << describe(p);
  EXPECT_THAT(p.err, HasSubstr("note: using 2 threads from " + file_)) << describe(p);
  // The same tokens as a run told its threads.
  const auto plain = generate("-t 1");
  EXPECT_EQ(plain.code, 0) << describe(plain);
  EXPECT_EQ(r.out, plain.out);
  EXPECT_THAT(plain.err, Not(HasSubstr("tune.json")));
  EXPECT_THAT(generate("--no-tune").err, Not(HasSubstr("tune.json")));
  ::setenv("XLSTM_NO_TUNE", "1", 1);
  EXPECT_THAT(generate().err, Not(HasSubstr("tune.json")));
}

TEST_F(CliTune, MalformedFileIsIgnoredWithAWarning) {
  const auto want = generate("--no-tune");
  ASSERT_EQ(want.code, 0) << describe(want);
  for (const std::string bad : {"{not json", "[]", R"({"version": 1, "entries": [{"model": "x"}]})",
                                R"({"version": 2, "entries": []})"}) {
    test::write_file(file_, bad);
    const auto r = generate();
    EXPECT_EQ(r.code, 0) << bad << "\n" << describe(r);
    EXPECT_THAT(r.err, HasSubstr("warning: ignoring tune file '" + file_ + "'")) << bad;
    EXPECT_EQ(r.out, want.out) << bad;
  }
  // A matching entry with a bad thread count: warned about and ignored too.
  json j = tune();
  j["entries"][0]["threads"] = "many";
  test::write_file(file_, j.dump());
  const auto r = generate();
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("no valid \"threads\"")) << describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("note: using"))) << describe(r);
}

TEST_F(CliTune, EntriesForAnotherDeviceOrModelAreNotUsed) {
  json j = tune();
  json dev = j["entries"][0], model = j["entries"][0];
  dev["device"] = "cpu:some other machine:64t";
  model["model"] = "xlstm:L32:NH8:DK256:DV512:V50304:D4096:F10944:BF16";
  test::write_file(file_, json{{"version", 1}, {"entries", {dev, model}}}.dump());
  const auto r = generate();
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_EQ(r.err.find("tune"), std::string::npos) << describe(r);
}

TEST_F(CliTune, OutputOptionAndBadCandidates) {
  const std::string out = tmp_ + "/elsewhere/t.json";
  const auto r = test::run_cli("tune -n 2 -p 8 -r 1 --candidates 1 -o " + test::shell_quote(out));
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_EQ(json::parse(read_text_file(out))["entries"][0]["threads"], 1);
  EXPECT_FALSE(file_exists(file_));
  const auto bad = test::run_cli("tune --candidates 0");
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("error: --candidates: thread count 0 is out of range"));
}

}  // namespace
}  // namespace xlstm
