// r1 report: turns a training run directory (metrics.jsonl, optionally samples.jsonl and
// recipe.toml) into one self-contained HTML page, RUN_DIR/report.html, with inline SVG charts
// generated here (no scripts, no network): first the two charts of the DeepSeek-R1 paper
// (accuracy and mean response length against step), then reward, KL, entropy, clip fraction,
// grad norm, lr, loss and timings, then a small chart of every other numeric key, then sample
// completions grouped by step. All text from the files is HTML-escaped. A GRPO run's report also
// charts reflection (phrases and actual check steps, in rollouts and held-out evaluations) and
// shows the first rollout that corrected itself (a samples.jsonl row of kind
// kFirstSelfCorrection).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1::report {

// The "kind" of the samples.jsonl row that holds a run's first self-correcting rollout.
inline constexpr const char* kFirstSelfCorrection = "first self-correction";

// Builds the report of run_dir and writes it atomically to run_dir/report.html. Fails (r1::Error,
// "PATH:LINE: ...") when run_dir or its metrics.jsonl is missing, when a line of metrics.jsonl or
// samples.jsonl is not a JSON object (a last line without a newline, cut short when the run was
// killed, is skipped) or when a row has no numeric "step". An empty metrics.jsonl gives a report
// that says there is nothing to plot.
void write_report(const std::string& run_dir);

// The HTML that write_report writes (for tests).
std::string render_report(const std::string& run_dir);

// r1 pipeline's page (train/pipeline.h): one column per model, the base and then each stage's,
// with the stages' training figures (first -> last of the key metrics of each run's
// metrics.jsonl), the evaluations' figures (each column's summary JSON, as r1 eval writes it) and
// a chart of held-out pass@1 after each stage; links to each stage's own report.
struct PipelineColumn {
  std::string name;          // "base", "1-cold-start", ...
  std::string title;         // "stage 1: cold-start SFT"
  std::string status;        // "complete", "started", "not started", "given"
  std::string model;         // the model's directory
  std::string run_dir;       // the stage's run directory ("" for the base model)
  std::string eval_summary;  // its evaluation's summary JSON ("": not evaluated; absent: not yet)
  std::vector<std::pair<std::string, std::string>> facts;  // more rows: label, value
};
std::string render_pipeline_report(const std::string& dir, const std::vector<PipelineColumn>& columns);

// Text safe to place in HTML content or in a quoted attribute: & < > " ' as entities; bytes that
// are not well-formed UTF-8 and control characters other than tab, newline and CR as U+FFFD.
std::string html_escape(std::string_view s);

// Evenly spaced axis ticks with a "nice" spacing (1, 2 or 5 times a power of ten, at least
// min_spacing) covering [lo, hi] with about `target` ticks: the first tick is <= lo, the last
// >= hi. A degenerate range (lo == hi) is widened around the value.
std::vector<double> nice_ticks(double lo, double hi, int target = 5, double min_spacing = 0);

// A tick label for v on an axis whose ticks are `spacing` apart: as few digits as tell the ticks
// apart, e.g. 0.2, 1500, 3e-05.
std::string format_tick(double v, double spacing);

}  // namespace r1::report
