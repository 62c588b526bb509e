// Why: continuous batching must batch and must not change results. Requests served together (decode steps
// with B > 1, shown by /metrics) give exactly the ids each gives when served alone with the same seed, on
// both sampling paths (device Decoder; host sampling for the repetition penalty) and with chunked prefill of
// long prompts joining a running batch. A streaming client that hangs up frees its slot, and a full queue
// answers 429. No timing is asserted: an "anchor" stream keeps the batch busy for as long as a test needs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "server_test_support.h"
#include "test_support.h"

namespace xlstm {
namespace {

using json = nlohmann::json;
using test::Reply;
using test::TestServer;

// A streaming request that runs until release() (ignore_eos, a huge max_tokens); started() returns once
// its first tokens arrived, so it holds a slot and is decoding.
class Anchor {
 public:
  // host_path: with a repetition penalty, so it decodes on the host-sampling path.
  Anchor(const TestServer& s, int max_tokens, bool host_path = false) {
    json body = {{"prompt", {3, 1, 4}}, {"max_tokens", max_tokens}, {"ignore_eos", true}, {"stream", true},
                 {"seed", 1}};
    if (host_path) body["repetition_penalty"] = 1.2;
    thread_ = std::thread([this, &s, body] {
      reply_ = test::post_stream(s, "/v1/completions", body.dump(), [this](const json&) {
        if (!signalled_.exchange(true)) started_.set_value();
        return !release_.load();
      });
      if (!signalled_.exchange(true)) started_.set_value();  // ended without events: do not hang the test
    });
  }
  ~Anchor() { release(); }
  void wait_started() { started_.get_future().wait(); }
  void release() {
    release_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const test::StreamReply& reply() const { return reply_; }

 private:
  std::thread thread_;
  std::promise<void> started_;
  std::atomic<bool> signalled_{false}, release_{false};
  test::StreamReply reply_;
};

class ServerBatching : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir() + "/tiny";
    std::filesystem::create_directories(dir_);
    test::write_tiny_model(dir_, test::TinySpec{});
  }
  void TearDown() override { test::remove_tree(dir_.substr(0, dir_.rfind('/'))); }
  std::string dir_;
};

TEST_F(ServerBatching, ConcurrentRequestsEqualTheSameRequestsServedAlone) {
  server::ServerOptions o;
  o.scheduler.parallel = 4;
  o.scheduler.prefill_chunk = 8;  // the long prompts below take several chunks, interleaved with decoding
  o.max_tokens = 1000000;
  TestServer srv(dir_, o);
  const std::vector<json> reqs = {
      {{"prompt", {0, 5, 9}}, {"max_tokens", 40}, {"seed", 1}, {"temperature", 0.9}},
      {{"prompt", test::random_ids(37, 61, 2)}, {"max_tokens", 30}, {"seed", 2}, {"top_k", 10}},
      {{"prompt", {7}}, {"max_tokens", 25}, {"temperature", 0}},
      {{"prompt", test::random_ids(12, 61, 4)}, {"max_tokens", 30}, {"seed", 4}, {"repetition_penalty", 1.3},
       {"top_p", 0.9}},
      {{"prompt", test::random_ids(50, 61, 5)}, {"max_tokens", 35}, {"seed", 5}, {"repetition_penalty", 1.1},
       {"min_p", 0.1}, {"ignore_eos", true}},
      {{"prompt", {2, 2, 2}}, {"max_tokens", 45}, {"seed", 6}, {"top_k", 5}, {"ignore_eos", true}},
      {{"prompt", test::random_ids(20, 61, 7)}, {"max_tokens", 33}, {"seed", 7}, {"temperature", 1.5},
       {"ignore_eos", true}},
  };
  auto ids_of = [](const Reply& r) { return r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(); };
  std::vector<std::vector<int32_t>> alone;
  for (const json& r : reqs) {  // one at a time: every decode step has B = 1
    Reply rep = test::post(srv, "/v1/completions", r.dump());
    ASSERT_EQ(rep.status, 200) << rep.body;
    alone.push_back(ids_of(rep));
  }
  const std::string dev = "{path=\"device\"}", host = "{path=\"host\"}";
  EXPECT_EQ(test::metric(srv, "xlstm_decode_batch_max" + dev), 1);
  EXPECT_EQ(test::metric(srv, "xlstm_decode_batch_max" + host), 1);
  EXPECT_EQ(test::metric(srv, "xlstm_decode_steps_batched_total" + dev), 0);
  EXPECT_EQ(test::metric(srv, "xlstm_decode_steps_batched_total" + host), 0);

  // Now all at once, next to two anchor streams (one per sampling path) that decode the whole time: every
  // request shares its decode steps with an anchor at least; 7 requests for 2 free slots also queue and
  // join the batch as others leave.
  Anchor anchor(srv, 1000000), host_anchor(srv, 1000000, /*host_path=*/true);
  anchor.wait_started();
  host_anchor.wait_started();
  std::vector<std::future<Reply>> futs;
  for (const json& r : reqs)
    futs.push_back(std::async(std::launch::async, [&srv, r] { return test::post(srv, "/v1/completions", r.dump()); }));
  for (size_t i = 0; i < reqs.size(); ++i) {
    Reply rep = futs[i].get();
    ASSERT_EQ(rep.status, 200) << rep.body;
    EXPECT_EQ(ids_of(rep), alone[i]) << "request " << i << " changed when batched: " << reqs[i].dump();
  }
  anchor.release();
  host_anchor.release();
  EXPECT_GE(test::metric(srv, "xlstm_decode_batch_max" + dev), 2);
  EXPECT_GE(test::metric(srv, "xlstm_decode_batch_max" + host), 2);
  EXPECT_GT(test::metric(srv, "xlstm_decode_steps_batched_total" + dev), 0);
  EXPECT_GT(test::metric(srv, "xlstm_decode_steps_batched_total" + host), 0);
  EXPECT_TRUE(test::wait_metric(srv, "xlstm_slots_busy", [](int64_t v) { return v == 0; }));
  EXPECT_EQ(test::metric(srv, "xlstm_requests_cancelled_total"), 2);  // the anchors
}

TEST_F(ServerBatching, StreamingClientThatHangsUpIsCancelled) {
  server::ServerOptions o;
  o.scheduler.parallel = 2;
  o.max_tokens = 1000000;
  TestServer srv(dir_, o);
  int seen = 0;
  const json body = {{"prompt", {1, 2, 3}}, {"max_tokens", 1000000}, {"ignore_eos", true}, {"stream", true}};
  test::StreamReply r = test::post_stream(srv, "/v1/completions", body.dump(), [&](const json&) { return ++seen < 3; });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(seen, 3);
  EXPECT_FALSE(r.done);
  // The server notices at its next write, ends the sequence and frees the slot long before 1e6 tokens.
  EXPECT_TRUE(test::wait_metric(srv, "xlstm_requests_cancelled_total", [](int64_t v) { return v == 1; }));
  EXPECT_TRUE(test::wait_metric(srv, "xlstm_slots_busy", [](int64_t v) { return v == 0; }));
  EXPECT_EQ(test::metric(srv, "xlstm_requests_finished_total"), 0);
  Reply after = test::post(srv, "/v1/completions", R"({"prompt": [5], "max_tokens": 3, "ignore_eos": true})");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.json["choices"][0]["token_ids"].size(), 3u);
}

