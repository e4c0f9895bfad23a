// r1 sft end to end, in process: a tiny model created from the recipe learns to complete four
// prompts (only the completions are trained), and its loss falls by far.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/recipe.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/lm_trainer.h"

namespace {

// The per-step losses of `r1 sft` on four prompts with a tiny model created from the recipe.
std::vector<double> sft_losses(const std::string& dir, const std::vector<std::string>& extra) {
  const std::string data = r1::testing::write_file(dir + "/sft.jsonl",
                                                   "{\"prompt\": \"cat:\", \"completion\": \" meow\"}\n"
                                                   "{\"prompt\": \"dog:\", \"completion\": \" woof\"}\n"
                                                   "{\"prompt\": \"cow:\", \"completion\": \" moo\"}\n"
                                                   "{\"prompt\": \"owl:\", \"completion\": \" hoot\"}\n");
  r1::Recipe r = r1::Recipe::parse(r1::default_pretrain_recipe(), "<test>");
  for (const std::string& s :
       std::vector<std::string>{"data.path=" + data, "output.dir=" + dir + "/run", "train.steps=60",
                                "train.warmup_steps=5", "train.batch_tokens=64", "train.lr=1e-2",
                                "output.save_every=0", "model.num_layers=2", "model.hidden_size=64",
                                "model.intermediate_size=128", "model.num_heads=2", "model.num_kv_heads=1"})
    r.set(s);
  for (const std::string& s : extra)
    if (!s.empty()) r.set(s);
  EXPECT_EQ(r1::run_lm_training("sft", r, {}), 0);
  std::vector<double> losses;
  std::ifstream f(dir + "/run/metrics.jsonl");
  for (std::string line; std::getline(f, line);) {
    const auto row = nlohmann::json::parse(line);
    if (row.contains("loss")) losses.push_back(row["loss"].get<double>());  // the step-0 row is the data's
  }
  return losses;
}

}  // namespace

TEST(SftEndToEnd, LearnsToCompleteThePrompts) {
  const std::string dir = r1::testing::scratch_dir();
  const std::vector<double> losses = sft_losses(dir, {});
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_LT(losses.back(), 0.1 * losses.front()) << "first " << losses.front() << ", last " << losses.back();

  // The saved model completes a prompt with its trained answer.
  r1::Model m = r1::load_model(dir + "/run/model");
  auto tok = r1::load_tokenizer(dir + "/run/model");
  std::vector<int32_t> prompt = {tok->bos_id()};
  for (int32_t id : tok->encode("dog:")) prompt.push_back(id);
  auto out = r1::greedy_generate(m, prompt, 8, {tok->eos_id()});
  EXPECT_EQ(tok->decode(out), " woof<|eos|>");
}

// train.compute = "bf16" (and with train.recompute) follows the fp32 curve. At lr 5e-3 (the run
// above uses 1e-2, at the edge of AdamW's stability for this model, where any rounding difference
// grows into a visibly different trajectory after ~15 steps, and differently in the optimised and
// the sanitizer builds) every loss of the first 10 steps is within 0.5% of fp32's (measured: within
// 0.03%), the means of later windows of 10 steps are within 0.03 absolute or 20% relative,
// whichever is larger (measured: at most 0.007, in both builds), and the loss falls 10x as in fp32.
TEST(SftEndToEnd, Bf16TrainingFollowsTheFp32Curve) {
  const std::vector<double> f32 = sft_losses(r1::testing::scratch_dir(), {"train.lr=5e-3"});
  ASSERT_EQ(f32.size(), 60u);
  for (const bool recompute : {false, true}) {
    const std::vector<double> bf =
        sft_losses(r1::testing::scratch_dir(),
                   {"train.lr=5e-3", "train.compute=bf16", recompute ? "train.recompute=true" : ""});
    ASSERT_EQ(bf.size(), f32.size());
    double worst_early = 0, worst_window = 0;
    for (size_t i = 0; i < 10; i++) {
      EXPECT_NEAR(bf[i], f32[i], 0.005 * f32[i]) << "step " << i + 1;
      worst_early = std::max(worst_early, std::abs(bf[i] - f32[i]) / f32[i]);
    }
    for (size_t w = 10; w < 60; w += 10) {
      double mb = 0, mf = 0;
      for (size_t i = w; i < w + 10; i++) mb += bf[i] / 10, mf += f32[i] / 10;
      EXPECT_LE(std::abs(mb - mf), std::max(0.03, 0.2 * mf)) << "steps " << w + 1 << "-" << w + 10;
      worst_window = std::max(worst_window, std::abs(mb - mf));
    }
    EXPECT_LT(f32.back(), 0.1 * f32.front());
    EXPECT_LT(bf.back(), 0.1 * bf.front());
    std::printf(
        "recompute %d: steps 1-10 within %.2f%% of fp32; 10-step window means within %.3f; last loss %.4f vs "
        "%.4f\n",
        recompute, 100 * worst_early, worst_window, bf.back(), f32.back());
  }
}

