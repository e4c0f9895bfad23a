// The generative judge (issue 16 part 4): the template, the verdict read from the judge's output,
// and whole judgements by models whose answers are known (table models that always write "yes" or
// "no"), alone and as a GRPO reward.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "eval/judge.h"
#include "io/file.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "tokenizer/byte_tokenizer.h"
#include "train/grpo_trainer.h"
#include "verify/rewards.h"

namespace {

// Two judges, a tiny byte-level policy and two problems, in a scratch directory.
struct JudgeSetup {
  std::string dir, yes, no, policy, data;
};
JudgeSetup judge_setup();

constexpr int kEos = r1::ByteTokenizer::kEos;

std::string yes_judge(const std::string& dir) {
  return r1::testing::save_table_model(dir + "/yes", {{':', 'y'}, {'y', 'e'}, {'e', 's'}, {'s', kEos}});
}
std::string no_judge(const std::string& dir) {
  return r1::testing::save_table_model(dir + "/no", {{':', 'N'}, {'N', 'o'}, {'o', '.'}, {'.', kEos}});
}

JudgeSetup judge_setup() {
  JudgeSetup f;
  f.dir = r1::testing::scratch_dir();
  f.yes = yes_judge(f.dir), f.no = no_judge(f.dir);
  f.policy = r1::testing::save_tiny_byte_model(f.dir + "/policy", 256, 7);
  f.data = r1::testing::write_file(
      f.dir + "/data.jsonl",
      "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\", \"answer\": \"2\"}\n");
  return f;
}

}  // namespace

TEST(Judge, TemplateFillsQuestionReferenceAndResponse) {
  EXPECT_EQ(r1::judge_prompt("Q={question} R={reference} A={response} {other}", "q", "r", "a"),
            "Q=q R=r A=a {other}");
  // A field's value is not expanded again.
  EXPECT_EQ(r1::judge_prompt("{response}|{question}", "{response}", "", "x"), "x|{response}");
  const std::string p = r1::judge_prompt(r1::kJudgeTemplate, "What is 2+2?", "4", "It is four.");
  for (const char* part : {"What is 2+2?", "Reference answer:\n4", "It is four.", "yes or no"})
    EXPECT_NE(p.find(part), std::string::npos) << part;
  r1::testing::expect_error([] { r1::judge_prompt("{question} {reference}", "q", "r", "a"); },
                            {"judge template", "{response}"});
}

TEST(Judge, VerdictIsTheFirstYesOrNoAfterThinking) {
  EXPECT_EQ(r1::judge_verdict("yes"), true);
  EXPECT_EQ(r1::judge_verdict("  Yes."), true);
  EXPECT_EQ(r1::judge_verdict("NO, it is 5"), false);
  EXPECT_EQ(r1::judge_verdict("The answer is wrong: no. (yes would be wrong)"), false);
  EXPECT_EQ(r1::judge_verdict("<think>yes? let me see... no</think> Yes"), true);
  EXPECT_EQ(r1::judge_verdict("<think>yes</think>"), std::nullopt);
  EXPECT_EQ(r1::judge_verdict("noted; yesterday"), std::nullopt);  // whole words only
  EXPECT_EQ(r1::judge_verdict(""), std::nullopt);
}

// Judges whose output is known: the verdicts, the outputs, one batch for many items; a template
// without {response} and a reward model as a judge are refused.
TEST(Judge, TableModelsGiveTheirVerdicts) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string yes = yes_judge(dir), no = no_judge(dir);
  ASSERT_FALSE(yes.empty());
  std::vector<r1::JudgeItem> items;
  for (int i = 0; i < 5; i++)
    items.push_back(r1::JudgeItem{fmt::format("{}?", i), fmt::format("r{}", i),
                                  std::string(static_cast<size_t>(i) * 40, 'x')});
  r1::JudgeConfig cy, cn;
  cy.path = yes, cn.path = no;
  r1::Judge jy(cy), jn(cn);
  for (const r1::JudgeResult& r : jy.judge(items)) {
    EXPECT_EQ(r.output, "yes");
    EXPECT_EQ(r.accept, true);
  }
  for (const r1::JudgeResult& r : jn.judge(items)) {
    EXPECT_EQ(r.output, "No.");
    EXPECT_EQ(r.accept, false);
  }
  // The engine the first call made judges the next batches alike (GRPO calls it every step).
  for (int round = 0; round < 2; round++) {
    const std::vector<r1::JudgeItem> some(items.begin() + round, items.end());
    const auto again = jy.judge(some);
    ASSERT_EQ(again.size(), some.size());
    for (const r1::JudgeResult& r : again) EXPECT_EQ(r.output, "yes");
  }
  EXPECT_TRUE(jy.prompt_text(items[1]).ends_with("\nAnswer:"));
  EXPECT_NE(jy.prompt_text(items[1]).find("Question:\n1?"), std::string::npos);
  const std::string bad = r1::testing::write_file(dir + "/bad.txt", "{question} {reference}");
  cy.templ_file = bad;
  r1::testing::expect_error([&] { r1::Judge j(cy); }, {"{response}"});
}