TEST_F(ServerBatching, FullQueueAnswers429AndTheQueuedRequestStillRuns) {
  server::ServerOptions o;
  o.scheduler.parallel = 1;
  o.scheduler.max_queue = 1;
  o.max_tokens = 1000000;
  TestServer srv(dir_, o);
  Anchor anchor(srv, 1000000);  // holds the only slot
  anchor.wait_started();
  auto queued = std::async(std::launch::async, [&srv] {
    return test::post(srv, "/v1/completions", R"({"prompt": [9, 9], "max_tokens": 4, "ignore_eos": true})");
  });
  ASSERT_TRUE(test::wait_metric(srv, "xlstm_requests_queued", [](int64_t v) { return v == 1; }));
  Reply busy = test::post(srv, "/v1/completions", R"({"prompt": [1], "max_tokens": 1})");
  EXPECT_EQ(busy.status, 429) << busy.body;
  ASSERT_TRUE(busy.json.is_object() && busy.json.contains("error")) << busy.body;
  EXPECT_EQ(busy.json["error"]["type"], "rate_limit_error");
  EXPECT_EQ(busy.json["error"]["code"], "too_many_requests");
  EXPECT_THAT(busy.json["error"]["message"].get<std::string>(), ::testing::HasSubstr("too many requests"));
  test::StreamReply busy_stream = test::post_stream(srv, "/v1/completions", R"({"prompt": [1], "stream": true})");
  EXPECT_EQ(busy_stream.status, 429) << busy_stream.body;
  anchor.release();  // hang up: the slot frees and the queued request runs
  Reply q = queued.get();
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.json["choices"][0]["token_ids"].size(), 4u);
}

TEST_F(ServerBatching, StopEndsRunningAndQueuedRequestsWith503) {
  server::ServerOptions o;
  o.scheduler.parallel = 1;
  o.max_tokens = 1000000;
  auto srv = std::make_unique<TestServer>(dir_, o);
  Anchor anchor(*srv, 1000000);
  anchor.wait_started();
  auto queued = std::async(std::launch::async, [&srv] {
    return test::post(*srv, "/v1/completions", R"({"prompt": [9], "max_tokens": 4})");
  });
  ASSERT_TRUE(test::wait_metric(*srv, "xlstm_requests_queued", [](int64_t v) { return v == 1; }));
  srv->http().stop();
  Reply q = queued.get();
  EXPECT_EQ(q.status, 503) << q.body;
  ASSERT_TRUE(q.json.is_object() && q.json.contains("error")) << q.body;
  EXPECT_THAT(q.json["error"]["message"].get<std::string>(), ::testing::HasSubstr("shutting down"));
  anchor.release();
  EXPECT_FALSE(anchor.reply().done);  // the stream ended without [DONE]: it did not finish
  srv.reset();
}

}  // namespace
}  // namespace xlstm
