// The trainers' shared run directory (train/run_dir.h), through the r1 binary as a user meets it:
// settings out of range are refused before anything is written; output.overwrite replaces a
// finished run only once the new run is checked and starts writing; a second writer is refused
// while the first holds the directory, and the first still completes a correct run; --resume with
// changed settings is refused unless --allow-changes (then recorded); r1 zero checks both stages'
// settings before stage 1 and resumes an interrupted pretraining to the same base model.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/recipe.h"
#include "io/file.h"
#include "run_r1.h"
#include "test_util.h"
#include "train/run_dir.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;

// A pretraining run of a few seconds.
std::vector<std::string> pretrain_args(const std::string& dir, int steps = 6) {
  std::vector<std::string> args = {"pretrain", "--set", "output.dir=" + dir, "--set",
                                   "train.steps=" + std::to_string(steps)};
  for (const char* s :
       {"output.save_every=2", "train.batch_tokens=512", "train.lr=1e-2", "data.builtin_docs=200",
        "data.seq_len=64", "model.hidden_size=32", "model.intermediate_size=64", "model.num_layers=1",
        "model.num_heads=2", "model.num_kv_heads=1", "model.head_dim=16"})
    args.insert(args.end(), {"--set", s});
  return args;
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
  return args;
}

// Every file under dir with its bytes, so "unchanged" means byte-identical.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = r1::read_file(e.path().string());
  return out;
}

std::vector<nlohmann::json> rows(const std::string& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A GRPO invocation whose model and data need not exist: settings are checked first.
std::vector<std::string> grpo_args(const std::string& dir, std::initializer_list<std::string> sets) {
  std::vector<std::string> args = {"grpo",
                                   "--set",
                                   "model.path=" + dir + "/no-model",
                                   "--set",
                                   "data.path=" + dir + "/no-data.jsonl",
                                   "--set",
                                   "reward.math=1",
                                   "--set",
                                   "grpo.steps=2",
                                   "--set",
                                   "output.dir=" + dir + "/run"};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  return args;
}

}  // namespace

TEST(RunDirCli, NonsenseSettingsAreRefusedBeforeAnythingIsWritten) {
  const std::string root = r1::testing::scratch_dir();
  const std::string out = root + "/run";
  struct Case {
    std::string set, key, says;
  };
  for (const Case& c : std::vector<Case>{{"train.lr=-1e-3", "train.lr", "must be > 0"},
                                         {"train.lr=0", "train.lr", "must be > 0"},
                                         {"train.lr=nan", "train.lr", "finite"},
                                         {"train.beta1=1", "train.beta1", "in [0, 1)"},
                                         {"train.beta2=-0.5", "train.beta2", "in [0, 1)"},
                                         {"train.steps=-3", "train.steps", ">= 1"},
                                         {"train.grad_clip=nan", "train.grad_clip", "finite"},
                                         {"train.warmup_steps=-1", "train.warmup_steps", ">= 0"},
                                         {"model.num_layers=0", "model.num_layers", "in [1, 2147483647]"},
                                         {"train.schedule=linear", "train.schedule", "cosine, constant"}}) {
    const auto r = run_r1(with(pretrain_args(out), {"--set", c.set}));
    EXPECT_TRUE(IsOneLineError(r, {c.key, c.says})) << c.set;
    EXPECT_FALSE(fs::exists(out)) << c.set << ": the run directory was created";
  }
  for (const Case& c : std::vector<Case>{{"grpo.eps_low=nan", "grpo.eps_low", "finite"},
                                         {"grpo.eps_high=-0.2", "grpo.eps_high", ">= 0"},
                                         {"grpo.max_draws=0", "grpo.max_draws", "in [1,"},
                                         {"grpo.group_size=1", "grpo.group_size", "in [2,"},
                                         {"grpo.temperature=0", "grpo.temperature", "in (0, 100]"},
                                         {"grpo.top_p=1.5", "grpo.top_p", "in (0, 1]"},
                                         {"grpo.beta=-1", "grpo.beta", ">= 0"},
                                         {"reward.math=inf", "reward.math", "finite"},
                                         {"eval.k=0", "eval.k", "in [1, 1024]"},
                                         {"grpo.mini_batches=1000", "grpo.mini_batches", "at most"}}) {
    const auto r = run_r1(grpo_args(root, {c.set, "grpo.dynamic_sampling=true"}));
    EXPECT_TRUE(IsOneLineError(r, {c.key, c.says})) << c.set;
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
  // A length reward whose cache is not below its maximum.
  const auto len =
      run_r1(grpo_args(root, {"reward.length=1", "reward.max_tokens=100", "reward.cache_tokens=200"}));
  EXPECT_TRUE(IsOneLineError(len, {"reward.cache_tokens", "reward.max_tokens"}));
  EXPECT_FALSE(fs::exists(out));
}

TEST(RunDirCli, FailingOverwriteLeavesTheFinishedRunByteIdentical) {
  const std::string dir = r1::testing::scratch_dir() + "/run";
  ASSERT_EQ(run_r1(pretrain_args(dir)).exit_code, 0);
  ASSERT_TRUE(r1::RunDir::is_complete(dir));
  const auto before = snapshot(dir);
  ASSERT_TRUE(before.contains("model/model.safetensors"));
  // A typo'd key, a bad value, and a missing data file: each found before the old run is touched.
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--set", "output.overwrite=true", "--set", "train.lrr=1e-3"},
           {"--set", "output.overwrite=true", "--set", "train.beta2=1.5"},
           {"--set", "output.overwrite=true", "--set", "data.path=" + dir + "-missing.jsonl"}}) {
    std::vector<std::string> args = pretrain_args(dir);
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_r1(args);
    EXPECT_EQ(r.exit_code, 1) << r1::testing::describe(r);
    EXPECT_TRUE(snapshot(dir) == before) << extra.back() << ": the finished run changed";
  }
  // Without overwrite the finished run is refused, and named.
  EXPECT_TRUE(IsOneLineError(run_r1(with(pretrain_args(dir), {"--set", "output.overwrite=false"})),
                             {dir, "already holds a run", "output.overwrite"}));
  // With a valid recipe, overwrite replaces it.
  const auto ok = run_r1(with(pretrain_args(dir, 4), {"--set", "output.overwrite=true"}));
  ASSERT_EQ(ok.exit_code, 0) << r1::testing::describe(ok);
  EXPECT_EQ(rows(dir + "/metrics.jsonl").size(), 4u);
}

