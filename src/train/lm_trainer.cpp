#include "train/lm_trainer.h"

#include <omp.h>

#include <chrono>
#include <filesystem>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "io/file.h"
#include "io/json.h"
#include "io/metrics.h"
#include "model/checkpoint.h"
#include "model/memory.h"
#include "rollout/prompts.h"
#include "train/data.h"
#include "train/loss.h"
#include "train/model_setup.h"
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
  std::string templ = "auto";  // data.template: how SFT renders conversations
  bool packing = false;
  std::string eval_path;
  int64_t eval_rows = 0;
  int64_t steps = 0;
  int64_t epochs = 0;
  int64_t eval_every = 0;
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
    s.add(KeyRule::string("model.path"), &S::model_path);
    for (KeyRule& k : model_shape_rules()) s.add_rule(std::move(k));
    s.add(
         KeyRule::string("data.path"), [](S& x) -> std::string& { return x.data.path; }, true)
        .add(KeyRule::integer("data.seq_len", 2, kInt), [](S& x) -> int64_t& { return x.data.seq_len; })
        .add(KeyRule::integer("data.builtin_docs", 1, int64_t{1} << 30),
             [](S& x) -> int64_t& { return x.data.builtin_docs; })
        .add(KeyRule::string("data.text_field"), [](S& x) -> std::string& { return x.data.text_field; })
        .add(KeyRule::string("data.prompt_field"), [](S& x) -> std::string& { return x.data.prompt_field; })
        .add(KeyRule::string("data.completion_field"),
             [](S& x) -> std::string& { return x.data.completion_field; })
        .add(KeyRule::string("data.messages_field"),
             [](S& x) -> std::string& { return x.data.messages_field; })
        .add(KeyRule::string("data.tools_field"), [](S& x) -> std::string& { return x.data.tools_field; })
        .add(KeyRule::string("data.template"), &S::templ)
        .add(KeyRule::boolean("data.packing"), &S::packing);
    add_run_length_keys(s);
    s.add(KeyRule::integer("train.batch_tokens", 1, int64_t{1} << 30), &S::batch_tokens)
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

// This rank's sequences of a micro-batch: contiguous, about equal in tokens.
Batch rank_share(const Batch& b) {
  if (!world().distributed() || b.num_seqs() == 0) return b;
  const std::vector<int64_t> cum(b.cu_seqlens.begin(), b.cu_seqlens.end());
  const Shard s = shard_by_cost(cum, world().rank(), world().size());
  return b.slice(s.begin, s.end);
}

// Mean cross-entropy of the held-out sequences (no gradient), in batches of batch_tokens; each
// rank scores its share of them.
std::pair<double, int64_t> eval_loss(Model& model, const std::vector<LmExample>& examples,
                                     int64_t batch_tokens) {
  double sum = 0;
  int64_t n = 0;
  Batch b;
  std::vector<float> logp;
  const Shard mine = my_shard(static_cast<int64_t>(examples.size()));
  for (size_t i = static_cast<size_t>(mine.begin); i < static_cast<size_t>(mine.end);) {
    b.clear();
    while (i < static_cast<size_t>(mine.end) &&
           (b.size() == 0 || b.size() + static_cast<int64_t>(examples[i].tokens.size()) <= batch_tokens)) {
      b.append(examples[i].tokens, examples[i].targets);
      i++;
    }
    logp.assign(static_cast<size_t>(b.size()), 0.f);
    model.forward(b, logp.data(), nullptr);
    for (int64_t t = 0; t < b.size(); t++)
      if (b.targets[t] >= 0) {
        sum -= logp[t];
        n++;
      }
  }
  sum = world().sum(sum), n = world().sum(n);
  return {n > 0 ? sum / static_cast<double>(n) : 0.0, n};
}

}  // namespace

namespace {

LmSettings read_lm_recipe(const Recipe& r) {
  const LmSettings cfg = lm_schema().read(r);
  check_run_length(r, cfg.eval_path, cfg.eval_rows, cfg.eval_every);
  return cfg;
}

}  // namespace

void check_lm_recipe(const Recipe& r) {
  (void)read_lm_recipe(r);
}

