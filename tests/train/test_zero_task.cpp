#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "train/data.h"
#include "train/zero_task.h"
#include "verify/extract.h"
#include "verify/math.h"
#include "verify/reasoning.h"
#include "verify/rewards.h"

using namespace r1;

namespace {

// The answer inside the <answer> tags.
std::string tagged_answer(const std::string& completion) {
  auto a = verify::extract_answer(completion);
  return a ? *a : std::string();
}

struct Eq {
  int64_t a, b, c;
};

// One step of a worked completion: "a+b=c", or "a+b=c check a+b=d" with " wait" when d != c.
struct Step {
  Eq eq;
  std::optional<Eq> check;
  bool wait = false;
};

// A worked completion's <think> part: "TERMS: step, step, ..." (parsed by hand: std::regex draws
// GCC 12 false-positive warnings in the sanitizer build).
struct Worked {
  std::string restated;
  std::vector<Step> steps;
  bool checked = false;  // every step checked
};

Worked parse_worked(const std::string& completion) {
  Worked w;
  const size_t open = completion.find("<think> "), close = completion.find(" </think>");
  EXPECT_EQ(open, 1u) << completion;
  EXPECT_NE(close, std::string::npos) << completion;
  const std::string think = completion.substr(open + 8, close - open - 8);
  const size_t colon = think.find(": ");
  EXPECT_NE(colon, std::string::npos) << completion;
  if (colon == std::string::npos) return w;
  w.restated = think.substr(0, colon);
  std::stringstream steps(think.substr(colon + 2));
  for (std::string piece; std::getline(steps, piece, ',');) {
    long long a = -1, b = -1, c = -1, ca = -1, cb = -1, cc = -1;
    char tail[8] = {0};
    const int n = std::sscanf(piece.c_str(), " %lld+%lld=%lld check %lld+%lld=%lld%7s", &a, &b, &c, &ca, &cb,
                              &cc, tail);
    EXPECT_TRUE(n == 3 || n == 6 || (n == 7 && std::string(tail) == "wait")) << "'" << piece << "'";
    Step st{{a, b, c}, std::nullopt, n == 7};
    if (n >= 6) st.check = Eq{ca, cb, cc};
    w.steps.push_back(st);
  }
  w.checked = !w.steps.empty() &&
              std::all_of(w.steps.begin(), w.steps.end(), [](const Step& x) { return x.check.has_value(); });
  return w;
}

// The steps add `terms` in order, each from the previous step's value (its check's when checked);
// a check adds the same two numbers with no slip, and says "wait" when it differs. Returns the last
// value.
int64_t expect_steps_add(const Worked& w, const ZeroProblem& p, const std::string& text) {
  EXPECT_EQ("Compute " + w.restated, p.question) << text;
  EXPECT_EQ(w.steps.size() + 1, p.terms.size()) << text;
  int64_t acc = p.terms[0];
  for (size_t i = 0; i < w.steps.size() && i + 1 < p.terms.size(); i++) {
    const Step& st = w.steps[i];
    EXPECT_EQ(st.eq.a, acc) << text;
    EXPECT_EQ(st.eq.b, p.terms[i + 1]) << text;
    acc = st.eq.c;
    if (st.check) {
      EXPECT_EQ(st.check->a, st.eq.a) << text;
      EXPECT_EQ(st.check->b, st.eq.b) << text;
      EXPECT_EQ(st.check->a + st.check->b, st.check->c) << text;
      EXPECT_EQ(st.wait, st.check->c != st.eq.c) << text;
      acc = st.check->c;
    }
  }
  return acc;
}

std::vector<int64_t> sorted(std::vector<int64_t> t) {
  std::sort(t.begin(), t.end());
  return t;
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

TEST(ZeroTask, ProblemsCycleThroughTheLevelsAndAreDistinct) {
  ZeroTaskConfig cfg;
  for (bool test : {false, true}) {
    std::set<std::string> seen;
    const auto ps = zero_problems(cfg, test, test ? 160 : 2000);
    for (size_t i = 0; i < ps.size(); i++) {
      const ZeroProblem& p = ps[i];
      EXPECT_EQ(p.terms.size(), static_cast<size_t>(cfg.min_terms) + i % 4);
      std::string q = "Compute ";
      int64_t sum = 0;
      for (size_t j = 0; j < p.terms.size(); j++) {
        EXPECT_GE(p.terms[j], 1);
        EXPECT_LE(p.terms[j], 9);
        if (j) q += '+';
        q += std::to_string(p.terms[j]);
        sum += p.terms[j];
      }
      EXPECT_EQ(p.question, q);
      EXPECT_EQ(p.answer, std::to_string(sum));
      EXPECT_TRUE(seen.insert(p.question).second);
    }
  }
  // Asking a level for more problems than its split holds is an error, not an endless loop.
  EXPECT_THROW(zero_problems(cfg, true, 4 * 80), Error);
  EXPECT_THROW(zero_problems(ZeroTaskConfig{.min_terms = 1}, false, 10), Error);
  EXPECT_THROW(zero_problems(ZeroTaskConfig{.min_terms = 5, .max_terms = 4}, false, 10), Error);
}

// The split test of issue 15: no held-out problem, nor any rewriting of it (any reordering of its
// terms), is an RL prompt or in the pretraining corpus.
TEST(ZeroTask, NoHeldOutProblemNorAnyReorderingIsTrainedOn) {
  ZeroTaskConfig cfg;
  std::set<std::vector<int64_t>> test;
  for (const auto& p : zero_problems(cfg, true, 160)) {
    EXPECT_TRUE(zero_is_test(p.terms));
    test.insert(sorted(p.terms));
  }
  for (const auto& p : zero_problems(cfg, false, 2000)) {
    EXPECT_FALSE(zero_is_test(p.terms)) << p.question;
    EXPECT_FALSE(test.contains(sorted(p.terms))) << p.question;
  }
  for (const auto& d : zero_corpus(cfg, 20000)) {
    EXPECT_FALSE(zero_is_test(d.problem.terms)) << d.problem.question;
    EXPECT_FALSE(test.contains(sorted(d.problem.terms))) << d.problem.question;
  }
  // The split is a function of the multiset: every permutation falls on the same side.
  int held = 0, n = 0;
  for (const auto& p : zero_problems(cfg, false, 400)) {
    std::vector<int64_t> t = sorted(p.terms);
    do ASSERT_FALSE(zero_is_test(t)) << p.question;
    while (std::next_permutation(t.begin(), t.end()));
  }
  for (const auto& p : zero_problems(cfg, true, 160)) {
    std::vector<int64_t> t = sorted(p.terms);
    do ASSERT_TRUE(zero_is_test(t)) << p.question;
    while (std::next_permutation(t.begin(), t.end()));
  }
  // About one problem in kZeroTestModulus is held out.
  for (int64_t a = 1; a <= 9; a++)
    for (int64_t b = 1; b <= 9; b++)
      for (int64_t c = 1; c <= 9; c++)
        for (int64_t d = 1; d <= 9; d++) held += zero_is_test(std::vector<int64_t>{a, b, c, d}), n++;
  EXPECT_NEAR(held / double(n), 1.0 / kZeroTestModulus, 0.03);
}

TEST(ZeroTask, WorkedSolutionsAreTrueAndReachTheGold) {
  ZeroTaskConfig cfg;
  for (const auto& p : zero_problems(cfg, false, 200)) {
    ASSERT_TRUE(verify::math_parses(p.answer));
    for (bool check : {false, true}) {
      const std::string w = zero_worked_completion(p, {}, check);
      const Worked parsed = parse_worked(w);
      EXPECT_EQ(std::to_string(expect_steps_add(parsed, p, w)), p.answer);
      for (const Step& st : parsed.steps) {
        EXPECT_EQ(st.eq.a + st.eq.b, st.eq.c) << w;  // every step is true
        EXPECT_EQ(st.check.has_value(), check) << w;
        EXPECT_FALSE(st.wait) << w;
      }
      EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(w)), verify::Verdict::kCorrect) << w;
      EXPECT_EQ(verify::format_reward(w).value, 1.0) << w;
      EXPECT_EQ(verify::reasoning_traits(w).check, check) << w;
      EXPECT_FALSE(verify::reasoning_traits(w).revisits_slip) << w;
    }
  }
  const ZeroProblem p = zero_problem({4, 9, 7, 8});
  EXPECT_EQ(zero_worked_completion(p),
            " <think> 4+9+7+8: 4+9=13, 13+7=20, 20+8=28 </think> <answer> 28 </answer>");
}

