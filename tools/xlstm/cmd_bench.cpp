// Why: `xlstm bench`, llama-bench style: prefill (ppN) and decode (tgN) throughput as a markdown table
// `model | size | params | backend | test | t/s` (mean ± stddev over repetitions), plus each result as a
// fraction of its floor: decode reads every weight once per step, so its floor is weight bytes over the
// memory-read bandwidth, measured (CPU) right before and after each timed decode run. -o csv|json|jsonl for machines.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>

#include "command.h"
#include "common/check.h"
#include "common/parallel.h"
#include "model/state.h"
#include "model_opts.h"
#include "runtime/decoder.h"
#include "runtime/sampler.h"

namespace xlstm::cli {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Memory-read bandwidth of this machine (bytes/s): a threaded XOR-reduction over a buffer far larger than
// the caches, best of 3 passes. The buffer comes from the backend's allocator, so it has the same pages (2 MiB
// transparent huge pages on the CPU backend) as the weights the floor is about; it is filled once and kept.
class BandwidthProbe {
 public:
  BandwidthProbe(Backend& be, size_t bytes) : be_(be), n_(bytes / 8), buf_(static_cast<uint64_t*>(be.alloc(n_ * 8))) {
    parallel_for(int64_t(n_), 1 << 20, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) buf_[size_t(i)] = uint64_t(i) * 0x9e3779b97f4a7c15ull;
    });
  }
  ~BandwidthProbe() { be_.release(buf_); }
  BandwidthProbe(const BandwidthProbe&) = delete;
  BandwidthProbe& operator=(const BandwidthProbe&) = delete;

  double measure() {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      std::atomic<uint64_t> acc{0};
      double t0 = now();
      parallel_for(int64_t(n_), 1 << 20, [&](int64_t a, int64_t b) {
        uint64_t x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = a;
        for (; i + 8 <= b; i += 8)
          for (int j = 0; j < 8; ++j) x[j] ^= buf_[size_t(i + j)];
        for (; i < b; ++i) x[0] ^= buf_[size_t(i)];
        acc.fetch_xor(x[0] ^ x[1] ^ x[2] ^ x[3] ^ x[4] ^ x[5] ^ x[6] ^ x[7]);
      });
      double dt = now() - t0;
      sink_ = sink_ ^ acc.load();
      best = std::max(best, double(n_ * 8) / dt);
    }
    return best;
  }

 private:
  Backend& be_;
  size_t n_;
  uint64_t* buf_;
  volatile uint64_t sink_ = 0;
};

struct Row {
  std::string test;
  std::vector<double> tps;
  std::vector<double> floor_tps;  // per repetition; empty: no floor stated
};

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0};
}

// Mean floor of a row (0: none), and the mean over repetitions of each run's fraction of its own floor.
double floor_of(const Row& r) { return r.floor_tps.empty() ? 0 : mean_std(r.floor_tps).first; }
double of_floor(const Row& r) {
  double s = 0;
  for (size_t i = 0; i < r.floor_tps.size(); ++i) s += r.tps[i] / r.floor_tps[i];
  return s / double(r.floor_tps.size());
}

