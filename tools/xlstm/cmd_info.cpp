// Why: `xlstm info` (config, parameters, dtype, memory needs) and `xlstm wiring` (the block graph).
#include <fmt/format.h>

#include <cstdio>

#include "command.h"
#include "model_opts.h"

namespace xlstm::cli {
namespace {

std::string gib(double bytes) { return fmt::format("{:.3f} GiB", bytes / double(1ull << 30)); }

XLSTM_COMMAND("info", "print a model's configuration, size and memory needs", [](CLI::App& sub) {
  auto o = std::make_shared<ModelOpts>();
  add_model_opts(sub, *o, true);
  return std::function<int()>([o] {
    Loaded L = load(*o);
    const ModelInfo& I = L.model->info();
    const double state_bytes = double(L.model->state_floats()) * 4;
    std::printf("model          %s\n", I.path.c_str());
    std::printf("architecture   %s\n", I.arch.c_str());
    std::printf("vocab          %lld\n", (long long)I.vocab_size);
    std::printf("hidden         %lld\n", (long long)I.hidden);
    std::printf("blocks         %lld\n", (long long)I.num_blocks);
    if (I.arch == "xlstm") {
      std::printf("heads          %lld (qk head dim %lld, v head dim %lld)\n", (long long)I.num_heads,
                  (long long)(I.qk_dim / I.num_heads), (long long)(I.v_dim / I.num_heads));
      std::printf("ffn            %lld\n", (long long)I.ffn_dim);
    }
    for (const auto& [label, text] : I.extra) std::printf("%-14s %s\n", label.c_str(), text.c_str());
    std::printf("parameters     %lld (%.3f B)\n", (long long)I.n_params, double(I.n_params) / 1e9);
    std::printf("stored dtype   %s\n", I.stored_dtype.c_str());
    std::printf("run dtype      %s (matrices; norms and state float32)\n", dtype_name(I.weight_dtype));
    std::printf("weights        %s on %s\n", gib(double(I.weight_bytes)).c_str(), L.backend->description().c_str());
    std::printf("state          %s per sequence (float32)\n", gib(state_bytes).c_str());
    std::printf("chunk          %d\n", L.model->chunk());
    std::printf("special ids    bos %d, eos %d, pad %d%s\n", I.bos_id, I.eos_id, I.pad_id,
                I.force_bos ? " (BOS inserted)" : "");
    return 0;
  });
});

XLSTM_COMMAND("wiring", "print the block graph discovered from a checkpoint's tensors", [](CLI::App& sub) {
  auto o = std::make_shared<ModelOpts>();
  add_model_opts(sub, *o, false);
  return std::function<int()>([o] {
    Loaded L = load(*o);
    std::fputs(L.model->wiring().c_str(), stdout);
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
