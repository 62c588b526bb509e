// Why: continuous batching. One thread owns the Model and a pool of slots (one caller-owned State each);
// nothing else touches the backend. Each turn of its loop admits queued requests into free slots, runs one
// prefill chunk of the oldest sequence still reading its prompt (so a long prompt delays decoding by one
// chunk, not by the whole prompt), then advances every decoding sequence by one token in one batched call:
// the runtime Decoder (Model::decode_step + device sampling) for sequences whose sampling needs no token
// history, one batched Model::forward with host sampling for those with a repetition penalty. Finished and
// cancelled sequences leave at once and free their slot. Sampling is counter-based per sequence and the
// batched kernels compute each row as they would alone, so a request's output does not depend on what it
// was batched with (CPU backend: tested; see docs/SERVER.md for the CUDA backend).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "model/model.h"
#include "model/state.h"
#include "runtime/decoder.h"
#include "runtime/sampler.h"
#include "server/sequence.h"
#include "server/text_output.h"
#include "tokenizer/tokenizer.h"

namespace xlstm::server {

struct SchedulerOptions {
  int parallel = 4;         // slots: sequences held (prefilling or decoding) at once, >= 1
  int max_queue = 16;       // requests waiting for a slot; one more is refused (QueueFull), >= 0
  int prefill_chunk = 256;  // prompt tokens per prefill piece, >= 1
};

// Decode steps of one sampling path since start. A step advances B sequences by one token in one call.
struct DecodeStats {
  int64_t steps = 0;          // batched calls
  int64_t steps_batched = 0;  // of those, calls with B > 1
  int64_t tokens = 0;         // sum of B over the calls
  int64_t batch_max = 0;      // largest B so far
  void add(int B);
};

// Counters since start (what /metrics shows).
struct SchedulerStats {
  int64_t requests_total = 0;          // admitted to the queue
  int64_t requests_finished = 0;       // ended with a finish reason
  int64_t requests_cancelled = 0;      // ended because the client went away
  int64_t requests_failed = 0;         // ended with an engine error or by shutdown
  int64_t prefill_chunks = 0, prefill_tokens = 0;
  int64_t generated_tokens = 0;        // tokens handed to requests (each one's first token included)
  DecodeStats device;                  // Decoder steps (device sampling)
  DecodeStats host;                    // forward + host sampling steps (repetition penalty)
  int64_t slots_busy = 0, queued = 0;  // now
  int parallel = 0;
};

struct QueueFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ShuttingDown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Scheduler {
 public:
  // tok may be null (then requests must set decode_text = false).
  Scheduler(Model& model, std::shared_ptr<const Tokenizer> tok, const SchedulerOptions& opt);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request (already validated: ids in range, max_tokens >= 1, valid sampling). Throws QueueFull
  // when max_queue requests already wait, ShuttingDown after shutdown().
  std::shared_ptr<Sequence> submit(SequenceRequest r);
  // Ends every queued and running sequence with a 503 error and stops the thread. Idempotent.
  void shutdown();
  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Slot {
    explicit Slot(Model& m) : state(m) {}
    State state;
    std::shared_ptr<Sequence> seq;   // null: free
    uint64_t serial = 0;             // admission number of seq (orders slots; identifies a binding)
    std::optional<Sampler> sampler;  // seq's sampler; step() = draws made so far
    std::vector<int32_t> history;    // prompt and generated ids (for the repetition penalty)
    size_t prefilled = 0;            // prompt tokens consumed
    int32_t pending = -1;            // last drawn id, not yet fed (>= 0: the slot is decoding)
    int produced = 0;                // ids generated
    std::unique_ptr<TextOutput> text;
  };

  void loop();
  void admit(std::vector<std::shared_ptr<Sequence>>& incoming);
  void drop_cancelled();
  void prefill_one();
  void decode_all();
  void decode_device(std::vector<Slot*>& rows);
  void decode_host(std::vector<Slot*>& rows);
  void accept(Slot& s, int32_t id);  // a drawn id: output, stop checks, maybe the end
  void release(Slot& s);
  void fail(Slot& s, int status, const std::string& msg);

  Model& model_;
  std::shared_ptr<const Tokenizer> tok_;
  SchedulerOptions opt_;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t next_serial_ = 1;

  std::unique_ptr<Decoder> decoder_;   // batch = the number of device-path rows of the last step
  std::vector<uint64_t> bound_;        // serials bound to decoder_'s rows, in order
  std::vector<int32_t> ids_;           // scratch [B]
  std::vector<float> logits_;          // scratch [B, vocab] (prefill and host sampling)

  mutable std::mutex mu_;              // guards queue_, stopping_ and the stats below
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Sequence>> queue_;
  bool stopping_ = false;
  SchedulerStats stats_;
  std::thread thread_;
};

}  // namespace xlstm::server
