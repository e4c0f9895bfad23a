// r1 eval keeps its work (issue 12, item 3): every output path is checked before any work; each
// problem's samples reach OUT.partial as they are scored; an interrupted run (the test hook, or a
// real SIGTERM) exits 130 keeping complete lines; --resume checks that the file is the same run's
// and ends with the same OUT and summary as an uninterrupted run. Also r1 generate interrupted,
// and the engine pieces this needs (the stop check, explicit prompt indices). A tiny model the
// test writes; no ../shared needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "rollout/engine.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "tiny_model.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::describe;
using r1::testing::IsOneLineError;
using r1::testing::read_file;
using r1::testing::run_r1;
using r1::testing::RunResult;
using r1::testing::ScopedEnv;
using r1::testing::wait_for_lines;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) v.push_back(line);
  return v;
}

class EvalHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = r1::testing::scratch_dir();
    model_ = r1::testing::save_tiny_byte_model(dir_ + "/model");
    std::string rows;
    for (int i = 0; i < 6; i++)
      rows += "{\"id\": \"q" + std::to_string(i) + "\", \"prompt\": \"What is " + std::to_string(i) +
              "+1?\", \"answer\": \"" + std::to_string(i + 1) + "\"}\n";
    data_ = r1::testing::write_file(dir_ + "/data.jsonl", rows);
  }

  std::vector<std::string> eval_args(const std::string& out, const std::string& summary = "") const {
    std::vector<std::string> a = {
        "eval", "--model",          model_, "--data", data_, "--instruction", "",      "--k",
        "3",    "--max-new-tokens", "20",   "--seed", "3",   "--last-number", "--out", out};
    if (!summary.empty()) a.insert(a.end(), {"--summary-json", summary});
    return a;
  }
  static std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  // An uninterrupted run's OUT and summary (without its wall time).
  void full_run(std::string& out, nlohmann::json& summary) {
    const RunResult r = run_r1(eval_args(dir_ + "/full.jsonl", dir_ + "/full.json"));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    out = read_file(dir_ + "/full.jsonl");
    ASSERT_EQ(lines_of(out).size(), 18u);
    summary = nlohmann::json::parse(read_file(dir_ + "/full.json"));
    summary.erase("seconds");
  }

  // Checks that OUT and the summary equal the full run's, and that the progress file is gone.
  void expect_same_as_full(const std::string& out, const std::string& summary, const std::string& full_out,
                           const nlohmann::json& full_summary) {
    EXPECT_EQ(read_file(out), full_out) << "OUT differs from the uninterrupted run's";
    nlohmann::json s = nlohmann::json::parse(read_file(summary));
    EXPECT_TRUE(s.contains("seconds"));
    s.erase("seconds");
    EXPECT_EQ(s, full_summary);
    EXPECT_FALSE(fs::exists(out + ".partial"));
  }

  // Every line of the progress file is complete JSON: the header, then records of whole problems.
  static size_t expect_complete_progress(const std::string& partial, size_t k) {
    const std::string text = read_file(partial);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    const auto lines = lines_of(text);
    EXPECT_GE(lines.size(), 1u);
    for (const auto& l : lines) EXPECT_TRUE(nlohmann::json::accept(l)) << l;
    EXPECT_EQ(nlohmann::json::parse(lines.at(0)).at("r1_eval_progress"), 1);
    EXPECT_EQ((lines.size() - 1) % k, 0u) << text;
    return (lines.size() - 1) / k;
  }

  std::string dir_, model_, data_;
};

