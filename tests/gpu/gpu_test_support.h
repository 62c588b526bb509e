// Why: what both GPU test files (test_cuda_ops.cpp, test_cuda_mlstm.cpp) need: one seeded random source
// whose seed is printed (a failing draw can be replayed), the error measure, and one table of the largest
// error seen per check, printed once at the end of the run (the numbers that go into docs/cuda-notes.md).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace xlstm::gputest {

// Device buffers a test fixture makes from host data, freed with the fixture. set `gpu` in SetUp.
class GpuBuffers {
 protected:
  float* dev(const std::vector<float>& h);  // device copy of h
  template <typename T>
  T* dev_raw(const std::vector<T>& h) {     // device copy of h, any element type
    bufs_.emplace_back(gpu, std::max<size_t>(4, h.size() * sizeof(T)));
    if (!h.empty()) gpu->upload(bufs_.back().data(), h.data(), h.size() * sizeof(T));
    return static_cast<T*>(bufs_.back().data());
  }
  float* poisoned(size_t n);                            // n floats, all NaN (an unwritten output fails)
  std::vector<float> host(const float* d, size_t n);    // waits for the device, then copies back
  Backend* gpu = nullptr;
  std::vector<DeviceBuffer> bufs_;
};

std::mt19937& rng();  // seeded from std::random_device once; the seed is printed
std::vector<float> randn(size_t n, float mean = 0.f, float sd = 1.f);
std::vector<float> uniform(size_t n, float lo, float hi);

// Keeps the largest err seen for `what`; the table is printed when the test run ends.
void record(const std::string& what, double err);

// ||a - b|| / ||b|| (||a - b|| where b is zero); NaN or Inf in a gives +inf.
template <typename A, typename B>
double rel_err(const A& a, const B& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double x = double(a[i]), y = double(b[i]);
    if (!std::isfinite(x)) return INFINITY;
    num += (x - y) * (x - y), den += y * y;
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
// The same over rows x cols elements with row stride ld.
double rel_err(const float* a, const float* b, int64_t rows, int64_t cols, int64_t ld);

}  // namespace xlstm::gputest
