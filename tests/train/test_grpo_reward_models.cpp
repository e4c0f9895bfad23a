// Reward models as GRPO rewards (issue 16 part 3): [reward.models.NAME] with a weight and a scope
// (summary: the text after </think>; full: the whole response), several at once, each a component
// of the reward reported like the rule rewards; data.reward_field routes each prompt to the rule
// rewards, the reward models or both. The oracle for every score is `r1 rm score` on the same
// text, a separate code path through the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "io/file.h"
#include "model/checkpoint.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"
#include "train/grpo_trainer.h"
#include "train/model_reward.h"
#include "verify/rewards.h"

namespace fs = std::filesystem;
using nlohmann::json;
using r1::testing::run_r1;

namespace {

std::vector<json> jsonl(const std::string& path) {
  std::vector<json> rows;
  const std::string text = r1::read_file(path);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) rows.push_back(json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return rows;
}

struct Models {
  std::string dir, policy, rm_a, rm_b;
};

// A tiny random byte-level policy that writes lower-case letters and spaces only, so that its
// samples survive the JSON of samples.jsonl byte for byte (random bytes are not UTF-8): every
// token's embedding carries a large constant in dimension 0, which keeps the final hidden state's
// dimension 0 positive, and the output head's column 0 favours letters and the space.
std::string save_letter_policy(const std::string& dir) {
  const std::string path = r1::testing::save_tiny_byte_model(dir, 256, 7);
  r1::Model m = r1::load_model(path);
  const int64_t D = m.config().hidden_size;
  float* w = m.params();
  const r1::ParamSpec* emb = m.find_param("model.embed_tokens.weight");
  const r1::ParamSpec* head = m.find_param("lm_head.weight");
  EXPECT_TRUE(emb && head && !m.config().tie_word_embeddings);
  for (int64_t v = 0; v < m.config().vocab_size; v++) {
    w[emb->offset + static_cast<size_t>(v * D)] = 20.0f;
    const bool letter = (v >= 'a' && v <= 'z') || v == ' ';
    w[head->offset + static_cast<size_t>(v * D)] = letter ? 3.0f : -3.0f;
  }
  r1::save_model(m, path);  // the tokenizer stays
  return path;
}

// The policy and two reward models made from other tiny LMs with fresh score heads.
Models make_models() {
  Models s;
  s.dir = r1::testing::scratch_dir();
  s.policy = save_letter_policy(s.dir + "/policy");
  int seed = 11;
  for (std::string* rm : {&s.rm_a, &s.rm_b}) {
    const std::string lm = r1::testing::save_tiny_byte_model(s.dir + "/lm" + std::to_string(seed), 256, seed);
    *rm = s.dir + "/rm" + std::to_string(seed);
    r1::save_model(r1::with_score_head(r1::load_model(lm), static_cast<uint64_t>(seed)), *rm, lm);
    seed++;
  }
  return s;
}

r1::Recipe recipe(const Models& s, const std::string& data, const std::string& out, int steps,
                  const std::vector<std::string>& more) {
  r1::Recipe r;
  for (const std::string& a :
       {"model.path=\"" + s.policy + "\"", "data.path=\"" + data + "\"",
        std::string("data.template=\"none\""), "grpo.steps=" + std::to_string(steps),
        std::string("grpo.prompts_per_step=4"), std::string("grpo.group_size=4"),
        std::string("grpo.max_new_tokens=12"), std::string("grpo.beta=0"), std::string("train.lr=3e-2"),
        std::string("train.seed=5"), "output.dir=\"" + out + "\"", std::string("output.sample_every=1"),
        std::string("output.samples_per_step=4"), std::string("output.save_every=0")})
    r.set(a);
  for (const std::string& a : more) r.set(a);
  return r;
}

// `r1 rm score` of (prompt, completion) rows: the oracle.
std::vector<double> rm_scores(const std::string& model, const std::vector<json>& rows,
                              const std::string& dir) {
  std::string text;
  for (const json& r : rows) text += r.dump() + "\n";
  const std::string path = r1::testing::write_file(dir + "/score_rows.jsonl", text);
  const auto res = run_r1({"rm", "score", "--model", model, "--data", path});
  EXPECT_EQ(res.exit_code, 0) << r1::testing::describe(res);
  std::vector<double> out;
  size_t start = 0;
  while (start < res.out.size()) {
    const size_t end = res.out.find('\n', start);
    out.push_back(std::stod(res.out.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST(RmScope, SummaryIsTheTextAfterTheLastThinkClose) {
  using r1::RmScope;
  EXPECT_EQ(r1::rm_scope_text("<think> a </think> b", RmScope::kSummary), " b");
  EXPECT_EQ(r1::rm_scope_text("<think> a </think> b </think> c", RmScope::kSummary), " c");
  EXPECT_EQ(r1::rm_scope_text("no thinking here", RmScope::kSummary), "no thinking here");
  EXPECT_EQ(r1::rm_scope_text("<think> a </think>", RmScope::kSummary), "");
  EXPECT_EQ(r1::rm_scope_text("<think> a </think> b", RmScope::kFull), "<think> a </think> b");
}

// Two reward models (one on the summary, one on the whole response) beside a rule reward: every
// sample's reward is the weighted sum of the rule reward and both models' scores, each score equal
// to `r1 rm score` of the same prompt and text (to 1e-5), and each component's metric is the mean
// over the step's samples.
TEST(GrpoRewardModels, ScoresEqualRmScoreAndAddUpToTheReward) {
  const Models s = make_models();
  std::string rows;
  for (int i = 0; i < 8; i++)
    rows += "{\"prompt\": \"say </think> " + std::to_string(i) + "\", \"answer\": \"1\"}\n";
  const std::string data = r1::testing::write_file(s.dir + "/data.jsonl", rows);
  const std::string out = s.dir + "/run";
  ASSERT_EQ(
      r1::run_grpo_training(
          recipe(s, data, out, 2,
                 {"reward.format_lenient=0.5", "reward.models.helpful.path=\"" + s.rm_a + "\"",
                  "reward.models.helpful.weight=2.0", "reward.models.helpful.scope=\"summary\"",
                  "reward.models.harmless.path=\"" + s.rm_b + "\"", "reward.models.harmless.weight=-0.5"}),
          {}),
      0);
  const std::vector<json> samples = jsonl(out + "/samples.jsonl");
  ASSERT_EQ(samples.size(), 8u);  // 4 a step
  std::vector<json> summary_rows, full_rows;
  for (const json& x : samples) {
    const std::string c = x["completion"];
    summary_rows.push_back(
        {{"prompt", x["prompt"]}, {"completion", std::string(r1::rm_scope_text(c, r1::RmScope::kSummary))}});
    full_rows.push_back({{"prompt", x["prompt"]}, {"completion", c}});
  }
  const std::vector<double> a = rm_scores(s.rm_a, summary_rows, s.dir),
                            b = rm_scores(s.rm_b, full_rows, s.dir);
  ASSERT_EQ(a.size(), samples.size());
  ASSERT_EQ(b.size(), samples.size());
  int distinct = 0;
  for (size_t i = 0; i < samples.size(); i++) {
    const std::string c = samples[i]["completion"];
    const double rule = r1::verify::format_lenient_reward(c).value;
    const double want = 0.5 * rule + 2.0 * a[i] - 0.5 * b[i];
    EXPECT_NEAR(samples[i]["reward"].get<double>(), want, 1e-5 * (1 + std::abs(want))) << c;
    // samples.jsonl keeps each reward's own value.
    EXPECT_NEAR(samples[i]["rewards"]["helpful"].get<double>(), a[i], 1e-5 * (1 + std::abs(a[i])));
    EXPECT_NEAR(samples[i]["rewards"]["harmless"].get<double>(), b[i], 1e-5 * (1 + std::abs(b[i])));
    EXPECT_EQ(samples[i]["rewards"]["format_lenient"].get<double>(), rule);
    distinct += std::abs(a[i] - b[i]) > 1e-3;
  }
  EXPECT_GT(distinct, 0) << "the two reward models score alike: the test could not tell them apart";
  int steps = 0;
  for (const json& m : jsonl(out + "/metrics.jsonl")) {
    if (!m.contains("reward_mean")) continue;
    steps++;
    for (const char* k :
         {"reward/format_lenient", "reward/helpful", "reward/harmless", "reward_model_truncated"})
      EXPECT_TRUE(m.contains(k)) << k;
    const double mean = 0.5 * m["reward/format_lenient"].get<double>() +
                        2.0 * m["reward/helpful"].get<double>() - 0.5 * m["reward/harmless"].get<double>();
    EXPECT_NEAR(m["reward_mean"].get<double>(), mean, 1e-5 * (1 + std::abs(mean)));
    EXPECT_EQ(m["reward_model_truncated"], 0);
  }
  EXPECT_EQ(steps, 2);
}

// GRPO against a reward model alone raises that model's score: RL optimises what the model pays for.
TEST(GrpoRewardModels, TrainingRaisesTheRewardModelsScore) {
  const Models s = make_models();
  std::string rows;
  for (int i = 0; i < 8; i++) rows += "{\"prompt\": \"write " + std::to_string(i) + "\"}\n";
  const std::string data = r1::testing::write_file(s.dir + "/data.jsonl", rows);
  const std::string out = s.dir + "/run";
  ASSERT_EQ(
      r1::run_grpo_training(recipe(s, data, out, 16, {"reward.models.judge.path=\"" + s.rm_a + "\""}), {}),
      0);
  std::vector<double> r;
  for (const json& m : jsonl(out + "/metrics.jsonl"))
    if (m.contains("reward/judge")) r.push_back(m["reward/judge"].get<double>());
  ASSERT_EQ(r.size(), 16u);
  double first = 0, last = 0;
  for (int i = 0; i < 4; i++)
    first += r[static_cast<size_t>(i)] / 4, last += r[r.size() - 1 - static_cast<size_t>(i)] / 4;
  std::printf("reward-model score: first 4 steps %.4f, last 4 %.4f\n", first, last);
  EXPECT_GT(last, first + 0.05);
}

// data.reward_field routes prompts: "rule" prompts get only the rule rewards, "model" ones (which
// need no answer) only the reward models, "both" (and rows without the field) everything; accuracy
// counts only rule-scored samples.
TEST(GrpoRewardModels, RoutingColumnChoosesTheRewards) {
  const Models s = make_models();
  const std::string data =
      r1::testing::write_file(s.dir + "/data.jsonl",
                              "{\"prompt\": \"a\", \"answer\": \"1\", \"kind\": \"rule\"}\n"
                              "{\"prompt\": \"b\", \"kind\": \"model\"}\n"
                              "{\"prompt\": \"c\", \"answer\": \"1\", \"kind\": \"both\"}\n"
                              "{\"prompt\": \"d\", \"answer\": \"1\"}\n");
  const std::string out = s.dir + "/run";
  ASSERT_EQ(
      r1::run_grpo_training(recipe(s, data, out, 2,
                                   {"data.reward_field=\"kind\"", "reward.format_lenient=1.0",
                                    "reward.math=0.0", "reward.models.helpful.path=\"" + s.rm_a + "\""}),
                            {}),
      0);
  const std::vector<json> samples = jsonl(out + "/samples.jsonl");
  ASSERT_EQ(samples.size(), 8u);
  std::vector<json> rows;
  for (const json& x : samples) rows.push_back({{"prompt", x["prompt"]}, {"completion", x["completion"]}});
  const std::vector<double> rm = rm_scores(s.rm_a, rows, s.dir);
  for (size_t i = 0; i < samples.size(); i++) {
    const std::string p = samples[i]["prompt"], c = samples[i]["completion"];
    const double rule = r1::verify::format_lenient_reward(c).value;
    const double want = p == "a" ? rule : p == "b" ? rm[i] : rule + rm[i];
    EXPECT_NEAR(samples[i]["reward"].get<double>(), want, 1e-5 * (1 + std::abs(want))) << p << ": " << c;
    EXPECT_EQ(samples[i]["verdict"] == "none", p == "b") << p;
    EXPECT_EQ(samples[i]["rewards"].contains("helpful"), p != "a") << p;
    EXPECT_EQ(samples[i]["rewards"].contains("format_lenient"), p != "b") << p;
  }
}

// Recipe and data errors: one line naming the key, table or row, before anything is written.
TEST(GrpoRewardModels, BadRecipesAndRoutesAreOneLineErrors) {
  const Models s = make_models();
  const std::string data =
      r1::testing::write_file(s.dir + "/data.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n");
  const std::string out = s.dir + "/run";
  const std::string rm = "reward.models.helpful.path=\"" + s.rm_a + "\"";
  auto error_of = [&](const std::string& d, const std::vector<std::string>& more) {
    return r1::testing::error_of([&] { r1::run_grpo_training(recipe(s, d, out, 1, more), {}); });
  };
  auto expect = [&](const std::string& e, const std::vector<std::string>& parts) {
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    for (const std::string& p : parts)
      EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
  };
  expect(error_of(data, {"reward.models.math.path=\"" + s.rm_a + "\""}), {"'math'", "rule reward"});
  expect(error_of(data, {"reward.models.helpful.weight=1.0"}), {"reward.models.helpful", "path"});
  expect(error_of(data, {rm, "reward.models.helpful.scope=\"answer\""}),
         {"reward.models.helpful.scope", "summary"});
  expect(error_of(data, {rm, "reward.models.helpful.colour=1"}), {"reward.models.helpful.colour"});
  expect(error_of(data, {"reward.models.bad name.path=\"x\""}), {"bad name", "letters"});
  expect(error_of(data, {"reward.models.helpful.path=\"" + s.policy + "\""}), {s.policy, "score.weight"});
  expect(error_of(data, {}), {"no reward"});
  expect(error_of(data, {"data.reward_field=\"kind\"", rm}), {"data.reward_field", "both kinds"});
  const std::string bad = r1::testing::write_file(s.dir + "/bad.jsonl",
                                                  "{\"prompt\": \"a\", \"answer\": \"1\"}\n"
                                                  "{\"prompt\": \"b\", \"kind\": \"judge\"}\n");
  expect(error_of(bad, {"data.reward_field=\"kind\"", "reward.math=1", rm}), {bad + ":2", "'kind'", "judge"});
  const std::string no_answer =
      r1::testing::write_file(s.dir + "/na.jsonl", "{\"prompt\": \"b\", \"kind\": \"rule\"}\n");
  expect(error_of(no_answer, {"data.reward_field=\"kind\"", "reward.math=1", rm}),
         {no_answer + ":1", "answer"});
  EXPECT_FALSE(fs::exists(out)) << "a refused run wrote its directory";
  // --list-keys shows the keys of a reward model.
  const auto keys = run_r1({"grpo", "--list-keys"});
  EXPECT_NE(keys.out.find("reward.models.NAME.scope"), std::string::npos) << keys.out;
}
