// Why: see prompt.h.
#include "prompt.h"

#include <cstdio>
#include <sstream>

#include "common/check.h"
#include "io/mapped_file.h"
#include "io/npy.h"
#include "tokenizer/tokenizer.h"

namespace xlstm::cli {

void add_prompt_opts(CLI::App& sub, PromptOpts& o) {
  sub.add_option("-p,--prompt", o.text, "prompt text");
  sub.add_option("-f,--file", o.file, "read the prompt text from a file (bytes as they are)");
  sub.add_option("--prompt-ids", o.ids, "prompt token ids: 1,2,3 or @IDS.npy");
  sub.add_flag("--add-bos", o.add_bos, "prepend the BOS token to --prompt-ids");
  sub.add_flag("--no-bos", o.no_bos, "never insert the BOS token");
}

static std::vector<int32_t> parse_ids(const std::string& s) {
  if (!s.empty() && s[0] == '@') return read_npy_ids(s.substr(1));
  XLSTM_CHECK(s.empty() || s.back() != ',', "--prompt-ids: empty entry in '{}'", s);  // getline drops it
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    XLSTM_CHECK(a != std::string::npos, "--prompt-ids: empty entry in '{}'", s);
    item = item.substr(a, b - a + 1);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    XLSTM_CHECK(used == item.size() && v >= INT32_MIN && v <= INT32_MAX, "--prompt-ids: '{}' is not a token id", item);
    ids.push_back(int32_t(v));
  }
  return ids;
}

std::shared_ptr<const Tokenizer> model_tokenizer(const Model& model) {
  const std::string& dir = model.info().path;
  if (dir.rfind("random:", 0) == 0 || !file_exists(dir + "/tokenizer.json")) return nullptr;
  return Tokenizer::from_dir(dir);
}

Prompt make_prompt(const PromptOpts& o, const Model& model, bool continuing) {
  int given = int(!o.text.empty()) + int(!o.file.empty()) + int(!o.ids.empty());
  // An empty value (-p '', --prompt-ids '') cannot be told from a missing option here.
  XLSTM_CHECK(given > 0, "empty prompt: give -p TEXT, -f FILE or --prompt-ids IDS with at least one token");
  XLSTM_CHECK(given == 1, "give exactly one prompt: -p TEXT, -f FILE or --prompt-ids IDS");
  Prompt p;
  const ModelInfo& I = model.info();
  if (!o.ids.empty()) {
    p.ids = parse_ids(o.ids);
    if (o.add_bos && !continuing && I.bos_id >= 0 && (p.ids.empty() || p.ids[0] != I.bos_id))
      p.ids.insert(p.ids.begin(), I.bos_id);
  } else {
    p.tokenizer = model_tokenizer(model);
    XLSTM_CHECK(p.tokenizer, "text prompts need a tokenizer: '{}' has no tokenizer.json (use --prompt-ids)", I.path);
    p.text = o.text.empty() ? read_text_file(o.file) : o.text;
    p.ids = p.tokenizer->encode(p.text, /*add_special_tokens=*/true);
    if (I.force_bos && !o.no_bos && !continuing && I.bos_id >= 0 && (p.ids.empty() || p.ids[0] != I.bos_id))
      p.ids.insert(p.ids.begin(), I.bos_id);
  }
  XLSTM_CHECK(!p.ids.empty(), "empty prompt: at least one token is needed");
  for (size_t i = 0; i < p.ids.size(); ++i)
    XLSTM_CHECK(p.ids[i] >= 0 && p.ids[i] < I.vocab_size, "prompt token id {} at position {} is out of range [0, {})",
                p.ids[i], i, I.vocab_size);
  return p;
}

TextStream::TextStream(std::shared_ptr<const Tokenizer> tok, bool enabled) : enabled_(enabled) {
  if (tok) dec_ = std::make_unique<StreamDecoder>(std::move(tok));
}
TextStream::~TextStream() = default;

bool TextStream::push(int32_t id) {
  if (!enabled_) return true;
  if (dec_) {
    std::string piece = dec_->push(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
  } else {
    std::printf(any_ ? " %d" : "%d", id);
  }
  std::fflush(stdout);
  any_ = true;
  return true;
}

void TextStream::finish() {
  if (enabled_ && dec_) {
    std::string rest = dec_->flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  if (enabled_ && any_) std::printf("\n");
  std::fflush(stdout);
}

}  // namespace xlstm::cli
