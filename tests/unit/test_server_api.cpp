// Why: the server's API contract over real HTTP: every endpoint answers in OpenAI's shapes, results equal
// the runtime's generate() for the same seed, streaming sends the same tokens as a plain reply, and every
// bad request gets the right status and an OpenAI error body naming the problem, without hurting the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "io/mapped_file.h"
#include "model/state.h"
#include "runtime/generate.h"
#include "server/chat.h"
#include "server/openai.h"
#include "server/text_output.h"
#include "server_test_support.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace xlstm {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using test::Reply;
using test::TestServer;

std::string dump(const json& j) { return j.dump(); }

// The shape every error reply must have: {"error": {"message": str, "type": str, "param": str|null, "code": ...}}.
void expect_error(const Reply& r, int status, const std::string& param, const std::string& what,
                  const std::string& code = "") {
  SCOPED_TRACE(r.body);
  EXPECT_EQ(r.status, status);
  ASSERT_TRUE(r.json.is_object() && r.json.contains("error")) << "not an OpenAI error body";
  const json& e = r.json["error"];
  ASSERT_TRUE(e.is_object());
  ASSERT_TRUE(e.contains("message") && e["message"].is_string());
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr(what));
  ASSERT_TRUE(e.contains("type") && e["type"].is_string());
  EXPECT_EQ(e["type"], status == 429   ? "rate_limit_error"
                       : status == 404 ? "not_found_error"
                                       : "invalid_request_error");
  ASSERT_TRUE(e.contains("param") && e.contains("code"));
  if (param.empty())
    EXPECT_TRUE(e["param"].is_null());
  else
    EXPECT_EQ(e["param"], param);
  if (code.empty())
    EXPECT_TRUE(e["code"].is_null());
  else
    EXPECT_EQ(e["code"], code);
}

// ---- a tiny random model (no tokenizer): ids in, ids out ---------------------------------------------------

class ServerTiny : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::make_temp_dir() + "/tiny-model");
    std::filesystem::create_directories(*dir_);
    test::write_tiny_model(*dir_, test::TinySpec{});
    server::ServerOptions o;
    o.scheduler.parallel = 3;
    o.scheduler.prefill_chunk = 16;
    o.max_prompt_tokens = 64;
    o.max_tokens = 200;
    srv_ = new TestServer(*dir_, o);
  }
  static void TearDownTestSuite() {
    delete srv_;
    test::remove_tree(dir_->substr(0, dir_->rfind('/')));
    delete dir_;
  }
  // What runtime/generate.cpp produces for the same request, on a model of our own.
  static std::vector<int32_t> reference(const std::vector<int32_t>& prompt, int n, const SamplingParams& p) {
    auto be = make_backend("cpu", 1);
    auto m = load_model(*dir_, *be);
    State st(*m);
    GenerateOptions g;
    g.n_predict = n;
    g.sampling = p;
    return generate(*m, st, prompt, g).tokens;
  }
  static std::string* dir_;
  static TestServer* srv_;
};
std::string* ServerTiny::dir_ = nullptr;
TestServer* ServerTiny::srv_ = nullptr;

TEST_F(ServerTiny, HealthAndModels) {
  Reply h = test::get(*srv_, "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json, json({{"status", "ok"}}));
  Reply m = test::get(*srv_, "/v1/models");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.json["object"], "list");
  ASSERT_EQ(m.json["data"].size(), 1u);
  EXPECT_EQ(m.json["data"][0]["id"], "tiny-model");
  EXPECT_EQ(m.json["data"][0]["object"], "model");
  Reply met = test::get(*srv_, "/metrics");
  EXPECT_EQ(met.status, 200);
  EXPECT_THAT(met.body, HasSubstr("\nxlstm_slots_total 3\n"));
}

