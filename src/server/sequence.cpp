// Why: see sequence.h.
#include "server/sequence.h"

namespace xlstm::server {

bool Sequence::take(SequenceOutput& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return fresh_; })) return false;
  out = pending_;
  pending_.text.clear();
  pending_.ids.clear();
  fresh_ = false;
  return true;
}

SequenceOutput Sequence::wait_all() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return pending_.finished; });
  SequenceOutput out = pending_;
  pending_.text.clear();
  pending_.ids.clear();
  fresh_ = false;
  return out;
}

void Sequence::emit(std::string_view text, int32_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    pending_.text.append(text);
    pending_.ids.push_back(id);
    fresh_ = true;
  }
  cv_.notify_all();
}

void Sequence::finish(const std::string& reason, int64_t prompt_tokens, int64_t completion_tokens) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (pending_.finished) return;
    pending_.finished = true;
    pending_.finish_reason = reason;
    pending_.prompt_tokens = prompt_tokens;
    pending_.completion_tokens = completion_tokens;
    fresh_ = true;
  }
  cv_.notify_all();
}

void Sequence::fail(int status, const std::string& message) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (pending_.finished) return;
    pending_.finished = true;
    pending_.error_status = status;
    pending_.error = message;
    fresh_ = true;
  }
  cv_.notify_all();
}

bool Sequence::finished() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pending_.finished;
}

}  // namespace xlstm::server
