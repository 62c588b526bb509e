// Why: see pretokenizer.h. Splitting follows HF's NormalizedString::split: a pattern yields (range, is_match)
// pairs covering the piece, the behaviour decides what to merge or drop, and empty pieces disappear.
#include "tokenizer/pretokenizer.h"

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

using nlohmann::json;

void Pieces::materialize() {
  if (!byte_level) return;
  for (auto& v : list) {
    std::string s;
    s.reserve(v.size() * 2);
    byte_level_encode(v, s);
    v = store(std::move(s));
  }
  byte_level = false;
}

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Match {
  size_t a, b;
  bool is_match;
};

Behavior parse_behavior(const json& j, const std::string& where, Behavior def) {
  if (!j.contains("behavior") || j["behavior"].is_null()) return def;
  XLSTM_CHECK(j["behavior"].is_string(), "{}: 'behavior' must be a string", where);
  const auto s = j["behavior"].get<std::string>();
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  XLSTM_FAIL("{}: unknown behavior '{}'", where, s);
}

// Applies `behavior` to the matches of one piece and appends the kept sub-pieces to out.
void split_piece(std::string_view piece, std::vector<Match>& m, Behavior behavior, std::vector<std::string_view>& out) {
  auto emit = [&](size_t a, size_t b) {
    if (b > a) out.push_back(piece.substr(a, b - a));
  };
  switch (behavior) {
    case Behavior::Isolated:
      for (const auto& x : m) emit(x.a, x.b);
      return;
    case Behavior::Removed:
      for (const auto& x : m)
        if (!x.is_match) emit(x.a, x.b);
      return;
    case Behavior::Contiguous:
    case Behavior::MergedWithPrevious: {
      // Fold into (a, b) ranges; a range absorbs the next match when the rule says so.
      std::vector<Match> acc;
      bool prev = false;
      for (const auto& x : m) {
        const bool merge = behavior == Behavior::Contiguous ? x.is_match == prev : (x.is_match && !prev);
        if (merge && !acc.empty()) {
          acc.back().b = x.b;
        } else {
          acc.push_back({x.a, x.b, false});
        }
        prev = x.is_match;
      }
      for (const auto& x : acc) emit(x.a, x.b);
      return;
    }
    case Behavior::MergedWithNext: {
      std::vector<Match> acc;
      bool prev = false;
      for (size_t k = m.size(); k-- > 0;) {
        const auto& x = m[k];
        if (x.is_match && !prev && !acc.empty()) {
          acc.back().a = x.a;
        } else {
          acc.push_back({x.a, x.b, false});
        }
        prev = x.is_match;
      }
      for (size_t k = acc.size(); k-- > 0;) emit(acc[k].a, acc[k].b);
      return;
    }
  }
}

// (range, is_match) pairs of a regex over a piece, like HF's Pattern for &Regex (optionally inverted).
void regex_matches(const Regex& re, std::string_view s, bool invert, std::vector<Match>& m) {
  m.clear();
  size_t prev = 0;
  re.find_iter(s, [&](size_t a, size_t b) {
    if (prev != a) m.push_back({prev, a, invert});
    m.push_back({a, b, !invert});
    prev = b;
  });
  if (prev != s.size()) m.push_back({prev, s.size(), invert});
}

