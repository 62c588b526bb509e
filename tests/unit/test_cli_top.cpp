// Why: `xlstm top` shows a live server's /metrics. The Prometheus text parser it reads them with is checked
// on its own (labels, escapes, special values, bad lines); the two counters the server added for it
// (generated tokens, uptime) are checked against requests; and the built binary's --once snapshot is checked
// against the bundled model served on a free port (in-process, idle and while a stream runs, and by the
// `xlstm serve` binary), plus the one-line error for a server that is not there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <regex>

#include "io/mapped_file.h"
#include "server/prometheus_text.h"
#include "server_test_support.h"
#include "test_support.h"

namespace xlstm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

std::string describe(const test::CliResult& r) {
  return "exit " + std::to_string(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

TEST(PrometheusText, ParsesSamplesLabelsAndSpecialValues) {
  const auto m = server::parse_metrics_text(
      "# HELP a_total things\n# TYPE a_total counter\na_total 12\n"
      "b{path=\"device\"} 3\nb{path=\"host\", x=\"q\\\"uo\\\\te\\n\"} 4.5 1700000000000\r\n"
      "\n   \nc NaN\nd +Inf\ne -Inf\nf 1e3\nweird line with words\ng{unclosed=\"x} 1\nh\ni 12abc\nj 1 -\n");
  EXPECT_EQ(m.get("a_total"), 12.0);
  EXPECT_EQ(m.get("b", {{"path", "device"}}), 3.0);
  EXPECT_EQ(m.get("b", {{"path", "host"}, {"x", "q\"uo\\te\n"}}), 4.5);
  EXPECT_EQ(m.get("b"), std::nullopt);  // no unlabelled b
  EXPECT_EQ(m.sum("b"), 7.5);
  EXPECT_EQ(m.sum("missing"), std::nullopt);
  ASSERT_TRUE(m.get("c"));
  EXPECT_TRUE(std::isnan(*m.get("c")));
  EXPECT_EQ(m.get("d"), INFINITY);
  EXPECT_EQ(m.get("e"), -INFINITY);
  EXPECT_EQ(m.get("f"), 1000.0);
  EXPECT_EQ(m.samples.size(), 7u);
  EXPECT_EQ(m.bad_lines, 5);  // words, unclosed label, no value, bad number, bad timestamp
  EXPECT_EQ(server::parse_metrics_text("").samples.size(), 0u);
}

class CliTop : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions o;
    o.scheduler.parallel = 2;
    o.max_tokens = 1000000;
    srv_ = std::make_unique<test::TestServer>(test::source_dir() + "/models/xlstm-kjv-tiny", o);
    url_ = "http://127.0.0.1:" + std::to_string(srv_->port());
  }
  test::CliResult top(const std::string& extra = "") {
    return test::run_cli("top --once --interval 0.3 --url " + url_ + " " + extra);
  }
  std::unique_ptr<test::TestServer> srv_;
  std::string url_;
};

