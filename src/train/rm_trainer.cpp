#include "train/rm_trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "io/jsonl.h"
#include "model/checkpoint.h"
#include "model/memory.h"
#include "train/model_reward.h"
#include "train/model_setup.h"
#include "train/preference_data.h"
#include "train/training_loop.h"

namespace r1 {

const char* default_rm_recipe() {
  return R"(# r1 rm train's built-in default: a tiny Llama reward model learns, from scratch, to prefer a
# sorted answer ("sort 5071938264:" then "0123456789") to one with an adjacent pair swapped
# ("0123546789"); held-out pairs are other lists.
[model]
path = ""               # a causal LM or reward model to start from; empty: create from the keys below
arch = "llama"
hidden_size = 64
intermediate_size = 176
num_layers = 2
num_heads = 4
num_kv_heads = 2
head_dim = 16
tie_word_embeddings = true
init_std = 0.02

[data]
path = "builtin:sort"
builtin_rows = 4000
eval_rows = 400
max_len = 32

[train]
steps = 300
batch_pairs = 64
lr = 3e-3
schedule = "cosine"
warmup_steps = 20
min_lr_ratio = 0.1
weight_decay = 0.0
grad_clip = 1.0
eval_every = 50
seed = 1
threads = 0             # 0: all cores

[output]
dir = "runs/rm"
save_every = 100
overwrite = true
)";
}

namespace {

struct RmSettings {
  std::string model_path;
  double score_init_std = 0.02;
  PreferenceDataConfig data;
  std::string templ = "auto";
  std::string eval_path;
  int64_t eval_rows = 0;
  int64_t steps = 0;
  int64_t epochs = 0;
  int64_t eval_every = 0;
  int64_t batch_pairs = 32;
  int64_t micro_batch_tokens = 0;  // 0: a step's pairs in one forward_backward
  double center = 0;               // train.center_rewards_coefficient
  TrainSettings train;
};

const RecipeSchema<RmSettings>& rm_schema() {
  constexpr int64_t kInt = 2147483647;
  using S = RmSettings;
  static const RecipeSchema<S> schema = [] {
    RecipeSchema<S> s;
    s.add(KeyRule::string("model.path"), &S::model_path);
    for (KeyRule& k : model_shape_rules()) s.add_rule(std::move(k));
    s.add(KeyRule::non_negative("model.score_init_std"), &S::score_init_std)
        .add(
            KeyRule::string("data.path"), [](S& x) -> std::string& { return x.data.path; }, true)
        .add(KeyRule::string("data.prompt_field"), [](S& x) -> std::string& { return x.data.prompt_field; })
        .add(KeyRule::string("data.chosen_field"), [](S& x) -> std::string& { return x.data.chosen_field; })
        .add(KeyRule::string("data.rejected_field"),
             [](S& x) -> std::string& { return x.data.rejected_field; })
        .add(KeyRule::string("data.margin_field"), [](S& x) -> std::string& { return x.data.margin_field; })
        .add(KeyRule::integer("data.max_len", 2, kInt), [](S& x) -> int64_t& { return x.data.max_len; })
        .add(KeyRule::integer("data.builtin_rows", 1, 1000000),
             [](S& x) -> int64_t& { return x.data.builtin_rows; })
        .add(KeyRule::string("data.template"), &S::templ);
    add_run_length_keys(s);
    s.add(KeyRule::integer("train.batch_pairs", 1, int64_t{1} << 24), &S::batch_pairs)
        .add(KeyRule::integer("train.micro_batch_tokens", 0, int64_t{1} << 30), &S::micro_batch_tokens)
        .add(KeyRule::non_negative("train.center_rewards_coefficient"), &S::center)
        .add_part(train_settings_schema(), [](S& x) -> TrainSettings& { return x.train; });
    return s;
  }();
  return schema;
}

RmSettings read_rm_recipe(const Recipe& r) {
  RmSettings cfg = rm_schema().read(r);
  check_run_length(r, cfg.eval_path, cfg.eval_rows, cfg.eval_every);
  cfg.data.seed = cfg.train.seed;
  return cfg;
}

// The pairs [i0, i1) of `order` (indices into pairs) as one packed batch: chosen, rejected, ...
void pack_pairs(const std::vector<PreferencePair>& pairs, const std::vector<int64_t>& idx, size_t i0,
                size_t i1, Batch& b, std::vector<float>& margins) {
  b.clear();
  margins.clear();
  for (size_t i = i0; i < i1; i++) {
    const PreferencePair& p = pairs[static_cast<size_t>(idx[i])];
    b.append(p.chosen, std::vector<int32_t>(p.chosen.size(), -1));
    b.append(p.rejected, std::vector<int32_t>(p.rejected.size(), -1));
    margins.push_back(p.margin);
  }
}

// Splits idx into runs of pairs of at most `tokens` tokens (each run at least one pair; 0: one run).
std::vector<std::pair<size_t, size_t>> micro_batches(const std::vector<PreferencePair>& pairs,
                                                     const std::vector<int64_t>& idx, int64_t tokens) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t start = 0;
  int64_t have = 0;
  for (size_t i = 0; i < idx.size(); i++) {
    const PreferencePair& p = pairs[static_cast<size_t>(idx[i])];
    const auto n = static_cast<int64_t>(p.chosen.size() + p.rejected.size());
    if (tokens > 0 && i > start && have + n > tokens) {
      out.emplace_back(start, i);
      start = i, have = 0;
    }
    have += n;
  }
  if (start < idx.size()) out.emplace_back(start, idx.size());
  return out;
}

