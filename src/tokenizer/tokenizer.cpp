// Why: see tokenizer.h. This file wires the components together (loading, the encode pipeline, decode,
// tokenizer_config.json, the stream decoder); each component lives in its own file.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/check.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/postprocessor.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace xlstm {

using nlohmann::json;
using namespace tok;

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Bpe> model;
  std::unique_ptr<PostProcessor> post;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;

  struct Truncation {
    size_t max_length = 0;
    bool left = false;
  };
  std::optional<Truncation> truncation;
  struct Padding {
    std::optional<size_t> fixed;
    size_t multiple = 0;
    bool left = false;
    int32_t pad_id = 0;
  };
  std::optional<Padding> padding;

  int32_t vocab_size = 0, num_tokens = 0;
  std::vector<uint8_t> special;           // per id
  std::vector<std::string> byte_tokens;   // per id, bytes the ByteLevel decoder emits (fast decode path)
  bool fast_decode = false;

  std::string bos_token, eos_token, chat_template;
  int32_t bos_id = -1, eos_id = -1;
  bool add_bos = false, add_eos = false;

  // Token text for an id: added token (its decoded form) first, then the model vocabulary; nullptr if unknown.
  const std::string* token_of(int32_t id) const {
    if (const AddedToken* t = added.by_id(id)) return &t->decoded;
    return model->id_to_token(id);
  }

  void encode_segment(std::string_view seg, bool at_zero, std::vector<int32_t>& ids) const {
    if (!pre_tokenizer) {
      model->tokenize(seg, false, ids);
      return;
    }
    thread_local Pieces pieces;
    pieces.reset(seg, at_zero);
    pre_tokenizer->pre_tokenize(pieces);
    for (auto p : pieces.list) model->tokenize(p, pieces.byte_level, ids);
    if (pieces.arena.size() > 64) pieces.arena.clear();
  }
};

namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  XLSTM_CHECK(f.good(), "{}: cannot open '{}'", what, path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// bos_token / eos_token in tokenizer_config.json: a string, an AddedToken object, or null.
std::string token_field(const json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return {};
  const auto& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  XLSTM_FAIL("tokenizer_config: '{}' must be a string, an object with 'content', or null", key);
}

}  // namespace

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

std::shared_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  return from_json(read_file(path, "tokenizer.json"));
}

std::shared_ptr<Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  XLSTM_CHECK(fs::exists(d / "tokenizer.json"), "tokenizer: no tokenizer.json in '{}'", dir);
  auto t = from_file((d / "tokenizer.json").string());
  if (fs::exists(d / "tokenizer_config.json")) t->load_config((d / "tokenizer_config.json").string());
  if (fs::exists(d / "chat_template.jinja")) t->impl_->chat_template = read_file((d / "chat_template.jinja").string(), "chat_template.jinja");
  return t;
}

