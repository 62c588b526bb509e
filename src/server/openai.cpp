// Why: see openai.h.
#include "server/openai.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <set>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace xlstm::server {

using json = nlohmann::json;

ApiError::ApiError(int st, const std::string& message, std::string p, std::string c)
    : std::runtime_error(message), status(st), param(std::move(p)), code(std::move(c)) {}

json error_json(int status, const std::string& message, const std::string& param, const std::string& code) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 429 ? "rate_limit_error"
                     : status == 503 ? "service_unavailable_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg, const std::string& code = "") {
  throw ApiError(400, msg, param, code);
}

std::string shown(const json& v) {  // a short rendering of a value for messages
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// The fields of one JSON object, with OpenAI's rule for unknown ones (rejected, naming the field).
class Fields {
 public:
  Fields(const json& obj, const std::set<std::string>& known, const std::string& where) : o_(obj), where_(where) {
    for (auto it = o_.begin(); it != o_.end(); ++it)
      if (!known.count(it.key()))
        bad(name(it.key()), "Unrecognized request argument supplied: " + name(it.key()));
  }
  // The value, or nullptr when absent or null.
  const json* get(const std::string& k) const {
    auto it = o_.find(k);
    return it == o_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string name(const std::string& k) const { return where_.empty() ? k : where_ + "." + k; }

  std::optional<double> number(const std::string& k, double lo, double hi, bool lo_open = false) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(name(k), name(k) + " must be a number, got " + std::string(v->type_name()));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
      bad(name(k), name(k) + " must be " + (lo_open ? "> " : ">= ") + shown(json(lo)) +
                       (hi < std::numeric_limits<double>::max() ? " and <= " + shown(json(hi)) : std::string()) +
                       ", got " + shown(*v));
    return x;
  }
  std::optional<int64_t> integer(const std::string& k, int64_t lo, int64_t hi) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) bad(name(k), name(k) + " must be an integer, got " + shown(*v));
    const bool big = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max());
    const int64_t x = big ? std::numeric_limits<int64_t>::max() : v->get<int64_t>();
    if (big || x < lo || x > hi)
      bad(name(k), name(k) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                       shown(*v));
    return x;
  }
  std::optional<bool> boolean(const std::string& k) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad(name(k), name(k) + " must be a boolean, got " + std::string(v->type_name()));
    return v->get<bool>();
  }
  std::optional<std::string> string(const std::string& k) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad(name(k), name(k) + " must be a string, got " + std::string(v->type_name()));
    return v->get<std::string>();
  }
  // An OpenAI field this server does not implement: accepted only at its "off" value.
  void only_default(const std::string& k, const json& off, const std::string& what) const {
    const json* v = get(k);
    if (v && *v != off) bad(name(k), what + " is not supported by this server (" + name(k) + " must be " +
                                         off.dump() + " or absent)");
  }

 private:
  const json& o_;
  std::string where_;
};

json parse_body(const std::string& body) {
  const size_t ok = tok::utf8_valid_prefix(body);
  if (ok != body.size())
    bad("", "the request body is not valid UTF-8 (invalid byte at offset " + std::to_string(ok) + ")",
        "invalid_utf8");
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    std::string why;
    try {
      const json again = json::parse(body);  // only for the parser's message
      (void)again;
    } catch (const json::parse_error& e) {
      why = e.what();
      const size_t p = why.find("] ");  // drop the "[json.exception.parse_error.101] " prefix
      if (p != std::string::npos) why = why.substr(p + 2);
    }
    bad("", "the request body is not valid JSON: " + why, "invalid_json");
  }
  if (!j.is_object()) bad("", "the request body must be a JSON object, got " + std::string(j.type_name()));
  return j;
}

const std::set<std::string> kCommon = {"model",    "stream", "stream_options", "max_tokens",
                                       "temperature", "top_p", "top_k",       "min_p",
                                       "repetition_penalty", "seed", "stop", "n",
                                       "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
                                       "user",     "ignore_eos"};

