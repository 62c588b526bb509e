// Why: GPT-2's byte-level alphabet maps each of the 256 byte values to a printable code point, so BPE vocabularies
// can be stored as text. One table, shared by the pre-tokenizer, normalizer, model and decoder.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace xlstm::tok {

struct ByteLevelTable {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8;  // the code point above, UTF-8 encoded
  // Inverse map for code points < 0x144 (all of the alphabet); -1 where a code point is not in the alphabet.
  std::array<int16_t, 0x144> cp_to_byte{};
};

const ByteLevelTable& byte_level_table();

// Maps raw bytes to their alphabet characters (UTF-8).
void byte_level_encode(std::string_view raw, std::string& out);
// Maps text made only of alphabet characters back to bytes; returns false (out unspecified) if any code point is
// outside the alphabet.
bool byte_level_decode(std::string_view text, std::string& out);

}  // namespace xlstm::tok
