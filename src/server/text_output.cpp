// Why: see text_output.h.
#include "server/text_output.h"

#include <algorithm>

namespace xlstm::server {

TextOutput::TextOutput(std::shared_ptr<const Tokenizer> tok, std::vector<std::string> stop)
    : tok_(tok), dec_(std::move(tok)), stop_(std::move(stop)) {
  stop_.erase(std::remove(stop_.begin(), stop_.end(), std::string()), stop_.end());
}

std::string TextOutput::push(int32_t id, bool* stopped) {
  *stopped = false;
  if (done_) return {};
  if (tok_->is_valid_id(id)) buf_ += dec_.push(id);
  if (cut_at_stop()) {
    *stopped = done_ = true;
    return std::move(buf_);
  }
  const size_t keep = held_suffix();
  std::string out = buf_.substr(0, buf_.size() - keep);
  buf_.erase(0, buf_.size() - keep);
  return out;
}

std::string TextOutput::finish() {
  if (done_) return {};
  done_ = true;
  buf_ += dec_.flush();
  cut_at_stop();  // flushed bytes (U+FFFD for a dangling partial character) may complete a stop string
  return std::move(buf_);
}

bool TextOutput::cut_at_stop() {
  size_t best = std::string::npos;
  for (const auto& s : stop_) best = std::min(best, buf_.find(s));
  if (best == std::string::npos) return false;
  buf_.resize(best);
  return true;
}

// Length of the longest suffix of buf_ that is a proper prefix of some stop string: it may still grow into
// one. A stop string is valid UTF-8, so the cut before such a suffix falls on a character boundary.
size_t TextOutput::held_suffix() const {
  size_t keep = 0;
  for (const auto& s : stop_)
    for (size_t k = std::min(s.size() - 1, buf_.size()); k > keep; --k)
      if (buf_.compare(buf_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  return keep;
}

}  // namespace xlstm::server
