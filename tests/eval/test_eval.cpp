// R1-style evaluation: the unbiased pass@k estimator against the binomial formula, majority
// voting by equivalence, the summary's arithmetic on hand-made results, dataset loading and its
// errors, run_eval against the engine's own samples, and `r1 eval` end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/eval.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using r1::EvalProblem;
using r1::ProblemResult;
using r1::SampleResult;
using r1::verify::Verdict;

// C(n, k) in long double, exact for these sizes.
long double choose(int n, int k) {
  if (k < 0 || k > n) return 0;
  long double r = 1;
  for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
  return r;
}

TEST(EvalPassAtK, EqualsTheBinomialFormula) {
  EXPECT_DOUBLE_EQ(r1::pass_at_k(4, 1, 1), 0.25);
  EXPECT_DOUBLE_EQ(r1::pass_at_k(4, 0, 3), 0.0);
  EXPECT_DOUBLE_EQ(r1::pass_at_k(4, 4, 1), 1.0);
  EXPECT_NEAR(r1::pass_at_k(4, 2, 2), 1.0 - 1.0 / 6.0, 1e-15);
  for (int n = 1; n <= 40; n++)
    for (int c = 0; c <= n; c++)
      for (int k = 1; k <= n; k++) {
        const double want = double(1.0L - choose(n - c, k) / choose(n, k));
        ASSERT_NEAR(r1::pass_at_k(n, c, k), want, 1e-12) << n << " " << c << " " << k;
      }
  // pass@1 is the fraction correct.
  for (int c = 0; c <= 64; c++) EXPECT_NEAR(r1::pass_at_k(64, c, 1), c / 64.0, 1e-14);
  EXPECT_THROW(r1::pass_at_k(4, 5, 1), r1::Error);
  EXPECT_THROW(r1::pass_at_k(4, 1, 5), r1::Error);
}

TEST(EvalMajorityVote, GroupsEquivalentAnswers) {
  auto v = r1::majority_vote({"3", std::string("1/2"), std::nullopt, "0.5", "\\frac{1}{2}", "3"});
  ASSERT_TRUE(v.answer.has_value());
  EXPECT_EQ(*v.answer, "1/2");
  EXPECT_EQ(v.votes, 3);
  // A tie goes to the group that appeared first.
  v = r1::majority_vote({"7", "2", "2", "7"});
  EXPECT_EQ(v.answer, std::optional<std::string>("7"));
  EXPECT_EQ(v.votes, 2);
  // Absent answers do not vote; unparseable ones group by their text.
  EXPECT_FALSE(r1::majority_vote({std::nullopt, std::nullopt}).answer.has_value());
  v = r1::majority_vote({"\\frac{", " \\frac{", "5"});
  EXPECT_EQ(v.answer, std::optional<std::string>("\\frac{"));
  EXPECT_EQ(v.votes, 2);
  // Distinct values stay apart (the verifier has no absolute tolerance).
  v = r1::majority_vote({"\\frac{1}{2004!}", "\\frac{1}{2006!}", "\\frac{1}{2006!}"});
  EXPECT_EQ(v.answer, std::optional<std::string>("\\frac{1}{2006!}"));
}

SampleResult sample(Verdict v, std::optional<std::string> extracted, int64_t tokens, const char* finish) {
  SampleResult s;
  s.verdict = v;
  s.extracted = std::move(extracted);
  s.num_tokens = tokens;
  s.finish_reason = finish;
  return s;
}

