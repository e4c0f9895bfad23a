// A pretraining run killed with SIGKILL mid-run and resumed ends bit-identical to an
// uninterrupted run with the same seed: parameters, AdamW moments, and the logged losses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/file.h"
#include "io/safetensors.h"
#include "run_r1.h"
#include "test_util.h"

namespace {

std::vector<std::string> recipe_args(const std::string& dir) {
  return {"pretrain",
          "--set",
          "output.dir=" + dir,
          "--set",
          "train.steps=40",
          "--set",
          "output.save_every=4",
          "--set",
          "train.batch_tokens=1024",
          "--set",
          "train.lr=1e-2",
          "--set",
          "data.builtin_docs=500",
          "--set",
          "data.seq_len=64",
          "--set",
          "model.hidden_size=64",
          "--set",
          "model.intermediate_size=160",
          "--set",
          "model.num_layers=2",
          "--set",
          "model.num_heads=4",
          "--set",
          "model.num_kv_heads=2",
          "--set",
          "model.head_dim=16"};
}

std::vector<double> losses(const std::string& metrics) {
  std::vector<double> out;
  std::ifstream f(metrics);
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

size_t count_lines(const std::string& path) {
  std::ifstream f(path);
  return static_cast<size_t>(
      std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n'));
}

}  // namespace

TEST(Resume, SigkillThenResumeIsBitIdentical) {
  const std::string root = r1::testing::scratch_dir();
  const std::string a = root + "/uninterrupted", b = root + "/killed";

  ASSERT_EQ(r1::testing::wait_exit(r1::testing::spawn_r1(recipe_args(a))), 0);

  // The second run kills itself with SIGKILL right after step 10 (a test hook, no clock): past
  // its checkpoints, not finished.
  setenv("R1_TEST_KILL_AT_STEP", "10", 1);
  const pid_t pid = r1::testing::spawn_r1(recipe_args(b));
  unsetenv("R1_TEST_KILL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 128 + SIGKILL);
  EXPECT_EQ(count_lines(b + "/metrics.jsonl"), 10u);

  std::vector<std::string> resume = {"pretrain", "--resume", b};
  ASSERT_EQ(r1::testing::wait_exit(r1::testing::spawn_r1(resume)), 0);

  // Same losses at every step (the resumed run rewrote the lines after its checkpoint).
  EXPECT_EQ(losses(a + "/metrics.jsonl"), losses(b + "/metrics.jsonl"));
  // Bit-identical final state: parameters and both moments.
  r1::SafetensorsFile sa(a + "/state.safetensors"), sb(b + "/state.safetensors");
  ASSERT_EQ(sa.tensors().size(), sb.tensors().size());
  for (const auto& t : sa.tensors()) {
    const r1::TensorInfo* u = sb.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.nbytes, u->nbytes);
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name << " differs";
  }
  EXPECT_EQ(sa.metadata().at("step"), "40");
  EXPECT_EQ(r1::read_file(a + "/model/model.safetensors"), r1::read_file(b + "/model/model.safetensors"));
}

TEST(Resume, SigintSavesAndExitsWith130) {
  const std::string root = r1::testing::scratch_dir();
  const std::string dir = root + "/run";
  std::vector<std::string> args = recipe_args(dir);
  args.insert(args.end(), {"--set", "train.steps=100000"});  // would run for hours
  // The run sends itself SIGINT after step 3 (a test hook: the real handler, no clock).
  setenv("R1_TEST_SIGNAL_AT_STEP", "3:int", 1);
  const pid_t pid = r1::testing::spawn_r1(args);
  unsetenv("R1_TEST_SIGNAL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 130);
  EXPECT_EQ(count_lines(dir + "/metrics.jsonl"), 3u);
  // The state holds exactly the steps that were logged, and the model was exported.
  r1::SafetensorsFile st(dir + "/state.safetensors");
  EXPECT_EQ(std::stoul(st.metadata().at("step")), count_lines(dir + "/metrics.jsonl"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/model/model.safetensors"));
}
