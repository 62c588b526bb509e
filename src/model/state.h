// Why: the recurrent state of one sequence as an explicit object the caller owns (candle's mamba.rs
// idea): it lives on the model's backend, can be copied, reset, saved to a file and loaded back in
// another process. For xLSTM it is all there is to a "KV cache": fixed size, independent of length.
#pragma once
#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "model/model.h"

namespace xlstm {

class State {
 public:
  explicit State(Model& model);  // zero state (m = 0 too)
  State(const State& other);     // deep copy on the same backend
  State& operator=(const State& other);
  State(State&&) noexcept = default;
  State& operator=(State&&) noexcept = default;

  void reset();                           // back to the zero state
  float* data() const { return buf_.f32(); }  // device pointer, state_floats() floats
  size_t floats() const { return floats_; }
  int64_t n_tokens = 0;  // tokens consumed since reset (informational; saved with the state)

  // File: "XLSTMST1", u32 header length, JSON {fingerprint, floats, n_tokens}, then floats (float32 LE).
  void save(const std::string& path) const;
  void load(const std::string& path);  // checks the fingerprint against the model's
  std::vector<float> to_host() const;
  void from_host(const std::vector<float>& v);

 private:
  Model* model_;
  size_t floats_;
  DeviceBuffer buf_;
};

}  // namespace xlstm
