// Why: `xlstm logits`: float32 logits [T, vocab] (or the last N rows) for token ids in an .npy file,
// computed with one prefill; the interface the parity checks against transformers use.
#include "command.h"
#include "common/check.h"
#include "io/npy.h"
#include "model/state.h"
#include "model_opts.h"

namespace xlstm::cli {
namespace {

XLSTM_COMMAND("logits", "write float32 logits for the token ids in an .npy file", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    std::string ids, out;
    int last = -1;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, true);
  o->m.tune_for_prefill = true;  // logits is all prefill
  sub.add_option("--ids", o->ids, "token ids (.npy, int32 or int64, 1-D)")->required();
  sub.add_option("-o,--output", o->out, "output .npy (float32 [T, vocab])")->required();
  sub.add_option("--last", o->last, "only the last N rows");
  return std::function<int()>([o] {
    std::vector<int32_t> ids = read_npy_ids(o->ids);
    XLSTM_CHECK(!ids.empty(), "{}: no token ids (empty prompt)", o->ids);
    const int T = int(ids.size());
    XLSTM_CHECK(o->last == -1 || (o->last >= 1 && o->last <= T), "--last must be in [1, {}], got {}", T, o->last);
    const int n_out = o->last == -1 ? T : o->last;
    Loaded L = load(o->m);
    const int64_t V = L.model->info().vocab_size;
    for (size_t i = 0; i < ids.size(); ++i)
      XLSTM_CHECK(ids[i] >= 0 && ids[i] < V, "{}: token id {} at position {} is out of range [0, {})", o->ids, ids[i],
                  i, V);
    State st(*L.model);
    std::vector<float> logits(size_t(n_out) * size_t(V));
    float* sp = st.data();
    L.model->forward(ids.data(), 1, T, &sp, n_out, logits.data());
    write_npy_f32(o->out, logits.data(), {n_out, V});
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