TEST_F(ServerTiny, CompletionFromIdsEqualsRuntimeGenerate) {
  const std::vector<int32_t> prompt = {0, 5, 17, 33, 9};
  SamplingParams p;
  p.temperature = 0.9f, p.top_k = 0, p.top_p = 1.f, p.min_p = 0.f, p.seed = 12345;
  const std::vector<int32_t> want = reference(prompt, 20, p);
  Reply r = test::post(*srv_, "/v1/completions",
                       dump({{"model", "tiny-model"}, {"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0.9},
                             {"seed", 12345}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "text_completion");
  EXPECT_THAT(r.json["id"].get<std::string>(), ::testing::StartsWith("cmpl-"));
  EXPECT_EQ(r.json["model"], "tiny-model");
  const json& c = r.json["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["text"], "");  // no tokenizer: ids only
  EXPECT_EQ(c["token_ids"].get<std::vector<int32_t>>(), want);
  const bool eos = !want.empty() && want.back() == 2;
  EXPECT_EQ(c["finish_reason"], eos ? "stop" : "length");
  EXPECT_EQ(r.json["usage"], json({{"prompt_tokens", 5},
                                   {"completion_tokens", int(want.size())},
                                   {"total_tokens", 5 + int(want.size())}}));
}

TEST_F(ServerTiny, RepetitionPenaltyAndGreedyEqualRuntimeGenerate) {
  const std::vector<int32_t> prompt = test::random_ids(30, 61, 3);  // two prefill chunks of 16
  SamplingParams p;
  p.temperature = 0.7f, p.top_k = 8, p.top_p = 0.9f, p.min_p = 0.f, p.repeat_penalty = 1.3f, p.seed = 77;
  Reply r = test::post(*srv_, "/v1/completions",
                       dump({{"prompt", {prompt[0]}}, {"max_tokens", 12}, {"temperature", 0.7}, {"top_k", 8},
                             {"top_p", 0.9}, {"repetition_penalty", 1.3}, {"seed", 77}, {"ignore_eos", true}}));
  ASSERT_EQ(r.status, 200) << r.body;
  GenerateOptions g;
  auto be = make_backend("cpu", 1);
  auto m = load_model(*dir_, *be);
  State st(*m);
  g.n_predict = 12, g.sampling = p, g.stop_at_eos = false;
  EXPECT_EQ(r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(), generate(*m, st, {prompt[0]}, g).tokens);
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], "length");

  SamplingParams greedy;
  greedy.temperature = 0;
  Reply gr = test::post(*srv_, "/v1/completions", dump({{"prompt", {7, 8}}, {"max_tokens", 9}, {"temperature", 0}}));
  ASSERT_EQ(gr.status, 200) << gr.body;
  EXPECT_EQ(gr.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(), reference({7, 8}, 9, greedy));
}

TEST_F(ServerTiny, MaxTokensEndsWithLengthAndIgnoreEos) {
  Reply r = test::post(*srv_, "/v1/completions",
                       dump({{"prompt", {1, 2, 3}}, {"max_tokens", 150}, {"ignore_eos", true}, {"seed", 3}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["choices"][0]["token_ids"].size(), 150u);
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.json["usage"]["completion_tokens"], 150);
  // Without ignore_eos, generation ends at eos (id 2) with finish_reason "stop", eos counted.
  int stops = 0;
  for (int seed = 0; seed < 8; ++seed) {
    Reply s = test::post(*srv_, "/v1/completions", dump({{"prompt", {4}}, {"max_tokens", 200}, {"seed", seed}}));
    ASSERT_EQ(s.status, 200) << s.body;
    auto ids = s.json["choices"][0]["token_ids"].get<std::vector<int32_t>>();
    const bool eos = ids.back() == 2;
    EXPECT_EQ(s.json["choices"][0]["finish_reason"], eos ? "stop" : "length");
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), eos ? 1 : 0);
    stops += eos;
  }
  EXPECT_GT(stops, 0) << "no sequence met eos in 8 x 200 tokens of a 61-token vocabulary";
}

TEST_F(ServerTiny, StreamSendsTheSameTokensAsAPlainReply) {
  const json req = {{"prompt", {0, 11, 22}}, {"max_tokens", 40}, {"seed", 9}, {"ignore_eos", true}};
  Reply plain = test::post(*srv_, "/v1/completions", dump(req));
  ASSERT_EQ(plain.status, 200) << plain.body;
  json sreq = req;
  sreq["stream"] = true;
  sreq["stream_options"] = {{"include_usage", true}};
  test::StreamReply s = test::post_stream(*srv_, "/v1/completions", dump(sreq));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.content_type, "text/event-stream");
  ASSERT_TRUE(s.done) << "no data: [DONE] at the end\n" << s.body;
  ASSERT_GE(s.events.size(), 2u);
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < s.events.size(); ++i) {
    const json& e = s.events[i];
    ASSERT_EQ(e["object"], "text_completion") << e;
    EXPECT_EQ(e["id"], s.events[0]["id"]);
    EXPECT_TRUE(e["usage"].is_null());
    for (int32_t t : e["choices"][0]["token_ids"].get<std::vector<int32_t>>()) ids.push_back(t);
    EXPECT_EQ(e["choices"][0]["finish_reason"], i + 2 == s.events.size() ? json("length") : json(nullptr)) << e;
  }
  EXPECT_EQ(ids, plain.json["choices"][0]["token_ids"].get<std::vector<int32_t>>());
  const json& last = s.events.back();  // include_usage: a chunk with no choices and the usage
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"], plain.json["usage"]);
}

