// Why: the CPU backend splits work across cores with one persistent fork-join pool (no per-call thread
// creation, no OpenMP dependency). The calling thread takes part; nested calls run serially.
#pragma once
#include <cstdint>
#include <functional>

namespace xlstm {

// Number of threads used by parallel_for (default: hardware concurrency). Set before or between calls.
void set_num_threads(int n);
int num_threads();

// Calls fn(lo, hi) over disjoint ranges covering [0, n), each at least `grain` long (except the last).
// Blocks until all ranges are done. Exceptions thrown by fn are rethrown in the caller (the first one).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace xlstm
