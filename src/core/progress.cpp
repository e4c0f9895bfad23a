#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

#include "dist/comm.h"

namespace r1 {

namespace {

constexpr double kTerminalInterval = 0.1;  // ~10 redraws a second is smooth and cheap
constexpr double kLogInterval = 10.0;      // a CI log gets one line per 10 seconds at most

// Drops trailing zeros after a decimal point ("1.20" -> "1.2", "3.00" -> "3").
std::string trim_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// Decimals that give three significant digits for 0 < v < 1000.
int decimals_for(double v) {
  if (v >= 100) return 0;
  if (v >= 10) return 1;
  if (v >= 1) return 2;
  const int d = 2 - static_cast<int>(std::floor(std::log10(v)));
  return d > 12 ? 12 : d;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  // Thresholds sit where rounding would carry into the next unit ("60.0s" -> "1m00s").
  if (seconds < 59.95) return fmt::format("{:.1f}s", seconds);
  const long long whole = std::llround(seconds);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  const long long minutes = std::llround(seconds / 60.0);
  return fmt::format("{}h{:02}m", minutes / 60, minutes % 60);
}

std::string format_count(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x < 0) {
    std::string out = "-";
    out += format_count(-x);
    return out;
  }
  if (x == 0) return "0";
  static constexpr const char* kSuffix[] = {"", "k", "M", "G", "T", "P", "E"};
  constexpr int kUnits = sizeof(kSuffix) / sizeof(kSuffix[0]);
  double v = x;
  int unit = 0;
  while (v >= 1000 && unit + 1 < kUnits) {
    v /= 1000;
    ++unit;
  }
  std::string s = fmt::format("{:.{}f}", v, decimals_for(v));
  // Rounding can carry to 1000 ("999.6" -> "1000"): move up a unit instead.
  if (std::stod(s) >= 1000 && unit + 1 < kUnits) {
    v /= 1000;
    ++unit;
    s = fmt::format("{:.{}f}", v, decimals_for(v));
  }
  return trim_zeros(s) + kSuffix[unit];
}

std::string format_progress_line(std::string_view label, int64_t step, int64_t total,
                                 const ProgressFields& fields, double elapsed_seconds, double eta_seconds) {
  std::string line = fmt::format("{}  step {}/{}", label, step, total);
  for (const auto& [name, value] : fields) line += fmt::format("  {} {}", name, value);
  line += "  elapsed " + format_duration(elapsed_seconds);
  line += "  eta " + format_duration(eta_seconds);
  return line;
}

Progress::Progress(std::string label, int64_t total_steps, int64_t start_step)
    : Progress(std::move(label), total_steps, start_step, world().root() ? stderr : nullptr,
               ::isatty(::fileno(stderr)) == 1) {}

Progress::Progress(std::string label, int64_t total_steps, int64_t start_step, std::FILE* out, bool terminal)
    : label_(std::move(label)),
      total_(total_steps),
      start_(start_step),
      out_(out),
      terminal_(terminal),
      t0_(Clock::now()),
      step_(start_step) {}

Progress::~Progress() {
  if (line_open_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void Progress::draw(double elapsed) {
  if (out_ == nullptr) return;  // a rank other than 0 of a distributed job: rank 0 shows the line
  const int64_t done = step_ - start_;
  const double eta = done > 0 && elapsed > 0
                         ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step_)
                         : -1.0;
  const std::string line = format_progress_line(label_, step_, total_, fields_, elapsed, eta);
  if (terminal_) {
    // "\x1b[K" clears what a longer previous line left to the right of this one.
    std::fprintf(out_, "\r%s\x1b[K", line.c_str());
    line_open_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
  last_draw_ = elapsed;
  shown_ = true;
}

void Progress::update(int64_t step, const ProgressFields& fields) {
  step_ = step;
  fields_ = fields;
  has_update_ = true;
  shown_ = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
  const double interval = terminal_ ? kTerminalInterval : kLogInterval;
  if (step >= total_ || elapsed - last_draw_ >= interval) draw(elapsed);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (has_update_ && !shown_) draw(std::chrono::duration<double>(Clock::now() - t0_).count());
  if (line_open_) {
    std::fputc('\n', out_);
    std::fflush(out_);
    line_open_ = false;
  }
}

}  // namespace r1
