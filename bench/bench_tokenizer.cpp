// Why: encode/decode speed of the native tokenizer on a large text, in the same form as
// scripts/tokenizer_refs.py reports HF tokenizers (whole text in one call, and line by line; single thread), plus
// multi-thread throughput. Prints one JSON object. Built by bench/bench_tokenizer.sh (static, so it runs on the
// GPU machine too).
// Usage: bench_tokenizer TOKENIZER_JSON TEXT_FILE [REPS] [THREADS]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "tokenizer/tokenizer.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string fnv1a(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t id : ids)
    for (int k = 0; k < 4; ++k) h = (h ^ ((static_cast<uint32_t>(id) >> (8 * k)) & 0xFF)) * 0x100000001b3ULL;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON TEXT_FILE [REPS] [THREADS]\n", argv[0]);
    return 2;
  }
  try {
    const int reps = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
    const int threads = argc > 4 ? std::max(1, std::atoi(argv[4])) : static_cast<int>(std::thread::hardware_concurrency());
    std::ifstream f(argv[2], std::ios::binary);
    XLSTM_CHECK(f.good(), "cannot open {}", argv[2]);
    std::ostringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    std::vector<std::string> lines;
    for (size_t i = 0; i < text.size();) {
      size_t j = text.find('\n', i);
      j = j == std::string::npos ? text.size() : j + 1;
      lines.push_back(text.substr(i, j - i));
      i = j;
    }
    const double mb = text.size() / 1e6;

    double t0 = now();
    auto tok = xlstm::Tokenizer::from_file(argv[1]);
    const double load_s = now() - t0;

    std::vector<int32_t> ids;
    t0 = now();
    ids = tok->encode(text, false);
    const double cold_s = now() - t0;
    double whole = 1e9, per_line = 1e9, dec = 1e9;
    size_t n_line_ids = 0;
    for (int r = 0; r < reps; ++r) {
      t0 = now();
      ids = tok->encode(text, false);
      whole = std::min(whole, now() - t0);
      t0 = now();
      n_line_ids = 0;
      for (const auto& l : lines) n_line_ids += tok->encode(l, false).size();
      per_line = std::min(per_line, now() - t0);
      t0 = now();
      const std::string back = tok->decode(ids);
      dec = std::min(dec, now() - t0);
      XLSTM_CHECK(back == text, "decode(encode(text)) != text");
    }
    // Without the word cache.
    auto nocache = xlstm::Tokenizer::from_file(argv[1]);
    nocache->set_cache_capacity(0);
    double whole_nc = 1e9;
    for (int r = 0; r < reps; ++r) {
      t0 = now();
      auto x = nocache->encode(text, false);
      whole_nc = std::min(whole_nc, now() - t0);
    }
    // Throughput: lines spread over threads, one shared tokenizer.
    std::atomic<size_t> next{0};
    t0 = now();
    std::vector<std::thread> th;
    for (int t = 0; t < threads; ++t)
      th.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(64)) < lines.size();)
          for (size_t k = i; k < std::min(lines.size(), i + 64); ++k) tok->encode(lines[k], false);
      });
    for (auto& x : th) x.join();
    const double mt = now() - t0;

    std::printf(
        "{\"bytes\": %zu, \"n_ids\": %zu, \"n_ids_lines\": %zu, \"fnv1a\": \"%s\", \"load_s\": %.4f, "
        "\"cold_whole_s\": %.4f, \"whole_s\": %.4f, \"whole_MBps\": %.2f, \"lines_s\": %.4f, \"lines_MBps\": %.2f, "
        "\"whole_nocache_MBps\": %.2f, \"decode_MBps\": %.2f, \"threads\": %d, \"threads_lines_MBps\": %.2f}\n",
        text.size(), ids.size(), n_line_ids, fnv1a(ids).c_str(), load_s, cold_s, whole, mb / whole, per_line,
        mb / per_line, mb / whole_nc, mb / dec, threads, mb / mt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
