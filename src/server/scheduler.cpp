// Why: see scheduler.h.
#include "server/scheduler.h"

#include <algorithm>
#include <exception>

#include "common/check.h"

namespace xlstm::server {

void DecodeStats::add(int B) {
  steps += 1;
  steps_batched += B > 1 ? 1 : 0;
  tokens += B;
  batch_max = std::max<int64_t>(batch_max, B);
}

Scheduler::Scheduler(Model& model, std::shared_ptr<const Tokenizer> tok, const SchedulerOptions& opt)
    : model_(model), tok_(std::move(tok)), opt_(opt) {
  XLSTM_CHECK(opt.parallel >= 1, "parallel must be >= 1, got {}", opt.parallel);
  XLSTM_CHECK(opt.max_queue >= 0, "max queue must be >= 0, got {}", opt.max_queue);
  XLSTM_CHECK(opt.prefill_chunk >= 1, "prefill chunk must be >= 1, got {}", opt.prefill_chunk);
  for (int i = 0; i < opt.parallel; ++i) slots_.push_back(std::make_unique<Slot>(model_));
  stats_.parallel = opt.parallel;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::shared_ptr<Sequence> Scheduler::submit(SequenceRequest r) {
  auto seq = std::make_shared<Sequence>(std::move(r));
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) throw ShuttingDown("the server is shutting down");
    // A request waits when no slot is free for it: at most max_queue may (slots_busy counts slots
    // reserved for requests the loop has taken but not yet set up).
    if (int64_t(queue_.size()) >= int64_t(opt_.max_queue) + (opt_.parallel - stats_.slots_busy))
      throw QueueFull("too many requests: all " + std::to_string(opt_.parallel) + " slots are busy and " +
                      std::to_string(opt_.max_queue) + " requests are waiting; retry later");
    queue_.push_back(seq);
    stats_.requests_total += 1;
    stats_.queued = int64_t(queue_.size());
  }
  cv_.notify_all();
  return seq;
}

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void Scheduler::loop() {
  std::vector<std::shared_ptr<Sequence>> incoming;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      auto busy = [&] {
        for (auto& s : slots_)
          if (s->seq) return true;
        return false;
      };
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || busy(); });
      if (stopping_) break;
      int64_t free_slots = 0;
      for (auto& s : slots_) free_slots += s->seq ? 0 : 1;
      while (free_slots > 0 && !queue_.empty()) {
        incoming.push_back(std::move(queue_.front()));
        queue_.pop_front();
        --free_slots;
        stats_.slots_busy += 1;  // reserved now, so submit() never counts this slot as free
      }
      stats_.queued = int64_t(queue_.size());
    }
    admit(incoming);
    drop_cancelled();
    prefill_one();
    decode_all();
  }
  // Shutdown: nothing runs any more; tell every waiting client.
  std::deque<std::shared_ptr<Sequence>> left;
  {
    std::lock_guard<std::mutex> lk(mu_);
    left.swap(queue_);
    stats_.queued = 0;
  }
  for (auto& q : left) q->fail(503, "the server is shutting down");
  for (auto& s : slots_)
    if (s->seq) fail(*s, 503, "the server is shutting down");
}

void Scheduler::admit(std::vector<std::shared_ptr<Sequence>>& incoming) {
  for (auto& seq : incoming) {
    if (seq->cancelled()) {  // went away while queued
      seq->fail(499, "cancelled");
      std::lock_guard<std::mutex> lk(mu_);
      stats_.requests_cancelled += 1;
      stats_.slots_busy -= 1;
      continue;
    }
    Slot* slot = nullptr;
    for (auto& s : slots_)
      if (!s->seq) {
        slot = s.get();
        break;
      }
    XLSTM_CHECK(slot, "scheduler: no free slot for an admitted request");  // admission counted free slots
    const SequenceRequest& r = seq->request();
    slot->seq = seq;
    slot->serial = next_serial_++;
    try {
      slot->sampler.emplace(r.sampling);
      slot->state.reset();
      slot->history = r.prompt;
      slot->prefilled = 0;
      slot->pending = -1;
      slot->produced = 0;
      slot->text.reset();
      if (r.decode_text) {
        XLSTM_CHECK(tok_, "text output needs a tokenizer");
        slot->text = std::make_unique<TextOutput>(tok_, r.stop);
      }
    } catch (const std::exception& e) {
      fail(*slot, 500, e.what());
    }
  }
  incoming.clear();
}

void Scheduler::drop_cancelled() {
  for (auto& s : slots_)
    if (s->seq && s->seq->cancelled()) {
      s->seq->fail(499, "cancelled");
      release(*s);
      std::lock_guard<std::mutex> lk(mu_);
      stats_.requests_cancelled += 1;
    }
}

