// Rejection sampling and data generation (`r1 sample`): k samples per problem are scored with a
// reward spec, passed through optional filters (each rejection counted under the first filter it
// fails), capped per problem, and written as SFT-ready JSONL with provenance; or, in pass-rate
// mode, each problem's share of correct samples decides whether the problem is kept (open-r1's
// filter for building RL sets). Generation and resumption are r1 eval's (eval/eval_run.h); this
// file is the part that decides what is kept and how it is written.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/eval.h"
#include "verify/reward_spec.h"

namespace r1 {

struct SampleFilters {
  bool correct = false;           // the accuracy verdict is "correct"
  bool finished = false;          // stopped by itself (EOS or a stop string), not at max_new_tokens
  bool strict_format = false;     // the R1-Zero format reward is 1
  double min_language = -1;       // the language reward (share of the reasoning's words) >= this
  bool no_code_in_think = false;  // no ``` fence in the reasoning (the text before </think>)
  int64_t max_paragraph = 0;      // no paragraph (text between blank lines) longer, in bytes
  double max_repetition = -1;     // repeated word 4-gram share (repeated_ngram_share) <= this
  int64_t max_tokens = 0;         // at most this many tokens
  bool dedup = false;             // a completion equal to a kept one of the same problem is dropped
  int64_t keep = 0;               // at most this many per problem (0: all that pass)
  std::string pick = "first";     // which ones when more pass: first, shortest, random
  uint64_t seed = 0;              // for pick = random
};

// The rejection reasons, in the order the filters run (a sample counts under the first it fails).
const std::vector<std::string>& sample_rejection_reasons();

// 1 - distinct / total over the text's word 4-grams (0 for fewer than 4 words): 0 for text that
// never repeats four words in a row, near 1 for a loop.
double repeated_ngram_share(const std::string& text);

// The text before the first </think> (all of it when there is none).
std::string reasoning_part(const std::string& text);

// The first filter a sample fails ("" when it passes every one). `score` is the reward spec's
// score of the completion; format and language are computed here when their filter is on.
std::string sample_rejection(const SampleFilters& f, const std::string& completion, const SampleResult& r,
                             const verify::Score& score, const verify::RewardOptions& options);

// Which of the passing samples (indices into candidates' order) are kept, in sample order:
// all, or `keep` of them by `pick` (random: a Fisher-Yates shuffle seeded by seed and the
// problem's index). lengths: each passing sample's token count.
std::vector<size_t> pick_samples(const SampleFilters& f, const std::vector<size_t>& passing,
                                 const std::vector<int64_t>& lengths, int64_t problem_index);

struct SampleSummary {
  int64_t problems = 0, samples = 0, kept = 0;
  int64_t generated = 0, generated_tokens = 0;  // by this run (not the resumed part), in `seconds`
  std::map<std::string, int64_t> rejected;      // by reason; sums to samples - kept (samples mode)
  std::vector<int64_t> correct_histogram;       // [c] = problems with c of k samples correct
  double seconds = 0;                           // generation (the engine), scoring during it included
  double score_seconds = 0;   // scoring with the reward spec, during generation and after it
  double select_seconds = 0;  // scoring again, filtering and forming the rows, after generation
};

nlohmann::ordered_json sample_summary_json(const SampleSummary& s, const std::string& mode, int k);

}  // namespace r1
