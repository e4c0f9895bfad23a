// r1: the command-line program. Thin: parses options and calls the library. Each subcommand
// lives in its own cmd_*.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/comm.h"

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

// The commands that run data-parallel under an MPI launcher; any other would run N copies of one
// job (and race on its files), so it is refused there.
void check_data_parallel(const CLI::App& root, const CLI::App& cmd) {
  if (!r1::world().distributed()) return;
  static const char* const kParallel[] = {"pretrain", "sft", "grpo", "zero", "eval", "sample", "rm train"};
  std::string name = cmd.get_name();
  if (cmd.get_parent() != nullptr && cmd.get_parent() != &root)
    name = cmd.get_parent()->get_name() + " " + name;
  for (const char* p : kParallel)
    if (name == p) return;
  throw std::runtime_error(
      fmt::format("r1 {} does not run data-parallel: start it without mpirun (under mpirun: r1 {})", name,
                  fmt::join(std::begin(kParallel), std::end(kParallel), ", r1 ")));
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
  r1::cli::add_serve_command(app, commands);
  try {
    // First: under an MPI launcher the ranks other than 0 are quiet from here on (a usage error
    // is printed once, by rank 0).
    r1::init_world(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    const int rc = app.exit(e);
    r1::finalize_world();
    return rc;
  } catch (const CLI::CallForAllHelp& e) {
    const int rc = app.exit(e);
    r1::finalize_world();
    return rc;
  } catch (const CLI::ParseError& e) {
    // Usage errors follow the same one-line contract as every other error.
    std::fprintf(stderr, "r1: error: %s\n", usage_error(app, e, argc, argv).c_str());
    if (r1::world().distributed()) r1::world().abort(1);
    return 1;
  }
  // Under an MPI launcher every rank runs the command; an error on one rank ends them all
  // (Comm::abort), so that no rank waits forever in a collective for it.
  auto failed = [](const char* what) {
    r1::Comm& w = r1::world();
    // Rank 0's line reads as one process's would; another rank's says which it is.
    const std::string who = w.root() ? "" : fmt::format("rank {} of {}: ", w.rank(), w.size());
    std::fprintf(r1::error_stream(), "r1: error: %s%s\n", who.c_str(), what);
    std::fflush(r1::error_stream());
    if (w.distributed()) w.abort(1);
    return 1;
  };
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) {
        check_data_parallel(app, *c.app);
        const int rc = c.run();
        if (rc != 0 && rc != 130 && r1::world().distributed()) r1::world().abort(rc);
        r1::finalize_world();
        return rc;
      }
  } catch (const std::bad_alloc&) {
    // Sizes are checked before the large allocations; this is the last line of defence.
    return failed("out of memory: an allocation failed (lower the model, batch or KV-cache sizes)");
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  return 0;
}