std::set<std::string> with(std::set<std::string> s, std::initializer_list<const char*> more) {
  for (const char* m : more) s.insert(m);
  return s;
}

// The fields both endpoints share: sampling, limits, stop strings, streaming.
void common_fields(const Fields& f, const ApiContext& ctx, ApiRequest& r, int default_max_tokens,
                   const char* max_tokens_key) {
  (void)f.string("model");  // any model name is accepted: this server serves one model
  (void)f.string("user");
  SequenceRequest& s = r.seq;
  s.max_tokens = int(f.integer(max_tokens_key, 1, ctx.max_tokens).value_or(std::min(default_max_tokens, ctx.max_tokens)));
  SamplingParams& p = s.sampling;
  // OpenAI's defaults (temperature 1, top_p 1), not the CLI's; the extensions top_k, min_p and
  // repetition_penalty are off unless given.
  p.temperature = float(f.number("temperature", 0, 2).value_or(1.0));
  p.top_p = float(f.number("top_p", 0, 1, /*lo_open=*/true).value_or(1.0));
  const int64_t top_k = f.integer("top_k", -1, std::numeric_limits<int32_t>::max()).value_or(0);
  p.top_k = top_k < 0 ? 0 : int(top_k);
  p.min_p = float(f.number("min_p", 0, 1).value_or(0.0));
  p.repeat_penalty = float(f.number("repetition_penalty", 0, 1e6, /*lo_open=*/true).value_or(1.0));
  p.repeat_last_n = 64;
  if (const json* v = f.get("seed")) {
    if (!v->is_number_integer()) bad("seed", "seed must be an integer, got " + shown(*v));
    p.seed = v->is_number_unsigned() ? v->get<uint64_t>() : uint64_t(v->get<int64_t>());
  } else {
    std::random_device rd;
    p.seed = (uint64_t(rd()) << 32) ^ rd();
  }
  if (const json* v = f.get("stop")) {
    if (v->is_string()) {
      s.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) bad("stop", "stop may hold at most 4 strings, got " + std::to_string(v->size()));
      for (const auto& e : *v) {
        if (!e.is_string()) bad("stop", "stop must be a string or an array of strings, got an array holding " +
                                             std::string(e.type_name()));
        s.stop.push_back(e.get<std::string>());
      }
    } else {
      bad("stop", "stop must be a string or an array of strings, got " + std::string(v->type_name()));
    }
    for (const auto& x : s.stop)
      if (x.empty()) bad("stop", "stop strings must not be empty");
    if (!s.stop.empty() && !ctx.tokenizer)
      bad("stop", "stop strings need a tokenizer and this model has none (tokenizer.json)");
  }
  s.stop_at_eos = !f.boolean("ignore_eos").value_or(false);
  s.decode_text = ctx.tokenizer != nullptr;
  if (const json* v = f.get("n"); v && *v != json(1))
    bad("n", "n must be 1: this server returns one choice per request (send several requests instead)");
  f.only_default("presence_penalty", 0, "presence_penalty");
  f.only_default("frequency_penalty", 0, "frequency_penalty");
  if (const json* v = f.get("logit_bias"); v && !(v->is_object() && v->empty()))
    bad("logit_bias", "logit_bias is not supported by this server (logit_bias must be {}, null or absent)");
  r.stream = f.boolean("stream").value_or(false);
  if (const json* v = f.get("stream_options")) {
    if (!r.stream) bad("stream_options", "stream_options is only allowed when stream is true");
    if (!v->is_object()) bad("stream_options", "stream_options must be an object");
    Fields so(*v, {"include_usage"}, "stream_options");
    r.include_usage = so.boolean("include_usage").value_or(false);
  }
}