struct EvalResult {
  double loss = 0, accuracy = 0, chosen = 0, rejected = 0;
  int64_t pairs = 0;
};

// Data parallelism: the sums of the ranks' shares (loss, statistics, tokens).
void sum_over_ranks(double& loss, BradleyTerryStats& st, int64_t* tokens = nullptr) {
  if (!world().distributed()) return;
  double d[] = {loss, st.correct, st.chosen_sum, st.rejected_sum};
  int64_t n[] = {st.pairs, tokens ? *tokens : 0};
  world().sum(d, 4), world().sum(n, 2);
  loss = d[0], st.correct = d[1], st.chosen_sum = d[2], st.rejected_sum = d[3], st.pairs = n[0];
  if (tokens) *tokens = n[1];
}

// This rank's contiguous block of a step's pairs.
std::vector<int64_t> my_pairs(const std::vector<int64_t>& idx) {
  const Shard s = my_shard(static_cast<int64_t>(idx.size()));
  return {idx.begin() + s.begin, idx.begin() + s.end};
}

EvalResult evaluate_pairs(Model& model, const std::vector<PreferencePair>& pairs, int64_t batch_tokens,
                          double center) {
  std::vector<int64_t> all(pairs.size());
  std::iota(all.begin(), all.end(), 0);
  const std::vector<int64_t> idx = my_pairs(all);
  BradleyTerryStats st;
  double loss = 0;
  Batch b;
  std::vector<float> margins, scores, dummy;
  const double w = pairs.empty() ? 0 : 1.0 / static_cast<double>(pairs.size());
  for (const auto& [i0, i1] : micro_batches(pairs, idx, batch_tokens > 0 ? batch_tokens : 8192)) {
    pack_pairs(pairs, idx, i0, i1, b, margins);
    scores.resize(static_cast<size_t>(b.num_seqs()));
    dummy.resize(scores.size());
    model.forward_scores(b, scores.data());
    loss += bradley_terry_loss(margins, w, center, &st)(scores.data(), dummy.data());
  }
  sum_over_ranks(loss, st);
  EvalResult e;
  e.pairs = st.pairs;
  e.loss = loss;
  if (st.pairs > 0) {
    e.accuracy = st.correct / static_cast<double>(st.pairs);
    e.chosen = st.chosen_sum / static_cast<double>(st.pairs);
    e.rejected = st.rejected_sum / static_cast<double>(st.pairs);
  }
  return e;
}

}  // namespace

std::vector<KeyRule> rm_recipe_rules() {
  return rm_schema().rules();
}

void check_rm_recipe(const Recipe& r) {
  (void)read_rm_recipe(r);
}

