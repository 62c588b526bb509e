// Why: default implementations of the optional Backend ops (host fallbacks).
#include "backend/backend.h"

#include <vector>

#include "backend/sampling.h"

namespace xlstm {

void Backend::sample(const float* logits, int B, int64_t V, SampleRow* rows, int32_t* ids) {
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
