// r1 eval's files and its interruptible, resumable run. Every output path is checked before any
// work; each problem's samples are appended to a progress file (OUT.partial) as soon as all k are
// scored; SIGINT/SIGTERM stop the run keeping what is done; and --resume continues from the
// progress file to the same OUT and summary an uninterrupted run writes (each remaining problem
// keeps its original index for the sampling keys).
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/eval.h"
#include "rollout/engine.h"

namespace r1 {

// Fails unless `path` can be written the way write_file_atomic writes it: it is not a directory
// and a file can be created beside it (a probe file is made and removed). The one-line error
// names the option: "--out: x/y.jsonl: cannot write: No such file or directory".
void check_output_path(const std::string& option, const std::string& path);

// One problem's samples as r1 eval writes them: one JSON line per sample (problem_index, id,
// sample_index, gold, extracted, verdict, finish_reason, num_tokens, text), each ending in '\n'.
std::string format_eval_records(const EvalProblem& p, const ProblemResult& pr);

// The summary that --summary-json writes.
nlohmann::ordered_json eval_summary_json(const EvalSummary& s, const std::string& benchmark,
                                         const std::string& data, const std::string& model,
                                         const GenerationConfig& g);

// The progress file (written by rank 0 of a distributed job; the other ranks keep the same
// results in memory): a header line {"r1_eval_progress": 1, "settings": {...}}, then every
// completed problem's records (format_eval_records), appended and flushed as it completes.
class EvalProgressFile {
 public:
  // `settings`: what makes the samples what they are, by the option the user wrote (a JSON
  // object); a fingerprint of the problems and their encoded prompts is added to it. Without
  // resume nothing is touched yet: start() replaces any earlier file. With resume the file is
  // read now: its settings must equal these (the error names each that differs) and its complete
  // problems count as done; a problem cut short by a kill is dropped (it runs again).
  EvalProgressFile(std::string path, nlohmann::ordered_json settings, bool resume,
                   const std::vector<EvalProblem>& problems, const std::vector<std::vector<int32_t>>& prompts,
                   int k);
  // Closes the file. A file start() created that holds no problem yet is removed, unless the
  // run was interrupted (keep()).
  ~EvalProgressFile();
  EvalProgressFile(const EvalProgressFile&) = delete;
  EvalProgressFile& operator=(const EvalProgressFile&) = delete;

  // Writes the header and what was resumed (atomically), then keeps the file open for append().
  // True when a progress file of an earlier run was replaced (without resume).
  bool start();
  // Appends problem i's records and flushes them, so a signal or a crash keeps them.
  void append(const ProblemResult& pr);
  // Keeps the file however the run ends (it was interrupted).
  void keep() { keep_ = true; }
  // Removes the file (OUT has been written).
  void remove();

  const std::string& path() const { return path_; }
  size_t size() const { return done_.size(); }
  int64_t done() const { return done_count_; }
  bool is_done(size_t i) const { return done_[i] != 0; }
  // Problem i's result and records, once done (read back from the file or appended).
  const ProblemResult& result(size_t i) const { return results_[i]; }
  const std::string& records(size_t i) const { return records_[i]; }

 private:
  void read_existing();

  std::string path_;
  nlohmann::ordered_json settings_;
  bool resume_;
  const std::vector<EvalProblem>& problems_;
  int k_;
  bool writes_;  // rank 0 of a distributed job (or the one process) writes the file
  std::vector<char> done_;
  std::vector<ProblemResult> results_;
  std::vector<std::string> records_;
  int64_t done_count_ = 0, appended_ = 0;
  std::FILE* f_ = nullptr;
  bool started_ = false, keep_ = false;
};

// At the end of a complete run: writes OUT (every problem's records, in problem order: the bytes
// an uninterrupted run writes) and the summary JSON (when summary_json is not empty), each
// atomically, then removes the progress file.
void write_eval_outputs(EvalProgressFile& progress, const std::string& out, const std::string& summary_json,
                        const nlohmann::ordered_json& summary);

struct EvalRunResult {
  std::vector<ProblemResult> results;  // in problem order; complete unless interrupted
  bool interrupted = false;            // SIGINT or SIGTERM (or the R1_TEST_STOP_AFTER hook)
  int64_t done = 0;                    // problems complete, resumed ones included
};

// run_eval for r1 eval: generates the problems the progress file does not hold yet (each with
// its own index for the sampling keys), appends each problem to it as its k samples are scored,
// and stops promptly on SIGINT/SIGTERM (the engine stops at its next step; the file keeps every
// completed problem). progress.start() must have been called. on_sample and scorer as in run_eval.
EvalRunResult run_eval(Engine& engine, const std::vector<EvalProblem>& problems,
                       const std::vector<std::vector<int32_t>>& prompts,
                       const verify::ExtractOptions& extract, EvalProgressFile& progress,
                       const EvalSampleFn& on_sample = nullptr, const SampleScorer& scorer = nullptr);

}  // namespace r1