TEST(ZeroTask, ASlipCarriesThroughAndACheckCorrectsIt) {
  const ZeroProblem p = zero_problem({4, 9, 7, 8});
  const std::vector<int> slips = {0, 0, 1};
  const std::string slipped = zero_worked_completion(p, slips);
  EXPECT_EQ(slipped, " <think> 4+9+7+8: 4+9=13, 13+7=20, 20+8=29 </think> <answer> 29 </answer>");
  EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(slipped)), verify::Verdict::kWrong);
  const std::string early = zero_worked_completion(p, std::vector<int>{-1, 0, 0});
  EXPECT_EQ(early,
            " <think> 4+9+7+8: 4+9=12, 12+7=19, 19+8=27 </think> <answer> 27 </answer>");  // carried on
  const std::string checked = zero_worked_completion(p, slips, true);
  EXPECT_EQ(
      checked,
      " <think> 4+9+7+8: 4+9=13 check 4+9=13, 13+7=20 check 13+7=20, 20+8=29 check 20+8=28 wait </think> "
      "<answer> 28 </answer>");
  // A slip at the first step: corrected there, and the sum goes on from the checked value.
  EXPECT_EQ(
      zero_worked_completion(p, std::vector<int>{1, 0, 0}, true),
      " <think> 4+9+7+8: 4+9=14 check 4+9=13 wait, 13+7=20 check 13+7=20, 20+8=28 check 20+8=28 </think> "
      "<answer> 28 </answer>");
  EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(checked)), verify::Verdict::kCorrect);
  EXPECT_EQ(verify::format_reward(checked).value, 1.0);
  const verify::ReasoningTraits t = verify::reasoning_traits(checked);
  EXPECT_TRUE(t.reflection && t.check && t.revisits_slip);
}