TEST(RunDirCli, ASecondWriterIsRefusedNamingTheHolder) {
  const std::string root = r1::testing::scratch_dir();
  // In this process: a run directory held by this test's pid.
  {
    r1::Recipe rec;
    rec.set("output.dir=" + root + "/held");
    r1::RunDir held(rec, {});
    held.begin(rec, 0);
    const auto r = run_r1(pretrain_args(root + "/held"));
    EXPECT_TRUE(IsOneLineError(r, {root + "/held", "pid " + std::to_string(getpid()), "another r1 process"}));
  }
  // The lock goes with its holder: the same directory is free again.
  EXPECT_EQ(run_r1(pretrain_args(root + "/held")).exit_code, 0);

  // Two real processes: the first is stopped once it holds the directory (its pid is in the lock
  // file), the second is refused, and the first, continued, ends with exactly the run an
  // undisturbed process makes.
  const std::string a = root + "/a", ref = root + "/ref";
  // (spawn_r1, like the writer below: the same environment, so the same thread count and bits)
  ASSERT_EQ(r1::testing::wait_exit(r1::testing::spawn_r1(pretrain_args(ref))), 0);
  const pid_t first = r1::testing::spawn_r1(pretrain_args(a));
  const std::string lock = a + "/.lock";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);  // a safety net only
  bool held = false;
  while (!held && std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(lock);
    std::string pid;
    held = std::getline(in, pid) && pid == std::to_string(first);
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(held) << "the first writer never took the lock";
  ASSERT_EQ(kill(first, SIGSTOP), 0);
  const auto second = run_r1(pretrain_args(a));
  EXPECT_TRUE(IsOneLineError(second, {a, "pid " + std::to_string(first)}));
  ASSERT_EQ(kill(first, SIGCONT), 0);
  EXPECT_EQ(r1::testing::wait_exit(first), 0);
  EXPECT_TRUE(r1::RunDir::is_complete(a));
  EXPECT_TRUE(r1::read_file(a + "/state.safetensors") == r1::read_file(ref + "/state.safetensors"))
      << "the first writer's run differs from an undisturbed one";
}

