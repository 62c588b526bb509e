// Why: see bpe.h. Merge order matches HF exactly: repeatedly apply the lowest-ranked merge among adjacent pairs,
// the leftmost one among equal ranks (HF's heap orders by (rank, position); short words use a linear scan, which
// picks the same pair, long ones a heap).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace xlstm::tok {

using nlohmann::json;

size_t StringHash::operator()(std::string_view s) const noexcept {
  // FNV-1a over 8-byte words: fast for the short keys seen here.
  uint64_t h = 0xcbf29ce484222325ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  __builtin_memcpy(&w, s.data() + i, s.size() - i);
  h = (h ^ w) * 0x100000001b3ULL;
  h ^= h >> 32;
  return static_cast<size_t>(h * 0x9E3779B97F4A7C15ULL);
}

void MergeMap::build(const std::vector<std::array<int32_t, 4>>& merges) {
  size_t cap = 16;
  while (cap < merges.size() * 2 + 16) cap <<= 1;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (const auto& m : merges) {
    const uint64_t key = (uint64_t(uint32_t(m[0])) << 32) | uint32_t(m[1]);
    size_t h = hash(key) & mask_;
    while (slots_[h].key != kEmpty && slots_[h].key != key) h = (h + 1) & mask_;
    // A repeated pair keeps its last rank, as HF's HashMap collect does.
    slots_[h] = Slot{key, static_cast<uint32_t>(m[2]), m[3]};
  }
}

namespace {

// Word cache: per thread, direct-mapped, 64-byte slots keyed by (tokenizer instance, piece bytes). Lock-free by
// construction, allocation-free, and shared by every tokenizer a thread uses; a new entry simply replaces the slot's
// old one. Pieces longer than 24 bytes or with more than 7 ids are not cached.
struct CacheSlot {
  uint64_t owner = 0;  // Bpe::cache_owner_ (0: empty)
  uint64_t key[3] = {};
  uint8_t len = 0, n = 0;
  uint8_t pad[2] = {};
  int32_t ids[7] = {};
};
static_assert(sizeof(CacheSlot) == 64);
constexpr size_t kCacheKeyMax = 24, kCacheIdsMax = 7;

struct ThreadCache {
  std::vector<CacheSlot> slots;
  size_t mask = 0;
};

ThreadCache& thread_cache(size_t want) {
  thread_local ThreadCache tc;
  if (tc.slots.size() < want) {
    tc.slots.assign(want, CacheSlot{});
    tc.mask = want - 1;
  }
  return tc;
}

std::atomic<uint64_t> g_cache_owner{1};

inline uint64_t cache_hash(const uint64_t k[3], size_t len) {
  uint64_t h = (k[0] * 0x9E3779B97F4A7C15ULL) ^ (k[1] * 0xC2B2AE3D27D4EB4FULL) ^ (k[2] * 0x165667B19E3779F9ULL) ^ len;
  return h ^ (h >> 29) ^ (h >> 47);
}

}  // namespace

namespace {

std::string opt_string(const json& m, const char* key, const char* where) {
  if (!m.contains(key) || m[key].is_null()) return {};
  XLSTM_CHECK(m[key].is_string(), "{}: '{}' must be a string or null", where, key);
  return m[key].get<std::string>();
}

bool opt_bool(const json& m, const char* key, const char* where) {
  if (!m.contains(key) || m[key].is_null()) return false;
  XLSTM_CHECK(m[key].is_boolean(), "{}: '{}' must be a boolean", where, key);
  return m[key].get<bool>();
}

constexpr size_t kSmallWord = 48;

}  // namespace