SequenceLossFn bradley_terry_loss(const std::vector<float>& margins, double weight, double center,
                                  BradleyTerryStats* stats) {
  return [&margins, weight, center, stats](const float* s, float* ds) {
    double loss = 0;
    for (size_t i = 0; i < margins.size(); i++) {
      const double rc = s[2 * i], rr = s[2 * i + 1], d = rc - rr - margins[i], sum = rc + rr;
      // -log sigmoid(d) = softplus(-d), stably; its derivative in d is -sigmoid(-d).
      const double nll = std::max(-d, 0.0) + std::log1p(std::exp(-std::abs(d)));
      const double sig_neg = d >= 0 ? std::exp(-d) / (1 + std::exp(-d)) : 1 / (1 + std::exp(d));
      loss += weight * (nll + center * sum * sum);
      ds[2 * i] = static_cast<float>(weight * (-sig_neg + 2 * center * sum));
      ds[2 * i + 1] = static_cast<float>(weight * (sig_neg + 2 * center * sum));
      if (stats) {
        stats->pairs++;
        stats->correct += rc > rr ? 1.0 : rc == rr ? 0.5 : 0.0;
        stats->chosen_sum += rc, stats->rejected_sum += rr;
      }
    }
    return loss;
  };
}

int run_rm_training(Recipe r, RunStart start) {
  const RmSettings cfg = read_rm_recipe(r);
  const char* name = "rm train";
  TrainingLoop loop(name, r, start, cfg.train, std::max<int64_t>(cfg.steps, 1));  // checks only
  std::unique_ptr<Tokenizer> tok =
      cfg.model_path.empty() ? make_byte_tokenizer() : load_tokenizer(cfg.model_path);
  bool created = false;
  Model model = build_model(
      r, *tok, ModelBuild{true, static_cast<float>(cfg.score_init_std), cfg.data.max_len}, &created);
  if (cfg.data.max_len > model.config().max_position_embeddings)
    fail("{}: data.max_len {} exceeds the model's max_position_embeddings {}", r.name(), cfg.data.max_len,
         model.config().max_position_embeddings);
  TrainingMemoryPlan plan;
  plan.batch_tokens = cfg.micro_batch_tokens > 0 ? cfg.micro_batch_tokens + 2 * cfg.data.max_len
                                                 : 2 * cfg.data.max_len * cfg.batch_pairs;
  plan.compute = cfg.train.compute.dtype, plan.recompute = cfg.train.compute.recompute;
  check_training_memory(model.config(), plan, r.name(), "train.micro_batch_tokens");

  const std::optional<ChatTemplate> tmpl = recipe_chat_template(cfg.templ, cfg.model_path);
  const PreferenceFormat fmt{tmpl ? &*tmpl : nullptr, end_of_turn_strings(model, *tok, tmpl)};
  PreferenceStats stats;
  std::vector<PreferencePair> pairs = load_preference_pairs(cfg.data, *tok, fmt, &stats);
  std::vector<PreferencePair> held_out;
  PreferenceStats eval_stats;
  if (cfg.eval_rows > 0) {
    if (cfg.eval_rows >= stats.rows)
      fail("{}: data.eval_rows = {} leaves nothing to train on ({} has {} rows)", r.name(), cfg.eval_rows,
           cfg.data.path, stats.rows);
    const std::vector<uint8_t> is_eval = held_out_rows(stats.rows, cfg.eval_rows, cfg.data.seed);
    std::vector<PreferencePair> train;
    for (auto& p : pairs) (is_eval[static_cast<size_t>(p.row)] ? held_out : train).push_back(std::move(p));
    pairs = std::move(train);
    if (pairs.empty()) fail("{}: no training pairs are left after data.eval_rows", cfg.data.path);
  } else if (!cfg.eval_path.empty()) {
    PreferenceDataConfig ec = cfg.data;
    ec.path = cfg.eval_path;
    held_out = load_preference_pairs(ec, *tok, fmt, &eval_stats);
  }
  if (stats.dropped_long > 0)
    std::fprintf(stderr, "%s: %s: %lld of %lld pairs dropped: longer than data.max_len %lld\n", name,
                 cfg.data.path.c_str(), (long long)stats.dropped_long, (long long)stats.rows,
                 (long long)cfg.data.max_len);
  if (eval_stats.dropped_long > 0)
    std::fprintf(stderr, "%s: %s: %lld of %lld held-out pairs dropped: longer than data.max_len %lld\n", name,
                 cfg.eval_path.c_str(), (long long)eval_stats.dropped_long, (long long)eval_stats.rows,
                 (long long)cfg.data.max_len);
  for (const auto* set : {&pairs, &held_out})
    for (const auto& p : *set)
      for (const auto* seq : {&p.chosen, &p.rejected})
        for (int32_t id : *seq)
          if (id >= model.config().vocab_size)
            fail("{}: token id {} exceeds the model's vocabulary", cfg.data.path, id);
  const auto N = static_cast<int64_t>(pairs.size());
  if (cfg.epochs > 0) loop.set_steps((cfg.epochs * N + cfg.batch_pairs - 1) / cfg.batch_pairs);

  // The data order: epoch e is a Fisher-Yates shuffle keyed by (seed, e); the position is (epoch,
  // index of the next pair), so a resumed run draws exactly the pairs an uninterrupted one would.
  DataPosition pos = loop.attach(model).data;
  auto order = [&](int64_t epoch) {
    std::vector<int64_t> o(static_cast<size_t>(N));
    std::iota(o.begin(), o.end(), 0);
    shuffle_by(o, [&](size_t i) { return hash_u64(cfg.data.seed, 0x5eed, static_cast<uint64_t>(epoch), i); });
    return o;
  };
  if (pos.index < 0 || pos.index > N || pos.epoch < 0)
    fail("{}: the checkpoint's data position ({}, {}) does not fit {} pairs", loop.run().path(RunDir::kState),
         pos.epoch, pos.index, N);
  std::vector<int64_t> epoch_order = order(pos.epoch);
  loop.data_position = [&] { return pos; };
  loop.export_model = [&](const std::string& dir) {
    save_model(model, dir, cfg.model_path, cfg.train.save_dtype);
    if (cfg.model_path.empty()) tok->save(dir);
  };
  loop.begin(r);  // everything is checked: from here on the run writes

  std::fprintf(stderr, "%s: %s, %.2fM parameters, %lld pairs%s, %lld steps of %lld pairs, %s\n", name,
               model.config().arch_name().c_str(), model.num_params() / 1e6, (long long)N,
               held_out.empty() ? "" : fmt::format(" (+{} held out)", held_out.size()).c_str(),
               (long long)loop.steps(), (long long)cfg.batch_pairs,
               start.resume ? fmt::format("resuming at step {}", loop.step()).c_str()
                            : (created ? "from scratch" : "from " + cfg.model_path).c_str());
  auto evaluate = [&] {
    if (held_out.empty()) return;
    const EvalResult e = evaluate_pairs(model, held_out, cfg.micro_batch_tokens, cfg.center);
    loop.metrics().write({{"step", loop.step()},
                          {"eval/accuracy", e.accuracy},
                          {"eval/loss", e.loss},
                          {"eval/reward_chosen", e.chosen},
                          {"eval/reward_rejected", e.rejected},
                          {"eval/pairs", e.pairs}});
    std::fprintf(stderr, "%s: step %lld held-out accuracy %.4f, loss %.4f (%lld pairs)\n", name,
                 (long long)loop.step(), e.accuracy, e.loss, (long long)e.pairs);
  };
  if (loop.step() == 0) evaluate();
  Progress progress(name, loop.steps(), loop.step());
  const auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  Batch b;
  std::vector<float> margins;
  while (!loop.done()) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> idx;
    for (int64_t k = 0; k < cfg.batch_pairs; k++) {
      if (pos.index == N) {
        pos = {pos.epoch + 1, 0};
        epoch_order = order(pos.epoch);
      }
      idx.push_back(epoch_order[static_cast<size_t>(pos.index++)]);
    }
    const double w = 1.0 / static_cast<double>(idx.size());  // the mean over the step's pairs
    idx = my_pairs(idx);  // data parallelism: this rank's share; gradients summed in clip_gradients
    model.zero_grads();
    BradleyTerryStats st;
    double loss = 0;
    int64_t n_tokens = 0;
    for (const auto& [i0, i1] : micro_batches(pairs, idx, cfg.micro_batch_tokens)) {
      pack_pairs(pairs, idx, i0, i1, b, margins);
      n_tokens += b.size();
      loss += model.forward_backward_scores(b, bradley_terry_loss(margins, w, cfg.center, &st));
    }
    sum_over_ranks(loss, st, &n_tokens);
    const double norm = loop.clip_gradients();
    const double lr = loop.lr();
    if (!std::isfinite(loss) || !std::isfinite(norm))
      fail("step {}: loss or gradient norm is not finite (loss {}, norm {}); lower train.lr", loop.step() + 1,
           loss, norm);
    loop.optimizer_step();
    tokens_seen += n_tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const double n = static_cast<double>(st.pairs);
    nlohmann::json row = {{"step", loop.step() + 1},
                          {"loss", loss},
                          {"accuracy", st.correct / n},
                          {"reward_chosen", st.chosen_sum / n},
                          {"reward_rejected", st.rejected_sum / n},
                          {"lr", lr},
                          {"grad_norm", norm},
                          {"pairs", st.pairs},
                          {"tokens", n_tokens},
                          {"tokens_per_s", n_tokens / std::max(dt, 1e-9)},
                          {"elapsed_s", elapsed},
                          {"peak_rss_mb", double(peak_rss_bytes()) / 1048576.0},
                          {"epoch", pos.epoch}};
    if (loop.step() == 0) {  // what loading made of the data, once, in the first step's row
      row["data/rows"] = stats.rows;
      row["data/pairs"] = stats.pairs;
      row["data/dropped_long"] = stats.dropped_long;
      row["data/conversations"] = stats.conversations;
      row["data/held_out_pairs"] = held_out.size();
      row["data/held_out_dropped_long"] = eval_stats.dropped_long;
    }
    loop.metrics().write(row);
    progress.update(loop.step() + 1, {{"loss", fmt::format("{:.4f}", loss)},
                                      {"acc", fmt::format("{:.3f}", st.correct / n)},
                                      {"lr", fmt::format("{:.2e}", lr)},
                                      {"tok/s", format_count(tokens_seen / std::max(elapsed, 1e-9))}});
    if (loop.end_step(progress)) break;
    if (cfg.eval_every > 0 && loop.step() % cfg.eval_every == 0 && !loop.done()) evaluate();
  }
  if (loop.done()) evaluate();
  const int rc = loop.finish(progress);
  if (rc == 0)
    std::fprintf(stderr, "%s: done, %lld steps; reward model saved to %s\n", name, (long long)loop.step(),
                 loop.run().path(RunDir::kModel).c_str());
  return rc;
}

