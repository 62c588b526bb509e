// Why: see chat.h.
#include "server/chat.h"

#include "tokenizer/tokenizer.h"

namespace xlstm::server {

ChatFormat detect_chat_format(const Tokenizer* tok) {
  if (!tok) return ChatFormat::Transcript;
  const std::string& t = tok->chat_template();
  const bool chatml = t.find("<|im_start|>") != std::string::npos && t.find("<|im_end|>") != std::string::npos &&
                      tok->token_to_id("<|im_start|>") && tok->token_to_id("<|im_end|>");
  return chatml ? ChatFormat::ChatML : ChatFormat::Transcript;
}

const char* chat_format_name(ChatFormat f) { return f == ChatFormat::ChatML ? "chatml" : "transcript"; }

std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (f == ChatFormat::ChatML)
      out += "<|im_start|>" + m.role + "\n" + m.content + chat_turn_end(f);
    else
      out += m.role + ": " + m.content + chat_turn_end(f);
  }
  out += f == ChatFormat::ChatML ? "<|im_start|>assistant\n" : "assistant:";
  return out;
}

std::vector<std::string> chat_stop_strings(ChatFormat f) {
  if (f == ChatFormat::ChatML) return {"<|im_end|>"};
  return {"\nuser:", "\nsystem:"};
}

std::string chat_turn_end(ChatFormat f) { return f == ChatFormat::ChatML ? "<|im_end|>\n" : "\n"; }

}  // namespace xlstm::server