// Each character satisfying pred is its own match, like HF's Pattern for Fn(char) -> bool.
template <class Pred>
void char_matches(std::string_view s, Pred pred, std::vector<Match>& m) {
  m.clear();
  size_t last = 0, i = 0;
  while (i < s.size()) {
    size_t len;
    const char32_t c = utf8_decode(s, i, len);
    if (pred(c)) {
      if (last < i) m.push_back({last, i, false});
      m.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (s.size() > last) m.push_back({last, s.size(), false});
}

template <class MatchFn>
void split_all(Pieces& p, Behavior behavior, MatchFn&& fn) {
  thread_local std::vector<Match> m;
  p.scratch.clear();
  bool first_at_zero = false;
  for (size_t k = 0; k < p.list.size(); ++k) {
    const auto piece = p.list[k];
    fn(piece, m);
    split_piece(piece, m, behavior, p.scratch);
    if (k == 0) first_at_zero = p.first_at_zero && !p.scratch.empty() && p.scratch[0].data() == piece.data();
  }
  p.first_at_zero = first_at_zero;
  p.list.swap(p.scratch);
}

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(Pieces& p) const override {
    p.materialize();
    if (add_prefix_space_) {
      for (auto& v : p.list)
        if (v.empty() || v[0] != ' ') {
          std::string s(1, ' ');
          s.append(v);
          v = p.store(std::move(s));
        }
    }
    if (use_regex_) {
      static const Regex re(kGpt2Pattern, "pre_tokenizer ByteLevel");
      split_all(p, Behavior::Isolated, [&](std::string_view s, std::vector<Match>& m) { regex_matches(re, s, false, m); });
    }
    p.byte_level = true;
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class SplitPre : public PreTokenizer {
 public:
  SplitPre(const std::string& pattern, Behavior b, bool invert, const std::string& where)
      : re_(pattern, where), behavior_(b), invert_(invert) {}
  void pre_tokenize(Pieces& p) const override {
    p.materialize();
    split_all(p, behavior_, [&](std::string_view s, std::vector<Match>& m) { regex_matches(re_, s, invert_, m); });
  }

 private:
  Regex re_;
  Behavior behavior_;
  bool invert_;
};

template <class Pred>
class CharSplitPre : public PreTokenizer {
 public:
  CharSplitPre(Pred pred, Behavior b) : pred_(pred), behavior_(b) {}
  void pre_tokenize(Pieces& p) const override {
    p.materialize();
    split_all(p, behavior_, [&](std::string_view s, std::vector<Match>& m) { char_matches(s, pred_, m); });
  }

 private:
  Pred pred_;
  Behavior behavior_;
};

template <class Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, Behavior b) {
  return std::make_unique<CharSplitPre<Pred>>(pred, b);
}

class WhitespacePre : public PreTokenizer {
 public:
  void pre_tokenize(Pieces& p) const override {
    static const Regex re(R"(\w+|[^\w\s]+)", "pre_tokenizer Whitespace");
    p.materialize();
    split_all(p, Behavior::Removed, [&](std::string_view s, std::vector<Match>& m) { regex_matches(re, s, true, m); });
  }
};

bool is_punc(char32_t c) {
  return (c < 0x80 && ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
                       (c >= '{' && c <= '~'))) ||
         is_punctuation(c);
}

enum class Prepend { Always, First, Never };

Prepend parse_prepend_scheme(const json& j, const std::string& w) {
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    XLSTM_CHECK(j["prepend_scheme"].is_string(), "{}: 'prepend_scheme' must be a string", w);
    const auto s = j["prepend_scheme"].get<std::string>();
    if (s == "always") return Prepend::Always;
    if (s == "first") return Prepend::First;
    if (s == "never") return Prepend::Never;
    XLSTM_FAIL("{}: unknown prepend_scheme '{}'", w, s);
  }
  if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean())  // older files
    return j["add_prefix_space"].get<bool>() ? Prepend::Always : Prepend::Never;
  return Prepend::Always;
}

}  // namespace

// Shared with the Metaspace decoder: HF rejects add_prefix_space=false next to a prepend_scheme other than never.
bool metaspace_prepends(const json& j, const std::string& w) {
  const bool has_scheme = j.contains("prepend_scheme") && !j["prepend_scheme"].is_null();
  if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>()) {
    XLSTM_CHECK(!has_scheme || j["prepend_scheme"] == "never",
                "{}: add_prefix_space does not match declared prepend_scheme", w);
    return false;
  }
  return parse_prepend_scheme(j, w) != Prepend::Never;
}