TEST(ZeroTask, DirectAnswersHaveNoWorkingAndSloppyOnesNoTags) {
  ZeroTaskConfig cfg;
  for (const auto& p : zero_problems(cfg, false, 100)) {
    const std::string d = zero_direct_completion(p), w = zero_worked_completion(p);
    EXPECT_EQ(d, " <think> I know this. </think> <answer> " + p.answer + " </answer>");
    EXPECT_EQ(verify::verify_math(p.answer, tagged_answer(d)), verify::Verdict::kCorrect);
    EXPECT_EQ(verify::format_reward(d).value, 1.0);
    const std::string off = zero_direct_completion(p, -2);
    EXPECT_EQ(tagged_answer(off), std::to_string(std::stoll(p.answer) - 2));
    // A sloppy completion, direct or worked, is the same text with a bare answer.
    EXPECT_EQ(zero_untagged(d), " <think> I know this. </think> " + p.answer);
    const std::string sw = zero_untagged(w);
    EXPECT_EQ(sw, w.substr(0, w.find(" <answer> ")) + " " + p.answer);
    for (const std::string& s : {zero_untagged(d), sw}) {
      EXPECT_EQ(s.rfind(" <think> ", 0), 0u);
      EXPECT_EQ(s.find("<answer>"), std::string::npos);
      EXPECT_EQ(verify::format_reward(s).value, 0.0);
      EXPECT_FALSE(verify::extract_answer(s).has_value());
    }
  }
}

