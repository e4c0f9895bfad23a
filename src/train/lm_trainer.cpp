#include "train/lm_trainer.h"

#include <omp.h>

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "core/stop_signals.h"
#include "io/file.h"
#include "io/json.h"
#include "io/metrics.h"
#include "model/checkpoint.h"
#include "model/memory.h"
#include "train/data.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/run_dir.h"
#include "train/train_state.h"

namespace r1 {

namespace fs = std::filesystem;

const char* default_pretrain_recipe() {
  return R"(# r1 pretrain's built-in default: a 0.77M-parameter Llama learns worked additions from scratch.
[model]
path = ""               # a Hugging Face directory or .gguf to start from; empty: create from the keys below
arch = "llama"
hidden_size = 128
intermediate_size = 352
num_layers = 4
num_heads = 4
num_kv_heads = 2
head_dim = 32
rope_theta = 10000.0
tie_word_embeddings = true
init_std = 0.02

[data]
path = "builtin:arith"
seq_len = 96
builtin_docs = 20000

[train]
steps = 600
batch_tokens = 4096
grad_accum = 1
lr = 3e-3
schedule = "cosine"
warmup_steps = 20
min_lr_ratio = 0.1
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
eps = 1e-8
grad_clip = 1.0
seed = 1
threads = 0             # 0: all cores

[output]
dir = "runs/pretrain"
save_every = 100
overwrite = true
)";
}

std::vector<KeyRule> lm_recipe_rules() {
  // Sizes only need to be positive ints here: what they add up to is checked against the
  // machine's memory when the model is built (model/memory.h), naming the key that makes it big.
  constexpr int64_t kInt = 2147483647;
  std::vector<KeyRule> rules = {
      KeyRule::string("model.path"),
      KeyRule::string("model.config"),
      KeyRule::string("model.arch", {"llama", "qwen2", "qwen3"}),
      KeyRule::integer("model.hidden_size", 1, kInt),
      KeyRule::integer("model.intermediate_size", 1, kInt),
      KeyRule::integer("model.num_layers", 1, kInt),
      KeyRule::integer("model.num_heads", 1, kInt),
      KeyRule::integer("model.num_kv_heads", 1, kInt),
      KeyRule::integer("model.head_dim", 1, kInt),
      KeyRule::positive("model.rope_theta"),
      KeyRule::real("model.rms_norm_eps", 0, 1, true, true),
      KeyRule::boolean("model.tie_word_embeddings"),
      KeyRule::non_negative("model.init_std"),
      KeyRule::string("data.path"),
      KeyRule::integer("data.seq_len", 2, kInt),
      KeyRule::integer("data.builtin_docs", 1, int64_t{1} << 30),
      KeyRule::string("data.text_field"),
      KeyRule::string("data.prompt_field"),
      KeyRule::string("data.completion_field"),
      KeyRule::int_at_least("train.steps", 1),
      KeyRule::integer("train.batch_tokens", 1, int64_t{1} << 30),
      KeyRule::integer("train.grad_accum", 1, int64_t{1} << 20),
  };
  for (KeyRule& k : common_train_rules()) rules.push_back(std::move(k));
  return rules;
}

