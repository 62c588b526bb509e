// Why: every failure in xlstm.cpp is one exception type whose message names the problem and where the
// check sits (file:line). The CLI prints it on one line and exits non-zero; Python bindings re-raise it.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace xlstm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail_at(const char* file, int line, const std::string& msg);

}  // namespace xlstm

// XLSTM_CHECK(cond, "fmt {}", args...): throws xlstm::Error("msg (file:line)") when cond is false.
#define XLSTM_CHECK(cond, ...)                                                   \
  do {                                                                           \
    if (!(cond)) ::xlstm::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)
#define XLSTM_FAIL(...) ::xlstm::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
