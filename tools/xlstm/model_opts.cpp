// Why: see model_opts.h.
#include "model_opts.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/check.h"
#include "common/parallel.h"
#include "io/mapped_file.h"
#include "tune.h"

namespace xlstm::cli {

void add_model_opts(CLI::App& sub, ModelOpts& o, bool allow_random) {
  sub.add_option("-m,--model", o.model_dir, "model directory (config.json + safetensors)")->envname("XLSTM_MODEL");
  if (allow_random)
    sub.add_option("--random-weights", o.random_config,
                   "build the architecture in CONFIG.json with random weights in memory (no checkpoint)");
  sub.add_option("--device", o.device, "cpu, cuda or auto")->envname("XLSTM_DEVICE");
  o.threads_opt =
      sub.add_option("-t,--threads", o.threads, "CPU threads (default: from `xlstm tune`'s file, else all cores)")
          ->envname("XLSTM_THREADS");
  sub.add_option("--dtype", o.dtype, "weight dtype as run: auto (as stored), f32, bf16, f16");
  sub.add_option("--chunk", o.chunk, "chunk length of the chunkwise prefill (default: config chunk_size)");
  sub.add_flag("--no-tune", o.no_tune, "ignore the thread count recorded by `xlstm tune`")->envname("XLSTM_NO_TUNE");
}

namespace {

// Without -t on the CPU: the thread count `xlstm tune` recorded for this device and model, if any.
void apply_tune_file(const ModelOpts& o, Model& model) {
  if ((o.threads_opt && o.threads_opt->count() > 0) || o.no_tune || model.backend().name() != "cpu") return;
  const std::string path = default_tune_path();
  std::string warning;
  auto e = find_tune_entry(path, cpu_device_key(), model_shape_key(model.info()), &warning);
  if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  if (!e) return;
  const char* field = o.tune_for_prefill && e->contains("prefill_threads") ? "prefill_threads" : "threads";
  const auto& v = (*e)[field];
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 4096) {
    std::fprintf(stderr, "warning: ignoring tune file '%s': \"%s\" is not an integer >= 1\n", path.c_str(), field);
    return;
  }
  const int n = v.get<int>();
  set_num_threads(n);
  std::fprintf(stderr, "note: using %d thread%s from %s (-t N or --no-tune to override)\n", n, n == 1 ? "" : "s",
               path.c_str());
}

}  // namespace

std::string default_model_dir() {
  const char* env = std::getenv("XLSTM_MODEL");
  if (env && *env) return env;
  std::vector<std::string> cands = {"models/xlstm-kjv-tiny"};
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string e(exe, size_t(n));
    std::string dir = e.substr(0, e.find_last_of('/'));
    cands.push_back(dir + "/../models/xlstm-kjv-tiny");
    cands.push_back(dir + "/models/xlstm-kjv-tiny");
  }
#ifdef XLSTM_SOURCE_DIR
  cands.push_back(std::string(XLSTM_SOURCE_DIR) + "/models/xlstm-kjv-tiny");
#endif
  for (const auto& c : cands)
    if (file_exists(c + "/config.json")) return c;
  XLSTM_FAIL("no model given (-m DIR) and the bundled model models/xlstm-kjv-tiny was not found");
}

Loaded load(const ModelOpts& o) {
  Loaded L;
  XLSTM_CHECK(o.threads >= 0, "threads must be >= 0, got {}", o.threads);
  XLSTM_CHECK(o.chunk >= 0, "chunk must be >= 0, got {}", o.chunk);
  const std::string path = !o.random_config.empty() ? o.random_config
                           : !o.model_dir.empty()     ? o.model_dir
                           : o.device == "auto"       ? default_model_dir()
                                                      : std::string();
  L.backend = make_backend(resolve_device(o.device, path), o.threads);
  LoadOptions lo;
  lo.dtype = o.dtype;
  lo.chunk = o.chunk;
  XLSTM_CHECK(o.random_config.empty() || o.model_dir.empty(), "give either -m or --random-weights, not both");
  if (!o.random_config.empty())
    L.model = random_model(o.random_config, *L.backend, lo, o.seed_weights);
  else
    L.model = load_model(o.model_dir.empty() ? default_model_dir() : o.model_dir, *L.backend, lo);
  apply_tune_file(o, *L.model);
  return L;
}

}  // namespace xlstm::cli
