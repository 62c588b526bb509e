// Why: tokenizer.json "decoder" section: turns the token strings of an id sequence back into text. Mirrors HF's
// decode_chain for ByteLevel, ByteFallback, Fuse, Replace, Strip and Sequence; a null decoder joins with spaces.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace xlstm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // True for a lone ByteLevel decoder: text = lossy UTF-8 of the concatenated per-token bytes.
  virtual bool is_byte_level() const { return false; }
};

// Returns nullptr for a JSON null. Unknown or malformed types throw xlstm::Error naming the component.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where = "decoder");

// Bytes a ByteLevel decoder produces for one token: its alphabet bytes, or its UTF-8 as is if it has characters
// outside the alphabet (HF's rule).
std::string byte_level_token_bytes(const std::string& token);

}  // namespace xlstm::tok