Model load_reward_model(const std::string& path, bool init_head, uint64_t seed) {
  Model m = load_model(path);
  if (m.config().score_head) return m;
  if (!init_head)
    fail(
        "{}: a causal LM ({}) has no score head (score.weight): a reward model is a "
        "*ForSequenceClassification checkpoint, e.g. from r1 rm train; --init-head scores with a fresh "
        "random "
        "head (for tests and baselines only)",
        path, m.config().arch_name());
  return with_score_head(std::move(m), seed);
}

void run_rm_score(const RmScoreOptions& o, std::FILE* out) {
  if (o.batch_tokens < 1) fail("r1 rm score: --batch-tokens must be positive, got {}", o.batch_tokens);
  RewardModelScorer scorer(o.model, o.templ, o.init_head, o.seed);
  std::vector<std::vector<int32_t>> seqs;
  JsonlReader reader(o.data);
  nlohmann::json r;
  while (reader.next(r)) {
    const std::string where = fmt::format("{}:{}", reader.path(), reader.line());
    const auto c = r.find(o.field);
    if (c == r.end()) fail("{}: field '{}' is missing", where, o.field);
    const auto p = r.find(o.prompt_field);
    seqs.push_back(
        scorer.sequence(p != r.end() && !p->is_null() ? &*p : nullptr, *c, where, o.prompt_field, o.field));
    const int64_t len = static_cast<int64_t>(seqs.back().size());
    if (len > scorer.model().config().max_position_embeddings)
      fail("{}: the sequence has {} tokens, more than the model's max_position_embeddings {}", where, len,
           scorer.model().config().max_position_embeddings);
  }
  if (seqs.empty()) fail("{}: no rows to score", o.data);
  for (float s : scorer.score(seqs, o.batch_tokens)) std::fprintf(out, "%.9g\n", s);
  std::fflush(out);
}

}  // namespace r1