// As a GRPO reward: [reward.judges.NAME] adds weight x verdict to every rule-scored sample.
TEST(Judge, GrpoRewardIsTheWeightedVerdict) {
  const JudgeSetup f = judge_setup();
  const std::string &dir = f.dir, &yes = f.yes, &no = f.no, &policy = f.policy, &data = f.data;
  r1::Recipe r;
  for (const std::string& a :
       {"model.path=\"" + policy + "\"", "data.path=\"" + data + "\"", std::string("data.template=\"none\""),
        std::string("grpo.steps=2"), std::string("grpo.prompts_per_step=2"), std::string("grpo.group_size=2"),
        std::string("grpo.max_new_tokens=6"), std::string("grpo.beta=0"), "output.dir=\"" + dir + "/run\"",
        std::string("output.sample_every=1"), std::string("output.samples_per_step=2"),
        std::string("output.save_every=0"), std::string("reward.format_lenient=0.5"),
        "reward.judges.agree.path=\"" + yes + "\"", std::string("reward.judges.agree.weight=2.0"),
        "reward.judges.refuse.path=\"" + no + "\""})
    r.set(a);
  ASSERT_EQ(r1::run_grpo_training(r, {}), 0);
  int n = 0;
  const std::string text = r1::read_file(dir + "/run/samples.jsonl");
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\n', start);
    const nlohmann::json x = nlohmann::json::parse(text.substr(start, end - start));
    start = end + 1;
    EXPECT_EQ(x["rewards"]["agree"], 1.0);
    EXPECT_EQ(x["rewards"]["refuse"], 0.0);
    EXPECT_NEAR(x["reward"].get<double>(), 0.5 * x["rewards"]["format_lenient"].get<double>() + 2.0, 1e-6);
    n++;
  }
  EXPECT_EQ(n, 4);
  const std::string metrics = r1::read_file(dir + "/run/metrics.jsonl");
  EXPECT_NE(metrics.find("\"reward/agree\":1.0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"judge_no_verdict\":0"), std::string::npos);
}

// As an r1 sample filter: --judge keeps what the judge says yes to and counts the rest under
// "judge"; a judge that says no keeps nothing; --judge with --pass-rate is refused.
TEST(Judge, SampleFilterKeepsWhatTheJudgeAccepts) {
  const JudgeSetup f = judge_setup();
  const std::string &dir = f.dir, &yes = f.yes, &no = f.no, &policy = f.policy, &data = f.data;
  auto run = [&](const std::string& judge, const std::string& name) {
    const auto res = r1::testing::run_r1({"sample", "--model", policy, "--data", data, "--template", "none",
                                          "--k", "3", "--max-new-tokens", "4", "--reward", "format_lenient",
                                          "--out", dir + "/" + name + ".jsonl", "--summary-json",
                                          dir + "/" + name + ".json", "--judge", judge});
    EXPECT_EQ(res.exit_code, 0) << r1::testing::describe(res);
    return nlohmann::json::parse(r1::read_file(dir + "/" + name + ".json"));
  };
  const nlohmann::json y = run(yes, "yes"), n = run(no, "no");
  EXPECT_EQ(y["kept"], 6);
  EXPECT_EQ(y["rejected"]["judge"], 0);
  EXPECT_EQ(n["kept"], 0);
  EXPECT_EQ(n["rejected"]["judge"], 6);
  const auto bad = r1::testing::run_r1({"sample", "--model", policy, "--data", data, "--template", "none",
                                        "--out", dir + "/p.jsonl", "--pass-rate", "0:1", "--judge", yes});
  EXPECT_TRUE(r1::testing::IsOneLineError(bad, {"--judge", "--pass-rate"}));
}
