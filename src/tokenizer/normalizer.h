// Why: tokenizer.json "normalizer" section: rewrites text before pre-tokenization (Unicode normal forms,
// lowercasing, replacements). Each type mirrors the HF normalizer of the same name.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace xlstm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Normalizes `in` into `out` (out is cleared first).
  virtual void normalize(std::string_view in, std::string& out) const = 0;
  // True if the output is always the input's bytes re-mapped through the byte-level alphabet.
  virtual bool is_byte_level() const { return false; }
};

// Returns nullptr for a JSON null. Unknown or malformed types throw xlstm::Error naming the component.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where = "normalizer");

}  // namespace xlstm::tok
