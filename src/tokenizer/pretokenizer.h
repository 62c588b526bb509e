// Why: tokenizer.json "pre_tokenizer" section: splits normalized text into the pieces the BPE model sees
// (ByteLevel with GPT-2's regex, Split with any regex and behaviour, Digits, Whitespace, Sequence, ...).
#pragma once
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm::tok {

// The pieces of one text segment while pre-tokenizers run. Views point into the segment's text or `arena`.
struct Pieces {
  std::vector<std::string_view> list;
  std::vector<std::string_view> scratch;
  std::deque<std::string> arena;
  // True when the pieces hold raw bytes still to be mapped through the byte-level alphabet (ByteLevel ran last);
  // the BPE model then maps bytes to symbols itself, which saves building the mapped strings.
  bool byte_level = false;
  // True while list[0] starts at offset 0 of the original input (Metaspace's prepend_scheme "first").
  bool first_at_zero = false;

  void reset(std::string_view text, bool at_zero) {
    list.clear();
    arena.clear();
    byte_level = false;
    first_at_zero = at_zero;
    if (!text.empty()) list.push_back(text);
  }
  std::string_view store(std::string s) { return arena.emplace_back(std::move(s)); }
  // Turns pending byte-level pieces into their alphabet characters (before a pre-tokenizer that reads them).
  void materialize();
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(Pieces& p) const = 0;
};

// Returns nullptr for a JSON null. Unknown or malformed types throw xlstm::Error naming the component.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where = "pre_tokenizer");

}  // namespace xlstm::tok
