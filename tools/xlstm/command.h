// Why: each `xlstm` subcommand lives in its own file (cmd_*.cpp) and registers itself here, so adding a
// command never touches main.cpp. A command's run function returns the process exit code and may throw
// xlstm::Error, which main prints as one line ("error: ...") with exit code 1.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace xlstm::cli {

struct Command {
  std::string name, help;
  // Adds the subcommand's options to `sub`; returns the function to run once parsing succeeded.
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<Command>& commands();

struct Register {
  explicit Register(Command c) { commands().push_back(std::move(c)); }
};

}  // namespace xlstm::cli

#define XLSTM_CLI_CONCAT2(a, b) a##b
#define XLSTM_CLI_CONCAT(a, b) XLSTM_CLI_CONCAT2(a, b)
// XLSTM_COMMAND("name", "help", [](CLI::App& sub) { ...add options...; return [=]{ ...; return 0; }; })
#define XLSTM_COMMAND(name, help, ...) \
  static ::xlstm::cli::Register XLSTM_CLI_CONCAT(xlstm_cmd_, __LINE__)({name, help, __VA_ARGS__})
