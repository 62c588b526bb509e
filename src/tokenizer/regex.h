// Why: tokenizer.json regexes are written for Oniguruma (what HF tokenizers uses); we run them with PCRE2 + JIT,
// after translating what differs in Oniguruma's Ruby syntax: `\s` (U+0085 yes, U+180E no), `\w` (marks too), `\h`
// (a hex digit), `\uHHHH`, nested classes `[a[bc]]`, `(?m)` (dot-all), and ^/$ matching at every line. find_iter reproduces the onig crate's iteration over matches, empty ones included.
#pragma once
#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xlstm::tok {

class Regex {
 public:
  // `what` names the tokenizer.json component in error messages.
  Regex(const std::string& onig_pattern, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls fn(start, end) for each match in s (valid UTF-8), in order, like onig's find_iter: after an empty match
  // at the end of the previous match the search moves on by one character.
  template <class Fn>
  void find_iter(std::string_view s, Fn&& fn) const {
    void* ctx = thread_context();
    size_t pos = 0;
    size_t last_match_end = static_cast<size_t>(-1);
    while (pos <= s.size()) {
      size_t st, en;
      if (!search(ctx, s, pos, st, en)) break;
      if (st == en && last_match_end == en) {
        if (pos >= s.size()) break;
        pos += char_len(s, pos);
        continue;
      }
      pos = en;
      last_match_end = en;
      fn(st, en);
    }
  }
  // All matches as (start, end) pairs.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

  static std::string escape(std::string_view literal);
  // The PCRE2 pattern actually compiled (for tests and error messages).
  const std::string& pcre_pattern() const { return pattern_; }

 private:
  static void* thread_context();
  bool search(void* ctx, std::string_view s, size_t start, size_t& st, size_t& en) const;
  static size_t char_len(std::string_view s, size_t i);
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// A tokenizer.json pattern object ({"String": literal} or {"Regex": pattern}) as an Oniguruma pattern.
std::string pattern_to_regex(const nlohmann::json& pattern, const std::string& where);

// Unicode version of PCRE2's property tables (e.g. "14.0.0"): characters assigned later are unknown to \p{..}.
std::string regex_unicode_version();

// Translates Oniguruma (Ruby syntax) escapes whose meaning differs in PCRE2. Exposed for tests.
std::string onig_to_pcre2(std::string_view pattern, const std::string& what = "regex");

}  // namespace xlstm::tok
