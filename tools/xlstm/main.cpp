// Why: entry point of the `xlstm` CLI: collects the registered subcommands, parses, runs, and turns
// every xlstm::Error into a one-line message and a non-zero exit code.
#include <cstdio>
#include <exception>
#include <memory>

#include "command.h"
#include "common/check.h"

namespace xlstm::cli {
std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}
}  // namespace xlstm::cli

int main(int argc, char** argv) {
  using namespace xlstm::cli;
  CLI::App app{"xlstm: inference engine for xLSTM language models"};
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return std::string("error: ") + e.what() + "\n"; });
  app.set_version_flag("--version", std::string("xlstm.cpp 0.1.0"));
  std::function<int()> run;
  for (auto& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto fn = std::make_shared<std::function<int()>>(c.setup(*sub));
    sub->callback([&run, fn] { run = *fn; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run ? run() : 0;
  } catch (const xlstm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
