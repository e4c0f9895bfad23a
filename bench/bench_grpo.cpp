// One GRPO step's wall-clock split: rollout (the engine), reward, reference (and recomputed old)
// log-probs, and the update (forward + backward + AdamW), averaged over steps 2.. of a short run
// of the real trainer (train/grpo_trainer.h). Two set-ups:
//   --model DIR   a given model (e.g. r1 zero's base, runs/zero/base/model) on r1 zero's problems
//                 with r1 zero's GRPO recipe (the default run)
//   (no --model)  a random Llama of about 25M parameters (8 layers, hidden 512, byte tokenizer) on
//                 the same problems: its completions run to max_new_tokens, so the step does the
//                 most work the settings allow
//   build/bench/bench_grpo [--model DIR] [--steps 4] [--set key=value]...
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "io/file.h"
#include "model/checkpoint.h"
#include "tokenizer/tokenizer.h"
#include "train/grpo_trainer.h"
#include "train/zero_run.h"
#include "train/zero_task.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::string model_dir;
  int steps = 4;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc)
      model_dir = argv[++i];
    else if (a == "--steps" && i + 1 < argc)
      steps = std::atoi(argv[++i]);
    else if (a == "--set" && i + 1 < argc)
      sets.push_back(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_grpo [--model DIR] [--steps N] [--set key=value]...\n");
      return 2;
    }
  }
  const fs::path tmp = fs::temp_directory_path() / ("bench_grpo." + std::to_string(getpid()));
  fs::create_directories(tmp);
  if (model_dir.empty()) {
    auto tok = r1::make_byte_tokenizer();
    r1::ModelConfig c;
    c.arch = r1::Arch::Llama;
    c.vocab_size = tok->vocab_size();
    c.hidden_size = 512, c.intermediate_size = 1408, c.num_layers = 8, c.num_heads = 8, c.num_kv_heads = 8;
    c.head_dim = 64, c.tie_word_embeddings = true, c.max_position_embeddings = 1024;
    c.bos_token_id = tok->bos_id();
    c.eos_token_ids = {tok->eos_id()};
    r1::Model m(c);
    m.init_random(1, 0.02f);
    model_dir = (tmp / "model").string();
    r1::save_model(m, model_dir);
    tok->save(model_dir);
  }
  const std::string data = (tmp / "train.jsonl").string();
  {
    std::ofstream f(data);
    for (const auto& p : r1::zero_problems(r1::ZeroTaskConfig{}, false, 512))
      f << nlohmann::json({{"question", p.question}, {"answer", p.answer}}).dump() << "\n";
  }
  r1::Recipe r = r1::Recipe::parse(r1::default_zero_recipe(), "<zero recipe>");
  r.set("model.path=\"" + model_dir + "\"");
  r.set("data.path=\"" + data + "\"");
  r.set("output.dir=\"" + (tmp / "run").string() + "\"");
  r.set("grpo.steps=" + std::to_string(steps));
  r.set("eval.every=0");
  r.set("eval.at_start=false");
  r.set("output.save_every=0");
  r.set("output.sample_every=0");
  for (const auto& s : sets) r.set(s);
  r1::Model probe = r1::load_model(model_dir);
  std::printf("model %s: %.2fM parameters; B %lld x G %lld, max_new_tokens %lld, beta %g\n",
              model_dir.c_str(), probe.num_params() / 1e6, (long long)r.get_int("grpo.prompts_per_step"),
              (long long)r.get_int("grpo.group_size"), (long long)r.get_int("grpo.max_new_tokens"),
              r.get_float("grpo.beta"));
  if (r1::run_grpo_training(r, {}) != 0) return 1;

  double rollout = 0, reward = 0, ref = 0, update = 0, total = 0, len = 0, rtps = 0, ttps = 0;
  int n = 0;
  std::ifstream in((tmp / "run" / "metrics.jsonl").string());
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("rollout_s") || j["step"].get<int>() < 2) continue;  // step 1 warms up
    rollout += j["rollout_s"].get<double>(), reward += j["reward_s"].get<double>();
    ref += j["ref_s"].get<double>(), update += j["update_s"].get<double>(),
        total += j["step_s"].get<double>();
    len += j["response_length_mean"].get<double>();
    rtps += j["rollout_tokens_per_s"].get<double>(), ttps += j["train_tokens_per_s"].get<double>();
    n++;
  }
  if (n == 0) return 1;
  auto pct = [&](double x) { return 100.0 * x / total; };
  std::printf(
      "per step (mean of %d): %.2f s = rollout %.2f s (%.0f%%) + reward %.3f s (%.1f%%) + ref/old logp %.2f "
      "s "
      "(%.0f%%) + update %.2f s (%.0f%%); mean response %.1f tokens; rollout %.0f tok/s, update %.0f tok/s\n",
      n, total / n, rollout / n, pct(rollout), reward / n, pct(reward), ref / n, pct(ref), update / n,
      pct(update), len / n, rtps / n, ttps / n);
  fs::remove_all(tmp);
  return 0;
}
