#include "train/grpo_trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/stop_signals.h"
#include "eval/eval.h"
#include "io/file.h"
#include "io/metrics.h"
#include "model/checkpoint.h"
#include "model/memory.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "train/grpo.h"
#include "train/optim.h"
#include "train/run_dir.h"
#include "train/train_state.h"
#include "verify/reward_spec.h"
#include "verify/rewards.h"

namespace r1 {

namespace fs = std::filesystem;

std::vector<KeyRule> grpo_recipe_rules() {
  const int64_t kBig = int64_t{1} << 30;
  std::vector<KeyRule> rules = {
      KeyRule::string("model.path"),
      KeyRule::string("model.compute", {"f32", "bf16"}),
      KeyRule::string("data.path"),
      KeyRule::string("data.prompt_field"),
      KeyRule::string("data.answer_field"),
      KeyRule::boolean("data.gsm8k_answer"),
      KeyRule::string("data.template", {"r1zero", "chat", "distill", "none"}),
      KeyRule::string("data.instruction"),
      KeyRule::integer("data.limit", 1, kBig),
      KeyRule::integer("grpo.steps", 1, kBig),
      KeyRule::integer("grpo.prompts_per_step", 1, 1 << 20),
      KeyRule::integer("grpo.group_size", 2, 1 << 16),
      KeyRule::integer("grpo.max_new_tokens", 1, 1 << 24),
      KeyRule::real("grpo.temperature", 0, 100, true),
      KeyRule::real("grpo.top_p", 0, 1, true),
      KeyRule::int_at_least("grpo.top_k", 0),
      KeyRule::real("grpo.min_p", 0, 1),
      KeyRule::string("grpo.stop"),
      KeyRule::integer("grpo.mu", 1, 1 << 16),
      KeyRule::integer("grpo.mini_batches", 1, 1 << 20),
      KeyRule::real("grpo.eps_low", 0, 1),
      KeyRule::non_negative("grpo.eps_high"),
      KeyRule::non_negative("grpo.beta"),
      KeyRule::string("grpo.loss_agg", {"seq-mean", "token-mean", "constant"}),
      KeyRule::boolean("grpo.scale_rewards"),
      KeyRule::boolean("grpo.mask_truncated"),
      KeyRule::finite("grpo.entropy_coef"),
      KeyRule::boolean("grpo.dynamic_sampling"),
      KeyRule::integer("grpo.max_draws", 1, 1 << 20),
      KeyRule::boolean("grpo.recompute_old_logp"),
      KeyRule::integer("grpo.micro_batch_tokens", 1, kBig),
      KeyRule::positive("grpo.kv_budget_mb"),
      KeyRule::boolean("reward.last_number"),
      KeyRule::string("reward.language"),
      KeyRule::integer("reward.max_tokens", 1, kBig),
      KeyRule::integer("reward.cache_tokens", 0, kBig),
      KeyRule::string("reward.external_cmd"),
      KeyRule::positive("reward.external_timeout_s"),
      KeyRule::integer("train.max_bad_steps", 1, kBig),
      KeyRule::string("eval.data"),
      KeyRule::string("eval.prompt_field"),
      KeyRule::string("eval.answer_field"),
      KeyRule::boolean("eval.gsm8k_answer"),
      KeyRule::int_at_least("eval.every", 0),
      KeyRule::boolean("eval.at_start"),
      KeyRule::boolean("eval.at_end"),
      KeyRule::integer("eval.limit", 1, kBig),
      KeyRule::integer("eval.k", 1, 1024),
      KeyRule::real("eval.temperature", 0, 100),
      KeyRule::real("eval.top_p", 0, 1, true),
      KeyRule::integer("eval.max_new_tokens", 1, 1 << 24),
      KeyRule::int_at_least("eval.seed", 0),
      KeyRule::int_at_least("output.sample_every", 0),
      KeyRule::int_at_least("output.samples_per_step", 0),
  };
  for (KeyRule& k : common_train_rules()) rules.push_back(std::move(k));
  for (const auto& k : verify::reward_recipe_keys("reward")) rules.push_back(KeyRule::finite(k));
  return rules;
}

void check_grpo_recipe(const Recipe& r) {
  r.check(grpo_recipe_rules());
  const std::string rn = r.name();
  const int64_t B = r.get_int("grpo.prompts_per_step", 8), G = r.get_int("grpo.group_size", 8);
  if (r.get_int("grpo.mini_batches", 1) > B * G)
    fail("{}: key 'grpo.mini_batches' must be at most grpo.prompts_per_step x grpo.group_size ({}), got {}",
         rn, B * G, r.get_int("grpo.mini_batches"));
  if (r.has("reward.length")) {
    const int64_t max_tokens = r.get_int("reward.max_tokens", r.get_int("grpo.max_new_tokens", 256));
    const int64_t cache = r.get_int("reward.cache_tokens", 0);
    if (cache >= max_tokens)
      fail(
          "{}: key 'reward.cache_tokens' ({}) must be less than reward.max_tokens ({}): the length penalty "
          "ramps over the last cache_tokens before max_tokens",
          rn, cache, max_tokens);
  }
  if (r.has("reward.external") && r.get_string("reward.external_cmd", "").empty())
    fail("{}: the reward 'external' needs key 'reward.external_cmd' (the grader command)", rn);
  for (const char* k : {"model.path", "data.path"})
    if (r.get_string(k).empty()) fail("{}: key '{}' must not be empty", rn, k);
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

GrpoAgg agg_from_name(const std::string& s, const std::string& recipe) {
  if (s == "seq-mean") return GrpoAgg::kSeqMean;
  if (s == "token-mean") return GrpoAgg::kTokenMean;
  if (s == "constant") return GrpoAgg::kConstant;
  fail("{}: grpo.loss_agg '{}' is not one of seq-mean (GRPO), token-mean (DAPO), constant (Dr. GRPO)", recipe,
       s);
}

// The data order of epoch e: a Fisher-Yates shuffle driven by hash_u64(seed, e, i), so the k-th
// prompt ever drawn is a pure function of (seed, k).
class PromptOrder {
 public:
  PromptOrder(int64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  int64_t at(int64_t k) {
    const int64_t e = k / n_;
    if (e != epoch_) {
      order_.resize(static_cast<size_t>(n_));
      std::iota(order_.begin(), order_.end(), int64_t{0});
      for (int64_t i = n_ - 1; i > 0; i--)
        std::swap(order_[i], order_[hash_u64(seed_, 0x6f72646572ULL + e, i) % static_cast<uint64_t>(i + 1)]);
      epoch_ = e;
    }
    return order_[static_cast<size_t>(k % n_)];
  }

 private:
  int64_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

// Words that mark a model checking itself ("wait", "re-check", "verify"): the paper's "aha".
bool has_reflection(std::string_view text) {
  std::string low(text);
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"wait", "re-check", "recheck", "verify", "double-check", "check again"})
    if (low.find(w) != std::string::npos) return true;
  return false;
}

// One sampled response and what it earned.
struct Rollout {
  int64_t problem = 0;
  Completion c;
  verify::Score score;
  float reward = 0;
  bool format_ok = false;
};

// A training sequence: prompt + completion, with per-target-position pi_old and pi_ref.
struct TrainSeq {
  const std::vector<int32_t>* prompt = nullptr;
  const Completion* c = nullptr;
  float advantage = 0;
  std::vector<float> ref_logp;  // per completion token (empty when beta == 0)
  std::vector<float> old_logp;  // per completion token
  int64_t size() const { return static_cast<int64_t>(prompt->size() + c->token_ids.size()); }
};

// Appends seq to a micro-batch: targets are the completion tokens; the per-position arrays
// (aligned with batch.tokens) get pi_old and pi_ref at those positions (either may be null: not wanted).
void append_seq(const TrainSeq& s, Batch& b, std::vector<float>* old_lp, std::vector<float>* ref_lp) {
  const size_t P = s.prompt->size(), C = s.c->token_ids.size();
  std::vector<int32_t> toks(*s.prompt), targets(P + C, -1);
  toks.insert(toks.end(), s.c->token_ids.begin(), s.c->token_ids.end());
  const size_t base = static_cast<size_t>(b.size());
  if (old_lp) old_lp->resize(base + P + C, 0.f);
  if (ref_lp) ref_lp->resize(base + P + C, 0.f);
  for (size_t j = 0; j < C; j++) {
    targets[P - 1 + j] = s.c->token_ids[j];
    if (old_lp) (*old_lp)[base + P - 1 + j] = s.old_logp[j];
    if (ref_lp && !s.ref_logp.empty()) (*ref_lp)[base + P - 1 + j] = s.ref_logp[j];
  }
  b.append(toks, targets);
}

// Splits the sequences `idx` into micro-batches of at most max_tokens tokens (at least one
// sequence each), in order.
std::vector<std::vector<size_t>> micro_batches(const std::vector<TrainSeq>& seqs,
                                               const std::vector<size_t>& idx, int64_t max_tokens) {
  std::vector<std::vector<size_t>> out;
  int64_t used = 0;
  for (size_t i : idx) {
    const int64_t n = seqs[i].size();
    if (out.empty() || (used + n > max_tokens && !out.back().empty())) {
      out.emplace_back();
      used = 0;
    }
    out.back().push_back(i);
    used += n;
  }
  return out;
}

// Log-probs of each sequence's completion tokens under `model`, in micro-batches: into
// ref_logp (pi_ref) or old_logp (pi_old recomputed by the training forward).
void completion_logprobs(Model& model, std::vector<TrainSeq>& seqs, int64_t max_tokens, bool into_ref) {
  std::vector<size_t> all(seqs.size());
  std::iota(all.begin(), all.end(), size_t{0});
  for (const auto& mb : micro_batches(seqs, all, max_tokens)) {
    Batch b;
    for (size_t i : mb) append_seq(seqs[i], b, nullptr, nullptr);
    std::vector<float> lp(static_cast<size_t>(b.size())), ent(static_cast<size_t>(b.size()));
    model.forward(b, lp.data(), ent.data());
    for (size_t k = 0; k < mb.size(); k++) {
      TrainSeq& s = seqs[mb[k]];
      const size_t start = static_cast<size_t>(b.cu_seqlens[k]), P = s.prompt->size();
      std::vector<float>& dst = into_ref ? s.ref_logp : s.old_logp;
      dst.assign(s.c->token_ids.size(), 0.f);
      for (size_t j = 0; j < dst.size(); j++) dst[j] = lp[start + P - 1 + j];
    }
  }
}

struct StepMetrics {
  double reward_sum = 0, reward_sq = 0, correct = 0, format_ok = 0, reflect = 0, truncated = 0;
  double len_sum = 0;
  int64_t len_max = 0, n = 0, groups = 0, zero_var_groups = 0, gen_tokens = 0;
  std::vector<std::pair<std::string, double>> components;  // sums, in spec order

  void add(const Rollout& r) {
    n++;
    reward_sum += r.reward, reward_sq += double(r.reward) * r.reward;
    correct += r.score.verdict == verify::Verdict::kCorrect;
    format_ok += r.format_ok;
    reflect += has_reflection(r.c.text);
    truncated += r.c.finish_reason == "length";
    const int64_t L = static_cast<int64_t>(r.c.token_ids.size());
    len_sum += double(L), len_max = std::max(len_max, L), gen_tokens += L;
    if (components.empty())
      for (const auto& c : r.score.components) components.emplace_back(c.name, 0.0);
    for (size_t i = 0; i < components.size() && i < r.score.components.size(); i++)
      components[i].second += r.score.components[i].value;
  }
};

}  // namespace

int run_grpo_training(Recipe r, RunStart start, const GrpoHooks* hooks) {
  check_grpo_recipe(r);
  const bool resume = start.resume;
  const std::string rn = r.name();
  RunDir run(r, start);  // checks only: the old run, if any, stays until run.begin()
  const std::string out_dir = run.dir();
  const std::string state_path = run.path(RunDir::kState);
  const std::string metrics_path = run.path(RunDir::kMetrics);
  const std::string samples_path = run.path(RunDir::kSamples);
  if (int threads = static_cast<int>(r.get_int("train.threads", 0)); threads > 0)
    omp_set_num_threads(threads);

  // --- settings ---------------------------------------------------------------------------
  const int64_t steps = r.get_int("grpo.steps");
  const int B = static_cast<int>(r.get_int("grpo.prompts_per_step", 8));
  const int G = static_cast<int>(r.get_int("grpo.group_size", 8));
  const int mu = static_cast<int>(r.get_int("grpo.mu", 1));
  const int M = static_cast<int>(r.get_int("grpo.mini_batches", 1));
  GrpoConfig gc;
  gc.eps_low = static_cast<float>(r.get_float("grpo.eps_low", 0.2));
  gc.eps_high = static_cast<float>(r.get_float("grpo.eps_high", 0.2));
  gc.beta = static_cast<float>(r.get_float("grpo.beta", 0.001));
  gc.agg = agg_from_name(r.get_string("grpo.loss_agg", "seq-mean"), rn);
  gc.scale_rewards = r.get_bool("grpo.scale_rewards", true);
  gc.mask_truncated = r.get_bool("grpo.mask_truncated", false);
  gc.entropy_coef = static_cast<float>(r.get_float("grpo.entropy_coef", 0.0));
  const bool dynamic = r.get_bool("grpo.dynamic_sampling", false);
  const int64_t max_draws = r.get_int("grpo.max_draws", 3);
  const bool recompute_old = r.get_bool("grpo.recompute_old_logp", false);
  const int64_t micro_tokens = r.get_int("grpo.micro_batch_tokens", 8192);
  const int64_t max_bad = r.get_int("train.max_bad_steps", 3);
  const uint64_t seed = static_cast<uint64_t>(r.get_int("train.seed", 1));
  const double clip = r.get_float("train.grad_clip", 1.0);
  const int64_t save_every = r.get_int("output.save_every", 0);
  const int64_t sample_every = r.get_int("output.sample_every", 10);
  const int64_t samples_per_step = r.get_int("output.samples_per_step", 4);

  GenerationConfig gen;
  gen.n = G;
  gen.max_new_tokens = static_cast<int>(r.get_int("grpo.max_new_tokens", 256));
  gen.sampling.temperature = static_cast<float>(r.get_float("grpo.temperature", 1.0));
  gen.sampling.top_p = static_cast<float>(r.get_float("grpo.top_p", 1.0));
  gen.sampling.top_k = static_cast<int>(r.get_int("grpo.top_k", 0));
  gen.sampling.min_p = static_cast<float>(r.get_float("grpo.min_p", 0.0));
  gen.seed = seed;
  gen.kv_budget_bytes = static_cast<size_t>(r.get_float("grpo.kv_budget_mb", 1024) * 1048576.0);
  const std::string compute = r.get_string("model.compute", "f32");
  gen.compute = compute == "bf16" ? DType::BF16 : DType::F32;
  gc.max_new_tokens = gen.max_new_tokens;

  // --- model, tokenizer, data ---------------------------------------------------------------
  const std::string model_path = r.get_string("model.path");
  Model model = load_model(model_path);
  // The whole run (gradients, AdamW moments, activations, the reference copy, the KV pool) must
  // fit before any of it is allocated.
  TrainingMemoryPlan plan;
  plan.batch_tokens = micro_tokens;
  plan.kv_budget_bytes = gen.kv_budget_bytes;
  plan.kv_dtype = gen.compute;
  plan.reference_model = gc.beta > 0;
  check_training_memory(model.config(), plan, rn, "grpo.micro_batch_tokens");
  std::unique_ptr<Tokenizer> tok = load_tokenizer(model_path);
  std::optional<Model> ref;
  if (gc.beta > 0) ref.emplace(load_model(model_path));
  gen.stop_ids = stop_ids_of(model, tok.get());
  const std::string templ = r.get_string("data.template", "r1zero");
  const std::optional<ChatTemplate> tmpl = load_prompt_template(templ, model_path, false);
  gen.stop_strings.push_back(r.get_string("grpo.stop", templ == "r1zero" ? "</answer>" : ""));
  if (gen.stop_strings.back().empty()) gen.stop_strings.clear();
  const std::string instruction = r.get_string("data.instruction", "");

  DatasetSpec spec{"", r.get_string("data.prompt_field", "prompt"),
                   r.get_string("data.answer_field", "answer"), r.get_bool("data.gsm8k_answer", false)};
  const std::string data_path = r.get_string("data.path");
  const std::vector<EvalProblem> problems = load_eval_problems(data_path, spec, r.get_int("data.limit", -1));
  if (problems.empty()) fail("{}: no problems", data_path);
  auto render = [&](const std::string& q) { return instruction.empty() ? q : q + "\n" + instruction; };
  std::vector<std::vector<int32_t>> prompt_ids;
  std::vector<std::string> prompt_text;  // rendered (what the format reward reads)
  for (const EvalProblem& p : problems) {
    prompt_ids.push_back(encode_prompt(render(p.prompt), *tok, tmpl, false));
    prompt_text.push_back(tok->decode(prompt_ids.back()));
  }
  // Every rollout must have its whole budget: a prompt that leaves less is refused, naming it.
  ContextFitOptions fit;
  fit.context = model.config().max_position_embeddings;
  fit.max_new_tokens = gen.max_new_tokens;
  fit.policy = ContextPolicy::kRefuse;
  fit.max_new_name = "grpo.max_new_tokens";
  fit_prompts_to_context(prompt_ids, fit, [&](size_t i) {
    return fmt::format("{}:{}: problem {}", data_path, problems[i].line, problems[i].id);
  });
  gen.context = fit.context;
  PromptOrder order(static_cast<int64_t>(problems.size()), seed);

  verify::RewardOptions ro;
  ro.extract.last_number = r.get_bool("reward.last_number", false);
  ro.language = r.get_string("reward.language", "en");
  ro.max_tokens = r.get_int("reward.max_tokens", gen.max_new_tokens);
  ro.cache_tokens = r.get_int("reward.cache_tokens", 0);
  ro.external_cmd = r.get_string("reward.external_cmd", "");
  ro.external_timeout_s = r.get_float("reward.external_timeout_s", 60.0);
  verify::RewardSpec rewards(verify::reward_terms_from_recipe(r, "reward"), ro);

  // Evaluation on held-out problems.
  const std::string eval_path = r.get_string("eval.data", "");
  const int64_t eval_every = r.get_int("eval.every", 0);
  const bool eval_at_end = r.get_bool("eval.at_end", true);
  std::vector<EvalProblem> eval_problems;
  std::vector<std::vector<int32_t>> eval_prompts;
  GenerationConfig eval_gen = gen;
  if (!eval_path.empty()) {
    DatasetSpec es{"", r.get_string("eval.prompt_field", spec.prompt_field),
                   r.get_string("eval.answer_field", spec.answer_field),
                   r.get_bool("eval.gsm8k_answer", spec.gsm8k_answer)};
    eval_problems = load_eval_problems(eval_path, es, r.get_int("eval.limit", -1));
    for (const EvalProblem& p : eval_problems)
      eval_prompts.push_back(encode_prompt(render(p.prompt), *tok, tmpl, false));
    eval_gen.n = static_cast<int>(r.get_int("eval.k", 8));
    eval_gen.sampling = SamplingParams{};
    eval_gen.sampling.temperature = static_cast<float>(r.get_float("eval.temperature", 0.6));
    eval_gen.sampling.top_p = static_cast<float>(r.get_float("eval.top_p", 0.95));
    eval_gen.max_new_tokens = static_cast<int>(r.get_int("eval.max_new_tokens", gen.max_new_tokens));
    eval_gen.seed = static_cast<uint64_t>(r.get_int("eval.seed", 1234));
  }

  AdamWConfig ac{r.get_float("train.beta1", 0.9), r.get_float("train.beta2", 0.99),
                 r.get_float("train.eps", 1e-8), r.get_float("train.weight_decay", 0.0)};
  AdamW opt(ac, model.num_params());
  ScheduleConfig sc{r.get_string("train.schedule", "constant"), r.get_float("train.lr", 1e-6),
                    r.get_int("train.warmup_steps", 0), steps, r.get_float("train.min_lr_ratio", 0.1)};
  lr_at(sc, 0);  // validates the schedule name before any work

  TrainState st;
  st.seed = seed;
  if (resume) {
    st = load_train_state(state_path, model, opt);
    if (st.seed != seed)
      fail("{}: the checkpoint's seed {} differs from the recipe's {}", state_path, st.seed, seed);
  }
  // Prompts drawn so far, kept in the state's data position (epoch x dataset size + index).
  const int64_t N = static_cast<int64_t>(problems.size());
  int64_t drawn = st.data.epoch * N + st.data.index;
  run.begin(r, st.step);  // everything is checked: from here on the run writes
  MetricsWriter metrics(metrics_path, resume);
  MetricsWriter samples(samples_path, resume);
  run.record_changes(metrics, st.step);

  auto save = [&](bool export_model) {
    st.data = DataPosition{drawn / N, drawn % N};
    save_train_state(state_path, model, opt, st);
    if (export_model) save_model(model, run.path(RunDir::kModel), model_path);
  };
  auto run_eval_now = [&]() {
    if (eval_problems.empty()) return;
    const auto t0 = Clock::now();
    Engine engine(model, tok.get(), eval_gen);
    const std::vector<ProblemResult> res = run_eval(engine, eval_problems, eval_prompts, ro.extract);
    const EvalSummary s = summarise(res, eval_gen.n);
    double fmt_ok = 0;
    int64_t n = 0;
    for (const ProblemResult& pr : res)
      for (const SampleResult& sr : pr.samples) {
        fmt_ok += verify::format_reward(sr.text).value >= 1.0;
        n++;
      }
    nlohmann::json row = {{"step", st.step},
                          {"eval/pass@1", s.pass1},
                          {fmt::format("eval/cons@{}", eval_gen.n), s.cons},
                          {"eval/response_length_mean", s.mean_tokens},
                          {"eval/answered", s.answered},
                          {"eval/format_rate", n ? fmt_ok / double(n) : 0.0},
                          {"eval/truncated", s.truncated},
                          {"eval/seconds", seconds_since(t0)}};
    if (eval_gen.n > 1) row[fmt::format("eval/pass@{}", eval_gen.n)] = s.pass_at.back();
    metrics.write(row);
    std::fprintf(
        stderr,
        "eval at step %lld: pass@1 %.1f%%  cons@%d %.1f%%  mean length %.1f tokens  (%zu problems, %.0f s)\n",
        (long long)st.step, 100 * s.pass1, eval_gen.n, 100 * s.cons, s.mean_tokens, eval_problems.size(),
        seconds_since(t0));
  };

  std::fprintf(stderr, "grpo: %s model, %.2fM parameters, %zu problems, B %d x G %d, beta %g, %s\n",
               model.config().arch_name().c_str(), model.num_params() / 1e6, problems.size(), B, G, gc.beta,
               resume ? fmt::format("resuming at step {}", st.step).c_str() : "starting");
  if (!resume && r.get_bool("eval.at_start", true)) run_eval_now();

  StopSignals signals;
  Progress progress("grpo", steps, st.step);
  const auto t_start = Clock::now();
  int64_t bad_streak = 0;
  int rc = 0;
  Engine rollout_engine(model, tok.get(), gen);  // one KV pool for the run (see Engine::cache_)
  while (st.step < steps) {
    const auto t_step = Clock::now();
    // --- rollouts and rewards (dynamic sampling draws until B groups have signal) ---------
    std::vector<Rollout> rolls;  // every sample drawn this step
    std::vector<size_t> kept;    // index of the first sample of each kept group
    StepMetrics sm;
    double rollout_s = 0, reward_s = 0;
    int64_t draws = 0;
    while (static_cast<int>(kept.size()) < B && draws < (dynamic ? max_draws * B : B)) {
      const int want = dynamic ? B - static_cast<int>(kept.size()) : B;
      std::vector<std::vector<int32_t>> ps;
      std::vector<int64_t> idx;
      for (int i = 0; i < want; i++) {
        idx.push_back(order.at(drawn + i));
        ps.push_back(prompt_ids[idx.back()]);
      }
      auto t0 = Clock::now();
      std::vector<Completion> done = rollout_engine.generate_all(ps, drawn);
      rollout_s += seconds_since(t0);
      drawn += want;
      draws += want;
      t0 = Clock::now();
      std::vector<verify::RewardInput> ins(done.size());
      const size_t first = rolls.size();
      for (size_t i = 0; i < done.size(); i++) {
        Rollout x;
        x.problem = idx[static_cast<size_t>(done[i].prompt_index - (drawn - want))];
        x.c = std::move(done[i]);
        rolls.push_back(std::move(x));
      }
      for (size_t i = 0; i < done.size(); i++) {
        const Rollout& x = rolls[first + i];
        ins[i].prompt = prompt_text[x.problem];
        ins[i].completion = x.c.text;
        ins[i].gold = problems[x.problem].gold;
        ins[i].num_tokens = static_cast<int64_t>(x.c.token_ids.size());
      }
      std::vector<verify::Score> scores = rewards.score_batch(ins);
      for (size_t i = 0; i < done.size(); i++) {
        Rollout& x = rolls[first + i];
        x.score = std::move(scores[i]);
        x.reward = static_cast<float>(x.score.total);
        if (!std::isfinite(x.reward))
          fail(
              "grpo: step {}: reward {} of sample {} of problem {} is not a finite float; check the reward "
              "spec or the grader",
              st.step + 1, x.score.total, x.c.sample_index, problems[x.problem].id);
        x.format_ok = verify::format_reward(x.c.text, prompt_text[x.problem]).value >= 1.0;
        sm.add(x);
      }
      for (int g = 0; g < want; g++) {
        const size_t g0 = first + static_cast<size_t>(g) * G;
        bool all_equal = true;
        for (int j = 1; j < G; j++) all_equal &= rolls[g0 + j].reward == rolls[g0].reward;
        sm.groups++;
        sm.zero_var_groups += all_equal;
        if (!dynamic || !all_equal)
          if (static_cast<int>(kept.size()) < B) kept.push_back(g0);
      }
      reward_s += seconds_since(t0);
    }

    // --- advantages, sequences, reference log-probs ------------------------------------
    std::vector<float> group_rewards;
    for (size_t g0 : kept)
      for (int j = 0; j < G; j++) group_rewards.push_back(rolls[g0 + j].reward);
    const std::vector<float> adv = group_advantages(group_rewards, G, gc.scale_rewards, gc.std_eps);
    std::vector<TrainSeq> seqs;
    for (size_t k = 0; k < kept.size(); k++)
      for (int j = 0; j < G; j++) {
        const Rollout& x = rolls[kept[k] + j];
        TrainSeq s;
        s.prompt = &prompt_ids[x.problem];
        s.c = &x.c;
        s.advantage = adv[k * G + j];
        s.old_logp = x.c.logprobs;
        if (!x.c.token_ids.empty()) seqs.push_back(std::move(s));
      }
    auto t0 = Clock::now();
    if (ref) completion_logprobs(*ref, seqs, micro_tokens, true);
    if (recompute_old) completion_logprobs(model, seqs, micro_tokens, false);
    const double ref_s = seconds_since(t0);

    // --- mu passes, M mini-batches each, one AdamW step per mini-batch ------------------
    t0 = Clock::now();
    GrpoStats gs;
    double loss_sum = 0, norm_sum = 0;
    int64_t updates = 0, skipped = 0, train_tokens = 0;
    const double lr = lr_at(sc, st.step);
    for (int epoch = 0; epoch < mu && !seqs.empty(); epoch++) {
      std::vector<size_t> perm(seqs.size());
      std::iota(perm.begin(), perm.end(), size_t{0});
      if (M > 1 || mu > 1)
        for (size_t i = perm.size() - 1; i > 0; i--)
          std::swap(perm[i],
                    perm[hash_u64(seed ^ 0x6d696e69ULL, static_cast<uint64_t>(st.step), epoch, i) % (i + 1)]);
      const size_t per = (perm.size() + M - 1) / M;
      for (size_t m0 = 0; m0 < perm.size(); m0 += per) {
        const std::vector<size_t> mb(perm.begin() + m0, perm.begin() + std::min(perm.size(), m0 + per));
        std::vector<int64_t> lens;
        std::vector<uint8_t> trunc;
        for (size_t i : mb) {
          lens.push_back(static_cast<int64_t>(seqs[i].c->token_ids.size()));
          trunc.push_back(seqs[i].c->finish_reason == "length");
        }
        const std::vector<float> w = grpo_output_weights(lens, trunc, gc);
        model.zero_grads();
        double loss = 0;
        size_t wpos = 0;
        for (const auto& micro : micro_batches(seqs, mb, micro_tokens)) {
          Batch b;
          std::vector<float> old_lp, ref_lp, a, wt;
          for (size_t i : micro) {
            append_seq(seqs[i], b, &old_lp, &ref_lp);
            a.push_back(seqs[i].advantage);
            wt.push_back(w[wpos++]);
          }
          GrpoInputs in{old_lp.data(), ref ? ref_lp.data() : nullptr, a.data(), wt.data()};
          loss += model.forward_backward(b, grpo_loss(gc, b, in, &gs));
          train_tokens += b.size();
        }
        if (hooks && hooks->loss) loss = hooks->loss(st.step + 1, loss);
        const double norm = clip_grad_norm(model.grads(), model.num_params(), clip);
        if (!std::isfinite(loss) || !std::isfinite(norm)) {
          skipped++;
          std::fprintf(
              stderr,
              "\ngrpo: step %lld: the loss (%g) or gradient norm (%g) is not finite; update skipped\n",
              (long long)st.step + 1, loss, norm);
          continue;
        }
        opt.step(model, lr);
        loss_sum += loss, norm_sum += norm, updates++;
      }
    }
    const double update_s = seconds_since(t0);
    bad_streak = skipped > 0 ? bad_streak + 1 : 0;
    if (bad_streak >= max_bad)
      fail(
          "grpo: the loss or gradient was not finite in {} steps in a row (last: step {}); stopping. The "
          "last "
          "checkpoint in {} is intact; lower train.lr or check the rewards",
          bad_streak, st.step + 1, out_dir);
    st.step++;

    // --- metrics ---------------------------------------------------------------------------
    const double n = std::max<double>(1, double(sm.n));
    const double mean = sm.reward_sum / n;
    const double elapsed = seconds_since(t_start);
    nlohmann::json row = {
        {"step", st.step},
        {"reward_mean", mean},
        {"reward_std", std::sqrt(std::max(0.0, sm.reward_sq / n - mean * mean))},
        {"accuracy", sm.correct / n},
        {"format_rate", sm.format_ok / n},
        {"response_length_mean", sm.len_sum / n},
        {"response_length_max", sm.len_max},
        {"truncated_rate", sm.truncated / n},
        {"reflection_rate", sm.reflect / n},
        {"zero_variance_groups", sm.groups ? double(sm.zero_var_groups) / double(sm.groups) : 0.0},
        {"groups_trained", kept.size()},
        {"prompts_drawn", draws},
        {"loss", updates ? loss_sum / double(updates) : 0.0},
        {"grad_norm", updates ? norm_sum / double(updates) : 0.0},
        {"lr", lr},
        {"clip_fraction", gs.clip_fraction()},
        {"ratio_mean", gs.mean_ratio()},
        {"entropy", gs.mean_entropy()},
        {"skipped_updates", skipped},
        {"rollout_s", rollout_s},
        {"reward_s", reward_s},
        {"ref_s", ref_s},
        {"update_s", update_s},
        {"step_s", seconds_since(t_step)},
        {"rollout_tokens_per_s", double(sm.gen_tokens) / std::max(rollout_s, 1e-9)},
        {"train_tokens_per_s", double(train_tokens) / std::max(update_s, 1e-9)},
        {"elapsed_s", elapsed}};
    if (gc.beta > 0) row["kl"] = gs.mean_kl();
    for (const auto& [name, sum] : sm.components) row["reward/" + name] = sum / n;
    metrics.write(row);
    if (sample_every > 0 && st.step % sample_every == 0)
      for (int64_t i = 0; i < std::min<int64_t>(samples_per_step, static_cast<int64_t>(rolls.size())); i++) {
        const Rollout& x = rolls[static_cast<size_t>(i * G) % rolls.size()];
        samples.write({{"step", st.step},
                       {"prompt", problems[x.problem].prompt},
                       {"gold", problems[x.problem].gold},
                       {"completion", x.c.text},
                       {"reward", x.reward},
                       {"verdict", x.score.verdict ? verify::verdict_name(*x.score.verdict) : "none"},
                       {"tokens", x.c.token_ids.size()}});
      }
    progress.update(st.step, {{"reward", fmt::format("{:.3f}", mean)},
                              {"acc", fmt::format("{:.1f}%", 100 * sm.correct / n)},
                              {"len", fmt::format("{:.1f}", sm.len_sum / n)},
                              {"kl", fmt::format("{:.4f}", gs.mean_kl())},
                              {"s/step", fmt::format("{:.1f}", seconds_since(t_step))}});
    const bool last = st.step == steps;
    if ((eval_every > 0 && st.step % eval_every == 0) || (last && eval_at_end)) run_eval_now();
    if (save_every > 0 && st.step % save_every == 0 && !last) save(false);
    if (stop_after_step(signals, st.step) && !last) {
      progress.finish();
      save(true);
      std::fprintf(stderr, "grpo: interrupted at step %lld; state saved. Continue with --resume %s\n",
                   (long long)st.step, out_dir.c_str());
      rc = 130;
      break;
    }
  }
  if (rc == 0) {
    progress.finish();
    save(true);
    run.mark_complete();
    std::fprintf(stderr, "grpo: done, %lld steps in %.0f s; model saved to %s\n", (long long)st.step,
                 seconds_since(t_start), run.path(RunDir::kModel).c_str());
  }
  return rc;
}

}  // namespace r1
