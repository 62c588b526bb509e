// Why: see byte_level.h. The table is GPT-2's bytes_to_unicode().
#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace xlstm::tok {

const ByteLevelTable& byte_level_table() {
  static const ByteLevelTable t = [] {
    ByteLevelTable t;
    t.cp_to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      t.byte_to_cp[b] = cp;
      utf8_append(t.byte_to_utf8[b], cp);
      t.cp_to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return t;
}

void byte_level_encode(std::string_view raw, std::string& out) {
  const auto& t = byte_level_table();
  for (unsigned char b : raw) out += t.byte_to_utf8[b];
}

bool byte_level_decode(std::string_view text, std::string& out) {
  const auto& t = byte_level_table();
  size_t i = 0;
  while (i < text.size()) {
    size_t len;
    const char32_t cp = utf8_decode(text, i, len);
    if (cp >= t.cp_to_byte.size() || t.cp_to_byte[cp] < 0) return false;
    out.push_back(static_cast<char>(t.cp_to_byte[cp]));
    i += len;
  }
  return true;
}

}  // namespace xlstm::tok
