// One GRPO step's wall-clock split: rollout (the engine), reward, reference (and recomputed old)
// log-probs, and the update (forward + backward + AdamW), averaged over steps 2.. of a short run
// of the real trainer (train/grpo_trainer.h). Three set-ups:
//   (no options)      r1 zero's shipped base model (models/zero-base) on r1 zero's problems with
//                     r1 zero's GRPO recipe: the steps r1 zero itself takes first (the default run)
//   --model DIR       a given model on the same problems and recipe
//   --shape random25m a random Llama of about 25M parameters (8 layers, hidden 512, byte tokenizer)
//                     on the same problems: its completions run to max_new_tokens, so the step does
//                     the most work the settings allow
//   --shape qwen0.5b  a random model of Qwen2.5-0.5B's shape (Qwen2: hidden 896, 24 layers, 14 query
//                     / 2 kv heads, head_dim 64, FFN 4864, vocabulary 151936, tied embeddings, q/k/v
//                     biases, rope_theta 1e6, rms eps 1e-6; --layers/--hidden/... shrink it) with
//                     the Qwen2.5 tokenizer of the shared fixtures, and the step of the issue: 4
//                     prompts x 8 samples, prompts of --prompt-len (150) tokens, 256 new tokens,
//                     beta 0.001, no stop strings (the r1 zero recipe otherwise). Each prompt is
//                     --prompt-len words drawn at random (seeded) from the tokenizer's one-token
//                     words (" the", " house", ...) with ids below the vocabulary, with no template,
//                     so it encodes to exactly that many tokens (checked). A random model almost
//                     never samples EOS, so the completions run to 256 tokens (the mean length is
//                     printed). --torch also runs bench/torch_grpo_step.py (Debian's python3-torch)
//                     on the same shape and step, after r1.cpp, and prints both and the ratio.
//   build/bench/bench_grpo [--model DIR | --shape random25m | --shape qwen0.5b [--layers N] [--hidden N]
//   [--ffn N]
//       [--vocab N] [--heads N] [--kv-heads N] [--head-dim N] [--prompt-len N] [--shared DIR]
//       [--torch] [--torch-steps N] [--torch-warmup N] [--torch-micro-batch N]] [--steps N]
//       [--set key=value]...
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/recipe.h"
#include "io/file.h"
#include "model/checkpoint.h"
#include "rollout/prompts.h"
#include "tokenizer/tokenizer.h"
#include "train/grpo_trainer.h"
#include "train/zero_run.h"
#include "train/zero_task.h"

namespace fs = std::filesystem;

