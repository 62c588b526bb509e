// Why: the tokenizer needs a handful of UTF-8 and Unicode-property helpers that match the Rust semantics HF
// tokenizers relies on (char::is_whitespace, regex `\w`, from_utf8_lossy). Properties come from utf8proc; nothing
// here hand-rolls Unicode tables beyond the few code point lists Rust defines explicitly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xlstm::tok {

// Decodes one code point at s[i] (s must be valid UTF-8); sets `len` to its byte length.
inline char32_t utf8_decode(std::string_view s, size_t i, size_t& len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    len = 2;
    return (char32_t(b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
  }
  if (b0 < 0xF0) {
    len = 3;
    return (char32_t(b0 & 0x0F) << 12) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3F);
  }
  len = 4;
  return (char32_t(b0 & 0x07) << 18) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
         (char32_t(static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
         (static_cast<unsigned char>(s[i + 3]) & 0x3F);
}

// Byte length of the UTF-8 sequence that starts with lead byte b (1 for continuation/invalid bytes).
inline size_t utf8_len(unsigned char b) { return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

void utf8_append(std::string& out, char32_t cp);

// Length of the longest valid UTF-8 prefix of s.
size_t utf8_valid_prefix(std::string_view s);
// Appends s to out, replacing each maximal invalid subsequence by U+FFFD (Rust String::from_utf8_lossy and
// Python's bytes.decode("utf-8", "replace") follow the same rule).
void utf8_lossy_append(std::string& out, std::string_view s);
// If s ends with an incomplete but so-far-valid UTF-8 sequence, its length (1..3); else 0.
size_t utf8_incomplete_tail(std::string_view s);

// Rust char::is_whitespace / regex `\s` (the White_Space property).
bool is_white_space(char32_t c);
// Rust regex `\w`: Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control.
bool is_word_char(char32_t c);
// Rust char::is_numeric: general categories Nd, Nl, No.
bool is_numeric(char32_t c);
// Rust char::is_alphanumeric-free punctuation test used by the Punctuation pre-tokenizer (Unicode P*).
bool is_punctuation(char32_t c);

}  // namespace xlstm::tok
