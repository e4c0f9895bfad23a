// Prompts against the model's context (issue 12, item 4), through the r1 binary with a tiny
// model whose context (max_position_embeddings) is 64 tokens and whose byte tokenizer makes a
// prompt of n characters n + 1 tokens: a prompt that fills the context is refused naming it and
// both lengths (generate, eval, chat); one that leaves fewer than --max-new-tokens positions has
// its samples capped at the context, with one warning line; --truncate-prompt keeps a prompt's
// BOS and last tokens so that every sample has its whole budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::describe;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;
using r1::testing::RunResult;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> v;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

// The "r1: error:" lines of stderr (chat also notes replies cut at their limit there).
std::string error_lines(const std::string& err) {
  std::string out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("r1: error:")) out += line + "\n";
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

// n characters: "abcd...", cycling through the alphabet.
std::string chars(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) s += static_cast<char>('a' + i % 26);
  return s;
}

class PromptLength : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = r1::testing::scratch_dir();
    model_ = r1::testing::save_tiny_byte_model(dir_ + "/model", 64);
  }
  std::vector<std::string> generate(const std::vector<std::string>& more) const {
    std::vector<std::string> a = {"generate", "--model", model_};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::string dir_, model_;
};

TEST_F(PromptLength, GenerateRefusesAPromptThatFillsTheContext) {
  // 63 characters + BOS = 64 tokens: no position left.
  EXPECT_TRUE(IsOneLineError(
      run_r1(generate({"--prompt", chars(63)})),
      {"--prompt: the prompt is 64 tokens, the model's context (max_position_embeddings) is 64",
       "--truncate-prompt"}));
  const std::string file = r1::testing::write_file(
      dir_ + "/p.jsonl", "{\"prompt\": \"hi\"}\n\n{\"prompt\": \"" + chars(80) + "\"}\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1(generate({"--prompts", file})), {"--prompts " + file + ":3", "81 tokens"}));
  std::string ids = "256";
  for (int i = 0; i < 69; i++) ids += ",97";
  EXPECT_TRUE(
      IsOneLineError(run_r1(generate({"--prompt-ids", ids})), {"--prompt-ids", "70 tokens", "is 64"}));
  // 62 characters: one position is left, so each sample has one token.
  const RunResult r = run_r1(generate({"--prompt", chars(62), "-n", "3"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const auto& j : json_lines(r.out)) EXPECT_EQ(j["token_ids"].size(), 1u) << j.dump();
}

TEST_F(PromptLength, GenerateCapsSamplesAtTheContext) {
  // 11 characters = 12 tokens: 52 positions left of the 100 asked for.
  const RunResult r =
      run_r1(generate({"--prompt", chars(11), "-n", "6", "--max-new-tokens", "100", "--seed", "2"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(
      r.err.find("generate: warning: 1 of 1 prompts leave fewer than --max-new-tokens 100 positions in the "
                 "model's context of 64 tokens (the first: --prompt, 12 tokens); their samples stop at the "
                 "context with finish_reason \"length\"\n"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(count_of(r.err, "warning"), 1u) << r.err;
  int at_context = 0;
  for (const auto& j : json_lines(r.out)) {
    EXPECT_LE(j["token_ids"].size(), 52u);
    if (j["finish_reason"] == "length") {
      EXPECT_EQ(j["token_ids"].size(), 52u);
      at_context++;
    }
  }
  EXPECT_GT(at_context, 0);
  // The same samples as asking for the 52 tokens that fit, which gives no warning.
  const RunResult fit =
      run_r1(generate({"--prompt", chars(11), "-n", "6", "--max-new-tokens", "52", "--seed", "2"}));
  ASSERT_EQ(fit.exit_code, 0) << describe(fit);
  EXPECT_EQ(fit.err.find("warning"), std::string::npos) << fit.err;
  EXPECT_EQ(fit.out, r.out);
}

TEST_F(PromptLength, GenerateTruncatePromptKeepsBosAndTheLastTokens) {
  const std::string text = chars(100);
  const RunResult r = run_r1(
      generate({"--prompt", text, "--truncate-prompt", "--max-new-tokens", "10", "-n", "2", "--seed", "5"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("generate: warning: --truncate-prompt cut 1 of 1 prompts to their last 54 tokens (the "
                       "model's context of 64 minus --max-new-tokens 10)\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("54 prompt tokens"), std::string::npos) << r.err;
  // The same samples as the prompt BOS + its last 53 bytes, given as ids.
  std::string ids = "256";
  for (const char c : text.substr(text.size() - 53)) {
    ids += ',';
    ids += std::to_string(static_cast<int>(c));
  }
  const RunResult same =
      run_r1(generate({"--prompt-ids", ids, "--max-new-tokens", "10", "-n", "2", "--seed", "5"}));
  ASSERT_EQ(same.exit_code, 0) << describe(same);
  EXPECT_EQ(same.out, r.out);
  // A prompt that fits is left alone.
  const RunResult short_one =
      run_r1(generate({"--prompt", chars(5), "--truncate-prompt", "--max-new-tokens", "10"}));
  ASSERT_EQ(short_one.exit_code, 0) << describe(short_one);
  EXPECT_EQ(short_one.err.find("warning"), std::string::npos) << short_one.err;
  // No room for any prompt.
  EXPECT_TRUE(
      IsOneLineError(run_r1(generate({"--prompt", "a", "--truncate-prompt", "--max-new-tokens", "64"})),
                     {"--truncate-prompt", "--max-new-tokens 64", "context of 64"}));
}

TEST_F(PromptLength, EvalCapsByDefaultAndRefusesAProblemThatFillsTheContext) {
  std::string rows;
  for (int i = 0; i < 3; i++)
    rows += "{\"id\": \"q" + std::to_string(i) + "\", \"prompt\": \"" + std::to_string(i) +
            "+1?\", \"answer\": \"" + std::to_string(i + 1) + "\"}\n";
  const std::string data = r1::testing::write_file(dir_ + "/d.jsonl", rows);
  const std::string out = dir_ + "/o.jsonl";
  // The default --max-new-tokens 1024 on a 64-token context: capped, with one warning.
  const RunResult r =
      run_r1({"eval", "--model", model_, "--data", data, "--instruction", "", "--k", "2", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(
      r.err.find("eval: warning: 3 of 3 prompts leave fewer than --max-new-tokens 1024 positions in the "
                 "model's context of 64 tokens (the first: " +
                 data + ":1: problem q0, 5 tokens)"),
      std::string::npos)
      << r.err;
  const auto lines = json_lines(slurp(out));
  ASSERT_EQ(lines.size(), 6u);
  for (const auto& j : lines) {  // "0+1?" and BOS: 5 tokens, so 59 positions are left
    EXPECT_LE(j["num_tokens"].get<int>(), 59) << j.dump();
    if (j["finish_reason"] == "length") {
      EXPECT_EQ(j["num_tokens"].get<int>(), 59) << j.dump();
    }
  }

  // A problem that fills the context is named by file, line and id; nothing is written.
  const std::string long_data =
      r1::testing::write_file(dir_ + "/long.jsonl", rows + "\n{\"id\": \"big\", \"prompt\": \"" + chars(70) +
                                                        "\", \"answer\": \"1\"}\n");
  const std::string out2 = dir_ + "/o2.jsonl";
  EXPECT_TRUE(IsOneLineError(
      run_r1({"eval", "--model", model_, "--data", long_data, "--instruction", "", "--out", out2}),
      {long_data + ":5: problem big: the prompt is 71 tokens", "is 64", "--truncate-prompt"}));
  EXPECT_FALSE(fs::exists(out2));
  EXPECT_FALSE(fs::exists(out2 + ".partial"));
  // ... unless the user asks for it to be cut.
  const RunResult cut = run_r1({"eval", "--model", model_, "--data", long_data, "--instruction", "", "--k",
                                "1", "--max-new-tokens", "16", "--truncate-prompt", "--out", out2});
  ASSERT_EQ(cut.exit_code, 0) << describe(cut);
  EXPECT_NE(cut.err.find("eval: warning: --truncate-prompt cut 1 of 4 prompts to their last 48 tokens"),
            std::string::npos)
      << cut.err;
  EXPECT_EQ(json_lines(slurp(out2)).size(), 4u);
}

TEST_F(PromptLength, ChatRefusesATurnThatDoesNotFitAndGoesOn) {
  // Without a template each turn is its line: the second one is too long; the third is answered.
  const std::string in = r1::testing::write_file(dir_ + "/in.txt", "hi\n" + chars(70) + "\nhello\n");
  const RunResult r =
      run_r1({"chat", "--model", model_, "--template", "none", "--max-new-tokens", "4"}, 120, in);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(error_lines(r.err),
            "r1: error: turn 2: the prompt is 71 tokens, the model's context (max_position_embeddings) is "
            "64: no room "
            "to generate; the turn is dropped (send a shorter line, or start a new chat)\n");
  EXPECT_FALSE(r.out.empty());

  // With a chat template the conversation grows until a turn no longer fits: refused, not a crash.
  r1::testing::write_file(model_ + "/chat_template.jinja",
                          "{% for m in messages %}{{ m['content'] }}\n{% endfor %}");
  std::string lines;
  for (int i = 0; i < 6; i++) lines += "hello there, model\n";
  const std::string in2 = r1::testing::write_file(dir_ + "/in2.txt", lines);
  const RunResult g = run_r1({"chat", "--model", model_, "--max-new-tokens", "8", "--seed", "1"}, 120, in2);
  EXPECT_EQ(g.exit_code, 1) << describe(g);
  EXPECT_EQ(g.signal, 0);
  EXPECT_EQ(g.err.find("turn 1:"), std::string::npos) << g.err;
  EXPECT_GE(count_of(g.err, "r1: error: turn "), 1u) << g.err;
  EXPECT_EQ(count_of(g.err, "r1: error: turn "),
            count_of(g.err, "(the conversation with this line): the prompt is"))
      << g.err;
  EXPECT_EQ(count_of(g.err, "r1: error: turn "), count_of(g.err, "the turn is dropped")) << g.err;
}

}  // namespace