TEST_F(EvalHardening, BadOutputsAreRefusedBeforeAnyWork) {
  const std::string missing = dir_ + "/no/such/x.jsonl";
  EXPECT_TRUE(IsOneLineError(run_r1(eval_args(missing)),
                             {"--out: " + missing + ": cannot write: No such file or directory"}));
  fs::create_directories(dir_ + "/adir");
  EXPECT_TRUE(
      IsOneLineError(run_r1(eval_args(dir_ + "/adir")), {"--out: " + dir_ + "/adir", "is a directory"}));
  // A bad summary path leaves an earlier OUT as it was.
  const std::string old = r1::testing::write_file(dir_ + "/old.jsonl", "an earlier run\n");
  EXPECT_TRUE(IsOneLineError(run_r1(eval_args(old, dir_ + "/no/such/s.json")),
                             {"--summary-json: " + dir_ + "/no/such/s.json", "No such file or directory"}));
  EXPECT_TRUE(IsOneLineError(run_r1(eval_args(old, dir_ + "/adir")), {"--summary-json", "is a directory"}));
  EXPECT_TRUE(IsOneLineError(run_r1(eval_args(old, old)), {"--summary-json", "also the --out file"}));
  EXPECT_EQ(read_file(old), "an earlier run\n");
  // Nothing was created: no progress file, no probe left behind.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"adir", "data.jsonl", "model", "old.jsonl"}));
}

