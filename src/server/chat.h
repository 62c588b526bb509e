// Why: /v1/chat/completions needs the messages turned into one prompt text. There is no Jinja engine here,
// so a model's chat_template is used only when it is recognisably ChatML (`<|im_start|>role\n...<|im_end|>`,
// both markers tokens of the tokenizer), which we render exactly; every other model gets a plain transcript,
// one "role: content" line per message and an open "assistant:" turn. docs/SERVER.md documents both.
#pragma once
#include <string>
#include <vector>

namespace xlstm {
class Tokenizer;
}

namespace xlstm::server {

enum class ChatFormat {
  ChatML,      // <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
  Transcript,  // {role}: {content}\n ... assistant:
};

struct ChatMessage {
  std::string role;     // system, user, assistant
  std::string content;  // UTF-8 text
};

// ChatML when the tokenizer's chat_template is ChatML (see above), else Transcript. tok may be null.
ChatFormat detect_chat_format(const Tokenizer* tok);
const char* chat_format_name(ChatFormat f);  // "chatml", "transcript"
// The prompt text: every message, then the opened assistant turn the model completes.
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages);
// Where the assistant's turn ends in this format: generation stops there (the text is not returned).
std::vector<std::string> chat_stop_strings(ChatFormat f);
// What closes an assistant turn after its content: render_chat of a message {assistant, C} ends with
// C + chat_turn_end(f), so text completed after the opened turn is closed the same way (`xlstm chat`).
std::string chat_turn_end(ChatFormat f);

}  // namespace xlstm::server
