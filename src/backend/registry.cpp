// Why: picks a backend by name ("cpu", "cuda", "auto") and explains why one is unavailable.
#include <memory>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "common/check.h"

namespace xlstm {

#ifdef XLSTM_HAVE_CUDA
std::unique_ptr<Backend> make_cuda_backend();  // backend/cuda
bool cuda_device_usable(std::string* why_not);
#endif

bool cuda_available(std::string* why_not) {
#ifdef XLSTM_HAVE_CUDA
  return cuda_device_usable(why_not);
#else
  if (why_not) *why_not = "this binary was built without CUDA (configure with -DXLSTM_CUDA=ON)";
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(threads);
  if (name == "cuda" || name == "auto") {
    std::string why;
    if (cuda_available(&why)) {
#ifdef XLSTM_HAVE_CUDA
      return make_cuda_backend();
#endif
    }
    if (name == "auto") return std::make_unique<cpu::CpuBackend>(threads);
    XLSTM_FAIL("CUDA device unavailable: {}; use --device cpu", why);
  }
  XLSTM_FAIL("unknown device '{}' (expected cpu, cuda or auto)", name);
}

}  // namespace xlstm
