// Why: `xlstm chat`: a conversation in the terminal (or over a pipe). The recurrent State is the whole
// history, so a turn feeds only its own tokens: the cost of a turn does not grow with the conversation.
// Turns are rendered with the server's chat format (server/chat.h) and replies cut at its stop strings
// (server::TextOutput). After every turn the state is exactly that of the token pieces
//   encode(turn prompt), encode(reply text), encode(turn end)
// fed one after the other, whatever the sampler drew, so /save and /load continue identically elsewhere.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "common/check.h"
#include "model/state.h"
#include "model_opts.h"
#include "prompt.h"
#include "runtime/generate.h"
#include "server/chat.h"
#include "server/text_output.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace xlstm::cli {
namespace {

struct ChatOpts {
  ModelOpts m;
  int n = 256;
  SamplingParams s;
  std::string system;
  std::vector<std::string> stop;
};

class ChatSession {
 public:
  ChatSession(Model& model, std::shared_ptr<const Tokenizer> tok, const ChatOpts& o)
      : model_(model), tok_(std::move(tok)), o_(o), fmt_(server::detect_chat_format(tok_.get())), st_(model) {
    stops_ = server::chat_stop_strings(fmt_);
    stops_.insert(stops_.end(), o.stop.begin(), o.stop.end());
  }
  server::ChatFormat format() const { return fmt_; }

  void reset() {
    st_.reset();
    fresh_ = true;
  }
  void save(const std::string& path) const { st_.save(path); }
  void load(const std::string& path) {
    State s(model_);
    s.load(path);  // into a copy first: a bad file leaves the conversation as it was
    st_ = s;
    fresh_ = st_.n_tokens == 0;
  }

  // One turn: feeds the user's message, streams the reply through emit, leaves the state at the turn's end.
  void turn(const std::string& user, const std::function<void(const std::string&)>& emit) {
    std::vector<server::ChatMessage> msgs;
    if (fresh_ && !o_.system.empty()) msgs.push_back({"system", o_.system});
    msgs.push_back({"user", user});
    const std::vector<int32_t> prompt = encode(server::render_chat(fmt_, msgs), fresh_);
    std::vector<float> logits = prefill(model_, st_, prompt);
    fresh_ = false;
    const State after_prompt = st_;  // the reply is re-fed from here when the drawn ids are not its encoding

    GenerateOptions g;
    g.n_predict = o_.n;
    g.sampling = o_.s;
    const auto& eos = model_.info().eos_ids;
    auto is_eos = [&](int32_t id) { return std::find(eos.begin(), eos.end(), id) != eos.end(); };
    server::TextOutput out(tok_, stops_);
    std::string reply;
    bool stop_string = false;
    Generation res = continue_generation(model_, st_, std::move(logits), prompt, g, [&](int32_t id) {
      if (is_eos(id)) return true;  // generation ends there; its text is not part of the reply
      std::string piece = out.push(id, &stop_string);
      reply += piece;
      emit(piece);
      return !stop_string;
    });
    if (!stop_string) {
      std::string rest = out.finish();
      reply += rest;
      emit(rest);
    }

    std::vector<int32_t> drawn = res.tokens;
    const bool ended_by_eos = !drawn.empty() && is_eos(drawn.back());
    if (ended_by_eos) drawn.pop_back();
    const std::vector<int32_t> reply_ids = encode(reply, false);
    if (!stop_string && drawn == reply_ids) {
      // The state holds every drawn id but the last (generate() does not feed it); the eos is not fed.
      if (!ended_by_eos && res.pending >= 0) feed({res.pending});
    } else {
      st_ = after_prompt;
      feed(reply_ids);
    }
    feed(encode(server::chat_turn_end(fmt_), false));
  }

