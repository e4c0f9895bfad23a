// What every trainer (`r1 pretrain`, `r1 sft`, `r1 grpo`, the stages of `r1 zero`) shares about
// its run directory: the checks before a run starts, the lock that keeps a second process out,
// replacing an old run only when the new one writes its first file, resume that refuses changed
// settings, and the completion marker that says a run finished.
//
// Life of a run:
//   RunDir run(recipe, start);   // checks only; writes nothing
//   ... load the model and data, validate everything ...
//   run.begin(recipe, step);      // lock, replace an old run's files, write recipe.toml
//   ... train, writing metrics and checkpoints ...
//   run.mark_complete();          // on success only
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "io/metrics.h"

namespace r1 {

class StopSignals;

// An exclusive lock on DIR/.lock (created with DIR) for the object's life: taking it while another
// process, or another DirLock of this one, holds it is a one-line error naming the holder's pid.
// RunDir takes one in begin(); the multi-stage commands (r1 distill, r1 pipeline) take one on
// their own directory.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// How a trainer was started.
struct RunStart {
  bool resume = false;         // continue the run in output.dir from its checkpoint
  bool allow_changes = false;  // resume even though the recipe differs from the saved one
};

class RunDir {
 public:
  static constexpr const char* kState = "state.safetensors";
  static constexpr const char* kMetrics = "metrics.jsonl";
  static constexpr const char* kSamples = "samples.jsonl";
  static constexpr const char* kRecipe = "recipe.toml";
  static constexpr const char* kModel = "model";
  static constexpr const char* kReport = "report.html";
  static constexpr const char* kComplete = "complete";  // written when the run finished
  static constexpr const char* kLock = ".lock";         // holds the writer's pid

  // Checks, writing nothing: output.dir is a usable path; no live process holds the directory;
  // a resumed run has a checkpoint and, unless start.allow_changes, the recipe equals the saved
  // one (output.dir aside); a fresh run over an existing one needs output.overwrite = true.
  RunDir(const Recipe& recipe, RunStart start);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const char* name) const;
  bool resume() const { return start_.resume; }
  // On resume with allow_changes: the settings that differ from the saved run's.
  const std::vector<std::string>& changes() const { return changes_; }

  // Called when the run is about to write its first file: creates the directory, takes the
  // lock for the life of this object (refusing if another process took it meanwhile), removes
  // the files of the run being replaced (a fresh run) or the metrics and samples past the
  // checkpoint's step (a resumed run), and writes recipe.toml.
  void begin(const Recipe& recipe, int64_t resumed_step);

  // Records the resume changes (if any) as a metrics row: {"step", "resume_changes": [...]}.
  void record_changes(MetricsWriter& metrics, int64_t step) const;

  // Publishes the run as finished (the marker is written atomically, after everything else).
  void mark_complete() const;
  static bool is_complete(const std::string& dir);

 private:
  std::string dir_;
  RunStart start_;
  std::vector<std::string> changes_;
  std::unique_ptr<DirLock> lock_;
};

// Whether the training loop should stop after `step` (1-based, just completed, its metrics and
// periodic checkpoint written): a SIGINT or SIGTERM arrived. Test hooks, so that tests interrupt a
// run at a chosen step without watching the clock: R1_TEST_INTERRUPT_AT_STEP=N (as if SIGINT had
// arrived), R1_TEST_SIGNAL_AT_STEP=N (the process sends itself SIGTERM, or SIGINT with "N:int": the
// real handler path),
// R1_TEST_KILL_AT_STEP=N (SIGKILL: nothing after the step runs, as a crash or the OOM killer).
// In a distributed job the hooks fire on rank R1_TEST_RANK only (every rank when unset).
bool stop_after_step(const StopSignals& signals, int64_t step);
// R1_TEST_KILL_IN_STEP=N: SIGKILL in the middle of step N (1-based), before its gradients are
// summed over the ranks and the optimizer steps: a rank lost mid-step. R1_TEST_FAIL_IN_STEP=N:
// an error there instead (one rank's error must end the job, not leave the others waiting).
void test_kill_in_step(int64_t step);

}  // namespace r1
