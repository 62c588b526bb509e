// Why: see gpu_test_support.h.
#include "gpu_test_support.h"

#include <cstdio>
#include <map>

namespace xlstm::gputest {
namespace {

std::map<std::string, double>& observed() {
  static std::map<std::string, double> m;
  return m;
}

class ReportEnv : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("\n%-44s %s\n", "check (largest ||out-ref||/||ref|| seen)", "error");
    for (const auto& [k, v] : observed()) std::printf("%-44s %.3e\n", k.c_str(), v);
  }
};
const auto* const kReport = ::testing::AddGlobalTestEnvironment(new ReportEnv);

}  // namespace

float* GpuBuffers::dev(const std::vector<float>& h) { return dev_raw(h); }

float* GpuBuffers::poisoned(size_t n) { return dev_raw(std::vector<float>(n, std::nanf(""))); }

std::vector<float> GpuBuffers::host(const float* d, size_t n) {
  std::vector<float> h(n);
  gpu->synchronize();
  gpu->download(h.data(), d, n * 4);
  return h;
}

std::mt19937& rng() {
  static std::mt19937 g([] {
    const unsigned seed = std::random_device{}();
    std::printf("random seed %u\n", seed);
    return seed;
  }());
  return g;
}

std::vector<float> randn(size_t n, float mean, float sd) {
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

std::vector<float> uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

void record(const std::string& what, double err) {
  double& e = observed()[what];
  if (err > e) e = err;
}

double rel_err(const float* a, const float* b, int64_t rows, int64_t cols, int64_t ld) {
  double num = 0, den = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double x = a[r * ld + c], y = b[r * ld + c];
      if (!std::isfinite(x)) return INFINITY;
      num += (x - y) * (x - y), den += y * y;
    }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace xlstm::gputest
