// The GRPO trainer end to end, on a tiny random byte-level Llama: it learns what a reward pays
// for, logs every metric, evaluates, samples; dynamic sampling drops groups without signal; a run
// killed with SIGKILL and resumed ends bit-identical to an uninterrupted one; a non-finite loss
// skips its update and repeated ones stop the run with the checkpoint intact; bad data and bad
// settings are one-line errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/recipe.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/grpo_trainer.h"
#include "train/optim.h"
#include "train/train_state.h"

namespace {

namespace fs = std::filesystem;

// A tiny random Llama over the byte tokenizer, saved as a Hugging Face directory.
std::string make_model(const std::string& dir) {
  auto tok = r1::make_byte_tokenizer();
  r1::ModelConfig c;
  c.arch = r1::Arch::Llama;
  c.vocab_size = tok->vocab_size();
  c.hidden_size = 32, c.intermediate_size = 64, c.num_layers = 2, c.num_heads = 4, c.num_kv_heads = 2;
  c.head_dim = 8, c.tie_word_embeddings = true, c.max_position_embeddings = 512;
  c.bos_token_id = tok->bos_id();
  c.eos_token_ids = {tok->eos_id()};
  r1::Model m(c);
  m.init_random(5, 0.05f);
  const std::string path = dir + "/base";
  r1::save_model(m, path);
  tok->save(path);
  return path;
}

// The grader: reward = the share of the completion's characters that are lowercase letters,
// for prompts that contain "learn"; a constant 0.5 otherwise (no signal: dynamic sampling drops
// those groups).
constexpr const char* kGrader = R"(import sys, json
calls = 0
for line in sys.stdin:
    j = json.loads(line)
    c = j["completion"]
    if "learn" in j["prompt"]:
        r = sum(ch.islower() for ch in c) / max(1, len(c))
    else:
        r = 0.5
    print(json.dumps({"reward": r}), flush=True)
)";

struct Fixture {
  std::string dir, model, data, grader;
};

Fixture setup(int n_learn = 6, int n_flat = 0) {
  Fixture f;
  f.dir = r1::testing::scratch_dir();
  f.model = make_model(f.dir);
  std::string rows;
  for (int i = 0; i < n_learn; i++)
    rows += "{\"prompt\": \"learn " + std::to_string(i) + "\", \"answer\": \"1\"}\n";
  for (int i = 0; i < n_flat; i++)
    rows += "{\"prompt\": \"flat " + std::to_string(i) + "\", \"answer\": \"1\"}\n";
  f.data = r1::testing::write_file(f.dir + "/data.jsonl", rows);
  f.grader = r1::testing::write_file(f.dir + "/grader.py", kGrader);
  return f;
}

// A recipe as --set assignments (shared by the in-process and the CLI runs).
std::vector<std::string> recipe_sets(const Fixture& f, const std::string& out, int steps) {
  return {"model.path=" + f.model,
          "data.path=" + f.data,
          "data.template=none",
          "reward.external=1.0",
          "reward.external_cmd=python3 " + f.grader,
          "grpo.steps=" + std::to_string(steps),
          "grpo.prompts_per_step=3",
          "grpo.group_size=4",
          "grpo.max_new_tokens=8",
          "grpo.beta=0.01",
          "grpo.mu=2",
          "grpo.mini_batches=2",
          "train.lr=3e-2",
          "train.seed=3",
          "output.dir=" + out,
          "output.sample_every=2",
          "output.save_every=2"};
}

r1::Recipe recipe_of(const std::vector<std::string>& sets) {
  r1::Recipe r;
  for (const auto& s : sets) r.set(s);
  return r;
}

// The rows of a JSONL file. A run may be writing it: a line not yet complete is left out.
std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) rows.push_back(std::move(j));
  }
  return rows;
}

std::vector<nlohmann::json> step_rows(const std::string& metrics) {
  std::vector<nlohmann::json> rows;
  for (auto& j : read_jsonl(metrics))
    if (j.contains("reward_mean")) rows.push_back(j);
  return rows;
}

}  // namespace