TEST_F(ServerTiny, BadRequestsGetOpenAIErrors) {
  struct Case {
    std::string path, body;
    int status;
    std::string param, what, code;
  };
  const std::string C = "/v1/completions", CH = "/v1/chat/completions";
  const std::vector<Case> cases = {
      {C, "{", 400, "", "not valid JSON", "invalid_json"},
      {C, "", 400, "", "not valid JSON", "invalid_json"},
      {C, "[1, 2]", 400, "", "must be a JSON object", ""},
      {C, "{\"prompt\": \"\\ud800\"}", 400, "", "not valid JSON", "invalid_json"},  // lone surrogate
      {C, std::string("{\"prompt\": \"ab\xff\"}"), 400, "", "not valid UTF-8", "invalid_utf8"},
      {C, std::string("{\"prompt\": \"\xc3\x28\"}"), 400, "", "not valid UTF-8", "invalid_utf8"},
      {C, R"({"prompt": [1], "foo": 1})", 400, "foo", "Unrecognized request argument supplied: foo", ""},
      {C, R"({})", 400, "prompt", "prompt is required", ""},
      {C, R"({"prompt": 5})", 400, "prompt", "must be a string or an array", ""},
      {C, R"({"prompt": []})", 400, "prompt", "prompt is empty", ""},
      {C, R"({"prompt": [1, "a"]})", 400, "prompt", "position 1", ""},
      {C, R"({"prompt": [1, 2.5]})", 400, "prompt", "position 1", ""},
      {C, R"({"prompt": [[1], [2]]})", 400, "prompt", "only one prompt per request", ""},
      {C, R"({"prompt": [1, 61]})", 400, "prompt", "token id 61 at position 1 is out of range [0, 61)", ""},
      {C, R"({"prompt": [-1]})", 400, "prompt", "token id -1 at position 0 is out of range", ""},
      {C, R"({"prompt": [99999999999999999999]})", 400, "prompt", "position 0", ""},  // a float to JSON
      {C, dump({{"prompt", std::vector<int>(65, 1)}}), 400, "prompt", "65 tokens, more than this server's limit of 64",
       "context_length_exceeded"},
      {C, R"({"prompt": "hello"})", 400, "prompt", "this model has no tokenizer", ""},
      {C, R"({"prompt": [1], "max_tokens": 0})", 400, "max_tokens", "between 1 and 200", ""},
      {C, R"({"prompt": [1], "max_tokens": 201})", 400, "max_tokens", "between 1 and 200", ""},
      {C, R"({"prompt": [1], "max_tokens": -5})", 400, "max_tokens", "between 1 and 200", ""},
      {C, R"({"prompt": [1], "max_tokens": "5"})", 400, "max_tokens", "must be an integer", ""},
      {C, R"({"prompt": [1], "max_tokens": 5.5})", 400, "max_tokens", "must be an integer", ""},
      {C, R"({"prompt": [1], "temperature": "hot"})", 400, "temperature", "must be a number", ""},
      {C, R"({"prompt": [1], "temperature": 2.5})", 400, "temperature", "temperature must be", ""},
      {C, R"({"prompt": [1], "top_p": 0})", 400, "top_p", "top_p must be > 0", ""},
      {C, R"({"prompt": [1], "min_p": 1.5})", 400, "min_p", "min_p must be", ""},
      {C, R"({"prompt": [1], "top_k": -2})", 400, "top_k", "between -1 and", ""},
      {C, R"({"prompt": [1], "repetition_penalty": 0})", 400, "repetition_penalty", "must be > 0", ""},
      {C, R"({"prompt": [1], "seed": 1.5})", 400, "seed", "seed must be an integer", ""},
      {C, R"({"prompt": [1], "stream": "yes"})", 400, "stream", "must be a boolean", ""},
      {C, R"({"prompt": [1], "stream_options": {"include_usage": true}})", 400, "stream_options", "only allowed when stream", ""},
      {C, R"({"prompt": [1], "stream": true, "stream_options": {"x": 1}})", 400, "stream_options.x", "Unrecognized", ""},
      {C, R"({"prompt": [1], "stop": 5})", 400, "stop", "string or an array of strings", ""},
      {C, R"({"prompt": [1], "stop": ["a","b","c","d","e"]})", 400, "stop", "at most 4", ""},
      {C, R"({"prompt": [1], "stop": "x"})", 400, "stop", "need a tokenizer", ""},
      {C, R"({"prompt": [1], "n": 2})", 400, "n", "n must be 1", ""},
      {C, R"({"prompt": [1], "echo": true})", 400, "echo", "not supported", ""},
      {C, R"({"prompt": [1], "best_of": 3})", 400, "best_of", "not supported", ""},
      {C, R"({"prompt": [1], "logprobs": 2})", 400, "logprobs", "not supported", ""},
      {C, R"({"prompt": [1], "presence_penalty": 0.5})", 400, "presence_penalty", "not supported", ""},
      {C, R"({"prompt": [1], "logit_bias": {"1": 5}})", 400, "logit_bias", "not supported", ""},
      {C, R"({"prompt": [1], "model": 7})", 400, "model", "must be a string", ""},
      {CH, R"({"model": "m"})", 400, "messages", "messages is required", ""},
      {CH, R"({"messages": []})", 400, "messages", "non-empty array", ""},
      {CH, R"({"messages": [{"role": "tool", "content": "x"}]})", 400, "messages[0].role", "must be", ""},
      {CH, R"({"messages": [{"role": "user", "content": 5}]})", 400, "messages[0].content", "must be a string", ""},
      {CH, R"({"messages": [{"role": "user"}]})", 400, "messages[0].content", "is required", ""},
      {CH, R"({"messages": [{"role": "user", "content": "x", "foo": 1}]})", 400, "messages[0].foo", "Unrecognized", ""},
      {CH, R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400, "messages[0].content[0].type",
       "only text content parts", ""},
      {CH, R"({"messages": [{"role": "user", "content": "x"}], "tools": [{}]})", 400, "tools", "not supported", ""},
      {CH, R"({"messages": [{"role": "user", "content": "x"}], "n": 3})", 400, "n", "n must be 1", ""},
      {CH, R"({"messages": [{"role": "user", "content": "x"}]})", 400, "messages", "this model has no tokenizer", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " " + c.body.substr(0, 200));
    expect_error(test::post(*srv_, c.path, c.body), c.status, c.param, c.what, c.code);
  }
  // None of it hurt the server: it still serves, and no sequence is left holding a slot.
  EXPECT_EQ(test::get(*srv_, "/health").status, 200);
  Reply ok = test::post(*srv_, C, R"({"prompt": [1], "max_tokens": 2})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(test::wait_metric(*srv_, "xlstm_slots_busy", [](int64_t v) { return v == 0; }));
}

TEST_F(ServerTiny, DeeplyNestedOrHugeJsonIsA400NotACrash) {
  expect_error(test::post(*srv_, "/v1/completions", std::string(200000, '[')), 400, "", "not valid JSON", "invalid_json");
  std::string nested = "{\"prompt\": [1], \"logit_bias\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error(test::post(*srv_, "/v1/completions", nested), 400, "logit_bias", "not supported");
  EXPECT_EQ(test::get(*srv_, "/health").status, 200);
}

TEST_F(ServerTiny, BodiesAreJsonWhateverTheirContentType) {
  // curl -d labels bodies application/x-www-form-urlencoded; they are read as JSON, past httplib's 8 KiB
  // form limit too.
  const std::string big = dump({{"prompt", {1, 2}}, {"max_tokens", 3}, {"user", std::string(20000, 'u')}});
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", ""}) {
    Reply r = test::post(*srv_, "/v1/completions", big, type);
    EXPECT_EQ(r.status, 200) << type << ": " << r.body;
  }
  httplib::MultipartFormDataItems items = {{"prompt", "[1]", "", ""}};
  Reply m;
  auto res = srv_->client()->Post("/v1/completions", items);
  ASSERT_TRUE(res);
  m.status = res->status;
  m.body = res->body;
  m.json = json::parse(res->body, nullptr, false);
  expect_error(m, 400, "", "must be JSON, not multipart/form-data");
}

