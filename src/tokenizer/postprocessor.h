// Why: tokenizer.json "post_processor" section: what encode(..., add_special_tokens=true) adds around the ids
// (TemplateProcessing's BOS/EOS, Roberta/Bert CLS/SEP); ByteLevel only adjusts offsets, so it adds nothing here.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace xlstm::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites ids of a single sequence when special tokens are to be added.
  virtual void process(std::vector<int32_t>& ids) const = 0;
  // Number of ids process() adds to a single sequence.
  virtual size_t added_tokens() const = 0;
  // Ids inserted before / after the sequence (for callers that want them).
  virtual void prefix_suffix(std::vector<int32_t>& pre, std::vector<int32_t>& post) const = 0;
};

// Returns nullptr for a JSON null. Unknown or malformed types throw xlstm::Error naming the component.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where = "post_processor");

}  // namespace xlstm::tok
