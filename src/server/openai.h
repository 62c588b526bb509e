// Why: the OpenAI API subset as JSON, with no HTTP and no model in it so each rule is testable alone:
// request bodies of /v1/completions and /v1/chat/completions checked field by field into a SequenceRequest
// (an ApiError naming the field otherwise), and the bodies of responses, stream chunks and errors.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "server/chat.h"
#include "server/sequence.h"

namespace xlstm {
class Tokenizer;
}

namespace xlstm::server {

// An error the client caused (or a server state it must know of): the HTTP status and OpenAI's fields.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "");
  int status;
  std::string param, code;  // "" -> null
};

// {"error": {"message", "type", "param", "code"}}; type follows the status (invalid_request_error, ...).
nlohmann::json error_json(int status, const std::string& message, const std::string& param = "",
                          const std::string& code = "");

// What request parsing needs to know of the served model.
struct ApiContext {
  int64_t vocab_size = 0;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: token-id prompts only, no text out
  int32_t bos_id = -1;
  bool force_bos = false;                      // text prompts start with BOS (config force_bos_token_insert)
  ChatFormat chat_format = ChatFormat::Transcript;
  int max_prompt_tokens = 4096;                // longer prompts: 400 context_length_exceeded
  int max_tokens = 4096;                       // max_tokens may be 1 .. this; chat's default
};

struct ApiRequest {
  SequenceRequest seq;
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage before [DONE]
};

// Parse and check a request body (raw bytes). Throws ApiError (status 400) naming the bad field.
ApiRequest parse_completion_request(const std::string& body, const ApiContext& ctx);
ApiRequest parse_chat_request(const std::string& body, const ApiContext& ctx);

// Response bodies. `id` e.g. "cmpl-..." / "chatcmpl-...", created: unix seconds.
struct ResponseMeta {
  std::string id, model;
  int64_t created = 0;
};
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);
// The whole answer of a non-streaming request (out: finished, no error).
nlohmann::json response_json(const ApiRequest& r, const ResponseMeta& m, const SequenceOutput& out);
// One stream chunk: text and ids since the last chunk; finish_reason "" -> null. Chat chunks carry a
// delta ({"role": "assistant"} in the first, then {"content": ...}).
nlohmann::json chunk_json(const ApiRequest& r, const ResponseMeta& m, const std::string& text,
                          const std::vector<int32_t>& ids, const std::string& finish_reason, bool first);
// The usage-only chunk of stream_options.include_usage (empty choices).
nlohmann::json usage_chunk_json(const ApiRequest& r, const ResponseMeta& m, int64_t prompt_tokens,
                                int64_t completion_tokens);

}  // namespace xlstm::server