Bpe::Bpe(const json& m) {
  constexpr const char* W = "model";
  XLSTM_CHECK(m.is_object(), "model: expected an object");
  std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
  if (type.empty() && m.contains("merges")) type = "BPE";
  XLSTM_CHECK(type == "BPE", "model: unsupported model type '{}' (only BPE is supported)", type);
  if (m.contains("dropout") && !m["dropout"].is_null()) {
    XLSTM_CHECK(m["dropout"].is_number(), "model BPE: 'dropout' must be a number or null");
    XLSTM_CHECK(m["dropout"].get<double>() == 0.0, "model BPE: dropout {} is not supported (encoding would be random)",
                m["dropout"].get<double>());
  }
  XLSTM_CHECK(m.contains("vocab") && m["vocab"].is_object(), "model BPE: 'vocab' must be an object");
  int64_t max_id = -1;
  vocab_.reserve(m["vocab"].size());
  for (const auto& [tok, idj] : m["vocab"].items()) {
    XLSTM_CHECK(idj.is_number_integer(), "model BPE: vocab id of '{}' must be an integer", tok);
    const int64_t id = idj.get<int64_t>();
    XLSTM_CHECK(id >= 0 && id < (int64_t(1) << 28), "model BPE: vocab id {} of '{}' out of range", id, tok);
    vocab_[tok] = static_cast<int32_t>(id);
    max_id = std::max(max_id, id);
  }
  vocab_r_.assign(static_cast<size_t>(max_id + 1), std::string());
  has_id_.assign(static_cast<size_t>(max_id + 1), 0);
  for (const auto& [tok, id] : vocab_) {
    vocab_r_[id] = tok;
    has_id_[id] = 1;
  }
  prefix_ = opt_string(m, "continuing_subword_prefix", "model BPE");
  suffix_ = opt_string(m, "end_of_word_suffix", "model BPE");
  unk_name_ = opt_string(m, "unk_token", "model BPE");
  has_unk_ = m.contains("unk_token") && m["unk_token"].is_string();
  if (has_unk_) {
    auto it = vocab_.find(unk_name_);
    if (it != vocab_.end()) unk_id_ = it->second;  // HF only complains once the unk token is needed
  }
  fuse_unk_ = opt_bool(m, "fuse_unk", W);
  byte_fallback_ = opt_bool(m, "byte_fallback", W);
  ignore_merges_ = opt_bool(m, "ignore_merges", W);

  XLSTM_CHECK(m.contains("merges") && m["merges"].is_array(), "model BPE: 'merges' must be an array");
  std::vector<std::array<int32_t, 4>> merges;
  merges.reserve(m["merges"].size());
  int32_t rank = 0;
  std::string a, b;
  for (const auto& e : m["merges"]) {
    if (e.is_string()) {
      const auto& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      XLSTM_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                  "model BPE: merge {} '{}' must be two tokens separated by one space", rank, s);
      a.assign(s, 0, sp);
      b.assign(s, sp + 1);
    } else {
      XLSTM_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(),
                  "model BPE: merge {} must be a string \"a b\" or a pair [\"a\", \"b\"]", rank);
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    }
    auto ia = vocab_.find(a);
    auto ib = vocab_.find(b);
    XLSTM_CHECK(ia != vocab_.end(), "model BPE: merge {} uses '{}', which is not in the vocabulary", rank, a);
    XLSTM_CHECK(ib != vocab_.end(), "model BPE: merge {} uses '{}', which is not in the vocabulary", rank, b);
    XLSTM_CHECK(b.size() >= prefix_.size(), "model BPE: merge {} part '{}' shorter than the subword prefix", rank, b);
    const std::string merged = a + b.substr(prefix_.size());
    auto im = vocab_.find(merged);
    XLSTM_CHECK(im != vocab_.end(), "model BPE: merge {} result '{}' is not in the vocabulary", rank, merged);
    merges.push_back({ia->second, ib->second, rank, im->second});
    ++rank;
  }
  merges_.build(merges);

  const auto& bl = byte_level_table();
  bytes_complete_ = prefix_.empty() && suffix_.empty();
  for (int c = 0; c < 256; ++c) {
    auto it = vocab_.find(bl.byte_to_utf8[c]);
    byte_ids_[c] = it == vocab_.end() ? -1 : it->second;
    if (byte_ids_[c] < 0) bytes_complete_ = false;
    auto f = vocab_.find(fmt::format("<0x{:02X}>", c));
    fallback_ids_[c] = f == vocab_.end() ? -1 : f->second;
  }
  if (ignore_merges_) {
    std::string raw;
    for (const auto& [tok, id] : vocab_) {
      raw.clear();
      if (byte_level_decode(tok, raw)) raw_vocab_.emplace(raw, id);
    }
  }
  cache_owner_ = g_cache_owner.fetch_add(1);
  set_cache_capacity(16384);
}

Bpe::~Bpe() = default;

void Bpe::set_cache_capacity(size_t words) {
  size_t n = 0;
  if (words) {
    n = 64;
    while (n < words) n <<= 1;
  }
  cache_slots_ = n;
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_r_.size() || !has_id_[id]) return nullptr;
  return &vocab_r_[id];
}

void Bpe::tokenize(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (byte_level) {
    if (bytes_complete_) return tokenize_bytes(piece, out);
    std::string mapped;
    byte_level_encode(piece, mapped);
    return tokenize_chars(mapped, out);
  }
  tokenize_chars(piece, out);
}