int run_lm_training(const std::string& mode, Recipe r, RunStart start) {
  const LmSettings cfg = read_lm_recipe(r);
  TrainingLoop loop(mode, r, start, cfg.train,
                    std::max<int64_t>(cfg.steps, 1));  // checks only: writes nothing yet
  // Tokenizer: the model's own when fine-tuning, else the built-in byte tokenizer.
  std::unique_ptr<Tokenizer> tok =
      cfg.model_path.empty() ? make_byte_tokenizer() : load_tokenizer(cfg.model_path);
  bool created = false;
  Model model = build_model(r, *tok, ModelBuild{false, 0.02f, cfg.data.seq_len}, &created);
  // Gradients, AdamW moments and activations must fit before any of them is allocated.
  TrainingMemoryPlan plan;
  plan.batch_tokens = cfg.batch_tokens;
  plan.compute = cfg.train.compute.dtype, plan.recompute = cfg.train.compute.recompute;
  check_training_memory(model.config(), plan, r.name(), "train.batch_tokens");

  LmDataConfig dc = cfg.data;
  dc.mode = mode;
  dc.seed = cfg.train.seed;
  dc.truncate = !cfg.packing;
  const std::optional<ChatTemplate> tmpl =
      mode == "sft" ? recipe_chat_template(cfg.templ, cfg.model_path) : std::nullopt;
  const LmChatFormat chat{tmpl ? &*tmpl : nullptr, end_of_turn_strings(model, *tok, tmpl)};
  LmDataStats stats;
  auto examples = load_lm_examples(dc, *tok, &stats, chat);
  std::vector<LmExample> held_out;
  if (cfg.eval_rows > 0) {
    // The held-out rows: the first eval_rows of a seeded permutation of the rows; every sequence
    // of a row goes with it.
    if (cfg.eval_rows >= stats.rows)
      fail("{}: data.eval_rows = {} leaves nothing to train on ({} has {} rows)", r.name(), cfg.eval_rows,
           dc.path, stats.rows);
    const std::vector<uint8_t> is_eval = held_out_rows(stats.rows, cfg.eval_rows, dc.seed);
    std::vector<LmExample> train;
    for (auto& ex : examples)
      (is_eval[static_cast<size_t>(ex.row)] ? held_out : train).push_back(std::move(ex));
    examples = std::move(train);
    if (examples.empty()) fail("{}: no training examples are left after data.eval_rows", dc.path);
  } else if (!cfg.eval_path.empty()) {
    LmDataConfig ec = dc;
    ec.path = cfg.eval_path;
    held_out = load_lm_examples(ec, *tok, nullptr, chat);
  }
  if (stats.truncated > 0 || stats.skipped > 0)
    std::fprintf(stderr, "%s: %s\n", dc.path.c_str(), stats.summary(dc.seq_len).c_str());
  for (const auto* set : {&examples, &held_out})
    for (const auto& ex : *set)
      for (int32_t id : ex.tokens)
        if (id >= model.config().vocab_size)
          fail("{}: token id {} exceeds the model's vocabulary", dc.path, id);
  const size_t n_examples = examples.size();
  LmStreamOptions so;
  so.batch_tokens = cfg.batch_tokens;
  so.pack_len = cfg.packing ? dc.seq_len : 0;
  so.epochs = cfg.epochs;
  LmDataStream stream(std::move(examples), so, dc.seed);
  if (cfg.epochs > 0) {
    int64_t micro = 0;
    for (int64_t e = 0; e < cfg.epochs; e++) micro += stream.batches_in_epoch(e);
    loop.set_steps((micro + cfg.grad_accum - 1) / cfg.grad_accum);
  }

  stream.set_position(loop.attach(model).data);
  loop.data_position = [&] { return stream.position(); };
  loop.export_model = [&](const std::string& dir) {
    save_model(model, dir, cfg.model_path, cfg.train.save_dtype);
    if (cfg.model_path.empty()) tok->save(dir);
  };
  loop.begin(r);  // everything is checked: from here on the run writes

  std::fprintf(stderr, "%s: %s model, %.2fM parameters, %zu examples%s, %lld steps%s, %s\n", mode.c_str(),
               model.config().arch_name().c_str(), model.num_params() / 1e6, n_examples,
               held_out.empty() ? "" : fmt::format(" (+{} held out)", held_out.size()).c_str(),
               (long long)loop.steps(), cfg.epochs > 0 ? fmt::format(" ({} epochs)", cfg.epochs).c_str() : "",
               start.resume ? fmt::format("resuming at step {}", loop.step()).c_str()
                            : (created ? "from scratch" : "fine-tuning"));
  auto evaluate = [&] {
    if (held_out.empty()) return;
    const auto [loss, n] = eval_loss(model, held_out, cfg.batch_tokens);
    loop.metrics().write({{"step", loop.step()}, {"eval/loss", loss}, {"eval/tokens", n}});
    std::fprintf(stderr, "%s: step %lld held-out loss %.4f (%lld tokens)\n", mode.c_str(),
                 (long long)loop.step(), loss, (long long)n);
  };
  if (loop.step() == 0) evaluate();
  Progress progress(mode, loop.steps(), loop.step());
  const auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  std::vector<Batch> micro(static_cast<size_t>(cfg.grad_accum));
  while (!loop.done()) {
    const auto t0 = std::chrono::steady_clock::now();
    const double comm0 = world().seconds();
    int64_t n_targets = 0, n_tokens = 0;
    for (auto& b : micro) {
      if (!stream.next_batch(b)) continue;  // the last step of train.epochs may have fewer micro-batches
      n_tokens += b.size();
      for (int32_t t : b.targets) n_targets += t >= 0;
    }
    // Mean over every target token of the step, so accumulation equals one large batch. Every
    // rank reads the whole stream and trains its share of each micro-batch's sequences: the
    // global batch, so the loss and the summed gradient are those of one process.
    const float w = n_targets > 0 ? 1.f / static_cast<float>(n_targets) : 0.f;
    model.zero_grads();
    double loss = 0;
    for (const auto& b : micro) {
      const Batch mine = rank_share(b);
      if (mine.size() > 0) loss += model.forward_backward(mine, weighted_cross_entropy(mine, w));
    }
    loss = world().sum(loss);
    const double norm = loop.clip_gradients();
    const double lr = loop.lr();
    if (!std::isfinite(loss) || !std::isfinite(norm))
      fail("step {}: loss or gradient norm is not finite (loss {}, norm {}); lower train.lr", loop.step() + 1,
           loss, norm);
    loop.optimizer_step();
    tokens_seen += n_tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    nlohmann::json row = {{"step", loop.step() + 1},
                          {"loss", loss},
                          {"lr", lr},
                          {"grad_norm", norm},
                          {"tokens", n_tokens},
                          {"target_tokens", n_targets},
                          {"tokens_per_s", n_tokens / std::max(dt, 1e-9)},
                          {"elapsed_s", elapsed},
                          {"peak_rss_mb", double(peak_rss_bytes()) / 1048576.0},
                          {"epoch", stream.position().epoch}};
    if (world().distributed()) {  // rank 0's seconds in collectives (waits for the others included)
      row["dist/ranks"] = world().size();
      row["dist/comm_s"] = world().seconds() - comm0;
    }
    if (loop.step() == 0) {  // what loading made of the data, once, in the first step's row
      row["data/rows"] = stats.rows;
      row["data/conversations"] = stats.conversations;
      row["data/sequences"] = stats.examples;
      row["data/truncated"] = stats.truncated;
      row["data/skipped"] = stats.skipped;
      row["data/trained_tokens"] = stats.trained_tokens;
      row["data/truncated_tokens"] = stats.truncated_targets;
      row["data/held_out_sequences"] = held_out.size();
    }
    loop.metrics().write(row);
    progress.update(loop.step() + 1, {{"loss", fmt::format("{:.4f}", loss)},
                                      {"lr", fmt::format("{:.2e}", lr)},
                                      {"tok/s", format_count(tokens_seen / std::max(elapsed, 1e-9))}});
    if (loop.end_step(progress)) break;
    if (cfg.eval_every > 0 && loop.step() % cfg.eval_every == 0 && !loop.done()) evaluate();
  }
  if (loop.done()) evaluate();
  const int rc = loop.finish(progress);
  if (rc == 0)
    std::fprintf(stderr, "%s: done, %lld steps; model saved to %s\n", mode.c_str(), (long long)loop.step(),
                 loop.run().path(RunDir::kModel).c_str());
  return rc;
}

}  // namespace r1
