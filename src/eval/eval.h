// R1-style evaluation (../shared/docs/R1-NOTES.md section 6): k sampled responses per problem,
// pass@1 averaged over the k samples, cons@k (majority vote over the extracted answers, grouped
// by mathematical equivalence), and the unbiased pass@k estimator 1 - C(n-c, k) / C(n, k).
// A problem whose gold answer does not parse is "unverifiable": it is skipped and counted, never
// scored.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rollout/engine.h"
#include "verify/extract.h"
#include "verify/math.h"

namespace r1 {

// Unbiased pass@k from n samples of which c are correct (Chen et al. 2021): the probability
// that at least one of k samples drawn without replacement is correct. 0 <= c <= n, 1 <= k <= n.
double pass_at_k(int n, int c, int k);

// The majority answer: answers are grouped by equivalence (verify_math, or exact text where an
// answer does not parse); absent answers do not vote. The largest group wins; a tie goes to the
// group whose first member came first. nullopt when no sample has an answer.
struct Vote {
  std::optional<std::string> answer;  // the group's first member
  int votes = 0;
};
Vote majority_vote(const std::vector<std::optional<std::string>>& answers);

// One evaluation problem.
struct EvalProblem {
  std::string id;      // the row's "id" field when present, else its 0-based index
  std::string prompt;  // the question, before any template (with messages: the last user turn's)
  std::string gold;    // the reference answer (already extracted: "#### N" becomes N)
  int64_t line = 0;    // the data file's line (1-based; 0 when not from a file)
  // The conversation, when the prompt field holds a list of messages (DatasetSpec::messages);
  // null otherwise.
  nlohmann::ordered_json messages = nullptr;
  // Which rewards score it in GRPO (DatasetSpec::route_field): "rule", "model" or "both" (the
  // default, also when the data have no such column). A "model" row may have no answer (gold "").
  std::string route = "both";
};

// A named benchmark's file (relative to the data directory) and fields.
struct DatasetSpec {
  std::string file;           // e.g. "gsm8k/test.jsonl"
  std::string prompt_field;   // e.g. "question"
  std::string answer_field;   // e.g. "answer"
  bool gsm8k_answer = false;  // the answer field holds a worked solution ending in "#### N"
  // The prompt field may hold a conversation, [{"role", "content"}, ...] ending with a user turn
  // (roles system, user, assistant, tool; content a string), instead of a string.
  bool messages = false;
  // A column naming the rewards that score each row ("rule", "model" or "both", see
  // EvalProblem::route); "" = none.
  std::string route_field{};
  std::string route_default{"both"};  // the route of a row without the column
};
// gsm8k, math500, aime24; nullopt for other names.
std::optional<DatasetSpec> builtin_dataset(const std::string& name);

// Reads problems from a JSONL file. Errors name the file, line and field (and the message).
std::vector<EvalProblem> load_eval_problems(const std::string& path, const DatasetSpec& spec,
                                            int64_t limit = -1);

struct SampleResult {
  std::string text;
  int64_t num_tokens = 0;
  std::string finish_reason;
  std::optional<std::string> extracted;
  verify::Verdict verdict = verify::Verdict::kWrong;
};

struct ProblemResult {
  int64_t index = 0;
  bool unverifiable = false;  // the gold answer does not parse: not scored
  std::vector<SampleResult> samples;
  int correct = 0;
  Vote vote;
  bool cons_correct = false;
};

// Scores one completion against a gold answer: extraction, then verify_math.
SampleResult score_completion(const std::string& gold, const std::string& text,
                              const verify::ExtractOptions& extract);

// How a sample is scored: by default score_completion (extraction, then verify_math); a trainer
// passes its recipe's accuracy reward instead. It fills extracted and verdict.
using SampleScorer = std::function<SampleResult(const EvalProblem& problem, const std::string& text)>;

struct EvalSummary {
  int64_t problems = 0;      // in the file (after --limit)
  int64_t unverifiable = 0;  // skipped: the gold answer does not parse
  int k = 0;
  double pass1 = 0;             // mean over scored problems of correct / k
  double cons = 0;              // share of scored problems whose majority answer is correct
  std::vector<double> pass_at;  // pass_at[j] = pass@(j+1), j < k (unbiased estimator)
  double mean_tokens = 0;       // response length over all samples
  int64_t max_tokens = 0;
  double answered = 0;   // share of samples with an extracted answer
  double truncated = 0;  // share of samples that hit max_new_tokens
  double seconds = 0;
};

// Aggregates per-problem results into the summary (pure; for tests and for training loops).
EvalSummary summarise(const std::vector<ProblemResult>& results, int k);

// Generates engine.config().n samples for each problem's prompt (token ids, one per problem) and
// scores them; on_sample (optional) is called as each sample is scored, in finishing order.
// Results are in problem order, samples in sample order.
using EvalSampleFn = std::function<void(const EvalProblem&, int64_t sample_index, const SampleResult&)>;
std::vector<ProblemResult> run_eval(Engine& engine, const std::vector<EvalProblem>& problems,
                                    const std::vector<std::vector<int32_t>>& prompts,
                                    const verify::ExtractOptions& extract,
                                    const EvalSampleFn& on_sample = nullptr,
                                    const SampleScorer& scorer = nullptr);

// run_eval's work, for callers that need more control (r1 eval's resumable run): generates
// engine.config().n samples for the problems in `todo` only (indices into problems and prompts),
// each with its own index for the sampling keys, scores them, and calls on_problem(i, result)
// as the last sample of problem i is scored (in finishing order; the result is scored with
// score_problem). Exceptions from the callbacks end the call (the engine stays usable).
using EvalProblemFn = std::function<void(size_t index, ProblemResult&& result)>;
void run_eval_problems(Engine& engine, const std::vector<EvalProblem>& problems,
                       const std::vector<std::vector<int32_t>>& prompts, const std::vector<size_t>& todo,
                       const verify::ExtractOptions& extract, const EvalProblemFn& on_problem,
                       const EvalSampleFn& on_sample = nullptr, const SampleScorer& scorer = nullptr);

// Fills pr.correct, pr.vote and pr.cons_correct from pr.samples (p: the problem it answers).
// With a scorer, a problem is unverifiable when every sample's verdict is, and the majority
// answer is correct when the samples that gave it were scored correct.
void score_problem(ProblemResult& pr, const EvalProblem& p, bool custom_scorer = false);

// Data parallelism (dist/comm.h): every rank's results, on every rank, in rank order. Collective:
// every rank of the job calls it. run_eval and the resumable run_eval of eval_run.h deal the
// problems to the ranks in contiguous blocks (each problem keeps its index for the sampling keys,
// so the samples are those of one process) and gather the results with it.
std::vector<ProblemResult> gather_problem_results(const std::vector<ProblemResult>& mine);

// The summary as a small text table (what `r1 eval` prints).
std::string format_summary(const EvalSummary& s, const std::string& name);

}  // namespace r1