TEST(RunDirCli, ResumeWithChangedSettingsIsRefusedUnlessAllowed) {
  const std::string dir = r1::testing::scratch_dir() + "/run";
  ASSERT_EQ(run_r1(pretrain_args(dir, 4)).exit_code, 0);
  const auto before = snapshot(dir);
  const auto refused =
      run_r1({"pretrain", "--resume", dir, "--set", "train.lr=2e-2", "--set", "train.steps=6"});
  EXPECT_TRUE(IsOneLineError(refused, {"train.lr: 0.01 -> 0.02", "train.steps: 4 -> 6", "--allow-changes"}));
  EXPECT_TRUE(snapshot(dir) == before) << "the finished run changed";
  // The same settings resume without complaint (a finished run: nothing left to do).
  EXPECT_EQ(run_r1({"pretrain", "--resume", dir}).exit_code, 0);

  const auto allowed = run_r1({"pretrain", "--resume", dir, "--allow-changes", "--set", "train.steps=6"});
  ASSERT_EQ(allowed.exit_code, 0) << r1::testing::describe(allowed);
  const auto m = rows(dir + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 7u);  // steps 1-4, the changes, steps 5-6
  EXPECT_EQ(m[4]["step"], 4);
  EXPECT_EQ(m[4]["resume_changes"], nlohmann::json::array({"train.steps: 4 -> 6"}));
  EXPECT_EQ(m[6]["step"], 6);
}

TEST(ZeroCli, EverySettingIsCheckedBeforeStageOne) {
  const std::string dir = r1::testing::scratch_dir() + "/zero";
  for (const auto& extra : std::vector<std::vector<std::string>>{{"--set", "grpo.stepz=3"},
                                                                 {"--set", "grpo.temperature=nan"},
                                                                 {"--set", "eval.k=0"},
                                                                 {"--pretrain-set", "train.lr=-1"},
                                                                 {"--pretrain-set", "model.num_layerz=2"}}) {
    std::vector<std::string> args = {"zero", "--dir", dir, "--from-scratch"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_r1(args);
    EXPECT_TRUE(IsOneLineError(r, {extra.back().substr(0, extra.back().find('='))})) << extra.back();
    EXPECT_FALSE(fs::exists(dir)) << extra.back() << ": r1 zero started before checking its settings";
  }
}

// The toy r1 zero of tests/train/test_zero_run.cpp, with a pretraining of 8 steps.
std::vector<std::string> zero_args(const std::string& dir) {
  std::vector<std::string> args = {"zero", "--dir", dir, "--from-scratch"};
  for (const char* s :
       {"train.steps=8", "output.save_every=3", "data.builtin_docs=40", "train.batch_tokens=2048",
        "model.num_layers=1", "model.hidden_size=32", "model.intermediate_size=64", "model.num_heads=2",
        "model.num_kv_heads=1", "model.head_dim=16"})
    args.insert(args.end(), {"--pretrain-set", s});
  for (const char* s : {"grpo.steps=1", "grpo.prompts_per_step=2", "grpo.group_size=2",
                        "grpo.max_new_tokens=12", "eval.limit=2", "eval.k=2", "eval.every=0"})
    args.insert(args.end(), {"--set", s});
  return args;
}

TEST(ZeroCli, InterruptedPretrainingIsResumedNeverUsed) {
  const std::string root = r1::testing::scratch_dir();
  const std::string whole = root + "/whole", cut = root + "/cut";
  ASSERT_EQ(run_r1(zero_args(whole), 600).exit_code, 0);

  // Interrupted at pretraining step 5 (a test hook, as SIGINT would): state saved, exit 130.
  ASSERT_EQ(setenv("R1_TEST_INTERRUPT_AT_STEP", "5", 1), 0);
  const auto interrupted = run_r1(zero_args(cut), 600);
  unsetenv("R1_TEST_INTERRUPT_AT_STEP");
  ASSERT_EQ(interrupted.exit_code, 130) << r1::testing::describe(interrupted);
  EXPECT_FALSE(r1::RunDir::is_complete(cut + "/base"));
  EXPECT_FALSE(fs::exists(cut + "/grpo"));

  // Without --resume the half-trained base is not used: r1 zero says what to do.
  const auto refused = run_r1(zero_args(cut), 600);
  EXPECT_TRUE(IsOneLineError(refused, {cut + "/base", "unfinished pretraining", "--resume"}));
  EXPECT_FALSE(fs::exists(cut + "/grpo"));

  std::vector<std::string> resume = zero_args(cut);
  resume.push_back("--resume");
  const auto resumed = run_r1(resume, 600);
  ASSERT_EQ(resumed.exit_code, 0) << r1::testing::describe(resumed);
  EXPECT_NE(resumed.err.find("resuming the pretraining"), std::string::npos) << resumed.err;
  EXPECT_TRUE(r1::RunDir::is_complete(cut + "/base"));
  EXPECT_EQ(r1::read_file(cut + "/base/model/model.safetensors"),
            r1::read_file(whole + "/base/model/model.safetensors"));
  EXPECT_EQ(r1::read_file(cut + "/base/state.safetensors"), r1::read_file(whole + "/base/state.safetensors"));
  EXPECT_TRUE(r1::RunDir::is_complete(cut + "/grpo"));
}