TEST_F(CliTop, ServerCountsGeneratedTokensAndUptime) {
  test::Reply r = test::post(*srv_, "/v1/completions",
                             R"({"prompt": [0, 5, 17], "max_tokens": 5, "ignore_eos": true, "temperature": 0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(test::metric(*srv_, "xlstm_generated_tokens_total"), 5);
  EXPECT_EQ(test::metric(*srv_, "xlstm_prefill_tokens_total"), 3);
  const auto m = server::parse_metrics_text(test::get(*srv_, "/metrics").body);
  EXPECT_EQ(m.bad_lines, 0);
  ASSERT_TRUE(m.get("xlstm_uptime_seconds"));
  EXPECT_GE(*m.get("xlstm_uptime_seconds"), 0.0);
  EXPECT_LT(*m.get("xlstm_uptime_seconds"), 600.0);
}

TEST_F(CliTop, OnceShowsAnIdleServersTotals) {
  test::Reply r = test::post(*srv_, "/v1/completions",
                             R"({"prompt": [0, 5, 17], "max_tokens": 5, "ignore_eos": true, "temperature": 0})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto t = top();
  ASSERT_EQ(t.code, 0) << describe(t);
  EXPECT_THAT(t.out, HasSubstr("xlstm top  " + url_ + "  model xlstm-kjv-tiny  health ok  uptime 0h00m")) << t.out;
  EXPECT_THAT(t.out, HasSubstr("requests   running 0  queued 0  finished 1  failed 0  cancelled 0  total 1\n"));
  EXPECT_THAT(t.out, HasSubstr("slots      busy 0 / 2\n"));
  EXPECT_THAT(t.out, HasSubstr("tokens/s   prompt 0.0  generated 0.0  (over 0.")) << t.out;
  EXPECT_THAT(t.out, HasSubstr("tokens     prompt 3  generated 5\n"));
  EXPECT_THAT(t.out, HasSubstr("largest batch 1\n"));
  EXPECT_EQ(t.out.find("\x1b["), std::string::npos) << "no ANSI codes when stdout is not a terminal";
  EXPECT_EQ(t.err, "");
}

TEST_F(CliTop, OnceShowsARunningStreamsRate) {
  std::atomic<bool> done{false};
  auto stream = std::async(std::launch::async, [&] {
    return test::post_stream(*srv_, "/v1/completions",
                             R"({"prompt": [0, 5], "max_tokens": 1000000, "ignore_eos": true, "stream": true})",
                             [&](const json&) { return !done.load(); });
  });
  ASSERT_TRUE(test::wait_metric(*srv_, "xlstm_slots_busy", [](int64_t v) { return v == 1; }));
  const auto t = top();
  done = true;
  stream.get();
  ASSERT_EQ(t.code, 0) << describe(t);
  EXPECT_THAT(t.out, HasSubstr("requests   running 1  queued 0  finished 0")) << t.out;
  EXPECT_THAT(t.out, HasSubstr("slots      busy 1 / 2\n"));
  std::smatch mt;
  const std::string out = t.out;
  ASSERT_TRUE(std::regex_search(out, mt, std::regex("tokens/s   prompt ([0-9.]+)  generated ([0-9.]+)"))) << out;
  EXPECT_GT(std::stod(mt[2].str()), 0.0) << out;
}

TEST(CliTopServe, OnceAgainstTheServeBinary) {
  const std::string tmp = test::make_temp_dir();
  {
    test::CliProcess serve({"serve", "--port", "0", "-t", "1", "--parallel", "3", "--alias", "kjv"}, tmp + "/err");
    const int port = test::port_of(serve.line());
    ASSERT_GT(port, 0) << read_text_file(tmp + "/err");
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    const auto t = test::run_cli("top --once --interval 0.2 --url " + url + "/");
    EXPECT_EQ(t.code, 0) << describe(t);
    EXPECT_THAT(t.out, HasSubstr("xlstm top  " + url + "  model kjv  health ok  uptime 0h")) << t.out;
    EXPECT_THAT(t.out, HasSubstr("requests   running 0  queued 0  finished 0  failed 0  cancelled 0  total 0\n"));
    EXPECT_THAT(t.out, HasSubstr("slots      busy 0 / 3\n"));
    ::kill(serve.pid, SIGTERM);
    EXPECT_EQ(serve.wait(), 0);
  }
  test::remove_tree(tmp);
}

TEST(CliTopErrors, UnreachableServerIsAOneLineError) {
  const auto r = test::run_cli("top --once --url http://127.0.0.1:1");
  EXPECT_EQ(r.code, 1) << describe(r);
  EXPECT_THAT(r.err,
              StartsWith("error: cannot reach http://127.0.0.1:1: connection failed (is `xlstm serve` running there?)"))
      << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  EXPECT_EQ(r.out, "");
  const auto bad = test::run_cli("top --once --url ftp://127.0.0.1:1");
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("error: --url must start with http:// or https://"));
  const auto iv = test::run_cli("top --once --interval 0");
  EXPECT_THAT(iv.err, HasSubstr("error: --interval must be in (0, 3600]"));
}

}  // namespace
}  // namespace xlstm
