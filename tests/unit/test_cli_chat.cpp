// Why: `xlstm chat` keeps the recurrent state between turns and feeds only each new turn. These tests run
// the built binary on the bundled model with turns piped in, and check its replies against the library fed
// the whole conversation in one go (the turn pieces of cmd_chat.cpp, concatenated): equal text means the
// state was carried exactly. Also /reset, /save + /load across processes, /quit, and bad input lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "model/model.h"
#include "model/state.h"
#include "runtime/generate.h"
#include "server/chat.h"
#include "server/text_output.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace xlstm {
namespace {

using ::testing::HasSubstr;
using server::ChatMessage;

constexpr int kN = 12;  // tokens per reply

class CliChat : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = test::make_temp_dir();
    be_ = make_backend("cpu", 1);
    model_ = load_model(dir_, *be_);
    tok_ = Tokenizer::from_dir(dir_);
    fmt_ = server::detect_chat_format(tok_.get());
  }
  void TearDown() override { test::remove_tree(tmp_); }

  // `xlstm chat` on the bundled model, greedy, with `input` on stdin.
  test::CliResult chat(const std::string& input, const std::string& extra = "") {
    const std::string in = tmp_ + "/in" + std::to_string(runs_++);
    test::write_file(in, input);
    return test::run_cli("chat -m " + test::shell_quote(dir_) + " -t 1 --temp 0 -n " + std::to_string(kN) + " " +
                         extra + " < " + test::shell_quote(in));
  }

  // A conversation piece as the chat command encodes it (the first one gets BOS).
  std::vector<int32_t> enc(const std::string& text, bool first) const {
    std::vector<int32_t> ids = tok_->encode(text, first);
    if (first && ids.front() != model_->info().bos_id) ids.insert(ids.begin(), model_->info().bos_id);
    return ids;
  }
  std::vector<int32_t> turn(const std::vector<ChatMessage>& msgs, bool first) const {
    return enc(server::render_chat(fmt_, msgs), first);
  }

  // The greedy reply after `ids` fed into a fresh state in one go, cut at the chat stop strings (+ extra).
  std::string reply(const std::vector<int32_t>& ids, const std::vector<std::string>& extra_stop = {}) {
    State st(*model_);
    GenerateOptions g;
    g.n_predict = kN;
    g.sampling.temperature = 0;
    std::vector<std::string> stop = server::chat_stop_strings(fmt_);
    stop.insert(stop.end(), extra_stop.begin(), extra_stop.end());
    server::TextOutput out(tok_, stop);
    std::string r;
    bool stopped = false;
    const auto& eos = model_->info().eos_ids;
    generate(*model_, st, ids, g, [&](int32_t id) {
      if (std::find(eos.begin(), eos.end(), id) != eos.end()) return true;
      r += out.push(id, &stopped);
      return !stopped;
    });
    if (!stopped) r += out.finish();
    return r;
  }

  static void cat(std::vector<int32_t>& a, const std::vector<int32_t>& b) { a.insert(a.end(), b.begin(), b.end()); }

  std::string dir_ = test::source_dir() + "/models/xlstm-kjv-tiny";
  std::string tmp_;
  int runs_ = 0;
  std::unique_ptr<Backend> be_;
  std::unique_ptr<Model> model_;
  std::shared_ptr<const Tokenizer> tok_;
  server::ChatFormat fmt_{};
};

TEST(ChatTurnEnd, ClosesAnAssistantTurnAsRenderChatDoes) {
  using server::ChatFormat;
  EXPECT_EQ(server::render_chat(ChatFormat::Transcript, {{"assistant", "Amen."}}),
            "assistant: Amen." + server::chat_turn_end(ChatFormat::Transcript) + "assistant:");
  EXPECT_EQ(server::render_chat(ChatFormat::ChatML, {{"assistant", "Amen."}}),
            "<|im_start|>assistant\nAmen." + server::chat_turn_end(ChatFormat::ChatML) + "<|im_start|>assistant\n");
  EXPECT_EQ(server::chat_turn_end(ChatFormat::ChatML), "<|im_end|>\n");
  EXPECT_EQ(server::chat_turn_end(ChatFormat::Transcript), "\n");
}

const std::string kQ1 = "Who made the heaven and the earth?", kQ2 = "And what did he say unto Moses?";