TEST(ZeroTask, CorpusMixMatchesTheConfiguration) {
  ZeroTaskConfig cfg;
  cfg.full_template_frac = 0.4;
  cfg.template_mix = {.worked = 0.25, .sloppy = 0.1, .check = 0.4};
  cfg.excerpt_mix = {.worked = 0.6, .sloppy = 0.05, .check = 0.1};
  const int n = 20000;
  int full = 0, tw = 0, ts = 0, ew = 0, es = 0, steps = 0, slipped_steps = 0;
  int worked_by[2][4] = {}, checked_by[2][4] = {}, direct_by[4] = {0}, wrong_by[4] = {0};
  int sloppy_by_kind[2] = {}, kinds[2] = {};
  for (const auto& d : zero_corpus(cfg, n)) {
    full += d.full_template;
    (d.full_template ? tw : ew) += d.kind == ZeroDocKind::kWorked;
    (d.full_template ? ts : es) += d.sloppy;
    sloppy_by_kind[d.kind == ZeroDocKind::kWorked] += d.sloppy;
    kinds[d.kind == ZeroDocKind::kWorked]++;
    const size_t level = d.problem.terms.size() - 3;
    ASSERT_LT(level, 4u);
    const std::string text = d.text.substr(d.text.rfind("Assistant:") + 10);
    // A sloppy document's answer has no tags (format 0); the tests below read the tagged form.
    EXPECT_EQ(verify::format_reward(text).value, d.sloppy ? 0.0 : 1.0) << text;
    const std::string completion = d.sloppy ? text.substr(0, text.rfind(' ')) + " <answer> " +
                                                  text.substr(text.rfind(' ') + 1) + " </answer>"
                                            : text;
    if (d.kind == ZeroDocKind::kWorked) {
      worked_by[d.full_template][level]++;
      checked_by[d.full_template][level] += d.checked;
      // Every step adds the right numbers; a false one is a slip, which a check corrects.
      const Worked w = parse_worked(completion);
      EXPECT_EQ(d.checked, w.checked) << completion;
      EXPECT_EQ(d.checked, completion.find(" check ") != std::string::npos) << completion;
      const int64_t last = expect_steps_add(w, d.problem, completion);
      int slips = 0;
      for (const Step& x : w.steps) slips += x.eq.a + x.eq.b != x.eq.c;
      steps += static_cast<int>(w.steps.size());
      slipped_steps += slips;
      EXPECT_EQ(d.slipped, slips > 0) << completion;
      EXPECT_EQ(tagged_answer(completion), std::to_string(last)) << completion;
      // A checked document always ends with the right answer; an unchecked one only without slips
      // (or with slips that cancel out).
      if (d.checked || !d.slipped) {
        EXPECT_EQ(tagged_answer(completion), d.problem.answer) << completion;
      }
    } else {
      direct_by[level]++;
      wrong_by[level] += d.answer_error != 0;
      EXPECT_LE(std::abs(d.answer_error), 3);
    }
  }
  // Four standard deviations of a binomial proportion.
  auto near = [](int k, int m, double f) { EXPECT_NEAR(k / double(m), f, 4.0 * std::sqrt(f * (1 - f) / m)); };
  near(full, n, 0.4);
  near(tw, full, 0.25);
  near(ts, full, 0.1);
  near(ew, n - full, 0.6);
  near(es, n - full, 0.05);
  // Sloppiness is independent of the kind of answer: the format alone does not tell a worked
  // answer from a direct one.
  const double sloppy_share = (0.4 * 0.1 + 0.6 * 0.05);
  EXPECT_NEAR(sloppy_by_kind[0] / double(kinds[0]), sloppy_by_kind[1] / double(kinds[1]), 0.02);
  near(sloppy_by_kind[0] + sloppy_by_kind[1], n, sloppy_share);
  near(slipped_steps, steps, cfg.slip);
  // Checks and wrong direct answers grow with the number of terms: level i has (i+1)/4 of the
  // hardest level's share.
  for (int i = 0; i < 4; i++) {
    near(checked_by[0][i], worked_by[0][i], cfg.excerpt_mix.check * (i + 1) / 4);
    near(checked_by[1][i], worked_by[1][i], cfg.template_mix.check * (i + 1) / 4);
    near(wrong_by[i], direct_by[i], cfg.direct_error * (i + 1) / 4);
  }
  cfg.excerpt_mix = {.worked = 0.8, .sloppy = 1.3};
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
    const size_t at = d.text.rfind("Assistant:");
    ASSERT_NE(at, std::string::npos);
    const std::string shown = d.text.substr(0, at + 10);
    EXPECT_EQ(d.text.substr(at + 10, 8), " <think>");
    if (d.full_template) {
      full++;
      EXPECT_EQ(shown, prompt);
    } else {
      // An excerpt: the same document from the template's "User: " on.
      excerpt++;
      EXPECT_EQ(shown.rfind(std::string(zero_excerpt_marker()), 0), 0u);
      EXPECT_TRUE(prompt.ends_with(shown)) << shown;
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
