// The r1 subcommands. Each command file adds its options to the app and returns the function
// that runs it; main() runs the one the user chose. Errors are thrown as r1::Error.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace r1::cli {

struct Command {
  CLI::App* app;             // the parsed subcommand
  std::function<int()> run;  // returns the exit status
};

void add_train_commands(CLI::App& app, std::vector<Command>& out);  // pretrain, sft
void add_generate_command(CLI::App& app, std::vector<Command>& out);
void add_chat_command(CLI::App& app, std::vector<Command>& out);      // chat
void add_tokenize_command(CLI::App& app, std::vector<Command>& out);  // tokenize
void add_template_command(CLI::App& app, std::vector<Command>& out);  // template
void add_eval_command(CLI::App& app, std::vector<Command>& out);      // eval
void add_sample_command(CLI::App& app, std::vector<Command>& out);    // sample
void add_distill_command(CLI::App& app, std::vector<Command>& out);   // distill
void add_pipeline_command(CLI::App& app, std::vector<Command>& out);  // pipeline
void add_score_command(CLI::App& app, std::vector<Command>& out);     // score
void add_grpo_commands(CLI::App& app, std::vector<Command>& out);     // grpo, zero
void add_report_command(CLI::App& app, std::vector<Command>& out);    // report
void add_rm_commands(CLI::App& app, std::vector<Command>& out);       // rm train, rm score
void add_serve_command(CLI::App& app, std::vector<Command>& out);     // serve

}  // namespace r1::cli