std::string describe(const test::CliResult& r) {
  return "exit " + std::to_string(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

TEST_F(CliChat, TwoTurnsEqualTheWholeTranscriptFedAtOnce) {
  const auto r = chat(kQ1 + "\n" + kQ2 + "\n");
  ASSERT_EQ(r.code, 0) << describe(r);
  const std::vector<int32_t> p1 = turn({{"user", kQ1}}, true);
  const std::string r1 = reply(p1);
  std::vector<int32_t> all = p1;
  cat(all, enc(r1, false));
  cat(all, enc(server::chat_turn_end(fmt_), false));
  cat(all, turn({{"user", kQ2}}, false));
  const std::string r2 = reply(all);
  EXPECT_EQ(r.out, r1 + "\n" + r2 + "\n") << describe(r);
  // The second reply depends on the first turn (the state was carried, not restarted).
  EXPECT_NE(r2, reply(turn({{"user", kQ2}}, true)));
}

TEST_F(CliChat, ReplyCutAtAStopStringIsReFedAsItsText) {
  // " the" cuts the first reply inside the generated ids: the state is rewound to the turn's prompt and the
  // reply's text is fed instead, so the next turn still sees exactly the transcript.
  const std::vector<int32_t> p1 = turn({{"user", kQ1}}, true);
  ASSERT_THAT(reply(p1), HasSubstr(" the")) << "the uncut reply must contain the stop string for this test";
  const auto r = chat(kQ1 + "\n" + kQ2 + "\n", "--stop ' the'");
  ASSERT_EQ(r.code, 0) << describe(r);
  const std::string r1 = reply(p1, {" the"});
  std::vector<int32_t> all = p1;
  cat(all, enc(r1, false));
  cat(all, enc(server::chat_turn_end(fmt_), false));
  cat(all, turn({{"user", kQ2}}, false));
  EXPECT_EQ(r.out, r1 + "\n" + reply(all, {" the"}) + "\n") << describe(r);
}

TEST_F(CliChat, ResetGivesTheFreshReplyAndResendsTheSystemPrompt) {
  const auto r = chat(kQ1 + "\n/reset\n" + kQ1 + "\n", "--system 'Thou art a scribe.'");
  ASSERT_EQ(r.code, 0) << describe(r);
  const std::string r1 = reply(turn({{"system", "Thou art a scribe."}, {"user", kQ1}}, true));
  EXPECT_EQ(r.out, r1 + "\n" + r1 + "\n") << describe(r);
  EXPECT_EQ(r.err, "");
}

TEST_F(CliChat, SaveThenLoadInANewProcessContinuesIdentically) {
  const std::string f = tmp_ + "/conv.state";
  const auto a = chat(kQ1 + "\n/save " + f + "\n" + kQ2 + "\n");
  ASSERT_EQ(a.code, 0) << describe(a);
  const auto b = chat("/load " + f + "\n" + kQ2 + "\n");
  ASSERT_EQ(b.code, 0) << describe(b);
  const std::string r1 = reply(turn({{"user", kQ1}}, true));
  EXPECT_EQ(a.out, r1 + "\n" + b.out) << describe(a) << describe(b);
  EXPECT_EQ(b.err, "") << describe(b);
}

TEST_F(CliChat, BadCommandsReportAndTheSessionContinues) {
  const auto r = chat("/load " + tmp_ + "/missing.state\n/bogus\n/save\n" + kQ1 + "\n/quit\n" + kQ2 + "\n");
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: "));
  EXPECT_THAT(r.err, HasSubstr("missing.state"));
  EXPECT_THAT(r.err, HasSubstr("unknown command '/bogus'"));
  EXPECT_THAT(r.err, HasSubstr("/save needs a file name"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 3) << describe(r);
  // The failed /load left the fresh state; /quit ended the session before the second question.
  EXPECT_EQ(r.out, reply(turn({{"user", kQ1}}, true)) + "\n") << describe(r);
}

TEST_F(CliChat, InvalidUtf8LineIsRejectedWithAMessage) {
  const auto r = chat("caf\xc3 \xff\xfe\n" + kQ1 + "\n");
  EXPECT_EQ(r.code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: input is not valid UTF-8 (byte 3 of the line); line ignored"));
  EXPECT_EQ(r.out, reply(turn({{"user", kQ1}}, true)) + "\n") << describe(r);
}

TEST_F(CliChat, ModelWithoutTokenizerIsAnError) {
  const std::string m = tmp_ + "/model";
  std::filesystem::create_directories(m);
  test::write_tiny_model(m, test::TinySpec{});
  const auto r = test::run_cli("chat -m " + test::shell_quote(m) + " < /dev/null");
  EXPECT_EQ(r.code, 1) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("error: chat needs a tokenizer"));
}

}  // namespace
}  // namespace xlstm
