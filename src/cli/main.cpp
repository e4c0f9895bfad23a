// r1: the command-line program. Thin: parses options and calls the library. Each subcommand
// lives in its own cmd_*.cpp.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {

// The subcommand names, for "unknown command" messages.
std::string command_list(CLI::App& app) {
  std::string out;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + c->get_name();
  return out;
}

// A usage error as one line. CLI11's own text names the option; an unknown first word is named
// as an unknown command, with the list of commands.
std::string usage_error(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const CLI::App* cmd = nullptr;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    if (c->parsed()) cmd = c;
  if (cmd == nullptr && argc > 1 && argv[1][0] != '-')
    return fmt::format("unknown command '{}' (commands: {}; see r1 --help)", argv[1], command_list(app));
  if (cmd == nullptr && argc <= 1)
    return fmt::format("no command given (commands: {}; see r1 --help)", command_list(app));
  std::string where = "r1";
  for (const CLI::App* c = cmd; c != nullptr;) {  // nested commands: "r1 rm score"
    where += " " + c->get_name();
    const CLI::App* child = nullptr;
    for (const CLI::App* s : c->get_subcommands([](const CLI::App*) { return true; }))
      if (s->parsed()) child = s;
    c = child;
  }
  return fmt::format("{}: {} (see {} --help)", where, e.what(), where);
}

}  // namespace

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
  r1::cli::add_sample_command(app, commands);
  r1::cli::add_distill_command(app, commands);
  r1::cli::add_pipeline_command(app, commands);
  r1::cli::add_score_command(app, commands);
  r1::cli::add_grpo_commands(app, commands);
  r1::cli::add_report_command(app, commands);
  r1::cli::add_rm_commands(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors follow the same one-line contract as every other error.
    std::fprintf(stderr, "r1: error: %s\n", usage_error(app, e, argc, argv).c_str());
    return 1;
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const std::bad_alloc&) {
    // Sizes are checked before the large allocations; this is the last line of defence.
    std::fprintf(stderr,
                 "r1: error: out of memory: an allocation failed (lower the model, batch or KV-cache "
                 "sizes)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
