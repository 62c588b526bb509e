// Why: see decoder.h.
#include "runtime/decoder.h"

#include "common/check.h"

namespace xlstm {

Decoder::Decoder(Model& model, int B)
    : model_(model),
      be_(model.backend()),
      B_(B),
      V_(model.info().vocab_size),
      states_(size_t(B), nullptr),
      rows_(size_t(B)),
      ids_(&be_, size_t(B) * 4),
      logits_(&be_, size_t(B) * size_t(model.info().vocab_size) * 4),
      rows_dev_(&be_, size_t(B) * sizeof(SampleRow)),
      out_(size_t(B), 0) {
  XLSTM_CHECK(B >= 1, "decoder batch must be >= 1, got {}", B);
}

void Decoder::set_sequence(int b, float* state, const SamplingParams& p, uint64_t step) {
  XLSTM_CHECK(b >= 0 && b < B_, "sequence index {} outside the batch of {}", b, B_);
  Sampler s(p);  // validates
  XLSTM_CHECK(!s.needs_history(), "the device decoder does not apply the repetition penalty");
  s.set_step(step);
  if (states_[size_t(b)] != state) graph_.reset(), runs_ = 0;  // the graph holds state pointers
  states_[size_t(b)] = state;
  rows_[size_t(b)] = s.row();
  dirty_ = true;
}

void Decoder::run() {
  for (float* s : states_) XLSTM_CHECK(s != nullptr, "decoder sequence without a state");
  if (dirty_) {
    be_.upload(rows_dev_.data(), rows_.data(), rows_.size() * sizeof(SampleRow));
    dirty_ = false;
  }
  auto body = [this] {
    model_.decode_step(static_cast<const int32_t*>(ids_.data()), B_, states_.data(), logits_.f32());
    be_.sample(logits_.f32(), B_, V_, model_.info().logit_soft_cap, static_cast<SampleRow*>(rows_dev_.data()),
               static_cast<int32_t*>(ids_.data()));
  };
  if (graph_) {
    graph_->replay();
  } else {
    body();
    if (++runs_ >= 1) graph_ = be_.capture(body);  // after one plain run (which may allocate)
  }
  be_.download(out_.data(), ids_.data(), size_t(B_) * 4);
  for (int b = 0; b < B_; ++b) rows_[size_t(b)].step += 1;  // mirrors the device-side advance
}

const std::vector<int32_t>& Decoder::step(const int32_t* tokens) {
  for (int b = 0; b < B_; ++b)
    XLSTM_CHECK(tokens[b] >= 0 && tokens[b] < V_, "token id {} out of range [0, {})", tokens[b], V_);
  be_.upload(ids_.data(), tokens, size_t(B_) * 4);
  run();
  return out_;
}

const std::vector<int32_t>& Decoder::step_chained() {
  run();
  return out_;
}

}  // namespace xlstm
