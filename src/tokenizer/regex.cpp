// Why: see regex.h. One thread-local match-data block and JIT stack serve every regex, so matching allocates
// nothing per call.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "common/check.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

namespace {

// Oniguruma's Unicode `\s`: U+0009-000D, U+0085 and the Z categories (Zs, Zl, Zp). PCRE2's UCP `\s` lacks U+0085
// and, in 10.42, still matches U+180E, so the set is spelled out.
constexpr const char* kSpaceItems =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
constexpr const char* kWordItems = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
constexpr const char* kHexItems = "0-9a-fA-F";

struct ThreadMatch {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mc = nullptr;
  pcre2_jit_stack* js = nullptr;
  ThreadMatch() {
    md = pcre2_match_data_create(1, nullptr);
    mc = pcre2_match_context_create(nullptr);
    js = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
    if (mc && js) pcre2_jit_stack_assign(mc, nullptr, js);
  }
  ~ThreadMatch() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_jit_stack_free(js);
  }
};

ThreadMatch& thread_match() {
  thread_local ThreadMatch tm;
  return tm;
}

}  // namespace

std::string onig_to_pcre2(std::string_view p, const std::string& what) {
  std::string out;
  out.reserve(p.size() + 16);
  int depth = 0;  // character class nesting (Oniguruma allows [a[bc]] = union; PCRE2 does not)
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      if (e == 'u' && i + 4 < p.size()) {
        // \uHHHH (Ruby syntax) -> \x{HHHH}
        const std::string_view hex = p.substr(i + 1, 4);
        if (hex.size() == 4 && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos) {
          out += "\\x{";
          out.append(hex);
          out += "}";
          i += 4;
          continue;
        }
      }
      const char* items = nullptr;
      bool negated = false;
      switch (e) {
        case 's': items = kSpaceItems; break;
        case 'S': items = kSpaceItems; negated = true; break;
        case 'w': items = kWordItems; break;
        case 'W': items = kWordItems; negated = true; break;
        case 'h': items = kHexItems; break;
        case 'H': items = kHexItems; negated = true; break;
        default: break;
      }
      if (!items || (negated && depth > 0)) {
        // Negated shorthands inside a class keep their PCRE2 meaning (a class cannot hold a negated set).
        out.push_back('\\');
        out.push_back(e);
        if (e == 'p' || e == 'P' || e == 'x') {
          // Copy a braced argument verbatim: \p{L}, \x{85}.
          if (i + 1 < p.size() && p[i + 1] == '{') {
            const size_t close = p.find('}', i + 1);
            if (close != std::string_view::npos) {
              out.append(p.substr(i + 1, close - i));
              i = close;
            }
          }
        }
        continue;
      }
      if (depth > 0) {
        out.append(items);
      } else {
        out.append(negated ? "[^" : "[");
        out.append(items);
        out.push_back(']');
      }
      continue;
    }
    if (c == '[') {
      if (depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX bracket [:alpha:] inside a class
        const size_t close = p.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      if (depth > 0) {
        XLSTM_CHECK(!(i + 1 < p.size() && p[i + 1] == '^'), "{}: regex '{}': a negated class inside a class is not "
                    "supported", what, p);
        ++depth;  // nested union: flatten
        continue;
      }
      depth = 1;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (depth == 0 && c == '(' && i + 2 < p.size() && p[i + 1] == '?') {
      // Inline options: Ruby's (?m) is dot-matches-newline, PCRE2's (?s).
      size_t k = i + 2;
      while (k < p.size() && (p[k] == 'i' || p[k] == 'm' || p[k] == 'x' || p[k] == '-')) ++k;
      if (k > i + 2 && k < p.size() && (p[k] == ':' || p[k] == ')')) {
        out += "(?";
        for (size_t q = i + 2; q < k; ++q) out.push_back(p[q] == 'm' ? 's' : p[q]);
        i = k - 1;
        continue;
      }
    }
    if (depth > 0 && c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
      XLSTM_FAIL("{}: regex '{}': class intersection (&&) is not supported", what, p);
    }
    if (depth > 0 && c == ']') {
      if (--depth > 0) continue;
    }
    out.push_back(c);
  }
  return out;
}

Regex::Regex(const std::string& onig_pattern, const std::string& what)
    : pattern_(onig_to_pcre2(onig_pattern, what)) {
  int err = 0;
  PCRE2_SIZE off = 0;
  // Ruby syntax: ^ and $ always match at line starts / ends (PCRE2_MULTILINE; newline is LF in both).
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | PCRE2_MULTILINE, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    XLSTM_FAIL("{}: cannot compile regex '{}': {} at offset {}", what, onig_pattern, reinterpret_cast<char*>(buf),
               static_cast<size_t>(off));
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

size_t Regex::char_len(std::string_view s, size_t i) { return utf8_len(static_cast<unsigned char>(s[i])); }

void* Regex::thread_context() { return &thread_match(); }

bool Regex::search(void* ctx, std::string_view s, size_t start, size_t& st, size_t& en) const {
  auto& tm = *static_cast<ThreadMatch*>(ctx);
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(s.data());
  int rc = jit_ ? pcre2_jit_match(code, subj, s.size(), start, 0, tm.md, tm.mc)
                : pcre2_match(code, subj, s.size(), start, PCRE2_NO_UTF_CHECK, tm.md, tm.mc);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0 && rc != 0) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(rc, buf, sizeof(buf));
    XLSTM_FAIL("regex '{}' failed on input of {} bytes: {}", pattern_, s.size(), reinterpret_cast<char*>(buf));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(tm.md);
  st = ov[0];
  en = ov[1];
  return true;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  find_iter(s, [&](size_t a, size_t b) { out.emplace_back(a, b); });
  return out;
}

std::string regex_unicode_version() {
  char buf[64] = {};
  pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, buf);
  return buf;
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-#&~ \t\n\r").find(c) != std::string_view::npos) {
      if (c == ' ') { out += "\\x20"; continue; }
      if (c == '\t') { out += "\\t"; continue; }
      if (c == '\n') { out += "\\n"; continue; }
      if (c == '\r') { out += "\\r"; continue; }
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace xlstm::tok
