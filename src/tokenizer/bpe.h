// Why: the BPE model of tokenizer.json: vocabulary, ranked merges, and the merge loop that turns one pre-tokenized
// piece into ids. Byte-level pieces are mapped byte -> symbol id directly; a per-thread cache keeps the ids of
// recently seen pieces so repeated words skip the merge loop.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xlstm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept;
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Open-addressing map from a pair of symbol ids to (rank, merged id).
class MergeMap {
 public:
  void build(const std::vector<std::array<int32_t, 4>>& merges);  // {a, b, rank, new_id}
  // Returns false if (a, b) is not a merge.
  bool find(int32_t a, int32_t b, uint32_t& rank, int32_t& new_id) const {
    if (mask_ == 0) return false;
    const uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
    size_t h = hash(key) & mask_;
    while (true) {
      const Slot& s = slots_[h];
      if (s.key == key) {
        rank = s.rank;
        new_id = s.id;
        return true;
      }
      if (s.key == kEmpty) return false;
      h = (h + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static size_t hash(uint64_t k) { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ULL) >> 20); }
  struct Slot {
    uint64_t key = kEmpty;
    uint32_t rank = 0;
    int32_t id = 0;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

class Bpe {
 public:
  explicit Bpe(const nlohmann::json& model);
  ~Bpe();

  // Appends the ids of one piece. byte_level: the piece holds raw bytes whose alphabet characters form the word.
  void tokenize(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr if the id is not in the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  int32_t vocab_count() const { return static_cast<int32_t>(vocab_.size()); }  // HF get_vocab_size()
  int32_t max_id() const { return static_cast<int32_t>(vocab_r_.size()) - 1; }
  const StringMap& vocab() const { return vocab_; }

  // Slots of the per-thread word cache (rounded up to a power of two); 0 disables it for this model.
  void set_cache_capacity(size_t words);

 private:
  void tokenize_bytes(std::string_view piece, std::vector<int32_t>& out) const;
  void tokenize_chars(std::string_view piece, std::vector<int32_t>& out) const;
  // Applies the merges to `syms` in place (lowest rank first, leftmost among equals).
  void merge(std::vector<int32_t>& syms) const;
  void merge_small(std::vector<int32_t>& syms) const;
  void merge_large(std::vector<int32_t>& syms) const;

  StringMap vocab_;
  std::vector<std::string> vocab_r_;
  std::vector<uint8_t> has_id_;
  MergeMap merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of each byte's alphabet character, -1 if absent
  bool bytes_complete_ = false;          // all 256 present and no prefix/suffix: the fast byte path applies
  StringMap raw_vocab_;                  // ignore_merges on byte-level pieces: raw bytes -> id
  bool ignore_merges_ = false;
  std::string unk_name_;
  bool has_unk_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  std::array<int32_t, 256> fallback_ids_{};
  std::string prefix_, suffix_;
  uint64_t cache_owner_ = 0;  // unique per instance: tags this model's entries in the per-thread cache
  size_t cache_slots_ = 0;
};

}  // namespace xlstm::tok