TEST_F(ServerTiny, UnknownEndpointsAndMethodsAre404) {
  expect_error(test::get(*srv_, "/v1/nope"), 404, "", "no such endpoint: GET /v1/nope");
  expect_error(test::post(*srv_, "/v1/models", "{}"), 404, "", "no such endpoint: POST /v1/models");
  expect_error(test::get(*srv_, "/v1/completions"), 404, "", "no such endpoint");
}

TEST(ServerLimits, BodyLargerThanTheLimitIs413) {
  const std::string dir = test::make_temp_dir();
  test::write_tiny_model(dir, test::TinySpec{});
  server::ServerOptions o;
  o.max_body_bytes = 4096;
  o.scheduler.parallel = 1;
  {
    TestServer srv(dir, o);
    const std::string big = "{\"prompt\": [" + std::string(3000, ' ') + "1], \"user\": \"" + std::string(3000, 'x') + "\"}";
    Reply r = test::post(srv, "/v1/completions", big);
    EXPECT_EQ(r.status, 413) << r.body;
    expect_error(r, 413, "", "larger than this server's limit of 4096 bytes");
    Reply ok = test::post(srv, "/v1/completions", R"({"prompt": [1], "max_tokens": 1})");
    EXPECT_EQ(ok.status, 200) << ok.body;
  }
  test::remove_tree(dir);
}