std::shared_ptr<Tokenizer> Tokenizer::from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    XLSTM_FAIL("tokenizer.json: malformed JSON: {}", e.what());
  }
  XLSTM_CHECK(j.is_object(), "tokenizer.json: expected a JSON object");
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  Impl& m = *t->impl_;
  try {
    if (j.contains("version") && !j["version"].is_null()) {
      XLSTM_CHECK(j["version"].is_string() && j["version"].get<std::string>() == "1.0",
                  "tokenizer.json: unknown version {}", j["version"].dump());
    }
    XLSTM_CHECK(j.contains("model") && !j["model"].is_null(), "tokenizer.json: missing 'model'");
    auto get = [&](const char* key) { return j.contains(key) ? j[key] : json(); };
    m.normalizer = make_normalizer(get("normalizer"));
    m.pre_tokenizer = make_pre_tokenizer(get("pre_tokenizer"));
    m.model = std::make_unique<Bpe>(j["model"]);
    m.post = make_post_processor(get("post_processor"));
    m.decoder = make_decoder(get("decoder"));
    m.added.build(get("added_tokens"), *m.model, m.normalizer.get());

    if (const json tr = get("truncation"); !tr.is_null()) {
      XLSTM_CHECK(tr.is_object() && tr.contains("max_length") && tr["max_length"].is_number_unsigned(),
                  "truncation: 'max_length' must be a non-negative integer");
      Impl::Truncation x;
      x.max_length = tr["max_length"].get<size_t>();
      x.left = tr.contains("direction") && tr["direction"] == "Left";
      m.truncation = x;
    }
    if (const json pd = get("padding"); !pd.is_null()) {
      XLSTM_CHECK(pd.is_object(), "padding: expected an object");
      Impl::Padding x;
      if (pd.contains("strategy") && pd["strategy"].is_object()) {
        XLSTM_CHECK(pd["strategy"].contains("Fixed") && pd["strategy"]["Fixed"].is_number_unsigned(),
                    "padding: strategy must be \"BatchLongest\" or {{\"Fixed\": n}}");
        x.fixed = pd["strategy"]["Fixed"].get<size_t>();
      }
      if (pd.contains("pad_to_multiple_of") && pd["pad_to_multiple_of"].is_number_unsigned())
        x.multiple = pd["pad_to_multiple_of"].get<size_t>();
      x.left = pd.contains("direction") && pd["direction"] == "Left";
      if (pd.contains("pad_id") && pd["pad_id"].is_number_integer()) x.pad_id = pd["pad_id"].get<int32_t>();
      m.padding = x;
    }
  } catch (const json::exception& e) {
    XLSTM_FAIL("tokenizer.json: unexpected structure: {}", e.what());
  }

  // Per-id tables.
  int32_t max_id = m.model->max_id();
  for (const auto& a : m.added.tokens()) max_id = std::max(max_id, a.id);
  m.vocab_size = max_id + 1;
  int32_t extra = 0;
  for (const auto& a : m.added.tokens())
    if (!m.model->token_to_id(a.content)) ++extra;
  m.num_tokens = m.model->vocab_count() + extra;
  m.special.assign(static_cast<size_t>(m.vocab_size), 0);
  for (int32_t id = 0; id < m.vocab_size; ++id) {
    const AddedToken* a = m.added.by_id(id);
    const std::string* s = a ? &a->content : m.model->id_to_token(id);
    if (s && m.added.is_special_content(*s)) m.special[id] = 1;
  }
  m.fast_decode = m.decoder && m.decoder->is_byte_level();
  if (m.fast_decode) {
    m.byte_tokens.resize(static_cast<size_t>(m.vocab_size));
    for (int32_t id = 0; id < m.vocab_size; ++id)
      if (const std::string* s = m.token_of(id)) m.byte_tokens[id] = byte_level_token_bytes(*s);
  }

  // bos / eos without a tokenizer_config.json: the post-processor's prefix, and the usual end-of-text names.
  std::vector<int32_t> pre, post;
  if (m.post) m.post->prefix_suffix(pre, post);
  if (!pre.empty()) {
    m.bos_id = pre.front();
    m.bos_token = *m.token_of(m.bos_id);
  }
  for (const char* name : {"<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<eos>"}) {
    auto id = m.added.token_to_id(name);
    if (id && m.special[*id]) {
      m.eos_id = *id;
      m.eos_token = name;
      break;
    }
  }
  return t;
}