namespace {

// The fixtures directory: $R1_SHARED_DIR, else ../shared beside the source tree.
std::string default_shared_dir() {
  const char* env = std::getenv("R1_SHARED_DIR");
  return env && *env ? std::string(env) : std::string(R1_SOURCE_DIR) + "/../shared";
}

struct QwenShape {
  int hidden = 896, layers = 24, heads = 14, kv_heads = 2, head_dim = 64, ffn = 4864, vocab = 151936;
  int prompt_len = 150;
};

r1::ModelConfig qwen_config(const QwenShape& s, const r1::Tokenizer& tok) {
  r1::ModelConfig c;
  c.arch = r1::Arch::Qwen2;
  c.vocab_size = s.vocab, c.hidden_size = s.hidden, c.intermediate_size = s.ffn, c.num_layers = s.layers;
  c.num_heads = s.heads, c.num_kv_heads = s.kv_heads, c.head_dim = s.head_dim;
  c.rms_norm_eps = 1e-6f, c.rope_theta = 1e6, c.tie_word_embeddings = true, c.attention_bias = true;
  c.max_position_embeddings = 32768;
  c.bos_token_id = tok.bos_id() < s.vocab ? tok.bos_id() : -1;
  if (tok.eos_id() >= 0 && tok.eos_id() < s.vocab) c.eos_token_ids = {tok.eos_id()};
  return c;
}

// n problems whose questions encode (no template, as data.template = "none" does) to exactly
// prompt_len tokens, all below vocab: prompt_len one-token words each, drawn with a fixed seed.
std::vector<std::string> word_prompts(const r1::Tokenizer& tok, int vocab, int prompt_len, int n) {
  std::vector<std::string> words;
  const int32_t top = std::min<int32_t>(vocab, tok.vocab_size());
  for (int32_t id = 0; id < top; id++) {
    const std::string t = tok.token_text(id);
    // Byte-level BPE writes a leading space as "Ġ" (U+0120, bytes C4 A0).
    if (t.size() < 4 || t.size() > 12 || t.compare(0, 2, "\xC4\xA0") != 0) continue;
    if (std::all_of(t.begin() + 2, t.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }))
      words.push_back(" " + t.substr(2));
  }
  if (words.size() < 16)
    throw std::runtime_error("fewer than 16 one-token words below the vocabulary size " +
                             std::to_string(vocab) + "; raise --vocab");
  r1::PromptFormat format;
  format.templ = "none", format.instruction.clear();
  const r1::PromptBuilder builder(format, "");
  std::mt19937_64 rng(20260101);
  std::uniform_int_distribution<size_t> pick(0, words.size() - 1);
  std::vector<std::string> out;
  for (int i = 0, tries = 0; i < n; tries++) {
    if (tries > 10 * n) throw std::runtime_error("cannot make prompts of exactly the length asked");
    std::string q;
    for (int w = 0; w < prompt_len; w++) q += words[pick(rng)];
    const std::vector<int32_t> ids = builder.encode(q, tok);
    if (static_cast<int>(ids.size()) != prompt_len ||
        std::any_of(ids.begin(), ids.end(), [&](int32_t id) { return id >= vocab; }))
      continue;  // two words merged (or split): draw again
    out.push_back(std::move(q)), i++;
  }
  return out;
}

// The last line of a command's output that parses as a JSON object (null if none).
nlohmann::json run_json_command(const std::string& cmd) {
  std::fprintf(stderr, "bench_grpo: running %s\n", cmd.c_str());
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return nullptr;
  nlohmann::json last;
  char buf[1 << 14];
  while (std::fgets(buf, sizeof buf, p)) {
    auto j = nlohmann::json::parse(buf, nullptr, false);
    if (j.is_object()) last = std::move(j);
  }
  return pclose(p) == 0 ? last : nlohmann::json();
}