// ---- the bundled model (a real tokenizer): text in, text out ------------------------------------------------

class ServerText : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o;
    o.scheduler.parallel = 2;
    o.scheduler.prefill_chunk = 64;
    o.max_tokens = 256;
    srv_ = new TestServer(dir(), o);
    tok_ = new std::shared_ptr<const Tokenizer>(Tokenizer::from_dir(dir()));
  }
  static void TearDownTestSuite() {
    delete srv_;
    delete tok_;
  }
  static std::string dir() { return test::source_dir() + "/models/xlstm-kjv-tiny"; }
  static TestServer* srv_;
  static std::shared_ptr<const Tokenizer>* tok_;
};
TestServer* ServerText::srv_ = nullptr;
std::shared_ptr<const Tokenizer>* ServerText::tok_ = nullptr;

std::string text_of(const Reply& r) { return r.json["choices"][0]["text"].get<std::string>(); }

TEST_F(ServerText, TextCompletionEqualsRuntimeGenerate) {
  Reply r = test::post(*srv_, "/v1/completions",
                       dump({{"prompt", "In the beginning"}, {"max_tokens", 24}, {"temperature", 0}}));
  ASSERT_EQ(r.status, 200) << r.body;
  auto be = make_backend("cpu", 1);
  auto m = load_model(dir(), *be);
  State st(*m);
  std::vector<int32_t> prompt = (*tok_)->encode("In the beginning");
  prompt.insert(prompt.begin(), m->info().bos_id);  // config force_bos_token_insert
  GenerateOptions g;
  g.n_predict = 24;
  g.sampling.temperature = 0;
  std::vector<int32_t> want = generate(*m, st, prompt, g).tokens;
  EXPECT_EQ(r.json["choices"][0]["token_ids"].get<std::vector<int32_t>>(), want);
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], int(prompt.size()));
  if (!want.empty() && want.back() == m->info().eos_id) want.pop_back();  // eos: counted, not shown
  EXPECT_EQ(text_of(r), (*tok_)->decode(want));
  EXPECT_FALSE(text_of(r).empty());
}

