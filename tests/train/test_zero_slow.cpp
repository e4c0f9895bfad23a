// The guard on r1 zero's headline (labelled slow: about two minutes on 2 cores): ten GRPO steps
// from the shipped base model raise the share of held-out responses that work the sum out, and
// with it pass@1, and the share that check their steps. The full run's figures (three seeds,
// controls) are in README.md and docs/zero_task_notes.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_r1.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

struct Shares {
  double worked = 0, checked = 0, correct = 0;
};

// Over an `r1 eval --out` file: the share of samples whose <think> holds an equation, of those
// that check a step ("4+9=13 check 4+9=13"), and of correct ones.
Shares shares(const std::string& path) {
  Shares s;
  int n = 0;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const std::string text = j["text"].get<std::string>();
    const std::string think = text.substr(0, text.find("</think>"));
    s.worked += think.find('=') != std::string::npos;
    s.checked += think.find(" check ") != std::string::npos;
    s.correct += j["verdict"] == "correct";
    n++;
  }
  EXPECT_GT(n, 0) << path;
  if (n) s.worked /= n, s.checked /= n, s.correct /= n;
  return s;
}

Shares eval(const std::string& model, const std::string& data, const std::string& out) {
  const auto r = r1::testing::run_r1(
      {"eval",   "--model", model, "--data",        data,  "--prompt-field", "question", "--template",
       "r1zero", "--k",     "4",   "--temperature", "0.6", "--top-p",        "0.95",     "--max-new-tokens",
       "200",    "--limit", "80",  "--out",         out},
      600);
  EXPECT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  return shares(out);
}

}  // namespace

TEST(SlowZero, TenStepsFromTheShippedBaseRaiseTheWorkedShare) {
  const std::string base = std::string(R1_SOURCE_DIR) + "/models/zero-base";
  ASSERT_TRUE(fs::exists(base + "/model.safetensors")) << "the shipped base model is part of the repository";
  const std::string dir = r1::testing::scratch_dir() + "/zero";
  const auto r = r1::testing::run_r1({"zero", "--dir", dir, "--set", "grpo.steps=10", "--set", "eval.every=0",
                                      "--set", "eval.at_start=false", "--set", "eval.at_end=false"},
                                     1800);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  const std::string test = dir + "/data/test.jsonl";
  const Shares before = eval(base, test, dir + "/base_eval.jsonl");
  const Shares after = eval(dir + "/grpo/model", test, dir + "/grpo_eval.jsonl");
  std::printf("worked share %.3f -> %.3f, checked %.3f -> %.3f, pass@1 %.3f -> %.3f\n", before.worked,
              after.worked, before.checked, after.checked, before.correct, after.correct);
  EXPECT_LT(before.worked, 0.4);
  EXPECT_GT(after.worked, before.worked + 0.2);
  EXPECT_LT(before.checked, 0.05);
  EXPECT_GT(after.checked, before.checked + 0.15);
  EXPECT_GT(after.correct, before.correct + 0.1);
}
