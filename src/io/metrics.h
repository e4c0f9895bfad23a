// Training metrics as JSON Lines: one compact object per logged step, e.g.
// {"step":120,"loss":2.3412,"lr":0.0003}. Lines are flushed as they are written so a run
// that is killed keeps every line it finished.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace r1 {

class MetricsWriter {
 public:
  // append=false starts a new file (truncating any old one); append=true continues one, as
  // when resuming a run (call truncate_metrics first to drop steps past the checkpoint). An empty
  // path writes nothing (the ranks other than 0 of a distributed run).
  MetricsWriter(const std::string& path, bool append);

  // Writes one row as a single line and flushes it to the operating system. Strings that
  // are not valid UTF-8 are written with U+FFFD in place of the bad bytes; NaN and infinite
  // numbers are written as null (JSON has no spelling for them).
  void write(const nlohmann::json& row);

  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

// Rewrites the metrics file keeping only rows whose "step" is <= keep_through_step (rows with
// no numeric "step" are kept). Used when a run resumes from a checkpoint older than its last
// logged line, so the steps it redoes are not logged twice. Lines that are not JSON objects
// (a line cut short when the run was killed) are dropped. The file is replaced atomically:
// written to a temporary file in the same directory, synced, then renamed over the old one.
// A missing file is left missing.
void truncate_metrics(const std::string& path, int64_t keep_through_step);

}  // namespace r1