TEST_F(ServerText, StopStringsCutTheTextPlainAndStreamed) {
  const json base = {{"prompt", "And God said"}, {"max_tokens", 40}, {"temperature", 0}, {"ignore_eos", true}};
  Reply full = test::post(*srv_, "/v1/completions", dump(base));
  ASSERT_EQ(full.status, 200) << full.body;
  const std::string T = text_of(full);
  ASSERT_GE(T.size(), 20u) << T;
  const std::string stop = T.substr(T.size() / 2, 3);
  const std::string want = T.substr(0, T.find(stop));
  json req = base;
  req["stop"] = {"\x01never", stop};
  Reply cut = test::post(*srv_, "/v1/completions", dump(req));
  ASSERT_EQ(cut.status, 200) << cut.body;
  EXPECT_EQ(text_of(cut), want) << "stop '" << stop << "' in '" << T << "'";
  EXPECT_EQ(cut.json["choices"][0]["finish_reason"], "stop");
  EXPECT_LT(cut.json["usage"]["completion_tokens"].get<int>(), 40);

  req["stream"] = true;
  test::StreamReply s = test::post_stream(*srv_, "/v1/completions", dump(req));
  ASSERT_EQ(s.status, 200) << s.body;
  ASSERT_TRUE(s.done) << s.body;
  std::string streamed;
  for (const json& e : s.events) streamed += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, want);
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerText, ChatUsesThePlainTranscriptFormat) {
  // The bundled tokenizer has no chat template: "role: content" lines, then "assistant:" (docs/SERVER.md).
  const json chat = {{"messages", {{{"role", "system"}, {"content", "Speak as the King James Bible."}},
                                   {{"role", "user"}, {"content", "Who made the earth?"}}}},
                     {"max_tokens", 30},
                     {"temperature", 0}};
  Reply r = test::post(*srv_, "/v1/chat/completions", dump(chat));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "chat.completion");
  EXPECT_THAT(r.json["id"].get<std::string>(), ::testing::StartsWith("chatcmpl-"));
  const json& msg = r.json["choices"][0]["message"];
  EXPECT_EQ(msg["role"], "assistant");
  const json same = {{"prompt", "system: Speak as the King James Bible.\nuser: Who made the earth?\nassistant:"},
                     {"max_tokens", 30},
                     {"temperature", 0},
                     {"stop", {"\nuser:", "\nsystem:"}}};
  Reply c = test::post(*srv_, "/v1/completions", dump(same));
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(msg["content"], text_of(c));
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], c.json["choices"][0]["finish_reason"]);
  EXPECT_EQ(r.json["usage"], c.json["usage"]);

  json sreq = chat;
  sreq["stream"] = true;
  test::StreamReply s = test::post_stream(*srv_, "/v1/chat/completions", dump(sreq));
  ASSERT_EQ(s.status, 200) << s.body;
  ASSERT_TRUE(s.done) << s.body;
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string content;
  for (const json& e : s.events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json& d = e["choices"][0]["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
  }
  EXPECT_EQ(content, msg["content"].get<std::string>());
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], r.json["choices"][0]["finish_reason"]);
}