namespace {

// Either the model to fine-tune (model.path) or a fresh one from the recipe's keys.
Model build_model(const Recipe& r, const Tokenizer& tok, bool* created) {
  const std::string path = r.get_string("model.path", "");
  *created = path.empty();
  if (!path.empty()) return load_model(path);
  ModelConfig c;
  if (r.has("model.config")) {
    const std::string cp = r.get_string("model.config");
    c = ModelConfig::from_hf_json(read_json_file(cp), cp);
  } else {
    c.arch = arch_from_name(r.get_string("model.arch", "llama"), r.name());
    c.vocab_size = tok.vocab_size();
    c.hidden_size = static_cast<int>(r.get_int("model.hidden_size"));
    c.intermediate_size = static_cast<int>(r.get_int("model.intermediate_size"));
    c.num_layers = static_cast<int>(r.get_int("model.num_layers"));
    c.num_heads = static_cast<int>(r.get_int("model.num_heads"));
    c.num_kv_heads = static_cast<int>(r.get_int("model.num_kv_heads", c.num_heads));
    c.head_dim = static_cast<int>(r.get_int("model.head_dim", c.hidden_size / std::max(1, c.num_heads)));
    c.rope_theta = r.get_float("model.rope_theta", 10000.0);
    c.rms_norm_eps = static_cast<float>(r.get_float("model.rms_norm_eps", 1e-5));
    c.tie_word_embeddings = r.get_bool("model.tie_word_embeddings", true);
    c.attention_bias = c.arch == Arch::Qwen2;
    c.qk_norm = c.arch == Arch::Qwen3;
    c.max_position_embeddings = static_cast<int>(r.get_int("data.seq_len", 256));
    c.bos_token_id = tok.bos_id();
    if (tok.eos_id() >= 0) c.eos_token_ids = {tok.eos_id()};
    c.validate(r.name());
  }
  if (c.vocab_size < tok.vocab_size())
    fail("{}: the model's vocab_size {} is smaller than the tokenizer's {}", r.name(), c.vocab_size,
         tok.vocab_size());
  Model m(c);
  m.init_random(static_cast<uint64_t>(r.get_int("train.seed", 1)),
                static_cast<float>(r.get_float("model.init_std", 0.02)));
  return m;
}

}  // namespace

