// r1 generate end to end on stories260K: JSONL prompts with a template, n samples each, one JSON
// line per sample with the documented fields; reproducible for a seed; bad input refused with a
// one-line error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "run_r1.h"
#include "test_util.h"

namespace {

using r1::testing::describe;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;
using r1::testing::RunResult;

const std::string kModel = r1::testing::shared_path("models/stories260K/stories260K.gguf");

std::vector<nlohmann::json> lines_of(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(GenerateCli, PromptsFileSamplesAndFields) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const std::string dir = r1::testing::scratch_dir();
  const std::string prompts = r1::testing::write_file(
      dir + "/p.jsonl",
      "{\"q\": \"Lily went to the park\"}\n{\"q\": \"The cat\", \"other\": 1}\n\n{\"q\": \"Tom\"}\n");
  const std::vector<std::string> args = {
      "generate", "--model",       kModel, "--prompts", prompts, "--field",          "q",  "-n",
      "3",        "--temperature", "0.9",  "--top-p",   "0.95",  "--max-new-tokens", "30", "--stop",
      ".",        "--seed",        "5"};
  const RunResult r = run_r1(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("generate: 9 samples"), std::string::npos) << r.err;
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 9u);
  std::map<std::pair<int, int>, nlohmann::json> by_id;
  for (const auto& j : rows) {
    const std::vector<std::string> keys = {"prompt_index", "sample_index", "text",
                                           "token_ids",    "logprobs",     "finish_reason"};
    std::vector<std::string> got;
    for (auto it = j.begin(); it != j.end(); ++it) got.push_back(it.key());
    std::sort(got.begin(), got.end());
    std::vector<std::string> want = keys;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    EXPECT_EQ(j["token_ids"].size(), j["logprobs"].size());
    for (const auto& lp : j["logprobs"]) EXPECT_LE(lp.get<double>(), 0.0);
    const std::string reason = j["finish_reason"];
    if (reason == "stop") {
      EXPECT_NE(j["text"].get<std::string>().find('.'), std::string::npos) << j.dump();
    } else {
      EXPECT_EQ(reason, "length");
      EXPECT_EQ(j["token_ids"].size(), 30u);
    }
    by_id[{j["prompt_index"].get<int>(), j["sample_index"].get<int>()}] = j;
  }
  ASSERT_EQ(by_id.size(), 9u);
  EXPECT_EQ(by_id.begin()->first, std::make_pair(0, 0));
  EXPECT_EQ(by_id.rbegin()->first, std::make_pair(2, 2));
  // The same seed gives the same samples with a decode batch of 3 as with all 9 together.
  std::vector<std::string> serial = args;
  serial.insert(serial.end(), {"--max-seqs", "3"});
  const RunResult again = run_r1(serial);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  for (const auto& j : lines_of(again.out)) {
    const std::pair<int, int> id(j["prompt_index"].get<int>(), j["sample_index"].get<int>());
    const nlohmann::json& want = by_id[id];
    EXPECT_EQ(j["token_ids"], want["token_ids"]);
    EXPECT_EQ(j["text"], want["text"]);
    EXPECT_EQ(j["finish_reason"], want["finish_reason"]);
    // Log-probs may differ in the last bits: matrix products of other shapes round differently.
    for (size_t i = 0; i < j["logprobs"].size(); i++)
      EXPECT_NEAR(j["logprobs"][i].get<double>(), want["logprobs"][i].get<double>(), 1e-4);
  }
}