TEST_F(ServerText, ChatContentPartsAndDefaultMaxTokens) {
  const json parts = {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Who made "}},
                                                                     {{"type", "text"}, {"text", "the earth?"}}}}}}},
                      {"temperature", 0},
                      {"max_completion_tokens", 12}};
  const json plain = {{"messages", {{{"role", "user"}, {"content", "Who made the earth?"}}}},
                      {"temperature", 0},
                      {"max_tokens", 12}};
  Reply a = test::post(*srv_, "/v1/chat/completions", dump(parts));
  Reply b = test::post(*srv_, "/v1/chat/completions", dump(plain));
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(a.json["choices"][0]["message"], b.json["choices"][0]["message"]);
  EXPECT_LE(a.json["usage"]["completion_tokens"].get<int>(), 12);
}

TEST_F(ServerText, Utf8PromptsAndTextErrors) {
  Reply ok = test::post(*srv_, "/v1/completions",
                        dump({{"prompt", "Ünïcödé — 日本語 🙂"},
                              {"max_tokens", 4}}));
  EXPECT_EQ(ok.status, 200) << ok.body;
  expect_error(test::post(*srv_, "/v1/completions", "{\"prompt\": \"In the \xe6\x97\"}"), 400, "", "not valid UTF-8",
               "invalid_utf8");
  expect_error(test::post(*srv_, "/v1/completions", R"({"prompt": "x", "stop": ""})"), 400, "stop", "must not be empty");
  expect_error(test::post(*srv_, "/v1/completions", R"({"prompt": [1, 4096]})"), 400, "prompt",
               "token id 4096 at position 1 is out of range [0, 4096)");
}

// ---- pieces without HTTP -------------------------------------------------------------------------------------

TEST(ServerPieces, TextOutputHoldsBackWhatMayBecomeAStopString) {
  auto tok = Tokenizer::from_dir(test::source_dir() + "/models/xlstm-kjv-tiny");
  bool stopped = false;
  auto [a, a_end] = [&] {
    server::TextOutput out(tok, {"said, Lx"});
    std::string p;
    for (int32_t id : tok->encode("And God said", false)) p += out.push(id, &stopped);
    return std::make_pair(p, out.finish());
  }();
  EXPECT_EQ(a, "And God ");   // "said" may still grow into "said, Lx": held back
  EXPECT_EQ(a_end, "said");   // and given out at the end
  EXPECT_FALSE(stopped);
  server::TextOutput out(tok, {"Let"});
  std::string got;
  for (int32_t id : tok->encode("And God said, Let there be light", false)) {
    got += out.push(id, &stopped);
    if (stopped) break;
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(got, "And God said, ");
}

TEST(ServerPieces, ChatFormats) {
  std::vector<server::ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  EXPECT_EQ(server::render_chat(server::ChatFormat::Transcript, m),
            "system: Be brief.\nuser: Hi\nassistant: Hello.\nuser: Bye\nassistant:");
  EXPECT_EQ(server::render_chat(server::ChatFormat::ChatML, m),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello."
            "<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  // A tokenizer whose chat_template is ChatML and which has both markers as tokens gets ChatML.
  const std::string src = test::source_dir() + "/models/xlstm-kjv-tiny";
  EXPECT_EQ(server::detect_chat_format(Tokenizer::from_dir(src).get()), server::ChatFormat::Transcript);
  const std::string dir = test::make_temp_dir();
  json tj = json::parse(read_text_file(src + "/tokenizer.json"));
  tj["added_tokens"].push_back({{"id", 4096}, {"content", "<|im_start|>"}, {"single_word", false}, {"lstrip", false},
                                {"rstrip", false}, {"normalized", false}, {"special", true}});
  tj["added_tokens"].push_back({{"id", 4097}, {"content", "<|im_end|>"}, {"single_word", false}, {"lstrip", false},
                                {"rstrip", false}, {"normalized", false}, {"special", true}});
  test::write_file(dir + "/tokenizer.json", tj.dump());
  json cfg = json::parse(read_text_file(src + "/tokenizer_config.json"));
  cfg["chat_template"] =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
  test::write_file(dir + "/tokenizer_config.json", cfg.dump());
  EXPECT_EQ(server::detect_chat_format(Tokenizer::from_dir(dir).get()), server::ChatFormat::ChatML);
  test::remove_tree(dir);
}

}  // namespace
}  // namespace xlstm
