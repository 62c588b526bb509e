// Why: tokenizer.json "added_tokens": tokens matched as whole strings before the model runs (special tokens like
// <|endoftext|>, NeoX's whitespace runs). Matching follows HF's AddedVocabulary: leftmost-longest over the raw text
// for tokens with normalized=false, then over each normalized remainder for tokens with normalized=true, with the
// single_word / lstrip / rstrip rules, and special tokens optionally treated as plain text.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe.h"

namespace xlstm::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  // What decode and id_to_token show: the normalized content for normalized=true tokens (HF 0.23 does so).
  std::string decoded;
  int32_t id = -1;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = true;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // Ids follow HF: a token already in the model keeps the model's id, others get the next free id after the model
  // vocabulary (the ids written in the file are not trusted, as in HF).
  void build(const nlohmann::json& added_tokens, const Bpe& model, const Normalizer* normalizer);

  // Splits `text` into segments: fn(segment, -1) for text, fn(token_text, id) for an added token.
  // normalized_set: match the normalized=true tokens (else the normalized=false ones).
  template <class Fn>
  void split(std::string_view text, bool normalized_set, bool parse_special, Fn&& fn) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }  // one per id, ascending
  bool is_special_content(std::string_view content) const;
  bool empty() const { return tokens_.empty(); }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> next;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes;
    bool first[256] = {};   // some pattern starts with this byte
    bool single[256] = {};  // some pattern is this one byte
    int only_first = -1;    // the one byte every pattern starts with, if there is one (-2: several)
    std::vector<uint64_t> pairs = std::vector<uint64_t>(1024, 0);  // bit (b0 << 8 | b1): a pattern starts with b0 b1
    void insert(std::string_view s, int32_t token);
    // Leftmost-longest match starting at or after `from`.
    bool find(std::string_view text, size_t from, size_t& st, size_t& en, int32_t& token) const;
    bool empty() const { return nodes.size() <= 1; }
  };
  Trie raw_, norm_;
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> index_of_id_;
  StringMap content_to_id_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> special_contents_;
};

// Rust regex `\s*$` / `^\s*` helpers used by lstrip / rstrip.
size_t trailing_space_start(std::string_view s);
size_t leading_space_len(std::string_view s);
bool ends_with_word(std::string_view s);
bool starts_with_word(std::string_view s);

template <class Fn>
void AddedVocabulary::split(std::string_view text, bool normalized_set, bool parse_special, Fn&& fn) const {
  const Trie& trie = normalized_set ? norm_ : raw_;
  if (trie.empty() || text.empty()) {
    if (!text.empty()) fn(text, -1);
    return;
  }
  size_t start_offset = 0, pos = 0, st, en;
  int32_t t;
  while (pos < text.size() && trie.find(text, pos, st, en, t)) {
    pos = en;  // matches never overlap; the search resumes after the raw match, as aho-corasick's find_iter does
    const AddedToken& tok = tokens_[t];
    if (!parse_special && tok.special) continue;
    if (tok.single_word) {
      const bool start_space = st == 0 || !ends_with_word(text.substr(0, st));
      const bool stop_space = en == text.size() || !starts_with_word(text.substr(en));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) st = std::max(trailing_space_start(text.substr(0, st)), start_offset);
    if (tok.rstrip) en += leading_space_len(text.substr(en));
    if (start_offset < st) fn(text.substr(start_offset, st - start_offset), -1);
    fn(text.substr(st, en - st), tok.id);
    start_offset = en;
  }
  if (start_offset < text.size()) fn(text.substr(start_offset), -1);
}

}  // namespace xlstm::tok