XLSTM_COMMAND("bench", "measure prefill and decode throughput", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    std::vector<int> pp{512}, tg{128};
    int batch = 1, reps = 3;
    std::string fmt = "md";
    bool no_bw = false;
    double bw_gbs = 0;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, true);
  sub.add_option("-p,--n-prompt", o->pp, "prompt lengths to prefill (repeatable)")->capture_default_str();
  sub.add_option("-n,--n-gen", o->tg, "tokens to decode (repeatable)")->capture_default_str();
  sub.add_option("-b,--batch", o->batch, "sequences decoded together")->capture_default_str();
  sub.add_option("-r,--repetitions", o->reps, "repetitions per test")->capture_default_str();
  sub.add_option("-o,--output", o->fmt, "md, csv, json or jsonl")->capture_default_str();
  sub.add_flag("--no-bandwidth", o->no_bw, "skip the memory-bandwidth measurement");
  sub.add_option("--bandwidth", o->bw_gbs, "memory bandwidth in GB/s for the floor (GPUs: a measured copy rate)");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->batch >= 1 && o->reps >= 1, "batch and repetitions must be >= 1");
    XLSTM_CHECK(o->fmt == "md" || o->fmt == "csv" || o->fmt == "json" || o->fmt == "jsonl",
                "unknown output format '{}'", o->fmt);
    for (int p : o->pp) XLSTM_CHECK(p >= 1, "prompt length must be >= 1, got {}", p);
    for (int n : o->tg) XLSTM_CHECK(n >= 1, "decode length must be >= 1, got {}", n);
    Loaded L = load(o->m);
    Model& M = *L.model;
    const ModelInfo& I = M.info();
    const int B = o->batch;
    // The host's bandwidth drifts (shared machines, other VMs): it is measured right before and right after
    // every timed decode run, and that run's floor uses the higher of the two, so a result is never
    // flattered by a bad moment of the measurement.
    const bool measure_bw = o->bw_gbs <= 0 && !o->no_bw && L.backend->name() == "cpu";
    std::unique_ptr<BandwidthProbe> probe;
    if (measure_bw) probe = std::make_unique<BandwidthProbe>(*L.backend, size_t(2) << 30);
    std::vector<double> bws;  // every bandwidth used for a floor
    std::vector<State> states;
    for (int b = 0; b < B; ++b) states.emplace_back(M);
    std::vector<float*> sp;
    for (auto& s : states) sp.push_back(s.data());
    std::vector<Row> rows;
    const int64_t V = I.vocab_size;
    for (int pp : o->pp) {
      Row r{fmt::format("pp{}{}", pp, B > 1 ? fmt::format(" x{}", B) : ""), {}, {}};
      std::vector<int32_t> ids(size_t(pp) * size_t(B));
      uint64_t s = 12345;
      for (auto& x : ids) x = int32_t((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 33) % int32_t(V);
      std::vector<float> logits(size_t(B) * size_t(V));
      for (int rep = 0; rep <= o->reps; ++rep) {  // rep 0: warm-up
        for (auto& st : states) st.reset();
        double t0 = now();
        M.forward(ids.data(), B, pp, sp.data(), 1, logits.data());
        L.backend->synchronize();
        if (rep > 0) r.tps.push_back(double(pp) * B / (now() - t0));
      }
      rows.push_back(r);
    }
    for (int tg : o->tg) {
      Row r{fmt::format("tg{}{}", tg, B > 1 ? fmt::format(" x{}", B) : ""), {}, {}};
      // The generation path: Decoder steps (device sampling, greedy; one graph replay per step where the
      // backend has graphs), each returning the B new ids to the host.
      std::vector<int32_t> tok(size_t(B), 1);
      // Floor: every weight byte and the state (read + written) once per step.
      const double step_bytes = double(I.weight_bytes) + 2.0 * double(M.state_floats()) * 4 * B;
      SamplingParams greedy;
      greedy.temperature = 0;
      for (int rep = 0; rep <= o->reps; ++rep) {
        for (auto& st : states) st.reset();
        Decoder dec(M, B);
        for (int b = 0; b < B; ++b) dec.set_sequence(b, sp[size_t(b)], greedy, 0);
        dec.step(tok.data());  // warm-up step (first run, capture)
        L.backend->synchronize();
        double bw = o->bw_gbs * 1e9;
        if (measure_bw && rep > 0) bw = probe->measure();
        double t0 = now();
        for (int i = 0; i < tg; ++i) dec.step_chained();
        const double dt = now() - t0;
        if (rep == 0) continue;
        if (measure_bw) bw = std::max(bw, probe->measure());
        r.tps.push_back(double(tg) * B / dt);
        if (bw > 0) {
          bws.push_back(bw);
          r.floor_tps.push_back(bw / step_bytes * B);
        }
      }
      rows.push_back(r);
    }
    const double bw = bws.empty() ? 0 : mean_std(bws).first;
    const std::string name = I.path.substr(I.path.find_last_of('/') + 1);
    const std::string size = fmt::format("{:.2f} GiB", double(I.weight_bytes) / double(1ull << 30));
    const std::string params = fmt::format("{:.2f} M", double(I.n_params) / 1e6);
    const std::string backend = L.backend->description() + " " + dtype_name(I.weight_dtype);
    if (o->fmt == "md") {
      if (bw > 0)
        std::printf("memory bandwidth for the floor: %.1f GB/s%s\n\n", bw / 1e9,
                    o->bw_gbs > 0 ? " (given)" : " (measured around each decode run; mean of the per-run maxima)");
      std::printf("| model | size | params | backend | test | t/s | of floor |\n|---|---|---|---|---|---|---|\n");
      for (auto& r : rows) {
        auto [m, sd] = mean_std(r.tps);
        std::string fl = r.floor_tps.empty() ? ""
                                             : fmt::format("{:.0f}% of {:.2f}", 100 * of_floor(r), mean_std(r.floor_tps).first);
        std::printf("| %s | %s | %s | %s | %s | %.2f ± %.2f | %s |\n", name.c_str(), size.c_str(), params.c_str(),
                    backend.c_str(), r.test.c_str(), m, sd, fl.c_str());
      }
    } else if (o->fmt == "csv") {
      std::printf("model,size_bytes,params,backend,test,tps_mean,tps_std,floor_tps,bandwidth_gbs\n");
      for (auto& r : rows) {
        auto [m, sd] = mean_std(r.tps);
        std::printf("%s,%zu,%lld,%s,%s,%.4f,%.4f,%.4f,%.2f\n", name.c_str(), I.weight_bytes, (long long)I.n_params,
                    backend.c_str(), r.test.c_str(), m, sd, floor_of(r), bw / 1e9);
      }
    } else {
      std::string all;
      for (size_t i = 0; i < rows.size(); ++i) {
        auto [m, sd] = mean_std(rows[i].tps);
        std::string j = fmt::format(
            "{{\"model\": \"{}\", \"size_bytes\": {}, \"params\": {}, \"backend\": \"{}\", \"test\": \"{}\", "
            "\"tps_mean\": {:.4f}, \"tps_std\": {:.4f}, \"floor_tps\": {:.4f}, \"bandwidth_gbs\": {:.2f}}}",
            name, I.weight_bytes, I.n_params, backend, rows[i].test, m, sd, floor_of(rows[i]), bw / 1e9);
        all += o->fmt == "jsonl" ? j + "\n" : (i ? ",\n  " : "[\n  ") + j;
      }
      std::printf("%s", o->fmt == "jsonl" ? all.c_str() : (all + "\n]\n").c_str());
    }
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