namespace {

std::vector<nlohmann::json> metrics_rows(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Ten conversations in the distill format (two of them two turns), trained by train.epochs with
// two rows held out; extra settings appended.
std::vector<nlohmann::json> chat_sft(const std::string& dir, const std::vector<std::string>& extra) {
  std::string rows;
  for (int i = 0; i < 10; i++) {
    const std::string q = std::to_string(i * 7 % 10), a = std::to_string(i * 7 % 10 + 1);
    nlohmann::json m = nlohmann::json::array(
        {{{"role", "user"}, {"content", q}},
         {{"role", "assistant"}, {"content", "<think>\n" + q + " plus one\n</think>\n\n" + a}}});
    if (i % 5 == 0) {
      m.push_back({{"role", "user"}, {"content", a}});
      m.push_back({{"role", "assistant"},
                   {
                       "content",
                       "",
                   },
                   {"reasoning_content", a + " plus one"}});
      m.back()["content"] = std::to_string(i * 7 % 10 + 2);
    }
    rows += nlohmann::json{{"messages", m}}.dump() + "\n";
  }
  const std::string data = r1::testing::write_file(dir + "/chat.jsonl", rows);
  std::string text = r1::default_pretrain_recipe();
  text.replace(text.find("steps = 600"), 11, "epochs = 30");
  r1::Recipe r = r1::Recipe::parse(text, "<test>");
  for (const std::string& s : std::vector<std::string>{
           "data.path=" + data, "data.template=distill", "data.seq_len=256", "data.eval_rows=2",
           "train.eval_every=10", "output.dir=" + dir + "/run", "train.warmup_steps=3", "train.lr=1e-2",
           "output.save_every=0", "model.num_layers=2", "model.hidden_size=64", "model.intermediate_size=128",
           "model.num_heads=2", "model.num_kv_heads=1"})
    r.set(s);
  for (const std::string& s : extra) r.set(s);
  EXPECT_EQ(r1::run_lm_training("sft", r, {}), 0);
  return metrics_rows(dir + "/run/metrics.jsonl");
}

}  // namespace

// Conversations through the distill template, 30 epochs of one micro-batch each (30 steps), the
// held-out loss at steps 0, 10, 20 and 30 falling by more than half; the first step's row says what
// loading made of the data.
TEST(SftEndToEnd, ConversationsByEpochsWithAHeldOutLoss) {
  const auto rows = chat_sft(r1::testing::scratch_dir(), {});
  std::vector<double> loss;
  std::vector<std::pair<int64_t, double>> eval;
  for (const auto& r : rows) {
    if (r.contains("loss")) loss.push_back(r["loss"].get<double>());
    if (r.contains("eval/loss")) eval.push_back({r["step"].get<int64_t>(), r["eval/loss"].get<double>()});
  }
  ASSERT_EQ(loss.size(), 30u);
  ASSERT_FALSE(rows.empty());
  const auto& first = rows[0].contains("loss") ? rows[0] : rows[1];
  EXPECT_EQ(first["data/rows"], 10);
  EXPECT_EQ(first["data/conversations"], 10);
  EXPECT_EQ(first["data/sequences"], 12);  // the two-turn rows make two sequences each in this format
  EXPECT_EQ(first["data/truncated"], 0);
  EXPECT_GE(first["data/held_out_sequences"].get<int64_t>(), 2);
  ASSERT_EQ(eval.size(), 4u);
  for (size_t i = 0; i < eval.size(); i++) EXPECT_EQ(eval[i].first, static_cast<int64_t>(10 * i));
  EXPECT_LT(eval.back().second, 0.5 * eval.front().second)
      << "held-out loss " << eval.front().second << " -> " << eval.back().second;
  EXPECT_LT(loss.back(), 0.2 * loss.front()) << loss.front() << " -> " << loss.back();
  std::printf("train loss %.3f -> %.3f, held-out %.3f -> %.3f\n", loss.front(), loss.back(),
              eval.front().second, eval.back().second);
}

// The same data packed (TRL's wrapped strategy) into 64-token sequences, two to a micro-batch, and
// cut at seq_len 90 without packing (the prompt alone is about 70 bytes here): truncation is
// counted, and both train.
TEST(SftEndToEnd, PackedAndTruncatedConversationsTrain) {
  for (const std::string& mode : {std::string("packing"), std::string("truncation")}) {
    const auto rows =
        chat_sft(r1::testing::scratch_dir(),
                 mode == "packing" ? std::vector<std::string>{"data.packing=true", "data.seq_len=64",
                                                              "train.batch_tokens=128", "train.epochs=6"}
                                   : std::vector<std::string>{"data.seq_len=90"});
    std::vector<double> loss;
    for (const auto& r : rows)
      if (r.contains("loss")) loss.push_back(r["loss"].get<double>());
    ASSERT_FALSE(loss.empty()) << mode;
    EXPECT_LT(loss.back(), 0.3 * loss.front()) << mode << ": " << loss.front() << " -> " << loss.back();
    const auto& first = rows[0].contains("loss") ? rows[0] : rows[1];
    if (mode == "truncation") {
      EXPECT_GT(first["data/truncated"].get<int64_t>(), 0);
      EXPECT_GT(first["data/truncated_tokens"].get<int64_t>(), 0);
    } else {
      EXPECT_EQ(first["data/truncated"], 0);
      EXPECT_GT(loss.size(), 6u * 5) << "64-token sequences, two to a micro-batch: over 5 steps per epoch";
    }
  }
}