// Token ids of a text prompt, as `xlstm generate -p` makes them (special tokens parsed, BOS when the
// config forces it).
std::vector<int32_t> encode_text(const std::string& text, const ApiContext& ctx, const char* param) {
  if (!ctx.tokenizer)
    bad(param, std::string("this model has no tokenizer (tokenizer.json): send the ") + param + " as token ids");
  std::vector<int32_t> ids = ctx.tokenizer->encode(text, /*add_special_tokens=*/true);
  if (ctx.force_bos && ctx.bos_id >= 0 && (ids.empty() || ids[0] != ctx.bos_id)) ids.insert(ids.begin(), ctx.bos_id);
  return ids;
}

std::vector<int32_t> token_array(const json& a, const ApiContext& ctx) {
  std::vector<int32_t> ids;
  ids.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const json& v = a[i];
    if (!v.is_number_integer())
      bad("prompt", "prompt must be a string or an array of integer token ids; position " + std::to_string(i) +
                        " holds " + shown(v));
    const bool in = v.is_number_unsigned() ? v.get<uint64_t>() < uint64_t(ctx.vocab_size)
                                           : v.get<int64_t>() >= 0 && v.get<int64_t>() < ctx.vocab_size;
    if (!in)
      bad("prompt", "prompt token id " + shown(v) + " at position " + std::to_string(i) + " is out of range [0, " +
                        std::to_string(ctx.vocab_size) + ")");
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  return ids;
}

void check_prompt_length(const std::vector<int32_t>& ids, const ApiContext& ctx, const char* param) {
  if (ids.empty()) bad(param, std::string(param) + " is empty: at least one token is needed");
  if (int64_t(ids.size()) > ctx.max_prompt_tokens)
    bad(param,
        "the prompt is " + std::to_string(ids.size()) + " tokens, more than this server's limit of " +
            std::to_string(ctx.max_prompt_tokens) + " (--max-prompt-tokens)",
        "context_length_exceeded");
}

}  // namespace

ApiRequest parse_completion_request(const std::string& body, const ApiContext& ctx) {
  const json j = parse_body(body);
  Fields f(j, with(kCommon, {"prompt", "echo", "best_of", "suffix"}), "");
  ApiRequest r;
  common_fields(f, ctx, r, 16, "max_tokens");
  f.only_default("echo", false, "echo");
  f.only_default("best_of", 1, "best_of");
  if (const json* v = f.get("suffix"); v && *v != json(""))
    bad("suffix", "suffix is not supported by this server (suffix must be null or absent)");
  if (const json* v = f.get("logprobs"); v && *v != json(0))
    bad("logprobs", "logprobs are not supported by this server (logprobs must be null or absent)");
  const json* p = f.get("prompt");
  if (!p) bad("prompt", "prompt is required");
  if (p->is_string()) {
    r.seq.prompt = encode_text(p->get<std::string>(), ctx, "prompt");
  } else if (p->is_array()) {
    const bool nested = !p->empty() && ((*p)[0].is_string() || (*p)[0].is_array());
    if (nested && p->size() > 1)
      bad("prompt", "only one prompt per request is supported, got " + std::to_string(p->size()));
    const json& one = nested ? (*p)[0] : *p;
    if (one.is_string())
      r.seq.prompt = encode_text(one.get<std::string>(), ctx, "prompt");
    else if (one.is_array())
      r.seq.prompt = token_array(one, ctx);
    else
      bad("prompt", "prompt must be a string or an array of token ids");
  } else {
    bad("prompt", "prompt must be a string or an array of token ids, got " + std::string(p->type_name()));
  }
  check_prompt_length(r.seq.prompt, ctx, "prompt");
  return r;
}