TEST_F(EvalHardening, InterruptThenResumeIsByteIdentical) {
  std::string full_out;
  nlohmann::json full_summary;
  ASSERT_NO_FATAL_FAILURE(full_run(full_out, full_summary));
  const std::string out = dir_ + "/o.jsonl", summary = dir_ + "/o.json", partial = out + ".partial";
  {
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "2");
    const RunResult r = run_r1(eval_args(out, summary));
    ASSERT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_NE(r.err.find("eval: interrupted after 2 of 6 problems; results so far in " + partial +
                         "; continue with the same command and --resume\n"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(summary));
  EXPECT_EQ(expect_complete_progress(partial, 3), 2u);
  // Each record in the progress file is the very line the full run's OUT holds.
  const auto progress_lines = lines_of(read_file(partial));
  for (size_t i = 1; i < progress_lines.size(); i++)
    EXPECT_NE(full_out.find(progress_lines[i] + "\n"), std::string::npos) << progress_lines[i];
  {  // Interrupted again while resuming: 3 problems done in all.
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "1");
    const RunResult r = run_r1(plus(eval_args(out, summary), {"--resume"}));
    ASSERT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_NE(r.err.find("resuming: 2 of 6 problems done"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("interrupted after 3 of 6 problems"), std::string::npos) << r.err;
  }
  EXPECT_EQ(expect_complete_progress(partial, 3), 3u);
  const RunResult r = run_r1(plus(eval_args(out, summary), {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_same_as_full(out, summary, full_out, full_summary);
}

TEST_F(EvalHardening, ResumeChecksTheProgressFile) {
  std::string full_out;
  nlohmann::json full_summary;
  ASSERT_NO_FATAL_FAILURE(full_run(full_out, full_summary));
  const std::string out = dir_ + "/o.jsonl", summary = dir_ + "/o.json", partial = out + ".partial";
  EXPECT_TRUE(IsOneLineError(run_r1(plus(eval_args(out, summary), {"--resume"})),
                             {"--resume", partial, "nothing to resume"}));
  {
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "3");
    ASSERT_EQ(run_r1(eval_args(out, summary)).exit_code, 130);
  }
  const std::string saved = read_file(partial);
  // Other settings are named, and the file is left as it was.
  auto args = eval_args(out, summary);
  ASSERT_EQ(args[9], "--max-new-tokens");
  ASSERT_EQ(args[11], "--seed");
  args[10] = "9";
  args[12] = "4";
  EXPECT_TRUE(IsOneLineError(run_r1(plus(args, {"--resume"})),
                             {"--resume: " + partial, "other settings", "--seed 3 there, 4 now",
                              "--max-new-tokens 20 there, 9 now", "without --resume"}));
  EXPECT_EQ(read_file(partial), saved);
  // So is a data file whose contents changed (here, one gold answer).
  const std::string rows = read_file(data_);
  std::string changed = rows;
  changed.replace(changed.find("\"answer\": \"3\""), 13, "\"answer\": \"7\"");
  r1::testing::write_file(data_, changed);
  EXPECT_TRUE(IsOneLineError(run_r1(plus(eval_args(out, summary), {"--resume"})),
                             {"other settings", "the problems and their encoded prompts", "there"}));
  r1::testing::write_file(data_, rows);
  EXPECT_EQ(read_file(partial), saved);
  // A damaged line in the middle is named; nothing is guessed.
  auto lines = lines_of(saved);
  std::string damaged;
  for (size_t i = 0; i < lines.size(); i++) damaged += (i == 2 ? "{\"problem_index\": " : lines[i]) + "\n";
  r1::testing::write_file(partial, damaged);
  EXPECT_TRUE(
      IsOneLineError(run_r1(plus(eval_args(out, summary), {"--resume"})), {partial + ":3", "malformed"}));
  // A problem cut short by a kill (one of its records, then half a line) runs again.
  const auto full_lines = lines_of(full_out);
  std::string cut = saved;
  for (const auto& l : full_lines)
    if (cut.find(l) == std::string::npos) {
      cut += l + "\n" + l.substr(0, l.size() / 2);
      break;
    }
  r1::testing::write_file(partial, cut);
  const RunResult r = run_r1(plus(eval_args(out, summary), {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("resuming: 3 of 6 problems done"), std::string::npos) << r.err;
  expect_same_as_full(out, summary, full_out, full_summary);
  // Without --resume an old progress file is replaced, and says so.
  r1::testing::write_file(partial, saved);
  const RunResult fresh = run_r1(eval_args(out, summary));
  ASSERT_EQ(fresh.exit_code, 0) << describe(fresh);
  EXPECT_NE(fresh.err.find("eval: replaced " + partial), std::string::npos) << fresh.err;
  expect_same_as_full(out, summary, full_out, full_summary);
}

TEST_F(EvalHardening, RealSigtermKeepsCompleteProblems) {
  std::string full_out;
  nlohmann::json full_summary;
  ASSERT_NO_FATAL_FAILURE(full_run(full_out, full_summary));
  const std::string out = dir_ + "/o.jsonl", summary = dir_ + "/o.json", partial = out + ".partial";
  pid_t pid;
  {
    // After 2 problems the command waits for a signal, so it cannot finish before the test sends one.
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "2:signal");
    pid = r1::testing::spawn_r1(eval_args(out, summary), dir_ + "/stdout", dir_ + "/stderr");
  }
  ASSERT_GT(pid, 0);
  const bool seen = wait_for_lines(pid, partial, 1 + 2 * 3);  // the header and 2 problems' records
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  const int rc = r1::testing::wait_exit(pid);
  ASSERT_TRUE(seen) << "the progress file never got a problem; stderr: " << read_file(dir_ + "/stderr");
  EXPECT_EQ(rc, 130) << read_file(dir_ + "/stderr");
  EXPECT_NE(read_file(dir_ + "/stderr").find("eval: interrupted after 2 of 6 problems"), std::string::npos)
      << read_file(dir_ + "/stderr");
  EXPECT_EQ(expect_complete_progress(partial, 3), 2u);
  EXPECT_FALSE(fs::exists(out));
  const RunResult r = run_r1(plus(eval_args(out, summary), {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_same_as_full(out, summary, full_out, full_summary);
}

// r1 generate (one JSON line per sample on stdout) interrupted: the lines printed are complete.
TEST_F(EvalHardening, GenerateInterruptedKeepsCompleteLines) {
  const std::string prompts = r1::testing::write_file(
      dir_ + "/p.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"bb\"}\n{\"prompt\": \"c\"}\n");
  const std::vector<std::string> args = {"generate", "--model", model_, "--prompts",        prompts, "-n",
                                         "2",        "--seed",  "1",    "--max-new-tokens", "20"};
  {
    const ScopedEnv stop("R1_TEST_STOP_AFTER", "2");
    const RunResult r = run_r1(args);
    ASSERT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_NE(r.err.find("generate: interrupted after 2 of 6 samples"), std::string::npos) << r.err;
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    for (const auto& l : lines) EXPECT_TRUE(nlohmann::json::parse(l).contains("finish_reason")) << l;
  }
  const ScopedEnv stop("R1_TEST_STOP_AFTER", "3:signal");
  const pid_t pid = r1::testing::spawn_r1(args, dir_ + "/stdout", dir_ + "/stderr");
  ASSERT_GT(pid, 0);
  const bool seen = wait_for_lines(pid, dir_ + "/stdout", 3);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  const int rc = r1::testing::wait_exit(pid);
  ASSERT_TRUE(seen) << read_file(dir_ + "/stderr");
  EXPECT_EQ(rc, 130) << read_file(dir_ + "/stderr");
  const std::string out = read_file(dir_ + "/stdout");
  ASSERT_EQ(lines_of(out).size(), 3u) << out;
  EXPECT_EQ(out.back(), '\n');
  for (const auto& l : lines_of(out)) EXPECT_TRUE(nlohmann::json::accept(l)) << l;
}

// ---------------------------------------------------------------------------------------------
// The engine pieces: explicit prompt indices and the stop check.

std::vector<std::vector<int32_t>> some_prompts(int vocab) {
  std::vector<std::vector<int32_t>> p;
  for (int i = 0; i < 5; i++) p.push_back(r1::testing::random_tokens(3 + 4 * i, vocab, 100 + i));
  return p;
}

void expect_same(const r1::Completion& a, const r1::Completion& b) {
  EXPECT_EQ(a.prompt_index, b.prompt_index);
  EXPECT_EQ(a.sample_index, b.sample_index);
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); i++) EXPECT_NEAR(a.logprobs[i], b.logprobs[i], 1e-4);
}

TEST(EvalHardeningEngine, ExplicitIndicesGiveTheSamplesOfTheWholeSet) {
  r1::Model m = r1::testing::tiny_model(r1::Arch::Qwen2);
  const auto prompts = some_prompts(m.config().vocab_size);
  r1::GenerationConfig cfg;
  cfg.n = 2;
  cfg.max_new_tokens = 10;
  cfg.seed = 9;
  r1::Engine e(m, nullptr, cfg);
  const auto all = e.generate_all(prompts);
  // Prompts 3 and 1 alone, in that order, under their own indices.
  std::vector<r1::Completion> part;
  e.generate({prompts[3], prompts[1]}, std::vector<int64_t>{3, 1},
             [&](r1::Completion&& c) { part.push_back(std::move(c)); });
  ASSERT_EQ(part.size(), 4u);
  for (const auto& c : part) {
    EXPECT_TRUE(c.prompt_index == 3 || c.prompt_index == 1) << c.prompt_index;
    expect_same(c, all[static_cast<size_t>(c.prompt_index * 2 + c.sample_index)]);
  }
  // Under other indices the samples differ (the keys follow the index).
  std::vector<r1::Completion> moved;
  e.generate({prompts[3]}, std::vector<int64_t>{4},
             [&](r1::Completion&& c) { moved.push_back(std::move(c)); });
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_NE(moved[0].token_ids, all[6].token_ids);
}

TEST(EvalHardeningEngine, StopCheckStopsAtOnceAndThePoolIsReusable) {
  r1::Model m = r1::testing::tiny_model(r1::Arch::Llama);
  const auto prompts = some_prompts(m.config().vocab_size);
  r1::GenerationConfig cfg;
  cfg.n = 3;
  cfg.max_new_tokens = 12;
  cfg.seed = 4;
  cfg.kv_budget_bytes = 64 << 10;
  r1::Engine e(m, nullptr, cfg);
  int checks = 0, done = 0;
  e.set_stop_check([&] { return ++checks > 3; });
  EXPECT_THROW(e.generate(prompts, [&](r1::Completion&&) { done++; }), r1::GenerationStopped);
  EXPECT_EQ(checks, 4);  // stopped at the check that said so: no further step ran
  EXPECT_EQ(done, 0);    // 3 steps: no sample of 12 tokens finished
  e.set_stop_check(nullptr);
  const auto again = e.generate_all(prompts);
  const auto fresh = r1::Engine(m, nullptr, cfg).generate_all(prompts);
  ASSERT_EQ(again.size(), fresh.size());
  for (size_t i = 0; i < fresh.size(); i++) expect_same(again[i], fresh[i]);
}

}  // namespace
