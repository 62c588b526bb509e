// Why: default implementations of the optional Backend ops (host fallbacks).
#include "backend/backend.h"

#include <vector>

#include "backend/sampling.h"
#include "common/check.h"

namespace xlstm {

std::pair<int64_t, int64_t> concat_shape(const std::vector<HostTensor>& parts) {
  XLSTM_CHECK(!parts.empty(), "make_weight: no parts");
  auto rows = [](const HostTensor& t) { return t.shape.empty() ? int64_t(1) : t.shape[0]; };
  auto cols = [&](const HostTensor& t) { return t.shape.size() < 2 ? int64_t(1) : t.numel() / t.shape[0]; };
  int64_t r = 0;
  const int64_t c = cols(parts[0]);
  for (const auto& p : parts) {
    XLSTM_CHECK(cols(p) == c, "tensor '{}' has {} columns, expected {} (as '{}')", p.name, cols(p), c, parts[0].name);
    r += rows(p);
  }
  return {r, c};
}

void Backend::rmsnorm_linear(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                             const Weight& W, const Weight* bias, Act y, int64_t ldy) {
  rmsnorm(x, nw, nb, eps, N, W.cols, xn);
  linear(W, bias, ConstAct(xn), W.cols, N, y, ldy);
}

void Backend::rmsnorm_linear_swiglu(const float* x, const Weight& nw, const Weight* nb, float eps, int64_t N, Act xn,
                                    const Weight& W, const Weight* bias, Act gu) {
  XLSTM_CHECK(W.rows % 2 == 0, "rmsnorm_linear_swiglu: gate|up weight has an odd number of rows ({})", W.rows);
  rmsnorm_linear(x, nw, nb, eps, N, xn, W, bias, gu, W.rows);
  swiglu(gu, N, W.rows / 2);
}

void Backend::sample(float* logits, int B, int64_t V, float cap, SampleRow* rows, int32_t* ids) {
  if (cap > 0) softcap(logits, B, V, V, cap);
  std::vector<float> host(size_t(B) * size_t(V));
  std::vector<SampleRow> r(static_cast<size_t>(B));
  std::vector<int32_t> out(static_cast<size_t>(B));
  download(host.data(), logits, host.size() * 4);
  download(r.data(), rows, r.size() * sizeof(SampleRow));
  std::vector<std::pair<float, int32_t>> scratch;
  for (int b = 0; b < B; ++b) {
    out[size_t(b)] = sample_row(host.data() + size_t(b) * size_t(V), V, r[size_t(b)], scratch);
    r[size_t(b)].step += 1;
  }
  upload(ids, out.data(), out.size() * 4);
  upload(rows, r.data(), r.size() * sizeof(SampleRow));
}

}  // namespace xlstm
