// Why: see postprocessor.h.
#include "tokenizer/postprocessor.h"

#include <map>
#include <nlohmann/json.hpp>

#include "common/check.h"

namespace xlstm::tok {

using nlohmann::json;

namespace {

// Fixed ids before and after the sequence: covers TemplateProcessing (single), Roberta and Bert.
class Affix : public PostProcessor {
 public:
  Affix(std::vector<int32_t> pre, std::vector<int32_t> post) : pre_(std::move(pre)), post_(std::move(post)) {}
  void process(std::vector<int32_t>& ids) const override {
    if (!pre_.empty()) ids.insert(ids.begin(), pre_.begin(), pre_.end());
    ids.insert(ids.end(), post_.begin(), post_.end());
  }
  size_t added_tokens() const override { return pre_.size() + post_.size(); }
  void prefix_suffix(std::vector<int32_t>& pre, std::vector<int32_t>& post) const override {
    pre.insert(pre.end(), pre_.begin(), pre_.end());
    post.insert(post.end(), post_.begin(), post_.end());
  }

 private:
  std::vector<int32_t> pre_, post_;
};

class Nothing : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
  size_t added_tokens() const override { return 0; }
  void prefix_suffix(std::vector<int32_t>&, std::vector<int32_t>&) const override {}
};

class SequencePost : public PostProcessor {
 public:
  explicit SequencePost(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }
  size_t added_tokens() const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens();
    return n;
  }
  void prefix_suffix(std::vector<int32_t>& pre, std::vector<int32_t>& post) const override {
    for (const auto& p : parts_) {
      std::vector<int32_t> a, b;
      p->prefix_suffix(a, b);
      pre.insert(pre.begin(), a.begin(), a.end());
      post.insert(post.end(), b.begin(), b.end());
    }
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// "[CLS]:0 $A:0 [SEP]:0" or "$A" style string templates, accepted for convenience.
std::vector<json> parse_string_template(const std::string& s, const std::string& w) {
  std::vector<json> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size()) break;
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    std::string piece = s.substr(i, j - i);
    i = j;
    const size_t colon = piece.rfind(':');
    std::string name = colon == std::string::npos ? piece : piece.substr(0, colon);
    if (!name.empty() && name[0] == '$') {
      std::string id = name.size() == 1 ? "A" : name.substr(1);
      if (id == "0") id = "A";
      if (id == "1") id = "B";
      XLSTM_CHECK(id == "A" || id == "B", "{}: bad sequence piece '{}'", w, piece);
      out.push_back({{"Sequence", {{"id", id}, {"type_id", 0}}}});
    } else {
      out.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
    }
  }
  return out;
}

std::unique_ptr<PostProcessor> make_template(const json& j, const std::string& w) {
  XLSTM_CHECK(j.contains("single"), "{}: missing 'single'", w);
  std::vector<json> single;
  if (j["single"].is_string()) {
    single = parse_string_template(j["single"].get<std::string>(), w);
  } else {
    XLSTM_CHECK(j["single"].is_array(), "{}: 'single' must be an array", w);
    for (const auto& p : j["single"]) single.push_back(p);
  }
  std::map<std::string, std::vector<int32_t>> specials;
  if (j.contains("special_tokens") && !j["special_tokens"].is_null()) {
    const auto& st = j["special_tokens"];
    XLSTM_CHECK(st.is_object(), "{}: 'special_tokens' must be an object", w);
    for (const auto& [name, v] : st.items()) {
      XLSTM_CHECK(v.is_object() && v.contains("ids") && v["ids"].is_array(), "{}: special_tokens['{}'] needs 'ids'", w,
                  name);
      std::vector<int32_t> ids;
      for (const auto& x : v["ids"]) {
        XLSTM_CHECK(x.is_number_integer(), "{}: special_tokens['{}'] ids must be integers", w, name);
        ids.push_back(x.get<int32_t>());
      }
      const std::string key = v.contains("id") && v["id"].is_string() ? v["id"].get<std::string>() : name;
      specials[key] = ids;
    }
  }
  std::vector<int32_t> pre, post;
  bool seen_a = false;
  for (const auto& p : single) {
    XLSTM_CHECK(p.is_object() && p.size() == 1, "{}: each template piece must be {{\"SpecialToken\": ...}} or "
                "{{\"Sequence\": ...}}", w);
    if (p.contains("Sequence")) {
      const auto& s = p["Sequence"];
      const std::string id = s.contains("id") && s["id"].is_string() ? s["id"].get<std::string>() : "A";
      XLSTM_CHECK(id == "A", "{}: the single template may only use sequence A", w);
      XLSTM_CHECK(!seen_a, "{}: sequence A appears twice in the single template", w);
      seen_a = true;
    } else if (p.contains("SpecialToken")) {
      const auto& s = p["SpecialToken"];
      XLSTM_CHECK(s.contains("id") && s["id"].is_string(), "{}: SpecialToken needs a string 'id'", w);
      const std::string name = s["id"].get<std::string>();
      auto it = specials.find(name);
      XLSTM_CHECK(it != specials.end(), "{}: special token '{}' is missing from special_tokens", w, name);
      auto& dst = seen_a ? post : pre;
      dst.insert(dst.end(), it->second.begin(), it->second.end());
    } else {
      XLSTM_FAIL("{}: unknown template piece {}", w, p.dump());
    }
  }
  XLSTM_CHECK(seen_a, "{}: the single template lacks the sequence $A", w);
  return std::make_unique<Affix>(std::move(pre), std::move(post));
}

int32_t pair_id(const json& j, const char* key, const std::string& w) {
  XLSTM_CHECK(j.contains(key) && j[key].is_array() && j[key].size() == 2 && j[key][1].is_number_integer(),
              "{}: '{}' must be [token, id]", w, key);
  return j[key][1].get<int32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  XLSTM_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "{}: expected an object with a 'type'",
              where);
  const std::string type = j["type"].get<std::string>();
  const std::string w = where + " " + type;
  if (type == "ByteLevel") return std::make_unique<Nothing>();
  if (type == "TemplateProcessing") return make_template(j, w);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    return std::make_unique<Affix>(std::vector<int32_t>{pair_id(j, "cls", w)}, std::vector<int32_t>{pair_id(j, "sep", w)});
  }
  if (type == "Sequence") {
    XLSTM_CHECK(j.contains("processors") && j["processors"].is_array(), "{}: 'processors' must be an array", w);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    size_t k = 0;
    for (const auto& p : j["processors"]) {
      auto x = make_post_processor(p, fmt::format("{}[{}]", w, k++));
      if (x) parts.push_back(std::move(x));
    }
    return std::make_unique<SequencePost>(std::move(parts));
  }
  XLSTM_FAIL("{}: unsupported post_processor type '{}' (supported: ByteLevel, TemplateProcessing, "
             "RobertaProcessing, BertProcessing, Sequence)",
             where, type);
}

}  // namespace xlstm::tok