// One chunk of the oldest sequence still reading its prompt. The last chunk also yields the logits of the
// prompt's last token, from which the first id is drawn on the host (as runtime/generate.cpp does).
void Scheduler::prefill_one() {
  Slot* s = nullptr;
  for (auto& c : slots_)
    if (c->seq && c->pending < 0 && (!s || c->serial < s->serial)) s = c.get();
  if (!s) return;
  const std::vector<int32_t>& prompt = s->seq->request().prompt;
  const size_t n = std::min(prompt.size() - s->prefilled, size_t(opt_.prefill_chunk));
  const bool last = s->prefilled + n == prompt.size();
  const int64_t V = model_.info().vocab_size;
  try {
    float* st = s->state.data();
    if (last) logits_.resize(size_t(V));
    model_.forward(prompt.data() + s->prefilled, 1, int(n), &st, last ? 1 : 0, last ? logits_.data() : nullptr);
    s->prefilled += n;
    s->state.n_tokens += int64_t(n);
    {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.prefill_chunks += 1;
      stats_.prefill_tokens += int64_t(n);
    }
    if (last) accept(*s, s->sampler->sample(logits_.data(), V, s->history));
  } catch (const std::exception& e) {
    fail(*s, 500, std::string("prefill failed: ") + e.what());
  }
}

void Scheduler::decode_all() {
  std::vector<Slot*> dev, host;
  for (auto& s : slots_)
    if (s->seq && s->pending >= 0) (s->sampler->needs_history() ? host : dev).push_back(s.get());
  auto by_serial = [](const Slot* a, const Slot* b) { return a->serial < b->serial; };
  std::sort(dev.begin(), dev.end(), by_serial);
  std::sort(host.begin(), host.end(), by_serial);
  if (!dev.empty()) decode_device(dev);
  if (!host.empty()) decode_host(host);
}

// One Decoder step for B sequences: feeds each its pending id, draws the next on the device. The rows are
// rebound (state pointer, parameters, draw counter) only when the set of sequences changed.
void Scheduler::decode_device(std::vector<Slot*>& rows) {
  const int B = int(rows.size());
  std::vector<uint64_t> serials;
  for (Slot* s : rows) serials.push_back(s->serial);
  try {
    if (!decoder_ || decoder_->batch() != B) {
      decoder_.reset();
      decoder_ = std::make_unique<Decoder>(model_, B);
      bound_.clear();
    }
    if (serials != bound_) {
      for (int b = 0; b < B; ++b)
        decoder_->set_sequence(b, rows[size_t(b)]->state.data(), rows[size_t(b)]->sampler->params(),
                               rows[size_t(b)]->sampler->step());
      bound_ = serials;
    }
    ids_.resize(size_t(B));
    for (int b = 0; b < B; ++b) ids_[size_t(b)] = rows[size_t(b)]->pending;
    const std::vector<int32_t>& next = decoder_->step(ids_.data());
    {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.device.add(B);
    }
    for (int b = 0; b < B; ++b) {
      Slot& s = *rows[size_t(b)];
      s.state.n_tokens += 1;
      s.sampler->set_step(s.sampler->step() + 1);  // the device drew with this counter
      accept(s, next[size_t(b)]);
    }
  } catch (const std::exception& e) {
    decoder_.reset();
    bound_.clear();
    for (Slot* s : rows)
      if (s->seq) fail(*s, 500, std::string("decode failed: ") + e.what());
  }
}

// Sequences with a repetition penalty: one batched forward of their pending ids, then host sampling with
// each one's history.
void Scheduler::decode_host(std::vector<Slot*>& rows) {
  const int B = int(rows.size());
  const int64_t V = model_.info().vocab_size;
  try {
    ids_.resize(size_t(B));
    std::vector<float*> states(static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) {
      ids_[size_t(b)] = rows[size_t(b)]->pending;
      states[size_t(b)] = rows[size_t(b)]->state.data();
    }
    logits_.resize(size_t(B) * size_t(V));
    model_.forward(ids_.data(), B, 1, states.data(), 1, logits_.data());
    {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.host.add(B);
    }
    for (int b = 0; b < B; ++b) {
      Slot& s = *rows[size_t(b)];
      s.state.n_tokens += 1;
      accept(s, s.sampler->sample(logits_.data() + size_t(b) * size_t(V), V, s.history));
    }
  } catch (const std::exception& e) {
    for (Slot* s : rows)
      if (s->seq) fail(*s, 500, std::string("decode failed: ") + e.what());
  }
}

void Scheduler::accept(Slot& s, int32_t id) {
  const SequenceRequest& r = s.seq->request();
  s.pending = id;
  s.history.push_back(id);
  s.produced += 1;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.generated_tokens += 1;
  }
  const auto& eos = model_.info().eos_ids;
  const bool is_eos = r.stop_at_eos && std::find(eos.begin(), eos.end(), id) != eos.end();
  bool stop_string = false;
  std::string text;
  if (s.text && !is_eos) text = s.text->push(id, &stop_string);
  const char* reason = is_eos || stop_string ? "stop" : s.produced >= r.max_tokens ? "length" : nullptr;
  if (reason && s.text) text += s.text->finish();
  s.seq->emit(text, id);
  if (!reason) return;
  s.seq->finish(reason, int64_t(r.prompt.size()), s.produced);
  release(s);
  std::lock_guard<std::mutex> lk(mu_);
  stats_.requests_finished += 1;
}

void Scheduler::release(Slot& s) {
  if (!s.seq) return;
  s.seq.reset();
  s.sampler.reset();
  s.text.reset();
  s.history.clear();
  s.pending = -1;
  std::lock_guard<std::mutex> lk(mu_);
  stats_.slots_busy -= 1;
}

void Scheduler::fail(Slot& s, int status, const std::string& msg) {
  if (!s.seq) return;
  s.seq->fail(status, msg);
  release(s);
  std::lock_guard<std::mutex> lk(mu_);
  stats_.requests_failed += 1;
}

}  // namespace xlstm::server
