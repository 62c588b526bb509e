// Why: `xlstm tokenize` / `xlstm detokenize`: run the native tokenizer from the command line (prompts for
// `generate`, checks against HF tokenizers). -t takes a tokenizer.json or a model directory.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "command.h"
#include "common/check.h"
#include "tokenizer/tokenizer.h"

namespace {

std::shared_ptr<xlstm::Tokenizer> load_tokenizer(const std::string& path) {
  if (std::filesystem::is_directory(path)) return xlstm::Tokenizer::from_dir(path);
  return xlstm::Tokenizer::from_file(path);
}

std::string read_input(const std::string& file) {
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream f(file, std::ios::binary);
  XLSTM_CHECK(f.good(), "tokenize: cannot open '{}'", file);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_all(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

struct TokenizeOpts {
  std::string tokenizer, prompt, file;
  bool json = false, no_special = false, plain_special = false;
};

struct DetokenizeOpts {
  std::string tokenizer, ids;
  bool skip_special = false, json = false, no_newline = false;
};

}  // namespace

XLSTM_COMMAND("tokenize", "Print the token ids of a text (HF tokenizers compatible)", [](CLI::App& sub) {
  auto o = std::make_shared<TokenizeOpts>();
  sub.add_option("-t,--tokenizer", o->tokenizer, "tokenizer.json or a model directory")->required();
  auto* p = sub.add_option("-p,--prompt", o->prompt, "text to tokenize");
  auto* f = sub.add_option("-f,--file", o->file, "file whose bytes are tokenized exactly ('-' for stdin)");
  p->excludes(f);
  sub.add_flag("--json", o->json, "print a JSON array");
  sub.add_flag("--no-special", o->no_special, "add no special tokens (HF add_special_tokens=False)");
  sub.add_flag("--plain-special", o->plain_special, "treat special-token text in the input as plain text");
  return [o, p, f]() -> int {
    XLSTM_CHECK(p->count() + f->count() == 1, "tokenize: give exactly one of -p TEXT or -f FILE");
    auto tok = load_tokenizer(o->tokenizer);
    const std::string text = f->count() ? read_input(o->file) : o->prompt;
    const auto ids = tok->encode(text, !o->no_special, !o->plain_special);
    std::string out;
    if (o->json) {
      out = nlohmann::json(ids).dump();
    } else {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out.push_back(' ');
        out += std::to_string(ids[i]);
      }
    }
    out.push_back('\n');
    write_all(out);
    return 0;
  };
});

XLSTM_COMMAND("detokenize", "Print the text of token ids", [](CLI::App& sub) {
  auto o = std::make_shared<DetokenizeOpts>();
  sub.add_option("-t,--tokenizer", o->tokenizer, "tokenizer.json or a model directory")->required();
  sub.add_option("--ids", o->ids, "ids separated by commas or spaces (a JSON array works too)")->required();
  sub.add_flag("--skip-special", o->skip_special, "leave out special tokens");
  sub.add_flag("--json", o->json, "print the text as a JSON string");
  sub.add_flag("-n,--no-newline", o->no_newline, "do not end the output with a newline");
  return [o]() -> int {
    auto tok = load_tokenizer(o->tokenizer);
    std::vector<int32_t> ids;
    std::string cur;
    auto flush = [&] {
      if (cur.empty()) return;
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(cur, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      XLSTM_CHECK(used == cur.size() && v >= INT32_MIN && v <= INT32_MAX, "detokenize: bad id '{}'", cur);
      ids.push_back(static_cast<int32_t>(v));
      cur.clear();
    };
    for (char c : o->ids) {
      if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '[' || c == ']') {
        flush();
      } else {
        cur.push_back(c);
      }
    }
    flush();
    std::string text = tok->decode(ids, o->skip_special);
    if (o->json) text = nlohmann::json(text).dump();
    if (!o->no_newline) text.push_back('\n');
    write_all(text);
    return 0;
  };
});