ApiRequest parse_chat_request(const std::string& body, const ApiContext& ctx) {
  const json j = parse_body(body);
  Fields f(j, with(kCommon, {"messages", "max_completion_tokens", "top_logprobs", "response_format", "tools",
                             "tool_choice"}),
           "");
  ApiRequest r;
  r.chat = true;
  if (f.get("max_tokens") && f.get("max_completion_tokens"))
    bad("max_tokens", "give max_tokens or max_completion_tokens, not both");
  common_fields(f, ctx, r, ctx.max_tokens, f.get("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
  f.only_default("logprobs", false, "logprobs");
  f.only_default("top_logprobs", 0, "top_logprobs");
  if (const json* v = f.get("response_format"); v && *v != json{{"type", "text"}})
    bad("response_format", "only response_format {\"type\": \"text\"} is supported");
  if (const json* v = f.get("tools"); v && !(v->is_array() && v->empty()))
    bad("tools", "tools are not supported by this server");
  if (const json* v = f.get("tool_choice"); v && *v != json("none"))
    bad("tool_choice", "tools are not supported by this server (tool_choice must be \"none\" or absent)");
  const json* m = f.get("messages");
  if (!m) bad("messages", "messages is required");
  if (!m->is_array() || m->empty()) bad("messages", "messages must be a non-empty array of message objects");
  std::vector<ChatMessage> msgs;
  for (size_t i = 0; i < m->size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const json& e = (*m)[i];
    if (!e.is_object()) bad(where, where + " must be an object, got " + std::string(e.type_name()));
    Fields mf(e, {"role", "content", "name"}, where);
    (void)mf.string("name");
    ChatMessage cm;
    cm.role = mf.string("role").value_or("");
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      bad(mf.name("role"), mf.name("role") + " must be \"system\", \"developer\", \"user\" or \"assistant\", got " +
                               shown(e.value("role", json(nullptr))));
    const json* c = mf.get("content");
    if (!c) bad(mf.name("content"), mf.name("content") + " is required");
    if (c->is_string()) {
      cm.content = c->get<std::string>();
    } else if (c->is_array()) {  // content parts: text only
      for (size_t k = 0; k < c->size(); ++k) {
        const json& part = (*c)[k];
        const std::string pw = mf.name("content") + "[" + std::to_string(k) + "]";
        if (!part.is_object()) bad(pw, pw + " must be an object");
        Fields pf(part, {"type", "text"}, pw);
        if (pf.string("type").value_or("") != "text") bad(pf.name("type"), "only text content parts are supported");
        const auto t = pf.string("text");
        if (!t) bad(pf.name("text"), pf.name("text") + " is required");
        cm.content += *t;
      }
    } else {
      bad(mf.name("content"), mf.name("content") + " must be a string or an array of text parts, got " +
                                  std::string(c->type_name()));
    }
    msgs.push_back(std::move(cm));
  }
  r.seq.prompt = encode_text(render_chat(ctx.chat_format, msgs), ctx, "messages");
  check_prompt_length(r.seq.prompt, ctx, "messages");
  for (auto& s : chat_stop_strings(ctx.chat_format)) r.seq.stop.push_back(s);
  return r;
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

namespace {
json reason_json(const std::string& r) { return r.empty() ? json(nullptr) : json(r); }
json head(const ApiRequest& r, const ResponseMeta& m, const char* object) {
  return {{"id", m.id}, {"object", object}, {"created", m.created}, {"model", m.model}};
}
}  // namespace

json response_json(const ApiRequest& r, const ResponseMeta& m, const SequenceOutput& out) {
  json j = head(r, m, r.chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", reason_json(out.finish_reason)}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", out.text}};
  } else {
    choice["text"] = out.text;
    choice["token_ids"] = out.ids;  // extension: the generated ids (eos included when it ended the text)
  }
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(out.prompt_tokens, out.completion_tokens);
  return j;
}

json chunk_json(const ApiRequest& r, const ResponseMeta& m, const std::string& text, const std::vector<int32_t>& ids,
                const std::string& finish_reason, bool first) {
  json j = head(r, m, r.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", reason_json(finish_reason)}};
  if (r.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish_reason.empty())) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
    choice["token_ids"] = ids;
  }
  j["choices"] = json::array({choice});
  if (r.include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk_json(const ApiRequest& r, const ResponseMeta& m, int64_t prompt_tokens, int64_t completion_tokens) {
  json j = head(r, m, r.chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(prompt_tokens, completion_tokens);
  return j;
}

}  // namespace xlstm::server