void Tokenizer::load_config(const std::string& path) {
  json cfg;
  try {
    cfg = json::parse(read_file(path, "tokenizer_config.json"));
  } catch (const json::exception& e) {
    XLSTM_FAIL("tokenizer_config.json: malformed JSON: {}", e.what());
  }
  XLSTM_CHECK(cfg.is_object(), "tokenizer_config.json: expected a JSON object");
  Impl& m = *impl_;
  auto resolve = [&](const std::string& name, std::string& tok, int32_t& id) {
    tok = name;
    id = -1;
    if (name.empty()) return;
    auto x = token_to_id(name);
    XLSTM_CHECK(x.has_value(), "tokenizer_config.json: token '{}' is not in the vocabulary", name);
    id = *x;
  };
  if (cfg.contains("bos_token")) resolve(token_field(cfg, "bos_token"), m.bos_token, m.bos_id);
  if (cfg.contains("eos_token")) resolve(token_field(cfg, "eos_token"), m.eos_token, m.eos_id);
  auto flag = [&](const char* key, bool& dst) {
    if (!cfg.contains(key) || cfg[key].is_null()) return;
    XLSTM_CHECK(cfg[key].is_boolean(), "tokenizer_config.json: '{}' must be a boolean", key);
    dst = cfg[key].get<bool>();
  };
  flag("add_bos_token", m.add_bos);
  flag("add_eos_token", m.add_eos);
  if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
    const auto& ct = cfg["chat_template"];
    if (ct.is_string()) {
      m.chat_template = ct.get<std::string>();
    } else {
      // A list of {"name", "template"}: take "default", else the first.
      XLSTM_CHECK(ct.is_array(), "tokenizer_config.json: 'chat_template' must be a string or a list");
      for (const auto& e : ct) {
        XLSTM_CHECK(e.is_object() && e.contains("template") && e["template"].is_string(),
                    "tokenizer_config.json: chat_template entries need a string 'template'");
        if (m.chat_template.empty() || (e.contains("name") && e["name"] == "default"))
          m.chat_template = e["template"].get<std::string>();
      }
    }
  }
}

void Tokenizer::set_cache_capacity(size_t words) { impl_->model->set_cache_capacity(words); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens, bool parse_special) const {
  const Impl& m = *impl_;
  std::string repaired;
  if (utf8_valid_prefix(text) != text.size()) {
    utf8_lossy_append(repaired, text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 8);
  m.added.split(text, false, parse_special, [&](std::string_view seg, int32_t id) {
    if (id >= 0) {
      ids.push_back(id);
      return;
    }
    std::string_view norm = seg;
    std::string local;
    if (m.normalizer) {
      m.normalizer->normalize(seg, local);
      norm = local;
    }
    const bool seg_at_zero = seg.data() == text.data();
    m.added.split(norm, true, parse_special, [&](std::string_view seg2, int32_t id2) {
      if (id2 >= 0) {
        ids.push_back(id2);
      } else {
        m.encode_segment(seg2, seg_at_zero && seg2.data() == norm.data(), ids);
      }
    });
  });

  if (m.truncation) {
    size_t max_len = m.truncation->max_length;
    const size_t n_added = m.post ? m.post->added_tokens() : 0;
    if (add_special_tokens && n_added > 0) {
      XLSTM_CHECK(max_len >= n_added, "truncation: max_length {} is smaller than the {} special tokens added",
                  max_len, n_added);
      max_len -= n_added;
    }
    if (ids.size() > max_len) {
      if (m.truncation->left) {
        ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(max_len));
      } else {
        ids.resize(max_len);
      }
    }
  }
  if (add_special_tokens && m.post) m.post->process(ids);
  if (m.padding) {
    size_t target = m.padding->fixed ? *m.padding->fixed : ids.size();
    if (m.padding->multiple > 0 && target % m.padding->multiple) target += m.padding->multiple - target % m.padding->multiple;
    if (ids.size() < target) {
      const size_t k = target - ids.size();
      ids.insert(m.padding->left ? ids.begin() : ids.end(), k, m.padding->pad_id);
    }
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  for (int32_t id : ids) XLSTM_CHECK(is_valid_id(id), "decode: token id {} is not in the vocabulary", id);
  if (m.fast_decode) {
    std::string bytes;
    for (int32_t id : ids) {
      if (skip_special_tokens && m.special[id]) continue;
      bytes += m.byte_tokens[id];
    }
    std::string out;
    utf8_lossy_append(out, bytes);
    return out;
  }
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special_tokens && m.special[id]) continue;
    toks.push_back(*m.token_of(id));
  }
  std::string out;
  if (!m.decoder) {
    for (size_t i = 0; i < toks.size(); ++i) {
      if (i) out.push_back(' ');
      out += toks[i];
    }
    return out;
  }
  m.decoder->decode_chain(toks);
  for (const auto& s : toks) out += s;
  return out;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
