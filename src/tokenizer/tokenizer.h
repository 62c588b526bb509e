// Why: the public tokenizer API used by the engine, the server, the CLI and the Python bindings. Loads a Hugging
// Face tokenizer.json (byte-level BPE: GPT-2/GPT-NeoX, Llama-3, Qwen, GPT-4o style) and encodes/decodes exactly as
// HF tokenizers does. Encode is thread-safe; one Tokenizer can serve many threads.
//
// Pipeline (as in HF): added tokens are split out of the raw text -> each remaining part is normalized -> added
// tokens with normalized=true are split out of that -> pre-tokenizer -> BPE model -> post-processor (only when
// add_special_tokens). Input that is not valid UTF-8 is first repaired by replacing each invalid sequence with
// U+FFFD (what Python's bytes.decode("utf-8", "replace") gives), since HF only accepts valid strings.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm {

class Tokenizer {
 public:
  static std::shared_ptr<Tokenizer> from_file(const std::string& tokenizer_json_path);
  // tokenizer.json plus, when present, tokenizer_config.json (bos/eos, add_bos_token, chat_template) and
  // chat_template.jinja.
  static std::shared_ptr<Tokenizer> from_dir(const std::string& model_dir);
  // The contents of a tokenizer.json.
  static std::shared_ptr<Tokenizer> from_json(const std::string& tokenizer_json_text);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special_tokens: HF's flag (what the post-processor adds, e.g. BOS). parse_special=false treats
  // special-token text in `text` as plain text (HF's encode_special_tokens=true).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true, bool parse_special = true) const;
  // Throws xlstm::Error naming the first id that is not in the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Largest token id + 1 (model vocabulary and added tokens): the size an embedding table needs.
  int32_t vocab_size() const;
  // Number of distinct tokens (HF get_vocab_size(with_added_tokens=True), len(tokenizer) in transformers).
  int32_t num_tokens() const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;  // -1 if none
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  bool add_bos_token() const;  // from tokenizer_config.json (informational; encode follows tokenizer.json)
  bool add_eos_token() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Throws xlstm::Error for an unknown id.
  std::string id_to_token(int32_t id) const;
  bool is_valid_id(int32_t id) const;
  const std::string& chat_template() const;
  bool is_special(int32_t id) const;
  // Ids the post-processor puts before / after a sequence when add_special_tokens is set.
  std::vector<int32_t> special_prefix() const;
  std::vector<int32_t> special_suffix() const;

  // Reads bos/eos, add_bos_token, add_eos_token and chat_template from a tokenizer_config.json.
  void load_config(const std::string& tokenizer_config_path);
  // Word cache size (pre-tokenized pieces whose ids are kept); 0 disables it. Default 10000.
  void set_cache_capacity(size_t words);

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

// Incremental decoding for generation: push ids one at a time and get the text they complete. Never returns a
// partial UTF-8 sequence; flush() returns what is left (invalid bytes become U+FFFD). The concatenation of all
// push() results and flush() equals tokenizer.decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  std::string flush();
  void reset();

 private:
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  bool byte_level_;
  std::string pending_;          // byte-level path: bytes not yet returned
  std::vector<int32_t> ids_;     // generic path: ids since the last returned text, with context
  std::string prefix_;           // generic path: decode of ids_[0, prefix_index_)
  size_t prefix_index_ = 0;
};

}  // namespace xlstm
