// r1 score end to end: one pair from the options, JSON lines on stdin, the output fields, an
// external grader, bad input refused with a one-line error, and an interrupted run.
#include <gtest/gtest.h>
#include <signal.h>

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

std::vector<nlohmann::json> lines_of(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(ScoreCli, OnePairFromOptions) {
  RunResult r = run_r1({"score", "--reward", "math", "--gold", "\\frac{1}{2}", "--completion",
                        "<think>half</think> <answer>0.5</answer>"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["reward"], 1.0);
  EXPECT_EQ(rows[0]["extracted"], "0.5");
  EXPECT_EQ(rows[0]["verdict"], "correct");
  EXPECT_EQ(rows[0]["math"], 1.0);

  r = run_r1({"score", "--reward", "math:1,format:0.5", "--gold", "2", "--completion", "no answer here"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["reward"], 0.0);
  EXPECT_TRUE(rows[0]["extracted"].is_null());
  EXPECT_EQ(rows[0]["verdict"], "wrong");
  EXPECT_EQ(rows[0]["format"], 0.0);

  r = run_r1(
      {"score", "--reward", "math", "--gold", "12", "--completion", "it is 12", "--extract-last-number"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(lines_of(r.out).at(0)["verdict"], "correct");
}

TEST(ScoreCli, JsonLinesOnStdin) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string in = r1::testing::write_file(
      dir + "/in.jsonl",
      "{\"gold\": \"4\", \"completion\": \"<think>2+2</think> <answer>4</answer>\", \"num_tokens\": 95}\n"
      "\n"
      "{\"gold\": \"4\", \"completion\": \"<answer>5</answer>\", \"prompt\": \"q\"}\n"
      "{\"gold\": \"\\\\frac{1}{\", \"completion\": \"\\\\boxed{1}\", \"length\": 10}\n");
  const RunResult r = run_r1({"score", "--reward", "math,format:0.5,length", "--max-tokens", "100",
                              "--cache-tokens", "10", "--explain"},
                             60, in);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["verdict"], "correct");
  EXPECT_EQ(rows[0]["format"], 1.0);
  EXPECT_DOUBLE_EQ(rows[0]["length"].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(rows[0]["reward"].get<double>(), 1.0 + 0.5 - 0.5);
  EXPECT_TRUE(rows[0]["reasons"].contains("math"));
  EXPECT_EQ(rows[1]["verdict"], "wrong");
  EXPECT_EQ(rows[1]["extracted"], "5");
  EXPECT_EQ(rows[2]["verdict"], "unverifiable");
  EXPECT_EQ(rows[2]["reward"], 0.0);
}

TEST(ScoreCli, CountdownGoldObjectAndLanguage) {
  const std::string dir = r1::testing::scratch_dir();
  const std::string in = r1::testing::write_file(
      dir + "/in.jsonl",
      "{\"gold\": {\"numbers\": [3, 5, 7], \"target\": 22}, \"completion\": \"<answer>3*5+7</answer>\"}\n"
      "{\"gold\": \"numbers: 3 5 7; target: 22\", \"completion\": \"<answer>3*5*7</answer>\"}\n");
  RunResult r = run_r1({"score", "--reward", "countdown"}, 60, in);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["countdown"], 1.0);
  EXPECT_EQ(rows[0]["verdict"], "correct");
  EXPECT_EQ(rows[1]["countdown"], 0.0);

  r = run_r1(
      {"score", "--reward", "language", "--language", "zh", "--completion", "<think>你好 hello</think>"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0]["language"].get<double>(), 2.0 / 3.0);
  EXPECT_FALSE(rows[0].contains("verdict"));
}

TEST(ScoreCli, ExternalGrader) {
  const std::string dir = r1::testing::scratch_dir();
  r1::testing::write_file(dir + "/g.py", R"(import sys, json
for line in sys.stdin:
    j = json.loads(line)
    print(json.dumps({"reward": 0.25 if j["metadata"] == {"hard": True} else 1}), flush=True)
)");
  std::string input;
  for (int i = 0; i < 600; ++i)
    input += "{\"completion\": \"c" + std::to_string(i) +
             "\", \"metadata\": " + (i % 2 ? "{\"hard\": true}" : "null") + "}\n";
  const std::string in = r1::testing::write_file(dir + "/in.jsonl", input);
  const RunResult r =
      run_r1({"score", "--reward", "external:2", "--reward-cmd", "python3 " + dir + "/g.py"}, 60, in);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 600u);
  EXPECT_EQ(rows[0]["reward"], 2.0);
  EXPECT_EQ(rows[1]["reward"], 0.5);
  EXPECT_EQ(rows[599]["external"], 0.25);
}

TEST(ScoreCli, BadInputIsOneLineError) {
  const std::string dir = r1::testing::scratch_dir();
  EXPECT_TRUE(IsOneLineError(run_r1({"score", "--reward", "math,maths", "--gold", "1", "--completion", "1"}),
                             {"unknown reward 'maths'", "known: math"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"score", "--reward", "math", "--completion", "1"}), {"--gold"}));
  EXPECT_TRUE(
      IsOneLineError(run_r1({"score", "--reward", "external", "--completion", "1"}), {"--reward-cmd"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"score", "--reward", "length", "--completion", "1"}), {"--max-tokens"}));
  const std::string bad_json =
      r1::testing::write_file(dir + "/a.jsonl", "{\"gold\": \"1\", \"completion\": \"1\"}\n{\"gold\": 1,\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, bad_json), {"stdin line 2", "malformed JSON"}));
  const std::string no_completion = r1::testing::write_file(dir + "/b.jsonl", "\n\n{\"gold\": \"1\"}\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"score"}, 60, no_completion), {"stdin line 3", "'completion' is missing"}));
  const std::string no_gold = r1::testing::write_file(dir + "/c.jsonl", "{\"completion\": \"1\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, no_gold), {"stdin line 1", "'gold' is missing"}));
  const std::string not_object = r1::testing::write_file(dir + "/d.jsonl", "[1, 2]\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, not_object), {"stdin line 1", "JSON object"}));
  const std::string bad_tokens = r1::testing::write_file(
      dir + "/e.jsonl", "{\"gold\": \"1\", \"completion\": \"1\", \"num_tokens\": -3}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, bad_tokens), {"stdin line 1", "num_tokens"}));
  // A grader that dies: the error names the command and its status.
  const std::string one = r1::testing::write_file(dir + "/f.jsonl", "{\"completion\": \"1\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score", "--reward", "external", "--reward-cmd", "exit 7"}, 60, one),
                             {"external reward 'exit 7'", "exited with status 7"}));
}

}  // namespace

// Interrupted (SIGINT/SIGTERM, or the test hook at a chosen row): the rows read so far are scored,
// every line printed is a whole score, and the command exits 130 saying where it stopped.
TEST(ScoreCli, InterruptedKeepsWholeLines) {
  const std::string dir = r1::testing::scratch_dir();
  std::string rows;
  for (int i = 0; i < 6; i++)
    rows +=
        nlohmann::json{{"completion", "<answer>" + std::to_string(i) + "</answer>"}, {"gold", "3"}}.dump() +
        "\n";
  const std::string in = r1::testing::write_file(dir + "/rows.jsonl", rows);
  {
    const r1::testing::ScopedEnv stop("R1_TEST_STOP_AFTER", "2");
    const RunResult r = run_r1({"score", "--reward", "math", "--batch", "1"}, 120, in);
    EXPECT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_EQ(lines_of(r.out).size(), 2u);
    EXPECT_NE(r.err.find("score: interrupted after 2 rows (stdin line 2)"), std::string::npos) << r.err;
  }
  // The real signal: after 3 rows the command waits for it, so it cannot finish first.
  pid_t pid;
  {
    const r1::testing::ScopedEnv stop("R1_TEST_STOP_AFTER", "3:signal");
    pid =
        r1::testing::spawn_r1({"score", "--reward", "math", "--batch", "1"}, dir + "/out", dir + "/err", in);
  }
  ASSERT_GT(pid, 0);
  const bool seen = r1::testing::wait_for_lines(pid, dir + "/out", 3);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  const int rc = r1::testing::wait_exit(pid);
  ASSERT_TRUE(seen) << r1::testing::read_file(dir + "/err");
  EXPECT_EQ(rc, 130) << r1::testing::read_file(dir + "/err");
  const auto out = lines_of(r1::testing::read_file(dir + "/out"));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2]["reward"], 0.0);
  EXPECT_TRUE(IsOneLineError(run_r1({"score", "--reward", "math", "--batch", "0"}, 120, in), {"--batch"}));
}
