#include "train/lm_trainer.h"

#include <omp.h>

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
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
#include "train/training_loop.h"

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

namespace {

// An LM-training recipe, typed. The model's shape keys (model.arch, model.hidden_size, ...) are
// read by build_model when a model is created from scratch.
struct LmSettings {
  std::string model_path;
  LmDataConfig data;
  int64_t steps = 0;
  int64_t batch_tokens = 4096;
  int64_t grad_accum = 1;
  TrainSettings train;
};

const RecipeSchema<LmSettings>& lm_schema() {
  // Sizes only need to be positive ints here: what they add up to is checked against the
  // machine's memory when the model is built (model/memory.h), naming the key that makes it big.
  constexpr int64_t kInt = 2147483647;
  using S = LmSettings;
  static const RecipeSchema<S> schema = [] {
    RecipeSchema<S> s;
    s.add(KeyRule::string("model.path"), &S::model_path)
        .add_rule(KeyRule::string("model.config"))
        .add_rule(KeyRule::string("model.arch", {"llama", "qwen2", "qwen3"}))
        .add_rule(KeyRule::integer("model.hidden_size", 1, kInt))
        .add_rule(KeyRule::integer("model.intermediate_size", 1, kInt))
        .add_rule(KeyRule::integer("model.num_layers", 1, kInt))
        .add_rule(KeyRule::integer("model.num_heads", 1, kInt))
        .add_rule(KeyRule::integer("model.num_kv_heads", 1, kInt))
        .add_rule(KeyRule::integer("model.head_dim", 1, kInt))
        .add_rule(KeyRule::positive("model.rope_theta"))
        .add_rule(KeyRule::real("model.rms_norm_eps", 0, 1, true, true))
        .add_rule(KeyRule::boolean("model.tie_word_embeddings"))
        .add_rule(KeyRule::non_negative("model.init_std"))
        .add(
            KeyRule::string("data.path"), [](S& x) -> std::string& { return x.data.path; }, true)
        .add(KeyRule::integer("data.seq_len", 2, kInt), [](S& x) -> int64_t& { return x.data.seq_len; })
        .add(KeyRule::integer("data.builtin_docs", 1, int64_t{1} << 30),
             [](S& x) -> int64_t& { return x.data.builtin_docs; })
        .add(KeyRule::string("data.text_field"), [](S& x) -> std::string& { return x.data.text_field; })
        .add(KeyRule::string("data.prompt_field"), [](S& x) -> std::string& { return x.data.prompt_field; })
        .add(KeyRule::string("data.completion_field"),
             [](S& x) -> std::string& { return x.data.completion_field; })
        .add(KeyRule::int_at_least("train.steps", 1), &S::steps, true)
        .add(KeyRule::integer("train.batch_tokens", 1, int64_t{1} << 30), &S::batch_tokens)
        .add(KeyRule::integer("train.grad_accum", 1, int64_t{1} << 20), &S::grad_accum)
        .add_part(train_settings_schema(), [](S& x) -> TrainSettings& { return x.train; });
    return s;
  }();
  return schema;
}

}  // namespace

std::vector<KeyRule> lm_recipe_rules() {
  return lm_schema().rules();
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
  const LmSettings cfg = lm_schema().read(r);
  TrainingLoop loop(mode, r, start, cfg.train, cfg.steps);  // checks only: writes nothing yet
  // Tokenizer: the model's own when fine-tuning, else the built-in byte tokenizer.
  std::unique_ptr<Tokenizer> tok =
      cfg.model_path.empty() ? make_byte_tokenizer() : load_tokenizer(cfg.model_path);
  bool created = false;
  Model model = build_model(r, *tok, &created);
  // Gradients, AdamW moments and activations must fit before any of them is allocated.
  TrainingMemoryPlan plan;
  plan.batch_tokens = cfg.batch_tokens;
  plan.compute = cfg.train.compute.dtype, plan.recompute = cfg.train.compute.recompute;
  check_training_memory(model.config(), plan, r.name(), "train.batch_tokens");

  LmDataConfig dc = cfg.data;
  dc.mode = mode;
  dc.seed = cfg.train.seed;
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
  LmDataStream stream(std::move(examples), cfg.batch_tokens, dc.seed);

  stream.set_position(loop.attach(model).data);
  loop.data_position = [&] { return stream.position(); };
  loop.export_model = [&](const std::string& dir) {
    save_model(model, dir, cfg.model_path);
    if (cfg.model_path.empty()) tok->save(dir);
  };
  loop.begin(r);  // everything is checked: from here on the run writes

  std::fprintf(stderr, "%s: %s model, %.2fM parameters, %zu examples, %s\n", mode.c_str(),
               model.config().arch_name().c_str(), model.num_params() / 1e6, n_examples,
               start.resume ? fmt::format("resuming at step {}", loop.step()).c_str()
                            : (created ? "from scratch" : "fine-tuning"));
  Progress progress(mode, loop.steps(), loop.step());
  const auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  std::vector<Batch> micro(static_cast<size_t>(cfg.grad_accum));
  while (!loop.done()) {
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
    const double norm = loop.clip_gradients();
    const double lr = loop.lr();
    if (!std::isfinite(loss) || !std::isfinite(norm))
      fail("step {}: loss or gradient norm is not finite (loss {}, norm {}); lower train.lr", loop.step() + 1,
           loss, norm);
    loop.optimizer_step();
    tokens_seen += n_tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    loop.metrics().write({{"step", loop.step() + 1},
                          {"loss", loss},
                          {"lr", lr},
                          {"grad_norm", norm},
                          {"tokens", n_tokens},
                          {"tokens_per_s", n_tokens / std::max(dt, 1e-9)},
                          {"elapsed_s", elapsed},
                          {"peak_rss_mb", double(peak_rss_bytes()) / 1048576.0},
                          {"epoch", stream.position().epoch}});
    progress.update(loop.step() + 1, {{"loss", fmt::format("{:.4f}", loss)},
                                      {"lr", fmt::format("{:.2e}", lr)},
                                      {"tok/s", format_count(tokens_seen / std::max(elapsed, 1e-9))}});
    if (loop.end_step(progress)) break;
  }
  const int rc = loop.finish(progress);
  if (rc == 0)
    std::fprintf(stderr, "%s: done, %lld steps; model saved to %s\n", mode.c_str(), (long long)loop.step(),
                 loop.run().path(RunDir::kModel).c_str());
  return rc;
}

}  // namespace r1
