#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>

#include "core/error.h"
#include "train/data.h"
#include "train/zero_task.h"
#include "verify/extract.h"
#include "verify/math.h"
#include "verify/rewards.h"

using namespace r1;

namespace {

// The answer inside the <answer> tags.
std::string tagged_answer(const std::string& completion) {
  auto a = verify::extract_answer(completion);
  return a ? *a : std::string();
}

// Checks every "da+db[+1]=s PARTIAL" step of a worked completion; returns the last PARTIAL.
std::string check_worked_steps(const ZeroProblem& p, const std::string& completion) {
  const std::string sa = std::to_string(p.a), sb = std::to_string(p.b);
  const size_t open = completion.find("<think>"), close = completion.find("</think>");
  EXPECT_NE(open, std::string::npos);
  EXPECT_NE(close, std::string::npos);
  const std::string think = completion.substr(open + 7, close - open - 7);
  // Steps "da+db[+1]=s PARTIAL", separated by ", " (parsed by hand: std::regex draws GCC 12
  // false-positive warnings in the sanitizer build).
  size_t col = 0;
  int carry = 0;
  std::string partial;
  std::stringstream steps(think);
  for (std::string piece; std::getline(steps, piece, ','); ++col) {
    int da = -1, db = -1, s = -1;
    char rest[32] = {0};
    const bool with_carry = std::sscanf(piece.c_str(), " %1d+%1d+1=%d %31s", &da, &db, &s, rest) == 4;
    const int c = with_carry ? 1 : 0;
    if (!with_carry && std::sscanf(piece.c_str(), " %1d+%1d=%d %31s", &da, &db, &s, rest) != 4) {
      ADD_FAILURE() << "not a step: '" << piece << "' in " << completion;
      return partial;
    }
    // The column's digits are the operands' digits, the carry is the previous column's.
    EXPECT_EQ(da, col < sa.size() ? sa[sa.size() - 1 - col] - '0' : 0) << completion;
    EXPECT_EQ(db, col < sb.size() ? sb[sb.size() - 1 - col] - '0' : 0) << completion;
    EXPECT_EQ(c, carry) << completion;
    EXPECT_EQ(s, da + db + c) << completion;  // the step is arithmetically true
    // The partial result is the previous one with this column's digit (or whole sum) in front.
    const std::string want =
        (col + 1 == std::max(sa.size(), sb.size()) ? std::to_string(s) : std::to_string(s % 10));
    EXPECT_EQ(std::string(rest), want + partial) << completion;
    partial = rest;
    carry = s / 10;
  }
  EXPECT_EQ(col, std::max(sa.size(), sb.size())) << completion;
  return partial;
}

}  // namespace

TEST(ZeroTask, ProblemsAreDeterministic) {
  ZeroTaskConfig cfg;
  auto a = zero_problems(cfg, false, 200), b = zero_problems(cfg, false, 200);
  ASSERT_EQ(a.size(), 200u);
  for (size_t i = 0; i < a.size(); i++) {
    EXPECT_EQ(a[i].question, b[i].question);
    EXPECT_EQ(a[i].answer, b[i].answer);
  }
  auto c1 = zero_corpus(cfg, 300), c2 = zero_corpus(cfg, 300);
  for (size_t i = 0; i < c1.size(); i++) EXPECT_EQ(c1[i].text, c2[i].text);
  EXPECT_EQ(builtin_zero_corpus(50, 7), builtin_zero_corpus(50, 7));
  EXPECT_NE(builtin_zero_corpus(50, 7), builtin_zero_corpus(50, 8));
}

TEST(ZeroTask, ProblemsHaveTheConfiguredDigitsAndAreDistinct) {
  for (int digits : {2, 3, 4}) {
    ZeroTaskConfig cfg;
    cfg.digits = digits;
    std::set<std::string> seen;
    for (const auto& p : zero_problems(cfg, true, 100)) {
      EXPECT_EQ(std::to_string(p.a).size(), static_cast<size_t>(digits));
      EXPECT_EQ(std::to_string(p.b).size(), static_cast<size_t>(digits));
      EXPECT_EQ(p.question, "Compute " + std::to_string(p.a) + "+" + std::to_string(p.b));
      EXPECT_TRUE(seen.insert(p.question).second);
    }
  }
}

