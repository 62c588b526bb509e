// Why: how CLI commands take a prompt (-p TEXT, -f FILE, --prompt-ids 1,2,3 or @IDS.npy) and print
// generated tokens as they come (text through the model's tokenizer, else ids).
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace xlstm {
class Tokenizer;
class StreamDecoder;
}

namespace xlstm::cli {

struct PromptOpts {
  std::string text, file, ids;  // -p, -f, --prompt-ids
  bool add_bos = false;         // --add-bos: prepend BOS to --prompt-ids too
  bool no_bos = false;          // --no-bos: never insert BOS
};

struct Prompt {
  std::vector<int32_t> ids;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when the model directory has none
  std::string text;                            // the prompt text (empty for --prompt-ids)
};

void add_prompt_opts(CLI::App& sub, PromptOpts& o);
// Builds the prompt ids. Text prompts get BOS when the config sets force_bos_token_insert (unless
// --no-bos); ids are taken as given unless --add-bos. continuing: the state already holds earlier
// tokens, so no BOS is inserted.
Prompt make_prompt(const PromptOpts& o, const Model& model, bool continuing);

// The model directory's tokenizer (tokenizer.json + tokenizer_config.json), or null when it has none.
std::shared_ptr<const Tokenizer> model_tokenizer(const Model& model);

// Prints tokens as they come: text pieces (never a partial UTF-8 sequence) or space-separated ids.
class TextStream {
 public:
  TextStream(std::shared_ptr<const Tokenizer> tok, bool enabled);
  ~TextStream();
  bool push(int32_t id);
  void finish();

 private:
  std::unique_ptr<StreamDecoder> dec_;
  bool enabled_, any_ = false;
};

}  // namespace xlstm::cli