 private:
  // first: the conversation's first piece, which gets the tokenizer's special prefix and BOS like a prompt.
  std::vector<int32_t> encode(const std::string& text, bool first) const {
    std::vector<int32_t> ids = tok_->encode(text, /*add_special_tokens=*/first);
    const ModelInfo& I = model_.info();
    if (first && I.force_bos && I.bos_id >= 0 && (ids.empty() || ids[0] != I.bos_id)) ids.insert(ids.begin(), I.bos_id);
    return ids;
  }
  void feed(const std::vector<int32_t>& ids) {
    if (!ids.empty()) prefill(model_, st_, ids);
  }

  Model& model_;
  std::shared_ptr<const Tokenizer> tok_;
  ChatOpts o_;
  server::ChatFormat fmt_;
  std::vector<std::string> stops_;
  State st_;
  bool fresh_ = true;  // nothing fed since the start or /reset
};

// Leading and trailing blanks off.
std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

XLSTM_COMMAND("chat", "interactive chat with the model (reads turns from stdin, one per line)", [](CLI::App& sub) {
  auto o = std::make_shared<ChatOpts>();
  add_model_opts(sub, o->m, false);
  sub.add_option("--system", o->system, "system prompt, sent before the first turn (and after /reset)");
  sub.add_option("-n,--n-predict", o->n, "most tokens per reply")->capture_default_str();
  sub.add_option("--temp", o->s.temperature, "temperature (0: greedy)")->capture_default_str();
  sub.add_option("--top-k", o->s.top_k, "top-k (0: off)")->capture_default_str();
  sub.add_option("--top-p", o->s.top_p, "top-p (1: off)")->capture_default_str();
  sub.add_option("--min-p", o->s.min_p, "min-p (0: off)")->capture_default_str();
  sub.add_option("--repeat-penalty", o->s.repeat_penalty, "repetition penalty within a reply (1: off)")
      ->capture_default_str();
  sub.add_option("-s,--seed", o->s.seed, "random seed (each reply draws from it afresh)")->capture_default_str();
  sub.add_option("--stop", o->stop, "extra text that ends a reply (repeatable)");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->n >= 0, "-n must be >= 0, got {}", o->n);
    for (const auto& s : o->stop) XLSTM_CHECK(!s.empty(), "--stop: empty stop string");
    Sampler(o->s).validate();
    Loaded L = load(o->m);
    auto tok = model_tokenizer(*L.model);
    XLSTM_CHECK(tok, "chat needs a tokenizer: '{}' has no tokenizer.json", L.model->info().path);
    ChatSession chat(*L.model, tok, *o);
    const bool tty = ::isatty(0) != 0;
    if (tty)
      std::fprintf(stderr, "xlstm chat: %s, chat format %s. Commands: /reset, /save FILE, /load FILE, /quit\n",
                   L.model->info().path.c_str(), server::chat_format_name(chat.format()));
    auto emit = [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
    std::string line;
    while (true) {
      if (tty) {
        std::fputs("> ", stdout);
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line)) break;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t valid = tok::utf8_valid_prefix(line);
      if (valid != line.size()) {
        std::fprintf(stderr, "error: input is not valid UTF-8 (byte %zu of the line); line ignored\n", valid);
        continue;
      }
      const std::string t = trim(line);
      if (t.empty()) continue;
      try {
        if (t[0] == '/') {
          const size_t sp = t.find_first_of(" \t");
          const std::string cmd = t.substr(0, sp), arg = sp == std::string::npos ? "" : trim(t.substr(sp));
          if (cmd == "/quit" || cmd == "/exit") break;
          if (cmd == "/reset") {
            chat.reset();
          } else if (cmd == "/save" || cmd == "/load") {
            XLSTM_CHECK(!arg.empty(), "{} needs a file name: {} FILE", cmd, cmd);
            if (cmd == "/save")
              chat.save(arg);
            else
              chat.load(arg);
          } else {
            XLSTM_FAIL("unknown command '{}' (commands: /reset, /save FILE, /load FILE, /quit)", cmd);
          }
          if (tty) std::fprintf(stderr, "ok\n");
          continue;
        }
        chat.turn(t, emit);
        emit("\n");
      } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
      }
    }
    if (tty) emit("\n");
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