int run_lm_training(const std::string& mode, Recipe r, RunStart start) {
  r.check(lm_recipe_rules());
  const bool resume = start.resume;
  RunDir run(r, start);  // checks only: the old run, if any, stays until run.begin()
  const std::string out_dir = run.dir();
  const std::string state_path = run.path(RunDir::kState);
  const std::string metrics_path = run.path(RunDir::kMetrics);
  if (int threads = static_cast<int>(r.get_int("train.threads", 0)); threads > 0)
    omp_set_num_threads(threads);

  // Tokenizer: the model's own when fine-tuning, else the built-in byte tokenizer.
  const std::string model_path = r.get_string("model.path", "");
  std::unique_ptr<Tokenizer> tok = model_path.empty() ? make_byte_tokenizer() : load_tokenizer(model_path);
  bool created = false;
  Model model = build_model(r, *tok, &created);
  // Gradients, AdamW moments and activations must fit before any of them is allocated.
  TrainingMemoryPlan plan;
  plan.batch_tokens = r.get_int("train.batch_tokens", 4096);
  check_training_memory(model.config(), plan, r.name(), "train.batch_tokens");

  LmDataConfig dc;
  dc.mode = mode;
  dc.path = r.get_string("data.path");
  dc.seq_len = r.get_int("data.seq_len", 256);
  dc.builtin_docs = r.get_int("data.builtin_docs", 20000);
  dc.text_field = r.get_string("data.text_field", "text");
  dc.prompt_field = r.get_string("data.prompt_field", "prompt");
  dc.completion_field = r.get_string("data.completion_field", "completion");
  const uint64_t seed = static_cast<uint64_t>(r.get_int("train.seed", 1));
  dc.seed = seed;
  int64_t skipped = 0;
  auto examples = load_lm_examples(dc, *tok, &skipped);
  if (skipped > 0)
    std::fprintf(stderr, "%s: skipped %lld rows whose prompt fills seq_len\n", dc.path.c_str(),
                 (long long)skipped);
  for (const auto& ex : examples)
    for (int32_t id : ex.tokens)
      if (id >= model.config().vocab_size)
        fail("{}: token id {} exceeds the model's vocabulary", dc.path, id);
  const size_t n_examples = examples.size();
  LmDataStream stream(std::move(examples), r.get_int("train.batch_tokens", 4096), seed);

  AdamWConfig ac{r.get_float("train.beta1", 0.9), r.get_float("train.beta2", 0.95),
                 r.get_float("train.eps", 1e-8), r.get_float("train.weight_decay", 0.0)};
  AdamW opt(ac, model.num_params());
  ScheduleConfig sc{r.get_string("train.schedule", "cosine"), r.get_float("train.lr", 3e-4),
                    r.get_int("train.warmup_steps", 0), r.get_int("train.steps"),
                    r.get_float("train.min_lr_ratio", 0.1)};
  lr_at(sc, 0);  // validates the schedule name before any work
  const int64_t steps = sc.total_steps, accum = std::max<int64_t>(1, r.get_int("train.grad_accum", 1));
  const double clip = r.get_float("train.grad_clip", 1.0);
  const int64_t save_every = r.get_int("output.save_every", 0);

  TrainState st;
  st.seed = seed;
  if (resume) {
    st = load_train_state(state_path, model, opt);
    stream.set_position(st.data);
  }
  run.begin(r, st.step);  // everything is checked: from here on the run writes
  MetricsWriter metrics(metrics_path, resume);
  run.record_changes(metrics, st.step);

  auto save = [&](bool export_model) {
    st.data = stream.position();
    save_train_state(state_path, model, opt, st);
    if (export_model) {
      const std::string mdir = run.path(RunDir::kModel);
      save_model(model, mdir, model_path.empty() ? "" : model_path);
      if (model_path.empty()) tok->save(mdir);
    }
  };

  std::fprintf(stderr, "%s: %s model, %.2fM parameters, %zu examples, %s\n", mode.c_str(),
               model.config().arch_name().c_str(), model.num_params() / 1e6, n_examples,
               resume ? fmt::format("resuming at step {}", st.step).c_str()
                      : (created ? "from scratch" : "fine-tuning"));
  StopSignals signals;
  Progress progress(mode, steps, st.step);
  const auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  std::vector<Batch> micro(accum);
  int rc = 0;
  while (st.step < steps) {
    const auto t0 = std::chrono::steady_clock::now();
    int64_t n_targets = 0, n_tokens = 0;
    for (auto& b : micro) {
      stream.next_batch(b);
      n_tokens += b.size();
      for (int32_t t : b.targets) n_targets += t >= 0;
    }
    // Mean over every target token of the step, so accumulation equals one large batch.
    const float w = n_targets > 0 ? 1.f / static_cast<float>(n_targets) : 0.f;
    model.zero_grads();
    double loss = 0;
    for (const auto& b : micro) loss += model.forward_backward(b, weighted_cross_entropy(b, w));
    const double norm = clip_grad_norm(model.grads(), model.num_params(), clip);
    const double lr = lr_at(sc, st.step);
    if (!std::isfinite(loss) || !std::isfinite(norm))
      fail("step {}: loss or gradient norm is not finite (loss {}, norm {}); lower train.lr", st.step + 1,
           loss, norm);
    opt.step(model, lr);
    st.step++;
    tokens_seen += n_tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    metrics.write({{"step", st.step},
                   {"loss", loss},
                   {"lr", lr},
                   {"grad_norm", norm},
                   {"tokens", n_tokens},
                   {"tokens_per_s", n_tokens / std::max(dt, 1e-9)},
                   {"elapsed_s", elapsed},
                   {"epoch", stream.position().epoch}});
    progress.update(st.step, {{"loss", fmt::format("{:.4f}", loss)},
                              {"lr", fmt::format("{:.2e}", lr)},
                              {"tok/s", format_count(tokens_seen / std::max(elapsed, 1e-9))}});
    if (save_every > 0 && st.step % save_every == 0 && st.step < steps) save(false);
    if (stop_after_step(signals, st.step) && st.step < steps) {
      progress.finish();
      save(true);
      std::fprintf(stderr, "%s: interrupted at step %lld; state saved. Continue with --resume.\n",
                   mode.c_str(), (long long)st.step);
      rc = 130;
      break;
    }
  }
  if (rc == 0) {
    progress.finish();
    save(true);
    run.mark_complete();
    std::fprintf(stderr, "%s: done, %lld steps; model saved to %s\n", mode.c_str(), (long long)st.step,
                 (fs::path(out_dir) / "model").string().c_str());
  }
  return rc;
}

}  // namespace r1