TEST(EvalSummary, ArithmeticOnHandMadeResults) {
  const Verdict C = Verdict::kCorrect, W = Verdict::kWrong;
  std::vector<ProblemResult> rs(3);
  // Problem 0: 3 of 4 correct, majority correct.
  rs[0].samples = {sample(C, "5", 10, "stop"), sample(C, "5", 20, "stop"), sample(W, "6", 30, "length"),
                   sample(C, "5", 40, "stop")};
  rs[0].correct = 3, rs[0].cons_correct = true;
  // Problem 1: 1 of 4 correct, no answer twice.
  rs[1].samples = {sample(W, std::nullopt, 100, "length"), sample(C, "2", 5, "stop"),
                   sample(W, std::nullopt, 100, "length"), sample(W, "3", 5, "stop")};
  rs[1].correct = 1, rs[1].cons_correct = false;
  // Problem 2: unverifiable gold: counted, not scored.
  rs[2].unverifiable = true;
  rs[2].samples = {
      sample(Verdict::kUnverifiable, "1", 1, "stop"), sample(Verdict::kUnverifiable, "1", 1, "stop"),
      sample(Verdict::kUnverifiable, "1", 1, "stop"), sample(Verdict::kUnverifiable, "1", 1, "stop")};
  const r1::EvalSummary s = r1::summarise(rs, 4);
  EXPECT_EQ(s.problems, 3);
  EXPECT_EQ(s.unverifiable, 1);
  EXPECT_DOUBLE_EQ(s.pass1, (3.0 / 4 + 1.0 / 4) / 2);
  EXPECT_DOUBLE_EQ(s.cons, 0.5);
  ASSERT_EQ(s.pass_at.size(), 4u);
  EXPECT_DOUBLE_EQ(s.pass_at[0], s.pass1);
  EXPECT_NEAR(s.pass_at[1], ((1 - 0.0) + (1 - 3.0 / 6)) / 2, 1e-12);  // C(1,2)=0; C(3,2)/C(4,2)=3/6
  EXPECT_DOUBLE_EQ(s.pass_at[3], 1.0);
  EXPECT_DOUBLE_EQ(s.mean_tokens, (100.0 + 210 + 4) / 12);
  EXPECT_EQ(s.max_tokens, 100);
  EXPECT_DOUBLE_EQ(s.answered, 10.0 / 12);
  EXPECT_DOUBLE_EQ(s.truncated, 3.0 / 12);
  const std::string table = r1::format_summary(s, "toy");
  EXPECT_NE(table.find("pass@1 (mean over k)          50.0%"), std::string::npos) << table;
  EXPECT_NE(table.find("unverifiable (skipped)"), std::string::npos) << table;
  // A problem with the wrong number of samples is refused.
  rs[0].samples.pop_back();
  EXPECT_THROW(r1::summarise(rs, 4), r1::Error);
}

TEST(EvalScore, ExtractsThenVerifies) {
  const r1::verify::ExtractOptions ex;
  auto r = r1::score_completion("\\frac{1}{2}", "so x = \\boxed{0.5}.", ex);
  EXPECT_EQ(r.verdict, Verdict::kCorrect);
  EXPECT_EQ(r.extracted, std::optional<std::string>("0.5"));
  r = r1::score_completion("4", "<think>2+2</think> <answer>4\\sqrt{2}</answer>", ex);
  EXPECT_EQ(r.verdict, Verdict::kWrong);
  r = r1::score_completion("4", "it is 4", ex);  // no marked answer: absent, wrong
  EXPECT_EQ(r.verdict, Verdict::kWrong);
  EXPECT_FALSE(r.extracted.has_value());
  r1::verify::ExtractOptions last = ex;
  last.last_number = true;
  EXPECT_EQ(r1::score_completion("4", "it is 4", last).verdict, Verdict::kCorrect);
  EXPECT_EQ(r1::score_completion("\\frac{", "\\boxed{1}", ex).verdict, Verdict::kUnverifiable);
}

TEST(EvalData, BuiltinsAndErrors) {
  const std::string dir = r1::testing::scratch_dir();
  const auto gsm = r1::builtin_dataset("gsm8k");
  ASSERT_TRUE(gsm.has_value());
  EXPECT_FALSE(r1::builtin_dataset("mmlu").has_value());
  const std::string f = r1::testing::write_file(dir + "/g.jsonl",
                                                "{\"question\": \"q1\", \"answer\": \"work\\n#### "
                                                "1,234\"}\n{\"question\": \"q2\", \"answer\": \"#### 7\"}\n");
  auto ps = r1::load_eval_problems(f, *gsm);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].prompt, "q1");
  EXPECT_EQ(ps[0].gold, "1,234");
  EXPECT_EQ(ps[1].id, "1");
  EXPECT_EQ(r1::load_eval_problems(f, *gsm, 1).size(), 1u);

  const r1::DatasetSpec plain{"", "problem", "answer", false};
  const std::string num =
      r1::testing::write_file(dir + "/n.jsonl", "{\"problem\": \"p\", \"answer\": 25, \"id\": 60}\n");
  ps = r1::load_eval_problems(num, plain);
  EXPECT_EQ(ps[0].gold, "25");
  EXPECT_EQ(ps[0].id, "60");

  const std::string nohash =
      r1::testing::write_file(dir + "/h.jsonl", "{\"question\": \"q\", \"answer\": \"7\"}\n");
  r1::testing::expect_error([&] { r1::load_eval_problems(nohash, *gsm); }, {nohash + ":1", "####"});
  const std::string missing = r1::testing::write_file(
      dir + "/m.jsonl", "{\"problem\": \"p\", \"answer\": \"1\"}\n{\"problem\": \"p\"}\n");
  r1::testing::expect_error([&] { r1::load_eval_problems(missing, plain); }, {missing + ":2", "'answer'"});
  const std::string empty = r1::testing::write_file(dir + "/e.jsonl", "\n");
  r1::testing::expect_error([&] { r1::load_eval_problems(empty, plain); }, {"no problems"});
}

const std::string kModel = r1::testing::shared_path("models/stories260K/stories260K.gguf");

