// Why: turns one sequence's generated ids into the text a client may see: decoded incrementally (never a
// partial UTF-8 character), cut before the first stop string, and holding back any tail that could still
// become a stop string, so a streamed piece is never taken back.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace xlstm::server {

class TextOutput {
 public:
  // stop: non-empty strings. Ids outside the tokenizer's vocabulary (a model vocabulary padded past it)
  // add no text.
  TextOutput(std::shared_ptr<const Tokenizer> tok, std::vector<std::string> stop);
  // Adds one id; returns the text that is now final. *stopped: a stop string was completed (the text ends
  // before it; push no more).
  std::string push(int32_t id, bool* stopped);
  // End of generation: everything still held back.
  std::string finish();

 private:
  bool cut_at_stop();
  size_t held_suffix() const;
  std::shared_ptr<const Tokenizer> tok_;
  StreamDecoder dec_;
  std::vector<std::string> stop_;
  std::string buf_;   // decoded, not yet returned
  bool done_ = false;
};

}  // namespace xlstm::server
