// Why: see decoder.h.
#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

using nlohmann::json;

bool metaspace_prepends(const json& j, const std::string& w);  // pretokenizer.cpp

std::string byte_level_token_bytes(const std::string& token) {
  std::string out;
  if (!byte_level_decode(token, out)) return token;
  return out;
}

namespace {

class ByteLevelDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) bytes += byte_level_token_bytes(t);
    std::string text;
    utf8_lossy_append(text, bytes);
    tokens.assign(1, std::move(text));
  }
  bool is_byte_level() const override { return true; }
};

class ByteFallbackDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    auto flush = [&] {
      if (bytes.empty()) return;
      if (utf8_valid_prefix(bytes) == bytes.size()) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
    };
    for (auto& t : tokens) {
      int v = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) {
          return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        };
        const int h = hex(t[3]), l = hex(t[4]);
        if (h >= 0 && l >= 0) v = h * 16 + l;
      }
      if (v >= 0) {
        bytes.push_back(static_cast<char>(v));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string s;
    for (const auto& t : tokens) s += t;
    tokens.assign(1, std::move(s));
  }
};

class ReplaceDec : public Decoder {
 public:
  ReplaceDec(const std::string& pattern, std::string content, const std::string& where)
      : re_(pattern, where), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t prev = 0;
      re_.find_iter(t, [&](size_t a, size_t b) {
        out.append(t, prev, a - prev);
        out += content_;
        prev = b;
      });
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }

 private:
  Regex re_;
  std::string content_;
};

class StripDec : public Decoder {
 public:
  StripDec(char32_t c, size_t start, size_t stop) : c_(c), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
      for (size_t i = 0; i < t.size();) {
        size_t len;
        chars.emplace_back(i, utf8_decode(t, i, len));
        i += len;
      }
      size_t a = 0, b = chars.size();
      for (size_t i = 0; i < start_ && i < chars.size(); ++i) {
        if (chars[i].second != c_) break;
        a = i + 1;
      }
      for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        const size_t idx = chars.size() - i - 1;
        if (chars[idx].second != c_) break;
        b = idx;
      }
      XLSTM_CHECK(a <= b, "decoder Strip: token '{}' is stripped from both sides past its middle", t);
      const size_t ba = a < chars.size() ? chars[a].first : t.size();
      const size_t bb = b < chars.size() ? chars[b].first : t.size();
      t = t.substr(ba, bb - ba);
    }
  }

 private:
  char32_t c_;
  size_t start_, stop_;
};

// Metaspace: the replacement character back to spaces; in the first token it is dropped (prepend_scheme != never).
class MetaspaceDec : public Decoder {
 public:
  MetaspaceDec(std::string rep, bool drop_first) : rep_(std::move(rep)), drop_first_(drop_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, rep_.size(), rep_) == 0) {
          if (!(i == 0 && drop_first_)) out.push_back(' ');
          k += rep_.size();
        } else {
          out.push_back(t[k++]);
        }
      }
      tokens[i].swap(out);
    }
  }

 private:
  std::string rep_;
  bool drop_first_;
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  XLSTM_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "{}: expected an object with a 'type'",
              where);
  const std::string type = j["type"].get<std::string>();
  const std::string w = where + " " + type;
  if (type == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (type == "Fuse") return std::make_unique<FuseDec>();
  if (type == "Replace") {
    XLSTM_CHECK(j.contains("pattern"), "{}: missing 'pattern'", w);
    XLSTM_CHECK(j.contains("content") && j["content"].is_string(), "{}: 'content' must be a string", w);
    return std::make_unique<ReplaceDec>(pattern_to_regex(j["pattern"], w), j["content"].get<std::string>(), w);
  }
  if (type == "Strip") {
    XLSTM_CHECK(j.contains("content") && j["content"].is_string(), "{}: 'content' must be a string", w);
    const std::string c = j["content"].get<std::string>();
    size_t len = 0;
    XLSTM_CHECK(!c.empty(), "{}: empty 'content'", w);
    const char32_t cp = utf8_decode(c, 0, len);
    XLSTM_CHECK(len == c.size(), "{}: 'content' must be one character", w);
    auto num = [&](const char* key) {
      XLSTM_CHECK(j.contains(key) && j[key].is_number_unsigned(), "{}: '{}' must be a non-negative integer", w, key);
      return j[key].get<size_t>();
    };
    return std::make_unique<StripDec>(cp, num("start"), num("stop"));
  }
  if (type == "Metaspace") {
    XLSTM_CHECK(j.contains("replacement") && j["replacement"].is_string(), "{}: 'replacement' must be a string", w);
    return std::make_unique<MetaspaceDec>(j["replacement"].get<std::string>(), metaspace_prepends(j, w));
  }
  if (type == "Sequence") {
    XLSTM_CHECK(j.contains("decoders") && j["decoders"].is_array(), "{}: 'decoders' must be an array", w);
    std::vector<std::unique_ptr<Decoder>> parts;
    size_t k = 0;
    for (const auto& p : j["decoders"]) {
      auto d = make_decoder(p, fmt::format("{}[{}]", w, k++));
      if (d) parts.push_back(std::move(d));
    }
    return std::make_unique<SequenceDec>(std::move(parts));
  }
  XLSTM_FAIL("{}: unsupported decoder type '{}' (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, "
             "Sequence)",
             where, type);
}

}  // namespace xlstm::tok
