// End-to-end: `r1 template` prints the rendered prompt byte for byte (no newline added) and
// refuses bad input with one "r1: error:" line and exit status 1.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_util.h"
#include "tokenizer/chat_template.h"

namespace {

using r1::testing::scratch_dir;
using r1::testing::write_file;
using ojson = nlohmann::ordered_json;

struct CliRun {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs r1 with args (each single-quoted; the tests' paths have no quotes) and stdin from in.
CliRun run_r1(const std::string& dir, const std::string& args, const std::string& in = "/dev/null") {
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const std::string cmd =
      std::string(R1_BINARY) + " " + args + " <'" + in + "' >'" + out + "' 2>'" + err + "'";
  const int st = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

void expect_one_line_error(const CliRun& r, const std::string& part) {
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("r1: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

}  // namespace

TEST(ChatTemplateCli, PrintsThePrompt) {
  const std::string dir = scratch_dir();
  const std::string msgs = write_file(dir + "/m.json", R"([{"role": "user", "content": "2+2? 你好"}])");
  CliRun r = run_r1(dir, "template --tokenizer r1zero --messages '" + msgs + "' --force-think");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r1::ChatOptions force_think;
  force_think.force_think = true;
  EXPECT_EQ(r.out, r1::ChatTemplate::load("r1zero").render(ojson::parse(slurp(msgs)), force_think));
  EXPECT_TRUE(r.out.ends_with("User: 2+2? 你好. Assistant: <think>\n"));

  r = run_r1(dir, "template --tokenizer distill --messages - --add-generation-prompt", msgs);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜><｜User｜>2+2? 你好<｜Assistant｜><think>\n");

  const std::string qwen3 = r1::testing::shared_path("models/qwen3-tokenizer");
  R1_SKIP_UNLESS_SHARED(qwen3);
  r = run_r1(dir, "template --tokenizer " + qwen3 + " --messages '" + msgs +
                      "' --add-generation-prompt --set-var enable_thinking=false --set-var unused=plain");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>user\n2+2? 你好<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");

  // The object form carries tools; key order is kept for tojson.
  const std::string with_tools =
      write_file(dir + "/t.json", R"({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}]})");
  r = run_r1(dir, "template --tokenizer " + qwen3 + " --messages '" + with_tools + "'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(R"({"type": "function", "function": {"name": "f", "parameters": {"z": 1, "a": 2}}})"),
            std::string::npos)
      << r.out;
}

TEST(ChatTemplateCli, BadInput) {
  const std::string dir = scratch_dir();
  const std::string msgs = write_file(dir + "/m.json", R"([{"role": "user", "content": "q"}])");
  expect_one_line_error(run_r1(dir, "template --tokenizer r1zero --messages '" + dir + "/none.json'"),
                        "none.json");
  expect_one_line_error(
      run_r1(dir, "template --tokenizer r1zero --messages '" + write_file(dir + "/b.json", "[{") + "'"),
      "b.json: malformed JSON");
  expect_one_line_error(run_r1(dir, "template --tokenizer '" + dir + "/nope' --messages '" + msgs + "'"),
                        "no such file or directory");
  expect_one_line_error(
      run_r1(dir, "template --tokenizer r1zero --messages '" + msgs + "' --set-var novalue"),
      "--set-var: 'novalue' is not NAME=VALUE");
  expect_one_line_error(run_r1(dir, "template --tokenizer distill --messages '" + msgs + "' --force-think"),
                        "needs the generation prompt");
  expect_one_line_error(
      run_r1(dir, "template --tokenizer r1zero --messages '" + write_file(dir + "/o.json", "{}") + "'"),
      "\"messages\"");
  expect_one_line_error(run_r1(dir, "template --tokenizer r1zero --messages '" +
                                        write_file(dir + "/two.json",
                                                   "[{\"role\": \"user\", "
                                                   "\"content\": \"a\"}, {\"role\": "
                                                   "\"user\", \"content\": \"b\"}]") +
                                        "'"),
                        "exactly one user message");
  write_file(dir + "/tokenizer_config.json",
             R"({"chat_template": "{% for m in messages %}\n{{ m.content.x.y }}{% endfor %}"})");
  expect_one_line_error(run_r1(dir, "template --tokenizer '" + dir + "' --messages '" + msgs + "'"),
                        "tokenizer_config.json (chat_template):2: 'str object' has no attribute 'x'");
  expect_one_line_error(run_r1(dir, "template --messages '" + msgs + "'"), "--tokenizer is required");
}
