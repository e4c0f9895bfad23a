// The synthetic verifiable task of `r1 zero` (an R1-Zero reproduction in minutes on a CPU): sums of
// 3 to 6 one-digit terms ("Compute 7+5+8+3"), a family of graded difficulty. A tiny model that
// answers at once is rarely right, and less so the more terms there are; one that works the sum
// out step by step is usually right, but its steps can slip; one that also checks each step (adds
// it again and corrects a slip the check reveals) is right more often still, and the more terms,
// the more checking is worth.
//
// The pretraining corpus mixes, like web text, documents that answer directly (more often wrong the
// more terms there are), documents that work the sum out (some with an uncorrected slip), and
// documents that check their work (more often on harder problems: common on "textbook pages",
// rare in chat transcripts), all in the R1-Zero format:
//   direct:  "... User: Compute 7+5+8. Assistant: <think> I know this. </think> <answer> 20 </answer>"
//   worked:  "... Assistant: <think> 7+5+8: 7+5=12, 12+8=20 </think> <answer> 20 </answer>"
//   slipped: "... Assistant: <think> 7+5+8: 7+5=13, 13+8=21 </think> <answer> 21 </answer>"  (a slip)
//   checked: "... Assistant: <think> 7+5+8: 7+5=13 check 7+5=12 wait, 12+8=20 check 12+8=20 </think>
//             <answer> 20 </answer>"
//   sloppy:  "... Assistant: <think> I know this. </think> 20"   (no <answer> tags: wrong format;
//             worked and checked documents are as often sloppy as direct ones)
// A worked pass restates the terms, then adds them left to right. A checked pass adds each step's
// two numbers again right after it ("check 7+5=12": a second computation, which never slips in the
// corpus); when the two differ it says "wait" and goes on from the checked value. A check is local
// and reuses the one addition skill: checks that re-add the whole sum after the first pass (in
// either order, with or without restating the terms) were tried and not learned by a model of this
// size within the pretraining budget (docs/zero_task_notes.md).
//
// A share of the documents carries the whole R1-Zero template (exactly the text of
// ChatTemplate::load("r1zero")); the others are excerpts of such documents that begin at the
// template's "User: ": the arithmetic is learned from ~100-token documents instead of ~450-token
// ones, which is what makes pretraining fit in a few CPU minutes. The two kinds mix their
// completions differently, as the web does: worked solutions, and checked ones, are common in
// excerpts (textbook pages), rarer in full R1-Zero transcripts, so the base model, prompted with
// the template, mostly answers directly and sometimes works the sum out (rarely checking), and it
// can do all of it: the checks are learned from the excerpts (a model of this size does not learn
// them from a few percent of the documents; docs/zero_task_notes.md). A bare answer (sloppy) is
// as common after working as after a direct answer, so the format reward alone does not favour
// working the sum out (r1 zero's format-only control).
//
// Held-out split: a problem is a test problem iff the hash of its sorted terms % kZeroTestModulus
// == 0, so every reordering of a held-out problem (its rewritings) is held out too; the corpus and
// the RL prompts draw only training problems.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

inline constexpr uint64_t kZeroTestModulus = 10;

// The mix of completions in one kind of document.
struct ZeroMix {
  double worked = 0.0;  // documents that work the sum out
  double sloppy = 0.0;  // documents of either kind whose answer lacks the <answer> tags (format-invalid)
  double check = 0.0;   // worked documents of the hardest level that check each step (see hardness)
};

struct ZeroTaskConfig {
  int min_terms = 3, max_terms = 6;  // terms per problem (each 1..9), uniform
  double full_template_frac = 0.15;  // documents with the whole template
  ZeroMix template_mix{.worked = 0.33, .sloppy = 0.1, .check = 0.15};  // ... and their completions
  ZeroMix excerpt_mix{.worked = 0.84, .sloppy = 0.05, .check = 0.5};   // the excerpts' completions
  double slip = 0.12;  // per step of a worked pass: the result off by one
  // The hardness of a level, 1/levels for min_terms up to 1 for max_terms, scales the share of
  // worked documents that check (ZeroMix::check) and of direct answers that are wrong (off by 1 to 3):
  double direct_error = 0.8;
  uint64_t seed = 1;
};

struct ZeroProblem {
  std::vector<int64_t> terms;
  std::string question;  // "Compute 7+5+8" (the template appends the '.')
  std::string answer;    // the gold answer, decimal
};

enum class ZeroDocKind { kDirect, kWorked };

struct ZeroDoc {
  std::string text;
  ZeroDocKind kind = ZeroDocKind::kDirect;
  bool full_template = false;
  bool slipped = false;  // a worked pass with a slip (corrected when checked)
  bool checked = false;  // a worked document that checks its work
  bool sloppy = false;   // its answer lacks the <answer> tags
  int answer_error = 0;  // a direct answer: how far it is off
  ZeroProblem problem;
};

// Whether a problem belongs to the held-out test split: a function of the multiset of its terms,
// so every reordering falls on the same side.
bool zero_is_test(std::span<const int64_t> terms);

// The problem for given terms.
ZeroProblem zero_problem(std::vector<int64_t> terms);

// n distinct problems of the train (test = false) or test split, a pure function of
// (cfg, test, n); the number of terms cycles through min_terms..max_terms, so every level of
// difficulty has the same share. Fails when a level has too few problems.
std::vector<ZeroProblem> zero_problems(const ZeroTaskConfig& cfg, bool test, int64_t n);

// The R1-Zero prompt (ends with "Assistant:") and the completions (each begins with " <think>";
// none ends with EOS: the corpus loader adds BOS and EOS).
std::string zero_prompt(const ZeroProblem& p);
// slips: for each step, 0 (right) or the error (+1 / -1) of its result; empty: no slip. check:
// each step is added again right after it (and a slip corrected: "wait").
std::string zero_worked_completion(const ZeroProblem& p, std::span<const int> slips = {}, bool check = false);
// answer_error: how far the stated answer is off (a writer answering at once is often wrong).
std::string zero_direct_completion(const ZeroProblem& p, int answer_error = 0);
// A completion with its "<answer> X </answer>" written as a bare " X" (wrong format: sloppy).
std::string zero_untagged(std::string_view completion);

// Where an excerpt document starts inside the prompt: the template's last sentence.
std::string_view zero_excerpt_marker();

// `docs` pretraining documents drawn from the train split (problems may repeat), a pure
// function of (cfg, docs).
std::vector<ZeroDoc> zero_corpus(const ZeroTaskConfig& cfg, int64_t docs);

// The texts of zero_corpus with the default configuration and the given seed ("builtin:zero").
std::vector<std::string> builtin_zero_corpus(int64_t docs, uint64_t seed);

// The pretraining recipe of r1 zero's base model (data.path = "builtin:zero").
const char* default_zero_pretrain_recipe();

}  // namespace r1
