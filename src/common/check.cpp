// Why: one place formats error locations, relative to the source tree, so messages stay short.
#include "common/check.h"

#include <cstring>

namespace xlstm {

[[noreturn]] void fail_at(const char* file, int line, const std::string& msg) {
  const char* rel = std::strstr(file, "src/");
  if (!rel) rel = std::strstr(file, "tools/");
  throw Error(fmt::format("{} ({}:{})", msg, rel ? rel : file, line));
}

}  // namespace xlstm