namespace {

std::string parse_replacement(const json& j, const std::string& w) {
  XLSTM_CHECK(j.contains("replacement") && j["replacement"].is_string(), "{}: 'replacement' must be a string", w);
  const std::string r = j["replacement"].get<std::string>();
  size_t len = 0;
  XLSTM_CHECK(!r.empty() && (utf8_decode(r, 0, len), len == r.size()), "{}: 'replacement' must be one character", w);
  return r;
}

class MetaspacePre : public PreTokenizer {
 public:
  MetaspacePre(std::string rep, Prepend scheme, bool split) : rep_(std::move(rep)), scheme_(scheme), split_(split) {}
  void pre_tokenize(Pieces& p) const override {
    p.materialize();
    for (size_t k = 0; k < p.list.size(); ++k) {
      const auto v = p.list[k];
      std::string s;
      s.reserve(v.size() + rep_.size());
      const bool prepend = scheme_ == Prepend::Always || (scheme_ == Prepend::First && k == 0 && p.first_at_zero);
      for (char c : v) {
        if (c == ' ') {
          s += rep_;
        } else {
          s.push_back(c);
        }
      }
      if (prepend && s.compare(0, rep_.size(), rep_) != 0) s.insert(0, rep_);
      p.list[k] = p.store(std::move(s));
    }
    if (split_) {
      size_t len;
      const char32_t r = utf8_decode(rep_, 0, len);
      split_all(p, Behavior::MergedWithNext,
                [&](std::string_view s, std::vector<Match>& m) { char_matches(s, [r](char32_t c) { return c == r; }, m); });
    }
  }

 private:
  std::string rep_;
  Prepend scheme_;
  bool split_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(Pieces& p) const override {
    for (const auto& x : parts_) x->pre_tokenize(p);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
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
  if (type == "ByteLevel") return std::make_unique<ByteLevelPre>(get_bool("add_prefix_space", true), get_bool("use_regex", true));
  if (type == "Split") {
    XLSTM_CHECK(j.contains("pattern"), "{}: missing 'pattern'", w);
    return std::make_unique<SplitPre>(pattern_to_regex(j["pattern"], w), parse_behavior(j, w, Behavior::Removed),
                                      get_bool("invert", false), w);
  }
  if (type == "Digits") {
    return char_split([](char32_t c) { return is_numeric(c); },
                      get_bool("individual_digits", false) ? Behavior::Isolated : Behavior::Contiguous);
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePre>();
  if (type == "WhitespaceSplit") return char_split([](char32_t c) { return is_white_space(c); }, Behavior::Removed);
  if (type == "Punctuation") return char_split(is_punc, parse_behavior(j, w, Behavior::Isolated));
  if (type == "CharDelimiterSplit") {
    XLSTM_CHECK(j.contains("delimiter") && j["delimiter"].is_string(), "{}: 'delimiter' must be a string", w);
    const std::string d = j["delimiter"].get<std::string>();
    size_t len = 0;
    XLSTM_CHECK(!d.empty(), "{}: empty delimiter", w);
    const char32_t dc = utf8_decode(d, 0, len);
    XLSTM_CHECK(len == d.size(), "{}: delimiter must be one character", w);
    return char_split([dc](char32_t c) { return c == dc; }, Behavior::Removed);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(char_split([](char32_t c) { return is_white_space(c); }, Behavior::Removed));
    parts.push_back(char_split(is_punc, Behavior::Isolated));
    return std::make_unique<SequencePre>(std::move(parts));
  }
  if (type == "Metaspace") {
    const bool prepends = metaspace_prepends(j, w);
    return std::make_unique<MetaspacePre>(parse_replacement(j, w), prepends ? parse_prepend_scheme(j, w) : Prepend::Never,
                                          get_bool("split", true));
  }
  if (type == "Sequence") {
    XLSTM_CHECK(j.contains("pretokenizers") && j["pretokenizers"].is_array(), "{}: 'pretokenizers' must be an array",
                w);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    size_t k = 0;
    for (const auto& p : j["pretokenizers"]) {
      auto x = make_pre_tokenizer(p, fmt::format("{}[{}]", w, k++));
      if (x) parts.push_back(std::move(x));
    }
    return std::make_unique<SequencePre>(std::move(parts));
  }
  XLSTM_FAIL("{}: unsupported pre_tokenizer type '{}' (supported: ByteLevel, Split, Digits, Whitespace, "
             "WhitespaceSplit, Punctuation, CharDelimiterSplit, BertPreTokenizer, Metaspace, Sequence)",
             where, type);
}

}  // namespace xlstm::tok
