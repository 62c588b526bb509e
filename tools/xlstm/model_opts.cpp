// Why: see model_opts.h.
#include "model_opts.h"

#include <unistd.h>

#include <cstdlib>

#include "common/check.h"
#include "io/mapped_file.h"

namespace xlstm::cli {

void add_model_opts(CLI::App& sub, ModelOpts& o, bool allow_random) {
  sub.add_option("-m,--model", o.model_dir, "model directory (config.json + safetensors)")->envname("XLSTM_MODEL");
  if (allow_random)
    sub.add_option("--random-weights", o.random_config,
                   "build the architecture in CONFIG.json with random weights in memory (no checkpoint)");
  sub.add_option("--device", o.device, "cpu, cuda or auto")->envname("XLSTM_DEVICE");
  sub.add_option("-t,--threads", o.threads, "CPU threads (default: all cores)")->envname("XLSTM_THREADS");
  sub.add_option("--dtype", o.dtype, "weight dtype as run: auto (as stored), f32, bf16, f16");
  sub.add_option("--chunk", o.chunk, "chunk length of the chunkwise prefill (default: config chunk_size)");
}

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
  return L;
}

}  // namespace xlstm::cli