TEST(ZeroTask, SplitIsDisjointAndTheCorpusHoldsOnlyTrainingProblems) {
  ZeroTaskConfig cfg;
  std::set<std::string> test;
  for (const auto& p : zero_problems(cfg, true, 512)) {
    EXPECT_TRUE(zero_is_test(p.a, p.b));
    test.insert(p.question);
  }
  // No held-out problem, nor its mirror b+a, is an RL prompt or in the pretraining corpus.
  auto mirror = [](const ZeroProblem& p) { return zero_problem(p.b, p.a).question; };
  for (const auto& p : zero_problems(cfg, false, 4096)) {
    EXPECT_FALSE(zero_is_test(p.a, p.b));
    EXPECT_EQ(test.count(p.question), 0u);
    EXPECT_EQ(test.count(mirror(p)), 0u) << p.question;
  }
  for (const auto& d : zero_corpus(cfg, 20000)) {
    EXPECT_FALSE(zero_is_test(d.problem.a, d.problem.b));
    EXPECT_EQ(test.count(d.problem.question), 0u);
    EXPECT_EQ(test.count(mirror(d.problem)), 0u) << d.problem.question;
  }
  for (int64_t a = 10; a < 100; a++)
    for (int64_t b = 10; b < 100; b++) ASSERT_EQ(zero_is_test(a, b), zero_is_test(b, a)) << a << "+" << b;
  // About one problem in kZeroTestModulus is held out.
  int held = 0;
  for (int64_t a = 1000; a < 1100; a++)
    for (int64_t b = 5000; b < 5100; b++) held += zero_is_test(a, b);
  EXPECT_NEAR(held / 10000.0, 1.0 / kZeroTestModulus, 0.015);
  EXPECT_THROW(zero_problems(ZeroTaskConfig{.digits = 1}, true, 100), Error);
  // What r1 zero asks of the default (2-digit) task: 4096 train and 512 test problems.
  EXPECT_EQ(zero_problems(cfg, false, 4096).size(), 4096u);
  EXPECT_EQ(zero_problems(cfg, true, 512).size(), 512u);
}

TEST(ZeroTask, WorkedSolutionsAreTrueAndReachTheGold) {
  for (int digits : {1, 2, 3, 4, 5}) {
    ZeroTaskConfig cfg;
    cfg.digits = digits;
    for (const auto& p : zero_problems(cfg, false, digits == 1 ? 30 : 300)) {
      ASSERT_TRUE(verify::math_parses(p.answer));
      EXPECT_EQ(p.answer, std::to_string(p.a + p.b));
      const std::string w = zero_worked_completion(p);
      EXPECT_EQ(w.rfind(" <think> ", 0), 0u) << w;
      EXPECT_EQ(check_worked_steps(p, w), p.answer);
      EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(w)), verify::Verdict::kCorrect) << w;
      EXPECT_EQ(verify::format_reward(w).value, 1.0) << w;
    }
  }
  // A carry into a new leading digit: 9999+1 needs five digits.
  const ZeroProblem p = zero_problem(9999, 1);
  EXPECT_EQ(zero_worked_completion(p),
            " <think> 9+1=10 0, 9+0+1=10 00, 9+0+1=10 000, 9+0+1=10 10000 </think> <answer> 10000 </answer>");
  EXPECT_EQ(check_worked_steps(p, zero_worked_completion(p)), "10000");
}

