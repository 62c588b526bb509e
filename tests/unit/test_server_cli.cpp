// Why: `xlstm serve` as users run it: a subprocess that prints its URL on one line, answers over HTTP,
// and exits 0 on SIGTERM or SIGINT (also with a stream running); bad options and a taken port are one-line
// errors with a non-zero exit, like every other command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>

#include "io/mapped_file.h"
#include "server_test_support.h"
#include "test_support.h"

namespace xlstm {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

using test::port_of;

class ServerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = test::make_temp_dir();
    model_ = tmp_ + "/model";
    std::filesystem::create_directories(model_);
    test::write_tiny_model(model_, test::TinySpec{});
  }
  void TearDown() override { test::remove_tree(tmp_); }
  std::string tmp_, model_;
};

TEST_F(ServerCli, ServesAndExitsCleanlyOnSigterm) {
  test::CliProcess c({"serve", "-m", model_, "--port", "0", "-t", "1", "--parallel", "2", "--log-requests"},
                     tmp_ + "/err");
  const std::string startup = c.line();
  EXPECT_THAT(startup, HasSubstr("xlstm serve: listening on http://127.0.0.1:"));
  EXPECT_THAT(startup, HasSubstr("model model, cpu backend, 2 slots, chat format transcript"));
  const int port = port_of(startup);
  ASSERT_GT(port, 0) << startup << "\n" << read_text_file(tmp_ + "/err");
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(120, 0);
  auto h = cli.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = cli.Post("/v1/completions", R"({"prompt": [1, 2], "max_tokens": 5, "ignore_eos": true})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["choices"][0]["token_ids"].size(), 5u);
  ::kill(c.pid, SIGTERM);
  EXPECT_EQ(c.wait(), 0);
  const std::string err = read_text_file(tmp_ + "/err");
  EXPECT_THAT(err, HasSubstr("POST /v1/completions 200"));
  EXPECT_THAT(err, HasSubstr("xlstm serve: SIGTERM, shutting down"));
  EXPECT_THAT(err, HasSubstr("xlstm serve: stopped"));
}

TEST_F(ServerCli, SigintWithAStreamRunningExitsCleanly) {
  test::CliProcess c({"serve", "-m", model_, "--port", "0", "-t", "1", "--max-tokens", "100000000"}, tmp_ + "/err");
  const int port = port_of(c.line());
  ASSERT_GT(port, 0) << read_text_file(tmp_ + "/err");
  std::promise<void> started;
  auto stream = std::async(std::launch::async, [&] {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(120, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt": [1], "max_tokens": 100000000, "ignore_eos": true, "stream": true})";
    req.set_header("Content-Type", "application/json");
    bool first = true;
    std::string got;
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      got.append(d, n);
      if (first) started.set_value(), first = false;
      return true;
    };
    httplib::Response res;
    httplib::Error err;
    cli.send(req, res, err);
    if (first) started.set_value();
    return got;
  });
  started.get_future().wait();
  ::kill(c.pid, SIGINT);
  EXPECT_EQ(c.wait(), 0);
  const std::string got = stream.get();  // the stream ended (connection closed) rather than running on
  EXPECT_THAT(got, HasSubstr("data: {"));
  EXPECT_THAT(got, ::testing::Not(HasSubstr("[DONE]")));
  EXPECT_THAT(read_text_file(tmp_ + "/err"), HasSubstr("xlstm serve: SIGINT, shutting down"));
}

TEST_F(ServerCli, BadOptionsAndATakenPortAreOneLineErrors) {
  for (const std::string& args : {std::string("--parallel 0"), std::string("--max-prompt-tokens 0"),
                                  std::string("--port 70000"), std::string("--max-queue -1")}) {
    test::CliResult r = test::run_cli("serve -m " + test::shell_quote(model_) + " -t 1 " + args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_LT(r.code, 128) << args;
    EXPECT_THAT(r.err, ::testing::StartsWith("error: ")) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  httplib::Server taken;
  const int port = taken.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  test::CliResult r = test::run_cli("serve -m " + test::shell_quote(model_) + " -t 1 --port " + std::to_string(port));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("error: cannot listen on 127.0.0.1:" + std::to_string(port)));
}

}  // namespace
}  // namespace xlstm
