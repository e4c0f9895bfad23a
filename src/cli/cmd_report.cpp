// r1 report RUN_DIR: writes RUN_DIR/report.html, one self-contained page with charts of the run's
// metrics.jsonl (the accuracy and response-length curves of the R1 paper first) and its sample
// completions. The work is in src/report.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "report/report.h"

namespace r1::cli {

void add_report_command(CLI::App& app, std::vector<Command>& out) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand(
      "report",
      "write RUN_DIR/report.html: charts of metrics.jsonl (accuracy and response length vs step, reward, KL, "
      "...) and the sample completions of samples.jsonl, in one self-contained HTML file");
  c->add_option("run_dir", *run_dir, "the training run directory (holds metrics.jsonl)")->required();
  out.push_back({c, [run_dir] {
                   report::write_report(*run_dir);
                   const std::string path = (std::filesystem::path(*run_dir) / "report.html").string();
                   std::fprintf(stderr, "report: wrote %s\n", path.c_str());
                   return 0;
                 }});
}

}  // namespace r1::cli
