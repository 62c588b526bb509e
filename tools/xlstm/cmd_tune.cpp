// Why: `xlstm tune`: measures this machine for a model and records what later runs should use. On the
// CPU: decode tokens/s and prefill tokens/s at each candidate thread count (1, 2, 4, ... and all cores).
// Decode reads every weight once per token, so it is memory-bound and often peaks below all cores; its
// best count becomes the default of later runs without -t (model_opts.cpp), prefill's best that of the
// prefill-only commands (perplexity, logits). The file and its keys: tune.h, docs/TUNE.md.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "command.h"
#include "common/check.h"
#include "common/parallel.h"
#include "model/state.h"
#include "model_opts.h"
#include "runtime/decoder.h"
#include "tune.h"

namespace xlstm::cli {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 1, 2, 4, ... below `cores`, then `cores`.
std::vector<int> default_candidates(int cores) {
  std::vector<int> c;
  for (int t = 1; t < cores; t *= 2) c.push_back(t);
  c.push_back(cores);
  return c;
}

// Best of `reps` timed prefills of `ids` into a fresh state (after one warm-up), tokens/s.
double prefill_tps(Model& M, State& st, const std::vector<int32_t>& ids, int reps) {
  std::vector<float> logits(size_t(M.info().vocab_size));
  double best = 0;
  for (int rep = 0; rep <= reps; ++rep) {
    st.reset();
    float* sp = st.data();
    const double t0 = now();
    M.forward(ids.data(), 1, int(ids.size()), &sp, 1, logits.data());
    M.backend().synchronize();
    if (rep > 0) best = std::max(best, double(ids.size()) / (now() - t0));
  }
  return best;
}

// Best of `reps` timed runs of n greedy decode steps (the generation path: Decoder), tokens/s.
double decode_tps(Model& M, State& st, int n, int reps) {
  SamplingParams greedy;
  greedy.temperature = 0;
  int32_t first = 1;
  double best = 0;
  for (int rep = 0; rep <= reps; ++rep) {
    st.reset();
    Decoder dec(M, 1);
    dec.set_sequence(0, st.data(), greedy, 0);
    dec.step(&first);  // warm-up step (first run, graph capture)
    M.backend().synchronize();
    const double t0 = now();
    for (int i = 0; i < n; ++i) dec.step_chained();
    if (rep > 0) best = std::max(best, double(n) / (now() - t0));
  }
  return best;
}

XLSTM_COMMAND("tune", "measure the best CPU thread counts for a model, recorded for later runs", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    int n = 32, p = 128, reps = 2;
    std::vector<int> threads;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, true);
  sub.add_option("-n,--n-gen", o->n, "decode steps per measurement")->capture_default_str();
  sub.add_option("-p,--n-prompt", o->p, "prompt tokens per prefill measurement")->capture_default_str();
  sub.add_option("-r,--repetitions", o->reps, "timed repetitions per measurement (the best counts)")
      ->capture_default_str();
  sub.add_option("--candidates", o->threads, "thread counts to try (default: 1, 2, 4, ... and all cores)")
      ->delimiter(',');
  sub.add_option("-o,--output", o->out, "tuning file to write (default: $XDG_CACHE_HOME/xlstm/tune.json)");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->n >= 1 && o->p >= 1 && o->reps >= 1, "-n, -p and -r must be >= 1");
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<int> cand = o->threads.empty() ? default_candidates(cores) : o->threads;
    for (int t : cand) XLSTM_CHECK(t >= 1 && t <= 4096, "--candidates: thread count {} is out of range [1, 4096]", t);
    std::sort(cand.begin(), cand.end());
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    const std::string path = o->out.empty() ? default_tune_path() : o->out;
    XLSTM_CHECK(!path.empty(), "no tuning file: set XDG_CACHE_HOME or HOME, or give -o FILE");
    o->m.no_tune = true;  // measure from scratch, whatever an earlier run recorded
    Loaded L = load(o->m);
    XLSTM_CHECK(L.backend->name() == "cpu",
                "tune measures CPU thread counts; the {} backend has nothing to tune yet (use --device cpu)",
                L.backend->name());
    Model& M = *L.model;
    const ModelInfo& I = M.info();
    State st(M);
    std::vector<int32_t> ids(size_t(o->p));
    uint64_t s = 12345;
    for (auto& x : ids)
      x = int32_t((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 33) % int32_t(I.vocab_size);

    nlohmann::json decode = nlohmann::json::array(), prefill = nlohmann::json::array();
    int best_dec = cand[0], best_pre = cand[0];
    double best_dec_tps = 0, best_pre_tps = 0;
    std::printf("| threads | prefill t/s (pp%d) | decode t/s (tg%d) |\n|---|---|---|\n", o->p, o->n);
    for (int t : cand) {
      set_num_threads(t);
      const double pre = prefill_tps(M, st, ids, o->reps), dec = decode_tps(M, st, o->n, o->reps);
      std::printf("| %d | %.2f | %.2f |\n", t, pre, dec);
      std::fflush(stdout);
      prefill.push_back({{"threads", t}, {"tokens_per_s", pre}});
      decode.push_back({{"threads", t}, {"tokens_per_s", dec}});
      if (dec > best_dec_tps) best_dec_tps = dec, best_dec = t;
      if (pre > best_pre_tps) best_pre_tps = pre, best_pre = t;
    }
    char when[32];
    const std::time_t tt = std::time(nullptr);
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
    nlohmann::json entry = {{"device", cpu_device_key()},
                            {"model", model_shape_key(I)},
                            {"backend", "cpu"},
                            {"threads", best_dec},
                            {"prefill_threads", best_pre},
                            {"decode", decode},
                            {"prefill", prefill},
                            {"n_gen", o->n},
                            {"n_prompt", o->p},
                            {"model_path", I.path},
                            {"tuned_at", when}};
    std::string warning;
    write_tune_entry(path, entry, &warning);
    if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("\nbest: decode %d threads (%.2f t/s), prefill %d threads (%.2f t/s)\nwrote %s\n", best_dec,
                best_dec_tps, best_pre, best_pre_tps, path.c_str());
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
