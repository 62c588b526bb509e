// Why: the default (absent) ops of the original xLSTM family (backend.h): a backend that does not
// implement them reports has_v1_ops() false, and a call that slips through throws naming the op.
#include "backend/backend.h"
#include "common/check.h"

namespace xlstm {

namespace {
[[noreturn]] void missing(const Backend& be, const char* op) {
  XLSTM_FAIL("backend '{}' has no {} op: the original xLSTM family runs on the CPU backend only for now; use "
             "--device cpu", be.name(), op);
}
}  // namespace

void Backend::causal_conv1d(const Conv1dArgs&) { missing(*this, "causal_conv1d"); }
void Backend::headwise_linear(const Weight&, const Weight*, const float*, int64_t, int64_t, int, int, int, float*,
                              int64_t) {
  missing(*this, "headwise_linear");
}
void Backend::groupnorm(const float*, const Weight*, const Weight*, float, int64_t, int, int, float*) {
  missing(*this, "groupnorm");
}
void Backend::slstm(const SlstmArgs&) { missing(*this, "slstm"); }
void Backend::skip_silu_gate(const float*, const float*, int64_t, const Weight&, const float*, int64_t, int64_t,
                             int64_t, float*) {
  missing(*this, "skip_silu_gate");
}
void Backend::gated_act(const float*, int64_t, int64_t, GateAct, float*) { missing(*this, "gated_act"); }

}  // namespace xlstm