TEST(GrpoTrainer, LearnsWhatTheRewardPaysForAndLogsEverything) {
  const Fixture f = setup();
  const std::string out = f.dir + "/run";
  auto sets = recipe_sets(f, out, 24);
  sets.insert(sets.end(), {"eval.data=" + f.data, "eval.every=12", "eval.k=2", "reward.math=0.0"});
  ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);

  const auto rows = step_rows(out + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 24u);
  for (const char* key : {"reward_mean",
                          "reward_std",
                          "reward/external",
                          "reward/math",
                          "accuracy",
                          "format_rate",
                          "response_length_mean",
                          "response_length_max",
                          "clip_fraction",
                          "kl",
                          "entropy",
                          "grad_norm",
                          "lr",
                          "zero_variance_groups",
                          "reflection_rate",
                          "check_rate",
                          "self_correction_rate",
                          "rollout_s",
                          "update_s",
                          "ref_s",
                          "reward_s",
                          "rollout_tokens_per_s",
                          "train_tokens_per_s",
                          "loss"})
    EXPECT_TRUE(rows.back().contains(key)) << key;
  for (size_t i = 0; i < rows.size(); i++) EXPECT_EQ(rows[i]["step"], i + 1);
  // mu = 2 passes over mini-batches: the second pass sees ratios away from 1.
  double clipped = 0, kl = 0;
  for (const auto& r : rows) clipped += r["clip_fraction"].get<double>(), kl += r["kl"].get<double>();
  EXPECT_GT(clipped, 0);
  EXPECT_GT(kl, 0);
  // The policy learns to write lowercase letters: mean reward of the last 4 steps vs the first 4.
  double first = 0, last = 0;
  for (int i = 0; i < 4; i++) first += rows[i]["reward_mean"].get<double>() / 4;
  for (size_t i = rows.size() - 4; i < rows.size(); i++) last += rows[i]["reward_mean"].get<double>() / 4;
  std::printf("reward of the first 4 steps %.3f, of the last 4 %.3f\n", first, last);
  EXPECT_GT(last, first + 0.25);

  // Evaluation at the start, at step 12 and at the end.
  std::vector<int64_t> eval_steps;
  for (const auto& j : read_jsonl(out + "/metrics.jsonl"))
    if (j.contains("eval/pass@1")) {
      eval_steps.push_back(j["step"].get<int64_t>());
      EXPECT_TRUE(j.contains("eval/cons@2") && j.contains("eval/response_length_mean"));
    }
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{0, 12, 24}));
  // Samples every 2 steps, the model exported, the recipe saved.
  const auto samples = read_jsonl(out + "/samples.jsonl");
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.front()["step"], 2);
  EXPECT_TRUE(samples.front().contains("completion") && samples.front().contains("reward"));
  EXPECT_TRUE(fs::exists(out + "/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/recipe.toml"));
}

