// Why: see state.h.
#include "model/state.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <vector>

#include "common/check.h"
#include "io/mapped_file.h"

namespace xlstm {

State::State(Model& model)
    : model_(&model), floats_(model.state_floats()), buf_(&model.backend(), model.state_floats() * 4) {
  reset();
}

State::State(const State& o) : model_(o.model_), floats_(o.floats_), buf_(&o.model_->backend(), o.floats_ * 4) {
  n_tokens = o.n_tokens;
  model_->backend().copy(buf_.data(), o.buf_.data(), floats_ * 4);
}

State& State::operator=(const State& o) {
  if (this == &o) return *this;
  XLSTM_CHECK(o.floats_ == floats_ && o.model_ == model_, "cannot assign a state of another model");
  model_->backend().copy(buf_.data(), o.buf_.data(), floats_ * 4);
  n_tokens = o.n_tokens;
  return *this;
}

void State::reset() {
  model_->backend().zero(buf_.data(), floats_ * 4);
  n_tokens = 0;
}

std::vector<float> State::to_host() const {
  std::vector<float> v(floats_);
  model_->backend().download(v.data(), buf_.data(), floats_ * 4);
  return v;
}

void State::from_host(const std::vector<float>& v) {
  XLSTM_CHECK(v.size() == floats_, "state has {} floats, expected {}", v.size(), floats_);
  model_->backend().upload(buf_.data(), v.data(), floats_ * 4);
}

void State::save(const std::string& path) const {
  nlohmann::json h = {{"fingerprint", model_->info().fingerprint}, {"floats", floats_}, {"n_tokens", n_tokens}};
  const std::string hs = h.dump();
  std::vector<float> v = to_host();
  std::ofstream f(path, std::ios::binary);
  XLSTM_CHECK(f.good(), "cannot write state file '{}'", path);
  uint32_t len = uint32_t(hs.size());
  f.write("XLSTMST1", 8);
  f.write(reinterpret_cast<const char*>(&len), 4);
  f.write(hs.data(), std::streamsize(hs.size()));
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * 4));
  XLSTM_CHECK(f.good(), "error writing state file '{}'", path);
}

void State::load(const std::string& path) {
  MappedFile mf(path);
  const unsigned char* p = mf.data();
  XLSTM_CHECK(mf.size() >= 12 && std::memcmp(p, "XLSTMST1", 8) == 0, "'{}' is not an xlstm state file", path);
  uint32_t len;
  std::memcpy(&len, p + 8, 4);
  XLSTM_CHECK(12 + size_t(len) <= mf.size(), "state file '{}' is truncated (header)", path);
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(p + 12, p + 12 + len);
  } catch (const nlohmann::json::exception& e) {
    XLSTM_FAIL("state file '{}': corrupt header: {}", path, e.what());
  }
  XLSTM_CHECK(h.is_object() && h.contains("fingerprint") && h["fingerprint"].is_string() && h.contains("floats") &&
                  h["floats"].is_number_unsigned(),
              "state file '{}': header lacks fingerprint or floats", path);
  const std::string fp = h["fingerprint"].get<std::string>();
  XLSTM_CHECK(fp == model_->info().fingerprint, "state file '{}' belongs to another model ({}), not {}", path, fp,
              model_->info().fingerprint);
  XLSTM_CHECK(h["floats"].get<size_t>() == floats_, "state file '{}' holds {} floats, expected {}", path,
              h["floats"].get<size_t>(), floats_);
  XLSTM_CHECK(12 + size_t(len) + floats_ * 4 == mf.size(), "state file '{}' has {} bytes, expected {}", path,
              mf.size(), 12 + size_t(len) + floats_ * 4);
  std::vector<float> v(floats_);
  std::memcpy(v.data(), p + 12 + len, floats_ * 4);
  from_host(v);
  n_tokens = h.contains("n_tokens") && h["n_tokens"].is_number_integer() ? h["n_tokens"].get<int64_t>() : 0;
}

}  // namespace xlstm