TEST(GenerateCli, TemplateWrapsThePrompt) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const RunResult r = run_r1({"generate", "--model", kModel, "--prompt", "2+2?", "--template", "r1zero",
                              "--force-think", "--greedy", "--max-new-tokens", "2"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("generate: 1 samples"), std::string::npos) << r.err;
  // The prompt tokens count: BOS + the R1-Zero paragraph (hundreds of tokens for this tiny vocabulary).
  const size_t at = r.err.find("samples, ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stoi(r.err.substr(at + 9)), 100) << r.err;
}

TEST(GenerateCli, BadInputIsOneLine) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const std::string dir = r1::testing::scratch_dir();
  const std::string bad =
      r1::testing::write_file(dir + "/bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompts", bad}),
                             {bad + ":2", "field 'prompt' must be a string"}));
  const std::string broken =
      r1::testing::write_file(dir + "/broken.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompts", broken}), {broken + ":2"}));
  const std::string empty = r1::testing::write_file(dir + "/empty.jsonl", "\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"generate", "--model", kModel, "--prompts", empty}), {empty, "no prompts"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompt", "a", "--template", "alpaca"}),
                             {"--template", "'alpaca'"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompt", "a", "--top-p", "1.5"}),
                             {"--top-p"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompt", "a", "--temperature", "-1"}),
                             {"--temperature"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompt", "a", "-n", "4",
                                     "--max-new-tokens", "100000", "--kv-budget-mb", "1"}),
                             {"KV-cache blocks", "raise the KV budget"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", kModel, "--prompt", "a", "--force-think"}),
                             {"--force-think needs a --template"}));
  EXPECT_TRUE(
      IsOneLineError(run_r1({"generate", "--model", kModel}), {"give --prompt, --prompts or --prompt-ids"}));
}

}  // namespace

namespace {

TEST(ChatCli, RepliesPerLineWithTheThinkingPartApart) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const std::string dir = r1::testing::scratch_dir();
  const std::string in = r1::testing::write_file(dir + "/in.txt", "2+2?\n\nWhat is 3+3?\n");
  const RunResult r = run_r1({"chat", "--model", kModel, "--template", "r1zero", "--force-think", "--greedy",
                              "--max-new-tokens", "12"},
                             120, in);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // Two replies (the blank line is skipped), each opened inside the forced <think> part, which
  // is closed before the reply ends.
  size_t replies = 0;
  for (size_t at = r.out.find("[thinking]\n"); at != std::string::npos;
       at = r.out.find("[thinking]\n", at + 1))
    replies++;
  EXPECT_EQ(replies, 2u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') >= 4, true) << r.out;
  EXPECT_NE(r.out.find("\n[answer]"), std::string::npos) << r.out;
  // A streamed reply equals r1 generate's text for the same prompt (greedy).
  const RunResult g = run_r1({"generate", "--model", kModel, "--prompt", "2+2?", "--template", "r1zero",
                              "--force-think", "--greedy", "--max-new-tokens", "12"});
  ASSERT_EQ(g.exit_code, 0) << describe(g);
  const auto j = nlohmann::json::parse(g.out);
  const std::string text = j["text"];
  EXPECT_EQ(r.out.substr(0, r.out.find("\n[answer]")),
            "[thinking]\n" + text.substr(0, text.find("</think>")));
}

// Ctrl-C during a reply stops that reply (what it said stays) and the chat goes on: the next reply
// is the one an undisturbed chat gives (the engine is usable after the stop). The hook stops the
// first reply after 3 streamed tokens as SIGINT would.
TEST(ChatCli, StoppingAReplyKeepsTheChatGoing) {
  R1_SKIP_UNLESS_SHARED(kModel);
  const std::string dir = r1::testing::scratch_dir();
  const std::string in = r1::testing::write_file(dir + "/in.txt", "2+2?\nWhat is 3+3?\n");
  const std::vector<std::string> args = {"chat",          "--model",          kModel,
                                         "--template",    "r1zero",           "--greedy",
                                         "--force-think", "--max-new-tokens", "12"};
  const RunResult whole = run_r1(args, 120, in);
  ASSERT_EQ(whole.exit_code, 0) << describe(whole);
  const RunResult cut = r1::testing::run_program(R1_BINARY, args, 120, in, {"R1_TEST_STOP_AFTER=3"});
  ASSERT_EQ(cut.exit_code, 0) << describe(cut);
  EXPECT_NE(cut.err.find("[stopped]\n"), std::string::npos) << cut.err;
  // The second reply (after the second "[thinking]") is the undisturbed chat's second reply.
  auto second = [](const std::string& out) {
    const size_t first = out.find("[thinking]\n");
    const size_t at = out.find("[thinking]\n", first + 1);
    return at == std::string::npos ? std::string("<none>") : out.substr(at);
  };
  EXPECT_EQ(second(cut.out), second(whole.out)) << cut.out << "\n---\n" << whole.out;
  EXPECT_LT(cut.out.size(), whole.out.size());  // the first reply was cut short
}

}  // namespace
