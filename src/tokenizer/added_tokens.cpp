// Why: see added_tokens.h.
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

using nlohmann::json;

size_t trailing_space_start(std::string_view s) {
  size_t b = s.size();
  while (b > 0) {
    size_t k = b - 1;
    while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    size_t len;
    if (!is_white_space(utf8_decode(s, k, len))) break;
    b = k;
  }
  return b;
}

size_t leading_space_len(std::string_view s) {
  size_t a = 0;
  while (a < s.size()) {
    size_t len;
    if (!is_white_space(utf8_decode(s, a, len))) break;
    a += len;
  }
  return a;
}

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t k = s.size() - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  size_t len;
  return is_word_char(utf8_decode(s, k, len));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t len;
  return is_word_char(utf8_decode(s, 0, len));
}

void AddedVocabulary::Trie::insert(std::string_view s, int32_t token) {
  if (nodes.empty()) nodes.emplace_back();
  if (s.empty()) return;
  const auto b0 = static_cast<unsigned char>(s[0]);
  first[b0] = true;
  only_first = only_first == -1 || only_first == b0 ? b0 : -2;
  if (s.size() == 1) {
    single[b0] = true;
  } else {
    const unsigned p = (unsigned(b0) << 8) | static_cast<unsigned char>(s[1]);
    pairs[p >> 6] |= uint64_t(1) << (p & 63);
  }
  int32_t cur = 0;
  for (unsigned char c : s) {
    int32_t nxt = -1;
    for (const auto& [ch, child] : nodes[cur].next)
      if (ch == c) nxt = child;
    if (nxt < 0) {
      nxt = static_cast<int32_t>(nodes.size());
      nodes[cur].next.emplace_back(c, nxt);
      nodes.emplace_back();
    }
    cur = nxt;
  }
  if (nodes[cur].token < 0) nodes[cur].token = token;  // the first pattern with this text wins
}

bool AddedVocabulary::Trie::find(std::string_view text, size_t from, size_t& st, size_t& en, int32_t& token) const {
  const size_t n = text.size();
  for (size_t i = from; i < n; ++i) {
    if (only_first >= 0) {  // one possible first byte: let memchr skip ahead
      const void* p = std::memchr(text.data() + i, only_first, n - i);
      if (!p) return false;
      i = static_cast<size_t>(static_cast<const char*>(p) - text.data());
    }
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (!first[b0]) continue;
    if (!single[b0]) {
      if (i + 1 >= n) break;
      const unsigned p = (unsigned(b0) << 8) | static_cast<unsigned char>(text[i + 1]);
      if (!(pairs[p >> 6] >> (p & 63) & 1)) continue;
    }
    int32_t cur = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < n; ++j) {
      const auto c = static_cast<unsigned char>(text[j]);
      int32_t nxt = -1;
      for (const auto& [ch, child] : nodes[cur].next)
        if (ch == c) {
          nxt = child;
          break;
        }
      if (nxt < 0) break;
      cur = nxt;
      if (nodes[cur].token >= 0) {
        best = nodes[cur].token;
        best_end = j + 1;
      }
    }
    if (best >= 0) {
      st = i;
      en = best_end;
      token = best;
      return true;
    }
  }
  return false;
}

void AddedVocabulary::build(const json& added, const Bpe& model, const Normalizer* normalizer) {
  raw_ = Trie();
  norm_ = Trie();
  raw_.nodes.emplace_back();
  norm_.nodes.emplace_back();
  tokens_.clear();
  if (added.is_null()) return;
  XLSTM_CHECK(added.is_array(), "added_tokens: expected an array");
  std::vector<AddedToken> in;
  size_t k = 0;
  for (const auto& e : added) {
    const std::string w = fmt::format("added_tokens[{}]", k++);
    XLSTM_CHECK(e.is_object() && e.contains("content") && e["content"].is_string(),
                "{}: expected an object with a string 'content'", w);
    AddedToken t;
    t.content = e["content"].get<std::string>();
    auto flag = [&](const char* key, bool def) {
      if (!e.contains(key) || e[key].is_null()) return def;
      XLSTM_CHECK(e[key].is_boolean(), "{}: '{}' must be a boolean", w, key);
      return e[key].get<bool>();
    };
    t.special = flag("special", false);
    t.single_word = flag("single_word", false);
    t.lstrip = flag("lstrip", false);
    t.rstrip = flag("rstrip", false);
    t.normalized = flag("normalized", !t.special);
    in.push_back(std::move(t));
  }
  // HF: register the special contents first, then assign ids in file order.
  std::vector<std::string> special_order;
  for (const auto& t : in)
    if (t.special && !t.content.empty() && special_contents_.emplace(t.content, 0).second)
      special_order.push_back(t.content);
  std::unordered_map<int32_t, AddedToken> by_id;
  std::vector<std::string> plain_order;  // non-special tokens, in the order HF keeps them
  int64_t max_added = -1;
  const int64_t model_size = model.vocab_count();
  for (auto& t : in) {
    if (t.content.empty()) continue;
    int32_t id;
    if (auto it = content_to_id_.find(t.content); it != content_to_id_.end()) {
      id = it->second;
    } else if (auto mid = model.token_to_id(t.content)) {
      id = *mid;
    } else if (max_added < 0) {
      id = static_cast<int32_t>(model_size);
    } else {
      id = static_cast<int32_t>(max_added >= model_size || model_size == 0 ? max_added + 1 : model_size);
    }
    content_to_id_[t.content] = id;
    max_added = std::max<int64_t>(max_added, id);
    t.id = id;
    if (!special_contents_.count(t.content)) plain_order.push_back(t.content);
    by_id[id] = t;
  }
  for (auto& [id, t] : by_id) {
    t.decoded = t.content;
    if (t.normalized && normalizer) normalizer->normalize(t.content, t.decoded);
    tokens_.push_back(t);
  }
  std::sort(tokens_.begin(), tokens_.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  for (size_t i = 0; i < tokens_.size(); ++i) index_of_id_[tokens_[i].id] = i;
  for (const auto& c : special_order) special_contents_[c] = content_to_id_.count(c) ? content_to_id_[c] : -1;

  // Tries: special tokens first, then the others, each partitioned by `normalized`.
  auto add = [&](const std::string& content) {
    auto it = content_to_id_.find(content);
    if (it == content_to_id_.end()) return;
    const size_t idx = index_of_id_.at(it->second);
    const AddedToken& t = tokens_[idx];
    if (!t.normalized) {
      raw_.insert(content, static_cast<int32_t>(idx));
    } else {
      std::string pat;
      if (normalizer) {
        normalizer->normalize(content, pat);
      } else {
        pat = content;
      }
      norm_.insert(pat, static_cast<int32_t>(idx));
    }
  };
  for (const auto& c : special_order) add(c);
  for (const auto& c : plain_order) add(c);
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = content_to_id_.find(content);
  if (it == content_to_id_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  return special_contents_.find(content) != special_contents_.end();
}

}  // namespace xlstm::tok