// run_eval scores exactly the samples the engine draws: same texts as generate_all for the same
// seed, each verdict equal to extraction + verification of that text.
TEST(EvalRun, ScoresTheEnginesSamples) {
  R1_SKIP_UNLESS_SHARED(kModel);
  r1::Model model = r1::load_model(kModel);
  auto tok = r1::load_tokenizer(kModel);
  r1::GenerationConfig g;
  g.n = 3, g.max_new_tokens = 24, g.seed = 11;
  g.sampling.temperature = 0.8f;
  const std::vector<EvalProblem> problems = {{"a", "Lily had 3 apples", "3"}, {"b", "Tom saw 2 dogs", "2"}};
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : problems) {
    std::vector<int32_t> ids = {tok->bos_id()};
    for (const int32_t id : tok->encode(p.prompt)) ids.push_back(id);
    prompts.push_back(ids);
  }
  r1::verify::ExtractOptions ex;
  ex.last_number = true;
  r1::Engine engine(model, tok.get(), g);
  int calls = 0;
  const auto results = r1::run_eval(engine, problems, prompts, ex,
                                    [&](const EvalProblem&, int64_t, const SampleResult&) { calls++; });
  EXPECT_EQ(calls, 6);
  r1::Engine again(model, tok.get(), g);
  const auto all = again.generate_all(prompts);
  ASSERT_EQ(results.size(), 2u);
  for (size_t p = 0; p < 2; p++) {
    ASSERT_EQ(results[p].samples.size(), 3u);
    int correct = 0;
    for (size_t s = 0; s < 3; s++) {
      const SampleResult& r = results[p].samples[s];
      EXPECT_EQ(r.text, all[p * 3 + s].text);
      EXPECT_EQ(r.num_tokens, static_cast<int64_t>(all[p * 3 + s].token_ids.size()));
      const auto want = r1::score_completion(problems[p].gold, r.text, ex);
      EXPECT_EQ(r.verdict, want.verdict);
      EXPECT_EQ(r.extracted, want.extracted);
      correct += r.verdict == Verdict::kCorrect;
    }
    EXPECT_EQ(results[p].correct, correct);
  }
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> v;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(EvalCli, WritesSamplesAndSummary) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const std::string dir = r1::testing::scratch_dir();
  const std::string data =
      r1::testing::write_file(dir + "/d.jsonl",
                              "{\"q\": \"Lily had 3 apples\", \"a\": \"3\"}\n{\"q\": \"Tom\", \"a\": "
                              "\"\\\\frac{\"}\n{\"q\": \"x\", \"a\": \"1\"}\n");
  const std::string out = dir + "/s.jsonl", summary = dir + "/s.json";
  using r1::testing::run_r1;
  const auto r = run_r1({"eval",  "--model",        kModel, "--data", data, "--prompt-field",
                         "q",     "--answer-field", "a",    "--k",    "3",  "--max-new-tokens",
                         "16",    "--limit",        "2",    "--out",  out,  "--summary-json",
                         summary, "--last-number"});
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 6u);  // 2 problems (--limit) x 3 samples
  int correct = 0;
  for (const auto& j : lines) {
    for (const char* k : {"problem_index", "id", "sample_index", "gold", "extracted", "verdict",
                          "finish_reason", "num_tokens", "text"})
      EXPECT_TRUE(j.contains(k)) << k;
    if (j["problem_index"] == 1) {
      EXPECT_EQ(j["verdict"], "unverifiable");
    }
    correct += j["verdict"] == "correct";
  }
  std::ifstream sf(summary);
  const auto s = nlohmann::json::parse(sf);
  EXPECT_EQ(s["problems"], 2);
  EXPECT_EQ(s["unverifiable"], 1);
  EXPECT_EQ(s["k"], 3);
  EXPECT_DOUBLE_EQ(s["pass@1"].get<double>(), correct / 3.0);
  EXPECT_NE(r.out.find("unverifiable (skipped)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cons@3"), std::string::npos) << r.out;
}

TEST(EvalCli, BadInputIsOneLine) {
  R1_SKIP_UNLESS_SHARED(kModel);
  using r1::testing::IsOneLineError;
  using r1::testing::run_r1;
  const std::string dir = r1::testing::scratch_dir();
  EXPECT_TRUE(IsOneLineError(run_r1({"eval", "--model", kModel, "--data", "mmlu"}), {"'mmlu'", "neither"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"eval", "--model", kModel, "--data", "aime24", "--data-dir", dir}),
                             {"aime24/test.jsonl"}));
  const std::string bad =
      r1::testing::write_file(dir + "/b.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\"\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"eval", "--model", kModel, "--data", bad}), {bad + ":2"}));
  EXPECT_FALSE(std::filesystem::exists("eval_b.jsonl"));
}

}  // namespace