TEST(GrpoTrainer, DynamicSamplingTrainsOnlyGroupsWithSignal) {
  const Fixture f = setup(3, 9);  // three of twelve prompts carry signal
  const std::string out = f.dir + "/run";
  auto sets = recipe_sets(f, out, 4);
  sets.insert(sets.end(), {"grpo.dynamic_sampling=true", "grpo.max_draws=4", "grpo.prompts_per_step=2"});
  ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
  const auto rows = step_rows(out + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  int64_t drawn = 0;
  for (const auto& r : rows) {
    EXPECT_LE(r["groups_trained"].get<int64_t>(), 2);
    EXPECT_GT(r["zero_variance_groups"].get<double>(), 0.0);
    drawn += r["prompts_drawn"].get<int64_t>();
  }
  EXPECT_GT(drawn, 4 * 2) << "flat groups were replaced by new draws";
  // Without dynamic sampling every drawn group is trained.
  auto plain = recipe_sets(f, f.dir + "/plain", 2);
  plain.push_back("grpo.prompts_per_step=2");
  ASSERT_EQ(r1::run_grpo_training(recipe_of(plain), {}), 0);
  for (const auto& r : step_rows(f.dir + "/plain/metrics.jsonl")) {
    EXPECT_EQ(r["groups_trained"], 2);
    EXPECT_EQ(r["prompts_drawn"], 2);
  }
}

namespace {

std::vector<std::string> grpo_args(const std::vector<std::string>& sets) {
  std::vector<std::string> args = {"grpo"};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  return args;
}

// Metrics without the wall-clock ones.
std::vector<nlohmann::json> timeless(std::vector<nlohmann::json> rows) {
  for (auto& r : rows)
    for (auto it = r.begin(); it != r.end();) {
      const std::string& k = it.key();
      if (k.ends_with("_s") || k.ends_with("per_s") || k == "eval/seconds" || k == "peak_rss_mb")
        it = r.erase(it);
      else
        ++it;
    }
  return rows;
}

}  // namespace

TEST(GrpoTrainer, SigkillThenResumeIsBitIdentical) {
  const Fixture f = setup();
  const std::string a = f.dir + "/uninterrupted", b = f.dir + "/killed";
  auto sets_a = recipe_sets(f, a, 10), sets_b = recipe_sets(f, b, 10);
  for (auto* s : {&sets_a, &sets_b}) s->insert(s->end(), {"eval.data=" + f.data, "eval.every=3", "eval.k=2"});
  ASSERT_EQ(r1::testing::wait_exit(r1::testing::spawn_r1(grpo_args(sets_a))), 0);

  // The run kills itself with SIGKILL right after step 5 (a test hook, no clock): the last
  // checkpoint is step 4's.
  setenv("R1_TEST_KILL_AT_STEP", "5", 1);
  const pid_t pid = r1::testing::spawn_r1(grpo_args(sets_b));
  unsetenv("R1_TEST_KILL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 128 + SIGKILL);
  EXPECT_EQ(step_rows(b + "/metrics.jsonl").size(), 5u);
  EXPECT_EQ(std::stoul(r1::SafetensorsFile(b + "/state.safetensors").metadata().at("step")), 4u);
  ASSERT_EQ(r1::testing::wait_exit(r1::testing::spawn_r1({"grpo", "--resume", b})), 0);

  EXPECT_EQ(timeless(read_jsonl(a + "/metrics.jsonl")), timeless(read_jsonl(b + "/metrics.jsonl")));
  EXPECT_EQ(read_jsonl(a + "/samples.jsonl"), read_jsonl(b + "/samples.jsonl"));
  r1::SafetensorsFile sa(a + "/state.safetensors"), sb(b + "/state.safetensors");
  ASSERT_EQ(sa.tensors().size(), sb.tensors().size());
  for (const auto& t : sa.tensors()) {
    const r1::TensorInfo* u = sb.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.nbytes, u->nbytes);
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name << " differs";
  }
  EXPECT_EQ(r1::read_file(a + "/model/model.safetensors"), r1::read_file(b + "/model/model.safetensors"));
}

TEST(GrpoTrainer, SigtermSavesAndExitsWith130) {
  const Fixture f = setup();
  const std::string dir = f.dir + "/run";
  auto sets = recipe_sets(f, dir, 100000);  // would run for hours
  sets.push_back("output.save_every=0");
  // The run sends itself SIGTERM after step 2 (a test hook: the real handler, no clock).
  setenv("R1_TEST_SIGNAL_AT_STEP", "2", 1);
  const pid_t pid = r1::testing::spawn_r1(grpo_args(sets));
  unsetenv("R1_TEST_SIGNAL_AT_STEP");
  EXPECT_EQ(r1::testing::wait_exit(pid), 130);
  EXPECT_EQ(step_rows(dir + "/metrics.jsonl").size(), 2u);
  // The state holds exactly the steps that were logged, and the model was exported.
  r1::SafetensorsFile st(dir + "/state.safetensors");
  EXPECT_EQ(std::stoul(st.metadata().at("step")), step_rows(dir + "/metrics.jsonl").size());
  EXPECT_TRUE(fs::exists(dir + "/model/model.safetensors"));
}

TEST(GrpoTrainer, NonFiniteLossSkipsTheUpdateAndRepeatsStopTheRun) {
  const Fixture f = setup();
  // The loss of every update of step 1 is NaN (a test hook): those updates are skipped with a
  // warning and the run goes on.
  r1::GrpoHooks once;
  once.loss = [](int64_t step, double loss) { return step == 1 ? std::nan("") : loss; };
  testing::internal::CaptureStderr();
  ASSERT_EQ(r1::run_grpo_training(recipe_of(recipe_sets(f, f.dir + "/once", 3)), {}, &once), 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("step 1: the loss (nan) or gradient norm"), std::string::npos) << err;
  EXPECT_NE(err.find("update skipped"), std::string::npos) << err;
  const auto rows = step_rows(f.dir + "/once/metrics.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["skipped_updates"], 4);  // mu 2 x 2 mini-batches
  EXPECT_EQ(rows[1]["skipped_updates"], 0);

  // Infinite from step 1 on: the third bad step in a row stops the run with a one-line error;
  // the checkpoint of step 2 is intact and holds the base model's weights (nothing was applied).
  r1::GrpoHooks always;
  always.loss = [](int64_t, double) { return std::numeric_limits<double>::infinity(); };
  auto sets = recipe_sets(f, f.dir + "/always", 10);
  sets.push_back("train.max_bad_steps=3");
  testing::internal::CaptureStderr();
  const std::string e = r1::testing::error_of([&] { r1::run_grpo_training(recipe_of(sets), {}, &always); });
  testing::internal::GetCapturedStderr();
  EXPECT_NE(e.find("not finite in 3 steps in a row"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_EQ(step_rows(f.dir + "/always/metrics.jsonl").size(), 2u);
  r1::Model m = r1::load_model(f.model), base = r1::load_model(f.model);
  r1::AdamW opt(r1::AdamWConfig{}, m.num_params());
  EXPECT_EQ(r1::load_train_state(f.dir + "/always/state.safetensors", m, opt).step, 2);
  EXPECT_EQ(std::memcmp(m.params(), base.params(), m.num_params() * sizeof(float)), 0);
}

TEST(GrpoTrainer, DivergedWeightsStopTheRunWithAnError) {
  const Fixture f = setup();
  // A learning rate of 1e12 blows the weights up in the first update: the next forward pass
  // overflows. The second mini-batch's loss is NaN (skipped), and the next rollout's logits are
  // not finite: a one-line error, not a crash inside the sampler's parallel loop.
  auto sets = recipe_sets(f, f.dir + "/run", 10);
  sets.insert(sets.end(), {"train.lr=1e12", "grpo.mu=1"});
  testing::internal::CaptureStderr();
  const std::string e = r1::testing::error_of([&] { r1::run_grpo_training(recipe_of(sets), {}); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(e.find("have the weights diverged?"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_NE(err.find("update skipped"), std::string::npos) << err;
}

TEST(GrpoTrainer, RewardOutsideFloatRangeIsAnError) {
  const Fixture f = setup();
  const std::string big = r1::testing::write_file(f.dir + "/big.py", R"(import sys
for line in sys.stdin:
    print('{"reward": 1e308}', flush=True)
)");
  auto sets = recipe_sets(f, f.dir + "/run", 2);
  sets.push_back("reward.external_cmd=python3 " + big);
  testing::internal::CaptureStderr();
  const std::string e = r1::testing::error_of([&] { r1::run_grpo_training(recipe_of(sets), {}); });
  testing::internal::GetCapturedStderr();
  EXPECT_NE(e.find("reward 1e+308"), std::string::npos) << e;
  EXPECT_NE(e.find("not a finite float"), std::string::npos) << e;
}

TEST(GrpoTrainer, BadInputIsAOneLineError) {
  const Fixture f = setup();
  const std::string bad_rows = r1::testing::write_file(
      f.dir + "/bad.jsonl",
      "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\", \"answer\": \"1\"}\n{oops\n");
  const std::string no_field = r1::testing::write_file(
      f.dir + "/nofield.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"q\": \"b\"}\n");
  struct Case {
    std::string set, want;
  };
  for (const Case& c : std::vector<Case>{
           {"data.path=" + bad_rows, "bad.jsonl:3"},
           {"data.path=" + no_field, "nofield.jsonl:2"},
           {"grpo.group_size=1", "key 'grpo.group_size' must be in [2, 65536], got 1"},
           {"grpo.loss_agg=mean", "key 'grpo.loss_agg' must be one of seq-mean, token-mean, constant"},
           {"grpo.max_new_tokens=600",
            "grpo.max_new_tokens 600), more than the model's context (max_position_embeddings) of 512"},
           {"grpo.stpes=3", "unknown key 'grpo.stpes'"},
           {"train.memory_budget_mb=1", "for one micro-batch of its longest sample"},
           {"grpo.clip_ratio_c=0.5", "key 'grpo.clip_ratio_c' must be 0 (off) or greater than 1"},
           {"grpo.loss=ppo", "key 'grpo.loss' must be one of grpo, gspo, cispo"},
           {"model.compute=fp16", "key 'model.compute' must be one of f32, bf16, got string \"fp16\""},
       }) {
    auto sets = recipe_sets(f, f.dir + "/bad", 2);
    sets.push_back(c.set);
    const r1::testing::RunResult r = r1::testing::run_r1(grpo_args(sets));
    EXPECT_TRUE(r1::testing::IsOneLineError(r, {c.want})) << c.set;
  }
  const auto r = r1::testing::run_r1({"grpo", "--resume", f.dir + "/nothing"});
  EXPECT_TRUE(r1::testing::IsOneLineError(r, {"nothing to resume"}));
}

// pi_old must come from pi_theta's numerics (R1-NOTES eq. (1): the first pass's ratio is 1).
// With bf16 rollouts at T = 0.7 the sampler's log-probs differ from the fp32 training forward's
// (gap > 1e-3, measured about 3e-2); recomputed by default, the first mini-batch's ratio is 1 to
// 1e-6 on every token (one mini-batch: every sample is in the first pass).
TEST(GrpoTrainer, FirstPassRatioIsOneWithBf16RolloutsAndTemperature) {
  const Fixture f = setup();
  auto run = [&](const std::string& name, std::vector<std::string> extra) {
    auto sets = recipe_sets(f, f.dir + "/" + name, 2);
    sets.insert(sets.end(), {"grpo.mini_batches=1", "grpo.mu=1", "grpo.temperature=0.7"});
    sets.insert(sets.end(), extra.begin(), extra.end());
    EXPECT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
    return step_rows(f.dir + "/" + name + "/metrics.jsonl");
  };
  for (const auto& row : run("bf16", {"model.compute=bf16"})) {
    EXPECT_LE(row["first_pass_max_abs_log_ratio"].get<double>(), 1e-6) << row;
    EXPECT_GT(row["sampler_logp_gap_max"].get<double>(), 1e-3) << row;
    EXPECT_EQ(row["clip_fraction"].get<double>(), 0.0) << "nothing is clipped on the first pass";
  }
  // bf16 training (fp32 rollouts): pi_old is recomputed by the bf16 training forward ("auto"),
  // so the first pass's ratio is 1 again, while the fp32 sampler's log-probs are off by the gap.
  for (const auto& row : run("bf16_train", {"train.compute=bf16"})) {
    EXPECT_LE(row["first_pass_max_abs_log_ratio"].get<double>(), 1e-6) << row;
    EXPECT_GT(row["sampler_logp_gap_max"].get<double>(), 1e-3) << row;
  }
  // The same rollouts with the sampler's log-probs as pi_old: the ratio is off by the gap.
  for (const auto& row : run("bf16_sampler", {"model.compute=bf16", "grpo.old_logp=sampler"}))
    EXPECT_GT(row["first_pass_max_abs_log_ratio"].get<double>(), 1e-3) << row;
  // fp32 rollouts at T = 0.7 with the sampler's log-probs: the objective's head is tempered as the
  // sampler is, so the ratio is 1 up to the cached forward's rounding (measured about 1.5e-6; an
  // untempered head would be off by about 0.3).
  for (const auto& row : run("f32", {"grpo.old_logp=sampler"})) {
    EXPECT_LE(row["first_pass_max_abs_log_ratio"].get<double>(), 1e-5) << row;
    EXPECT_FALSE(row.contains("sampler_logp_gap_max"));
  }
}

// Truncated importance sampling: each token weighs min(pi_old / pi_sampler, C); logged.
TEST(GrpoTrainer, TruncatedImportanceSamplingIsLogged) {
  const Fixture f = setup();
  auto sets = recipe_sets(f, f.dir + "/tis", 2);
  sets.insert(sets.end(), {"model.compute=bf16", "grpo.tis_cap=1.0"});
  ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
  for (const auto& row : step_rows(f.dir + "/tis/metrics.jsonl")) {
    EXPECT_LE(row["tis_weight_mean"].get<double>(), 1.0) << row;
    EXPECT_GT(row["tis_capped_fraction"].get<double>(), 0.0) << row;
    EXPECT_LT(row["tis_capped_fraction"].get<double>(), 1.0) << row;
  }
  // It needs pi_old from the training forward.
  auto bad = recipe_sets(f, f.dir + "/tis_bad", 2);
  bad.insert(bad.end(), {"grpo.old_logp=sampler", "grpo.tis_cap=2"});
  EXPECT_TRUE(
      r1::testing::IsOneLineError(r1::testing::run_r1(grpo_args(bad)), {"grpo.tis_cap", "recompute"}));
}

// A mini-batch whose outputs are all masked (every output truncated, with mask_truncated) takes no
// AdamW step: with weight decay a step on zero gradients would still move the weights.
TEST(GrpoTrainer, AllMaskedMiniBatchTakesNoStep) {
  const Fixture f = setup();
  auto sets = recipe_sets(f, f.dir + "/masked", 2);
  sets.insert(sets.end(),
              {"grpo.mask_truncated=true", "grpo.max_new_tokens=1", "train.weight_decay=0.5", "grpo.beta=0"});
  ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
  const auto rows = step_rows(f.dir + "/masked/metrics.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    ASSERT_EQ(row["truncated_rate"].get<double>(), 1.0) << "the premise: every output hit max_new_tokens";
    EXPECT_EQ(row["empty_updates"].get<int>(), 4) << row;  // mu 2 x 2 mini-batches
  }
  EXPECT_EQ(r1::read_file(f.model + "/model.safetensors"),
            r1::read_file(f.dir + "/masked/model/model.safetensors"));
}

// Evaluation scores with the recipe's accuracy reward: golds that the math verifier cannot read
// ("red", "blue") are scored by `exact`, not left out as unverifiable; training golds the
// accuracy reward cannot read are counted before the run starts.
TEST(GrpoTrainer, EvaluationUsesTheRecipesAccuracyReward) {
  const Fixture f = setup();
  const std::string eval = r1::testing::write_file(
      f.dir + "/eval.jsonl",
      "{\"prompt\": \"learn a\", \"answer\": \"red\"}\n{\"prompt\": \"b\", \"answer\": \"blue\"}\n");
  auto sets = recipe_sets(f, f.dir + "/exact", 1);
  sets.insert(sets.end(), {"eval.data=" + eval, "eval.k=2", "reward.exact=0.0"});
  ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
  int evals = 0;
  for (const auto& row : read_jsonl(f.dir + "/exact/metrics.jsonl"))
    if (row.contains("eval/pass@1")) {
      evals++;
      EXPECT_EQ(row["eval/unverifiable"].get<int>(), 0) << row;
    }
  EXPECT_EQ(evals, 2);
  // With the math reward, the same golds cannot be read: said at the start, and left out.
  const std::string golds = r1::testing::write_file(
      f.dir + "/golds.jsonl",
      "{\"prompt\": \"learn a\", \"answer\": \"\\\\frac{\"}\n{\"prompt\": \"learn b\", \"answer\": \"2\"}\n");
  auto math = recipe_sets(f, f.dir + "/math", 1);
  math.insert(math.end(), {"data.path=" + golds, "reward.math=0.0"});
  const auto r = r1::testing::run_r1(grpo_args(math));
  EXPECT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_NE(r.err.find("1 of 2 training problems have a gold answer the 'math' reward cannot read (first: "),
            std::string::npos)
      << r.err;
}

// The update with the prompt shared by its samples (the default) equals the one that repeats it in
// every sample: the first step's loss, gradient norm, KL and ratio agree to 1e-5 relative (the
// rollouts are the same; each piece is checked exactly in tests/model/test_shared_prefix.cpp).
TEST(GrpoTrainer, SharedPromptEqualsRepeatedPrompt) {
  const Fixture f = setup();
  std::vector<nlohmann::json> first;
  for (const char* share : {"true", "false"}) {
    const std::string out = f.dir + "/share_" + share;
    auto sets = recipe_sets(f, out, 1);
    sets.insert(sets.end(),
                {std::string("grpo.share_prompt=") + share, "grpo.temperature=0.8", "model.compute=bf16"});
    ASSERT_EQ(r1::run_grpo_training(recipe_of(sets), {}), 0);
    first.push_back(step_rows(out + "/metrics.jsonl").at(0));
  }
  for (const char* k : {"loss", "grad_norm", "kl", "ratio_mean", "entropy"})
    EXPECT_NEAR(first[0][k].get<double>(), first[1][k].get<double>(),
                1e-5 * std::max(1e-3, std::abs(first[1][k].get<double>())))
        << k;
  EXPECT_EQ(first[0]["reward_mean"], first[1]["reward_mean"]);
}

// R1's language-consistency reward has a weight (reward.language, like every rule reward) and a
// target (reward.target_language); each key has its own rule, so both can be set.
TEST(GrpoTrainer, LanguageRewardTakesAWeightAndATarget) {
  r1::Recipe r = r1::Recipe::parse(
      "[model]\npath = \"m\"\n[data]\npath = \"d.jsonl\"\n[reward]\nmath = 1.0\nlanguage = 0.1\n"
      "target_language = \"zh\"\n[grpo]\nsteps = 2\n[output]\ndir = \"o\"\n",
      "r.toml");
  EXPECT_NO_THROW(r1::check_grpo_recipe(r));
  r.set("reward.target_language=0.5");
  EXPECT_EQ(r1::testing::error_of([&] { r1::check_grpo_recipe(r); }),
            "r.toml: key 'reward.target_language' must be a string, got float 0.5");
}