// The update's model FLOPs, 6 N T (N: parameters in matrix products; the layers' over all the
// update's tokens, the head's over the response tokens; attention's products left out), as a rate,
// and that rate against what sgemm reaches on the update's own products: every layer matrix's
// forward, dx and dW over 4096 rows (about a micro-batch) and the head's over the rows of one
// logit chunk (Model::head_forward's 256 MiB of logits), measured now, weighted by their flops.
void update_efficiency(const QwenShape& s, double tokens, double response_tokens, double update_s,
                       const std::string& compute) {
  const int64_t D = s.hidden, q = int64_t(s.heads) * s.head_dim, kv = int64_t(s.kv_heads) * s.head_dim;
  const int64_t layer_params = D * (q + 2 * kv) + q * D + D * 2 * s.ffn + int64_t(s.ffn) * D;
  const double flops =
      6.0 * s.layers * double(layer_params) * tokens + 6.0 * D * double(s.vocab) * response_tokens;
  const int64_t T = std::min<int64_t>(4096, std::max<int64_t>(1, int64_t(tokens)));
  const int64_t chunk =
      std::max<int64_t>(1, std::min<int64_t>(int64_t(response_tokens), (int64_t(64) << 20) / s.vocab));
  const double layer_s = r1::bench::linear_products_seconds(T, D, q + 2 * kv, 2) +
                         r1::bench::linear_products_seconds(T, q, D, 2) +
                         r1::bench::linear_products_seconds(T, D, 2 * s.ffn, 2) +
                         r1::bench::linear_products_seconds(T, s.ffn, D, 2);
  const double head_s = r1::bench::linear_products_seconds(chunk, D, s.vocab, 2);
  const double gemm_s =
      s.layers * layer_s * (tokens / double(T)) + head_s * (response_tokens / double(chunk));
  const double peak = r1::bench::gemm_peak_gflops(2048, 3);
  const double rate = flops / update_s / 1e9, matching = flops / gemm_s / 1e9;
  std::printf(
      "update (%s): %.1f TFLOP of model FLOPs (6 N T over %.0f tokens, the head over %.0f; attention left "
      "out) in %.2f s = %.1f GFLOP/s = %.0f%% of sgemm on the update's products (%.1f GFLOP/s: layers at "
      "%lld "
      "rows, head at %lld) and %.0f%% of the 2048^3 sgemm peak (%.1f GFLOP/s)\n",
      compute.c_str(), flops / 1e12, tokens, response_tokens, update_s, rate, 100 * rate / matching, matching,
      (long long)T, (long long)chunk, 100 * rate / peak, peak);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, shape, shared = default_shared_dir();
  int steps = -1, torch_steps = 1, torch_warmup = 0, torch_micro = 4;
  bool torch = false, shape_flags = false;
  QwenShape qs;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    auto shape_int = [&](const char* flag, int& field) {
      if (a != flag || !more) return false;
      field = std::atoi(argv[++i]);
      shape_flags = true;
      return true;
    };
    if (a == "--model" && more)
      model_dir = argv[++i];
    else if (a == "--steps" && more)
      steps = std::atoi(argv[++i]);
    else if (a == "--set" && more)
      sets.push_back(argv[++i]);
    else if (a == "--shape" && more)
      shape = argv[++i];
    else if (a == "--shared" && more)
      shared = argv[++i];
    else if (a == "--torch")
      torch = true;
    else if (a == "--torch-steps" && more)
      torch_steps = std::atoi(argv[++i]);
    else if (a == "--torch-warmup" && more)
      torch_warmup = std::atoi(argv[++i]);
    else if (a == "--torch-micro-batch" && more)
      torch_micro = std::atoi(argv[++i]);
    else if (shape_int("--layers", qs.layers) || shape_int("--hidden", qs.hidden) ||
             shape_int("--ffn", qs.ffn) || shape_int("--vocab", qs.vocab) || shape_int("--heads", qs.heads) ||
             shape_int("--kv-heads", qs.kv_heads) || shape_int("--head-dim", qs.head_dim) ||
             shape_int("--prompt-len", qs.prompt_len))
      continue;
    else {
      std::fprintf(stderr,
                   "usage: bench_grpo [--model DIR | --shape random25m | --shape qwen0.5b [--layers N] "
                   "[--hidden N] [--ffn N] "
                   "[--vocab N] [--heads N] [--kv-heads N] [--head-dim N] [--prompt-len N] [--shared DIR] "
                   "[--torch] [--torch-steps N] [--torch-warmup N] [--torch-micro-batch N]] [--steps N] "
                   "[--set key=value]...\n");
      return 2;
    }
  }
  const bool qwen = shape == "qwen0.5b" || shape == "qwen05b", random25m = shape == "random25m";
  if (!shape.empty() && !qwen && !random25m) {
    std::fprintf(stderr, "bench_grpo: --shape must be random25m or qwen0.5b, got '%s'\n", shape.c_str());
    return 2;
  }
  if (!qwen && (shape_flags || torch)) {
    std::fprintf(stderr, "bench_grpo: the shape flags and --torch go with --shape qwen0.5b\n");
    return 2;
  }
  if (!shape.empty() && !model_dir.empty()) {
    std::fprintf(stderr, "bench_grpo: --model and --shape exclude each other\n");
    return 2;
  }
  if (steps < 0) steps = qwen ? 2 : 4;  // step 1 warms up; the full shape takes minutes a step
  if (shape.empty() && model_dir.empty()) model_dir = r1::shipped_zero_base();

  std::vector<std::string> questions;
  std::unique_ptr<r1::Tokenizer> qwen_tok;
  if (qwen) {
    const std::string tok_dir = shared + "/models/qwen2.5-0.5b-instruct-noweights";
    try {
      qwen_tok = r1::load_tokenizer(tok_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_grpo: %s (the Qwen2.5 tokenizer: --shared DIR or $R1_SHARED_DIR)\n",
                   e.what());
      return 1;
    }
    try {
      questions = word_prompts(*qwen_tok, qs.vocab, qs.prompt_len, 64);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_grpo: %s\n", e.what());
      return 1;
    }
  }
  const fs::path tmp = fs::temp_directory_path() / ("bench_grpo." + std::to_string(getpid()));
  fs::create_directories(tmp);
  if (qwen) {
    const r1::Tokenizer& tok = *qwen_tok;
    r1::Model m(qwen_config(qs, tok));
    m.init_random(1, 0.02f);
    model_dir = (tmp / "model").string();
    r1::save_model(m, model_dir);
    tok.save(model_dir);
  } else if (random25m) {
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
    if (qwen)
      for (const auto& q : questions) f << nlohmann::json({{"question", q}, {"answer", "0"}}).dump() << "\n";
    else
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
  if (qwen) {
    r.set("data.template=\"none\"");
    r.set("grpo.stop=\"\"");
    r.set("grpo.prompts_per_step=4");
    r.set("grpo.group_size=8");
    r.set("grpo.max_new_tokens=256");
    r.set("grpo.beta=0.001");
  }
  for (const auto& s : sets) r.set(s);
  r1::Model probe = r1::load_model(model_dir);
  std::printf("model %s: %.2fM parameters; B %lld x G %lld, max_new_tokens %lld, beta %g, compute %s\n",
              model_dir.c_str(), probe.num_params() / 1e6, (long long)r.get_int("grpo.prompts_per_step"),
              (long long)r.get_int("grpo.group_size"), (long long)r.get_int("grpo.max_new_tokens"),
              r.get_float("grpo.beta"), r.get_string("model.compute", "f32").c_str());
  if (qwen) std::printf("prompts: %d-token random word sequences, no template\n", qs.prompt_len);
  std::fflush(stdout);
  if (r1::run_grpo_training(r, {}) != 0) return 1;

  double rollout = 0, reward = 0, ref = 0, update = 0, total = 0, len = 0, rtps = 0, ttps = 0, rss = 0,
         train_tokens = 0;
  int n = 0;
  std::ifstream in((tmp / "run" / "metrics.jsonl").string());
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    // Step 1 warms up (page faults, the bf16 weight pack) and is left out, unless it is the only one.
    if (!j.contains("rollout_s") || (steps > 1 && j["step"].get<int>() < 2)) continue;
    rollout += j["rollout_s"].get<double>(), reward += j["reward_s"].get<double>();
    ref += j["ref_s"].get<double>(), update += j["update_s"].get<double>(),
        total += j["step_s"].get<double>();
    len += j["response_length_mean"].get<double>();
    rtps += j["rollout_tokens_per_s"].get<double>(), ttps += j["train_tokens_per_s"].get<double>();
    train_tokens += j["train_tokens_per_s"].get<double>() * j["update_s"].get<double>();
    rss = std::max(rss, j.value("peak_rss_mb", 0.0));
    n++;
  }
  if (n == 0) return 1;
  auto pct = [&](double x) { return 100.0 * x / total; };
  std::printf(
      "per step (mean of %d%s): %.2f s = rollout %.2f s (%.0f%%) + reward %.3f s (%.1f%%) + ref/old logp "
      "%.2f s (%.0f%%) + update %.2f s (%.0f%%); mean response %.1f tokens; rollout %.0f tok/s, update "
      "%.0f tok/s; peak RSS %.0f MB\n",
      n, steps > 1 ? "" : ", warm-up included", total / n, rollout / n, pct(rollout), reward / n, pct(reward),
      ref / n, pct(ref), update / n, pct(update), len / n, rtps / n, ttps / n, rss);
  std::fflush(stdout);
  fs::remove_all(tmp);
  if (qwen)
    update_efficiency(
        qs, train_tokens / n,
        double(r.get_int("grpo.prompts_per_step")) * double(r.get_int("grpo.group_size")) * (len / n),
        update / n, r.get_string("train.compute", "f32"));
  if (!torch) return 0;

  // The same step in PyTorch (fp32; the rollout under bf16 autocast when model.compute is bf16).
  const std::string cmd = fmt::format(
      "/usr/bin/python3 {}/bench/torch_grpo_step.py --hidden {} --layers {} --heads {} --kv-heads {} "
      "--head-dim {} --ffn {} --vocab {} --prompts {} --group {} --prompt-len {} --new-tokens {} "
      "--temperature {} --beta {} --eps-low {} --eps-high {} --lr {} --beta1 {} --beta2 {} --grad-clip {} "
      "--mu {} --mini-batches {} --loss-agg {} --rollout-dtype {} --steps {} --warmup {} --micro-batch {}",
      R1_SOURCE_DIR, qs.hidden, qs.layers, qs.heads, qs.kv_heads, qs.head_dim, qs.ffn, qs.vocab,
      r.get_int("grpo.prompts_per_step"), r.get_int("grpo.group_size"), qs.prompt_len,
      r.get_int("grpo.max_new_tokens"), r.get_float("grpo.temperature", 1.0), r.get_float("grpo.beta"),
      r.get_float("grpo.eps_low", 0.2), r.get_float("grpo.eps_high", 0.2), r.get_float("train.lr"),
      r.get_float("train.beta1", 0.9), r.get_float("train.beta2", 0.99), r.get_float("train.grad_clip", 1.0),
      r.get_int("grpo.mu", 1), r.get_int("grpo.mini_batches", 1),
      r.get_string("grpo.loss_agg", "seq-mean") == "token-mean" ? "token-mean" : "seq-mean",
      r.get_string("model.compute", "f32"), torch_steps, torch_warmup, torch_micro);
  const nlohmann::json t = run_json_command(cmd);
  if (!t.is_object()) {
    std::fprintf(stderr, "bench_grpo: the PyTorch step failed (it needs Debian's python3-torch)\n");
    return 1;
  }
  const double ts = t["step_s"].get<double>();
  std::printf(
      "torch %s (%d thread(s), rollout %s, mean of %d step(s) after %d warm-up): %.2f s = rollout %.2f s + "
      "ref/old logp %.2f s + update %.2f s; rollout %.0f tok/s, update %.0f tok/s; peak RSS %.0f MB\n",
      t["torch"].get<std::string>().c_str(), t["threads"].get<int>(),
      t["rollout_dtype"].get<std::string>().c_str(), t["steps"].get<int>(), t["warmup"].get<int>(), ts,
      t["rollout_s"].get<double>(), t["ref_s"].get<double>(), t["update_s"].get<double>(),
      t["rollout_tokens_per_s"].get<double>(), t["update_tokens_per_s"].get<double>(),
      t["peak_rss_mb"].get<double>());
  std::printf(
      "r1.cpp step / torch step: %.2f s / %.2f s = torch takes %.2fx r1.cpp's time (rollout %.2fx, ref "
      "%.2fx, update %.2fx)\n",
      total / n, ts, ts / (total / n), t["rollout_s"].get<double>() / (rollout / n),
      t["ref_s"].get<double>() / (ref / n), t["update_s"].get<double>() / (update / n));
  return 0;
}
