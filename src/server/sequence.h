// Why: one request as the scheduler thread and the HTTP thread waiting on it share it. The HTTP side hands
// in validated parameters (SequenceRequest) and takes the output as it comes (text pieces, token ids, then
// the finish reason and usage); the scheduler side appends output and ends the sequence. The only shared
// mutable data sits behind one mutex; cancel() is how a vanished client tells the scheduler to stop.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"

namespace xlstm::server {

struct SequenceRequest {
  std::vector<int32_t> prompt;     // token ids, non-empty, each in [0, vocab)
  int max_tokens = 16;             // new tokens at most (>= 1)
  SamplingParams sampling;         // seed included: the n-th draw uses counter n, whatever the batch
  std::vector<std::string> stop;   // stop strings (valid UTF-8, non-empty); output text ends before one
  bool stop_at_eos = true;         // end at the model's eos ids (the eos id is counted, its text not shown)
  bool decode_text = true;         // produce text (needs a tokenizer); else only ids
};

// Output taken since the previous take (or all of it), and whether the sequence has ended.
struct SequenceOutput {
  std::string text;                // UTF-8 text, never a partial character, never past a stop string
  std::vector<int32_t> ids;        // generated ids (eos included when it ended the sequence)
  bool finished = false;
  std::string finish_reason;       // "stop" (eos or a stop string) or "length" (max_tokens); "" on error
  int error_status = 0;            // HTTP status of a failure (500 engine error, 503 shutting down); 0: none
  std::string error;               // message of the failure
  int64_t prompt_tokens = 0;       // usage, valid once finished
  int64_t completion_tokens = 0;
};

class Sequence {
 public:
  explicit Sequence(SequenceRequest r) : req_(std::move(r)) {}
  const SequenceRequest& request() const { return req_; }

  // ---- HTTP side ----
  // Waits up to `timeout` for output not yet taken (or the end); moves it into `out`. False: nothing new.
  bool take(SequenceOutput& out, std::chrono::milliseconds timeout);
  // Waits for the end and returns everything not yet taken.
  SequenceOutput wait_all();
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // ---- scheduler side ----
  void emit(std::string_view text, int32_t id);
  void finish(const std::string& reason, int64_t prompt_tokens, int64_t completion_tokens);
  void fail(int status, const std::string& message);
  bool finished() const;

 private:
  SequenceRequest req_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  SequenceOutput pending_;  // not yet taken
  bool fresh_ = false;      // pending_ holds something not yet taken
  std::atomic<bool> cancelled_{false};
};

}  // namespace xlstm::server
