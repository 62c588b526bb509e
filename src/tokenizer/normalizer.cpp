// Why: see normalizer.h. Unicode normal forms come from utf8proc; ASCII stretches, which no normal form changes,
// are copied without calling it.
#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

using nlohmann::json;

namespace {

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(int options) : options_(options) {}
  void normalize(std::string_view in, std::string& out) const override {
    out.clear();
    out.reserve(in.size());
    size_t i = 0;
    const size_t n = in.size();
    while (i < n) {
      // Copy ASCII, except the last ASCII char before a non-ASCII run: it may combine with what follows.
      size_t j = i;
      while (j < n && static_cast<unsigned char>(in[j]) < 0x80) ++j;
      if (j == n) {
        out.append(in.data() + i, n - i);
        break;
      }
      size_t seg = j > i ? j - 1 : j;
      out.append(in.data() + i, seg - i);
      // Non-ASCII run: up to the next ASCII char that is followed by another ASCII char or the end... simply up
      // to the next ASCII char; the ASCII char itself starts the next segment.
      size_t k = j;
      while (k < n && static_cast<unsigned char>(in[k]) >= 0x80) ++k;
      apply(in.substr(seg, k - seg), out);
      i = k;
    }
  }

 private:
  void apply(std::string_view s, std::string& out) const {
    utf8proc_uint8_t* dst = nullptr;
    const auto r = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                static_cast<utf8proc_option_t>(options_));
    if (r < 0) {
      std::free(dst);
      XLSTM_FAIL("normalizer: utf8proc failed: {}", utf8proc_errmsg(r));
    }
    out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(r));
    std::free(dst);
  }
  int options_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string_view in, std::string& out) const override {
    out.clear();
    out.reserve(in.size());
    size_t i = 0;
    while (i < in.size()) {
      const auto b = static_cast<unsigned char>(in[i]);
      if (b < 0x80) {
        out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
        ++i;
        continue;
      }
      size_t len;
      const char32_t c = utf8_decode(in, i, len);
      i += len;
      if (c == 0x130) {  // the one unconditional multi-character lowercase mapping (SpecialCasing.txt)
        out.append("i\xCC\x87");
        continue;
      }
      utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string_view in, std::string& out) const override {
    size_t a = 0, b = in.size();
    if (left_) {
      while (a < b) {
        size_t len;
        const char32_t c = utf8_decode(in, a, len);
        if (!is_white_space(c)) break;
        a += len;
      }
    }
    if (right_) {
      while (b > a) {
        size_t s = b - 1;
        while (s > a && (static_cast<unsigned char>(in[s]) & 0xC0) == 0x80) --s;
        size_t len;
        const char32_t c = utf8_decode(in, s, len);
        if (!is_white_space(c)) break;
        b = s;
      }
    }
    out.assign(in.substr(a, b - a));
  }

 private:
  bool left_, right_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(std::string_view in, std::string& out) const override {
    out.clear();
    if (!in.empty()) out.append(p_);
    out.append(in);
  }

 private:
  std::string p_;
};

class Replace : public Normalizer {
 public:
  Replace(const std::string& pattern, std::string content, const std::string& where)
      : re_(pattern, where), content_(std::move(content)) {}
  void normalize(std::string_view in, std::string& out) const override {
    out.clear();
    size_t prev = 0;
    re_.find_iter(in, [&](size_t a, size_t b) {
      out.append(in.substr(prev, a - prev));
      out.append(content_);
      prev = b;
    });
    out.append(in.substr(prev));
  }

 private:
  Regex re_;
  std::string content_;
};

class ByteLevelNorm : public Normalizer {
 public:
  void normalize(std::string_view in, std::string& out) const override {
    out.clear();
    byte_level_encode(in, out);
  }
  bool is_byte_level() const override { return true; }
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string_view in, std::string& out) const override {
    std::string tmp(in);
    for (const auto& p : parts_) {
      p->normalize(tmp, out);
      tmp.swap(out);
    }
    out.swap(tmp);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::string pattern_to_regex(const json& pattern, const std::string& where) {
  XLSTM_CHECK(pattern.is_object(), "{}: 'pattern' must be an object with 'String' or 'Regex'", where);
  if (pattern.contains("String")) {
    XLSTM_CHECK(pattern["String"].is_string(), "{}: pattern.String must be a string", where);
    return Regex::escape(pattern["String"].get<std::string>());
  }
  if (pattern.contains("Regex")) {
    XLSTM_CHECK(pattern["Regex"].is_string(), "{}: pattern.Regex must be a string", where);
    return pattern["Regex"].get<std::string>();
  }
  XLSTM_FAIL("{}: 'pattern' must have 'String' or 'Regex'", where);
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  XLSTM_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "{}: expected an object with a 'type'",
              where);
  const std::string type = j["type"].get<std::string>();
  const std::string w = where + " " + type;
  auto get_bool = [&](const char* key, bool def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    XLSTM_CHECK(j[key].is_boolean(), "{}: '{}' must be a boolean", w, key);
    return j[key].get<bool>();
  };
  auto get_str = [&](const char* key) {
    XLSTM_CHECK(j.contains(key) && j[key].is_string(), "{}: '{}' must be a string", w, key);
    return j[key].get<std::string>();
  };
  if (type == "NFC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(get_bool("strip_left", true), get_bool("strip_right", true));
  if (type == "Prepend") return std::make_unique<Prepend>(get_str("prepend"));
  if (type == "Replace") {
    XLSTM_CHECK(j.contains("pattern"), "{}: missing 'pattern'", w);
    return std::make_unique<Replace>(pattern_to_regex(j["pattern"], w), get_str("content"), w);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNorm>();
  if (type == "Sequence") {
    XLSTM_CHECK(j.contains("normalizers") && j["normalizers"].is_array(), "{}: 'normalizers' must be an array", w);
    std::vector<std::unique_ptr<Normalizer>> parts;
    size_t k = 0;
    for (const auto& p : j["normalizers"]) {
      auto n = make_normalizer(p, fmt::format("{}[{}]", w, k++));
      if (n) parts.push_back(std::move(n));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  XLSTM_FAIL("{}: unsupported normalizer type '{}' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, "
             "Replace, ByteLevel, Sequence)",
             where, type);
}

}  // namespace xlstm::tok
