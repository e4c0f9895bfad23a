// r1 sft end to end, in process: a tiny model created from the recipe learns to complete four
// prompts (only the completions are trained), and its loss falls by far.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/recipe.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/lm_trainer.h"

TEST(SftEndToEnd, LearnsToCompleteThePrompts) {
  const std::string dir = r1::testing::scratch_dir();
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
  ASSERT_EQ(r1::run_lm_training("sft", r, {}), 0);

  std::vector<double> losses;
  std::ifstream f(dir + "/run/metrics.jsonl");
  for (std::string line; std::getline(f, line);)
    losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
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