int32_t Tokenizer::num_tokens() const { return impl_->num_tokens; }
int32_t Tokenizer::bos_id() const { return impl_->bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->eos_id; }
const std::string& Tokenizer::bos_token() const { return impl_->bos_token; }
const std::string& Tokenizer::eos_token() const { return impl_->eos_token; }
bool Tokenizer::add_bos_token() const { return impl_->add_bos; }
bool Tokenizer::add_eos_token() const { return impl_->add_eos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

bool Tokenizer::is_valid_id(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->token_of(id) != nullptr;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* s = id >= 0 && id < impl_->vocab_size ? impl_->token_of(id) : nullptr;
  XLSTM_CHECK(s != nullptr, "id_to_token: token id {} is not in the vocabulary", id);
  return *s;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->special[id] != 0;
}

std::vector<int32_t> Tokenizer::special_prefix() const {
  std::vector<int32_t> pre, post;
  if (impl_->post) impl_->post->prefix_suffix(pre, post);
  return pre;
}

std::vector<int32_t> Tokenizer::special_suffix() const {
  std::vector<int32_t> pre, post;
  if (impl_->post) impl_->post->prefix_suffix(pre, post);
  return post;
}

// ---- StreamDecoder ----

StreamDecoder::StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special_tokens)
    : tok_(std::move(tokenizer)), skip_special_(skip_special_tokens) {
  XLSTM_CHECK(tok_ != nullptr, "StreamDecoder: null tokenizer");
  byte_level_ = tok_->impl().fast_decode;
}

void StreamDecoder::reset() {
  pending_.clear();
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
}

namespace {
bool ends_with_replacement(const std::string& s) { return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0; }
}  // namespace

std::string StreamDecoder::push(int32_t id) {
  XLSTM_CHECK(tok_->is_valid_id(id), "decode: token id {} is not in the vocabulary", id);
  if (byte_level_) {
    const auto& m = tok_->impl();
    if (skip_special_ && m.special[id]) return {};
    pending_ += m.byte_tokens[id];
    const size_t keep = utf8_incomplete_tail(pending_);
    std::string out;
    utf8_lossy_append(out, std::string_view(pending_).substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return out;
  }
  // Generic decoders, after HF's DecodeStream: decode a window of ids; what grew past the decode of the ids already
  // returned (prefix_) is new text, unless it ends in U+FFFD (maybe an incomplete character). The window then
  // restarts at the last returned ids, which stay as context. A byte-fallback token ("<0xNN>") may still change how
  // its byte group decodes (all valid, or one U+FFFD per byte), so nothing is returned until another token follows.
  ids_.push_back(id);
  const std::string tok_text = tok_->id_to_token(id);
  if (tok_text.size() == 6 && tok_text.compare(0, 3, "<0x") == 0 && tok_text[5] == '>') return {};
  std::string s = tok_->decode(ids_, skip_special_);
  if (s.size() > prefix_.size() && !ends_with_replacement(s) && s.compare(0, prefix_.size(), prefix_) == 0) {
    std::string out = s.substr(prefix_.size());
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
    prefix_ = tok_->decode(ids_, skip_special_);
    prefix_index_ = ids_.size();
    return out;
  }
  return {};
}

std::string StreamDecoder::flush() {
  std::string out;
  if (byte_level_) {
    utf8_lossy_append(out, pending_);
  } else if (!ids_.empty()) {
    const std::string s = tok_->decode(ids_, skip_special_);
    size_t common = 0;
    while (common < s.size() && common < prefix_.size() && s[common] == prefix_[common]) ++common;
    out = s.substr(common);
  }
  reset();
  return out;
}

}  // namespace xlstm