TEST(ZeroTask, DirectAnswersAreRightAndSloppyOnesHaveNoAnswerTags) {
  ZeroTaskConfig cfg;
  for (const auto& p : zero_problems(cfg, false, 300)) {
    const std::string d = zero_direct_completion(p), s = zero_sloppy_completion(p);
    EXPECT_EQ(d, " <think> I know this. </think> <answer> " + p.answer + " </answer>");
    EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(d)), verify::Verdict::kCorrect);
    EXPECT_EQ(verify::format_reward(d).value, 1.0);
    EXPECT_EQ(s.rfind(" <think> ", 0), 0u);
    EXPECT_EQ(s.find("<answer>"), std::string::npos);
    EXPECT_EQ(verify::format_reward(s).value, 0.0);
    EXPECT_FALSE(verify::extract_answer(s).has_value());
  }
}

TEST(ZeroTask, CorpusMixMatchesTheConfiguration) {
  ZeroTaskConfig cfg;
  cfg.full_template_frac = 0.4;
  cfg.template_mix = {.worked = 0.25, .sloppy = 0.1};
  cfg.excerpt_mix = {.worked = 0.6, .sloppy = 0.05};
  const int n = 10000;
  int full = 0, tw = 0, ts = 0, ew = 0, es = 0;
  for (const auto& d : zero_corpus(cfg, n)) {
    full += d.full_template;
    (d.full_template ? tw : ew) += d.kind == ZeroDocKind::kWorked;
    (d.full_template ? ts : es) += d.kind == ZeroDocKind::kSloppy;
  }
  // Four standard deviations of a binomial proportion.
  auto near = [](int k, int m, double f) { EXPECT_NEAR(k / double(m), f, 4.0 * std::sqrt(f * (1 - f) / m)); };
  near(full, n, 0.4);
  near(tw, full, 0.25);
  near(ts, full, 0.1);
  near(ew, n - full, 0.6);
  near(es, n - full, 0.05);
  cfg.excerpt_mix = {.worked = 0.8, .sloppy = 0.3};
  EXPECT_THROW(zero_corpus(cfg, 10), Error);
}

TEST(ZeroTask, DocumentsUseTheExactR1ZeroTemplate) {
  ZeroTaskConfig cfg;
  cfg.full_template_frac = 0.5;
  const std::string head =
      "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
      "The assistant first thinks about the reasoning process in the mind and then provides the user with "
      "the answer. The reasoning process and answer are enclosed within <think> </think> and "
      "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
      "<answer> answer here </answer>. User: ";
  int full = 0, excerpt = 0;
  for (const auto& d : zero_corpus(cfg, 400)) {
    const std::string prompt = zero_prompt(d.problem);
    EXPECT_EQ(prompt, head + d.problem.question + ". Assistant:");
    const std::string completion = d.kind == ZeroDocKind::kWorked   ? zero_worked_completion(d.problem)
                                   : d.kind == ZeroDocKind::kSloppy ? zero_sloppy_completion(d.problem)
                                                                    : zero_direct_completion(d.problem);
    if (d.full_template) {
      full++;
      EXPECT_EQ(d.text, prompt + completion);
    } else {
      // An excerpt: the same document from the template's "User: " on.
      excerpt++;
      EXPECT_EQ(d.text.rfind(std::string(zero_excerpt_marker()), 0), 0u);
      const std::string whole = prompt + completion;
      EXPECT_EQ(whole.substr(whole.size() - d.text.size()), d.text);
    }
  }
  EXPECT_GT(full, 100);
  EXPECT_GT(excerpt, 100);
}

TEST(ZeroTask, BuiltinCorpusLoadsThroughTheDataPath) {
  auto tok = make_byte_tokenizer();
  LmDataConfig c;
  c.path = "builtin:zero";
  c.builtin_docs = 20;
  c.seq_len = 1024;
  auto ex = load_lm_examples(c, *tok);
  ASSERT_EQ(ex.size(), 20u);
  const auto docs = builtin_zero_corpus(20, c.seed);
  EXPECT_EQ(ex[0].tokens.size(), docs[0].size() + 2);  // BOS + bytes + EOS
}