void Bpe::tokenize_bytes(std::string_view piece, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    auto it = raw_vocab_.find(piece);
    if (it != raw_vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  const bool cacheable = cache_slots_ && piece.size() <= kCacheKeyMax;
  CacheSlot* slot = nullptr;
  uint64_t key[3] = {0, 0, 0};
  if (cacheable) {
    std::memcpy(key, piece.data(), piece.size());
    ThreadCache& tc = thread_cache(cache_slots_);
    slot = &tc.slots[cache_hash(key, piece.size()) & tc.mask];
    if (slot->owner == cache_owner_ && slot->len == piece.size() && slot->key[0] == key[0] && slot->key[1] == key[1] &&
        slot->key[2] == key[2]) {
      const size_t old = out.size();
      out.resize(old + slot->n);
      std::memcpy(out.data() + old, slot->ids, slot->n * sizeof(int32_t));
      return;
    }
  }
  thread_local std::vector<int32_t> syms;
  syms.clear();
  for (unsigned char c : piece) syms.push_back(byte_ids_[c]);
  merge(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (slot && syms.size() <= kCacheIdsMax) {
    slot->owner = cache_owner_;
    std::memcpy(slot->key, key, sizeof(key));
    slot->len = static_cast<uint8_t>(piece.size());
    slot->n = static_cast<uint8_t>(syms.size());
    std::memcpy(slot->ids, syms.data(), syms.size() * sizeof(int32_t));
  }
}

void Bpe::tokenize_chars(std::string_view w, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    auto it = vocab_.find(w);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> syms;
  std::string s;
  bool pending_unk = false;
  auto unk = [&] {
    XLSTM_CHECK(unk_id_.has_value(), "model BPE: unk_token '{}' is not in the vocabulary", unk_name_);
    return *unk_id_;
  };
  auto flush_unk = [&] {
    if (pending_unk) syms.push_back(unk());
    pending_unk = false;
  };
  size_t i = 0;
  while (i < w.size()) {
    size_t len;
    utf8_decode(w, i, len);
    const bool first = i == 0, last = i + len == w.size();
    s.clear();
    if (!first) s += prefix_;
    s.append(w.substr(i, len));
    if (last) s += suffix_;
    i += len;
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      flush_unk();
      syms.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && fallback_ids_[c] >= 0;
      if (all) {
        // HF leaves a pending unk in place here and adds it after the next known symbol.
        for (unsigned char c : s) syms.push_back(fallback_ids_[c]);
        continue;
      }
    }
    if (has_unk_) {
      if (pending_unk && !fuse_unk_) syms.push_back(unk());
      pending_unk = true;
    }
    // Without unk_token HF drops the character.
  }
  flush_unk();
  merge(syms);
  out.insert(out.end(), syms.begin(), syms.end());
}

void Bpe::merge(std::vector<int32_t>& syms) const {
  if (syms.size() < 2) return;
  if (syms.size() <= kSmallWord) {
    merge_small(syms);
  } else {
    merge_large(syms);
  }
}

void Bpe::merge_small(std::vector<int32_t>& syms) const {
  size_t n = syms.size();
  uint32_t rank[kSmallWord];
  int32_t nid[kSmallWord];
  int32_t* s = syms.data();
  for (size_t i = 0; i + 1 < n; ++i) {
    if (!merges_.find(s[i], s[i + 1], rank[i], nid[i])) rank[i] = UINT32_MAX;
  }
  while (n > 1) {
    uint32_t best = UINT32_MAX;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (rank[i] < best) {
        best = rank[i];
        bi = i;
      }
    }
    if (best == UINT32_MAX) break;
    s[bi] = nid[bi];
    // Remove symbol bi+1 and pair bi.
    for (size_t i = bi + 1; i + 1 < n; ++i) s[i] = s[i + 1];
    for (size_t i = bi; i + 2 < n; ++i) {
      rank[i] = rank[i + 1];
      nid[i] = nid[i + 1];
    }
    --n;
    if (bi > 0 && !merges_.find(s[bi - 1], s[bi], rank[bi - 1], nid[bi - 1])) rank[bi - 1] = UINT32_MAX;
    if (bi + 1 < n && !merges_.find(s[bi], s[bi + 1], rank[bi], nid[bi])) rank[bi] = UINT32_MAX;
  }
  syms.resize(n);
}

void Bpe::merge_large(std::vector<int32_t>& syms) const {
  const size_t n = syms.size();
  std::vector<int32_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Item {
    uint32_t rank;
    int32_t pos;
    int32_t id;
    bool operator>(const Item& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  uint32_t r;
  int32_t id;
  for (size_t i = 0; i + 1 < n; ++i)
    if (merges_.find(syms[i], syms[i + 1], r, id)) heap.push({r, static_cast<int32_t>(i), id});
  while (!heap.empty()) {
    const Item top = heap.top();
    heap.pop();
    const int32_t p = top.pos;
    if (!alive[p] || next[p] < 0) continue;
    const int32_t q = next[p];
    if (!merges_.find(syms[p], syms[q], r, id) || id != top.id) continue;  // stale entry
    syms[p] = top.id;
    alive[q] = 0;
    next[p] = next[q];
    if (next[q] >= 0) prev[next[q]] = p;
    if (prev[p] >= 0 && merges_.find(syms[prev[p]], syms[p], r, id)) heap.push({r, prev[p], id});
    if (next[p] >= 0 && merges_.find(syms[p], syms[next[p]], r, id)) heap.push({r, p, id});
  }
  size_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (alive[i]) syms[k++] = syms[i];
  syms.resize(k);
}

}  // namespace xlstm::tok
