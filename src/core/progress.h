// A live progress line on stderr:
//   "pretrain  step 120/1000  loss 2.3412  tok/s 12.3k  elapsed 1m02s  eta 7m41s"
// On a terminal the line is redrawn in place (at most ~10 times a second); in a log file or
// CI output, where '\r' redraws would pile up, a full line is printed at most every 10
// seconds and always for the last step.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {

using ProgressFields = std::vector<std::pair<std::string, std::string>>;

class Progress {
 public:
  // total_steps: the step the run ends at. start_step: the step it starts from (non-zero when
  // resuming), so the ETA comes from the speed of this run, not from steps done before it.
  Progress(std::string label, int64_t total_steps, int64_t start_step = 0);
  // Shows nothing on a rank other than 0 of a distributed job.
  // Writes to `out` instead of stderr (null: nowhere), treating it as a terminal or not as told (for tests).
  Progress(std::string label, int64_t total_steps, int64_t start_step, std::FILE* out, bool terminal);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Ends a redrawn line that finish() was not called for (say, when an error unwinds), so
  // the next message starts on a line of its own.
  ~Progress();

  // `step` is the number of steps completed so far (start_step < step <= total_steps);
  // fields are shown in order, e.g. {{"loss", "2.3412"}, {"tok/s", "12.3k"}}.
  void update(int64_t step, const ProgressFields& fields);
  // Shows the last update if it was held back by the rate limit, and ends the line.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  void draw(double elapsed);

  std::string label_;
  int64_t total_;
  int64_t start_;
  std::FILE* out_;
  bool terminal_;
  Clock::time_point t0_;
  double last_draw_ = -1e30;  // seconds since t0_ of the last line shown
  int64_t step_ = 0;
  ProgressFields fields_;
  bool has_update_ = false;
  bool shown_ = true;       // the latest update has been drawn
  bool line_open_ = false;  // a redrawn terminal line is waiting for its newline
  bool finished_ = false;
};

// "pretrain  step 120/1000  loss 2.3412  elapsed 1m02s  eta 7m41s"; eta_seconds < 0 or not
// finite shows "eta --" (not known yet).
std::string format_progress_line(std::string_view label, int64_t step, int64_t total,
                                 const ProgressFields& fields, double elapsed_seconds, double eta_seconds);

// "12.3s", "3m05s", "1h02m" (negative or not finite: "--").
std::string format_duration(double seconds);

// Seconds from t0 to now on the steady clock.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Three significant digits with a k/M/G/T suffix, trailing zeros dropped: "950", "12.3k",
// "4.56M", "1.2G"; below 1 it keeps three significant digits ("0.0123").
std::string format_count(double x);

}  // namespace r1
