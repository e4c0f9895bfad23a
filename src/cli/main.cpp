// r1: the command-line program. Thin: parses options and calls the library. Each subcommand
// lives in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"r1.cpp: DeepSeek-R1-style reasoning training in C++"};
  app.require_subcommand(1);
  std::vector<r1::cli::Command> commands;
  r1::cli::add_train_commands(app, commands);
  r1::cli::add_generate_command(app, commands);
  r1::cli::add_chat_command(app, commands);
  r1::cli::add_tokenize_command(app, commands);
  r1::cli::add_template_command(app, commands);
  r1::cli::add_eval_command(app, commands);
  r1::cli::add_score_command(app, commands);
  r1::cli::add_grpo_commands(app, commands);
  r1::cli::add_report_command(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors follow the same one-line contract as every other error.
    std::fprintf(stderr, "r1: error: %s (see r1 --help)\n", e.what());
    return 1;
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
