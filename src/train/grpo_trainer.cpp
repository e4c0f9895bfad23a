#include "train/grpo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/strings.h"
#include "dist/comm.h"
#include "eval/eval.h"
#include "eval/judge.h"
#include "io/json.h"
#include "io/metrics.h"
#include "model/checkpoint.h"
#include "model/memory.h"
#include "report/report.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "train/grpo.h"
#include "train/model_reward.h"
#include "train/training_loop.h"
#include "verify/math.h"
#include "verify/reasoning.h"
#include "verify/reward_spec.h"
#include "verify/rewards.h"

namespace r1 {

namespace {

// A GRPO recipe, typed: every key is declared once in grpo_schema(), with its rule and its field.
struct GrpoSettings {
  // [model]
  std::string model_path;
  std::string compute = "f32";  // the rollouts' matrix products: f32 or bf16
  // [data]
  std::string data_path, prompt_field = "prompt", answer_field = "answer";
  bool gsm8k_answer = false;
  PromptFormat prompt = [] {  // R1-Zero's template; no instruction (it asks for <answer> tags itself)
    PromptFormat f;
    f.templ = "r1zero", f.instruction.clear();
    return f;
  }();
  int64_t data_limit = -1;
  // [grpo]: sampling
  int64_t steps = 0;
  int B = 8;  // prompts per step
  GenerationConfig gen;
  std::string stop = "auto";  // "auto": what the template implies (</answer> for r1zero)
  double kv_budget_mb = 1024;
  // [grpo]: the objective and the update
  GrpoConfig objective;
  int mu = 1, mini_batches = 1;
  bool dynamic_sampling = false;
  int64_t max_draws = 3;
  // pi_old: "sampler" (the rollout engine's log-probs), "recompute" (the training forward), or
  // "auto": recompute when the rollouts' numerics differ from training's (bf16).
  std::string old_logp = "auto";
  // [distill] on-policy distillation: each sampled token's advantage gains
  // coef * (log pi_teacher - log pi_old) (the negative reverse-KL estimate); "" = off.
  std::string distill_teacher;
  float distill_coef = 1.0f;
  double tis_cap = 0;              // > 0: truncated importance sampling, weight min(pi_old / pi_sampler, C)
  int64_t micro_batch_tokens = 0;  // 0: as many as the memory budget allows
  double memory_budget_mb = 0;     // 0: 80% of this machine's memory
  // The samples of one prompt share its forward and backward in the update and the log-prob
  // passes (Batch::prefix); false repeats the prompt in every sample (same result, more work).
  bool share_prompt = true;
  int64_t max_bad_steps = 3;
  // [reward]
  verify::RewardOptions reward;
  bool rule_rewards = true;  // the recipe names at least one rule reward ([reward] math = 1, ...)
  // [reward.models.NAME]: reward models, each a component "NAME" of the reward.
  struct RewardModel {
    std::string name, path, templ = "auto";
    double weight = 1.0;
    RmScope scope = RmScope::kFull;
    int64_t batch_tokens = 8192;
  };
  std::vector<RewardModel> reward_models;
  // [reward.judges.NAME]: generative judges (1 when the judge says yes), scoring what the rule
  // rewards score (they need the reference answer).
  struct RewardJudge {
    std::string name, path, templ_file;
    double weight = 1.0;
    int max_new_tokens = 16;
  };
  std::vector<RewardJudge> judges;
  std::string route_field;  // data.reward_field: the column routing each prompt to rule / model rewards
  // [eval]
  std::string eval_data, eval_prompt_field, eval_answer_field;  // "": the data's fields
  bool eval_gsm8k_answer = false;
  int64_t eval_every = 0, eval_limit = -1;
  bool eval_at_start = true, eval_at_end = true;
  int eval_k = 8, eval_max_new_tokens = 0;  // 0: grpo.max_new_tokens
  float eval_temperature = 0.6f, eval_top_p = 0.95f;
  uint64_t eval_seed = 1234;
  // [output]
  int64_t sample_every = 10, samples_per_step = 4;
  // [train]: GRPO fine-tunes with a small constant rate
  TrainSettings train = [] {
    TrainSettings t;
    t.lr = 1e-6, t.schedule = "constant", t.beta2 = 0.99;
    return t;
  }();

  // "auto": recompute unless rollouts and training both run in fp32 (the only pair whose
  // log-probs agree to rounding: bf16 rollouts differ from any training forward by the bf16
  // products and the paged attention's order, bf16 training from any rollout the same way).
  bool recompute_old() const {
    return old_logp == "recompute" ||
           (old_logp == "auto" && (compute != "f32" || train.compute.dtype != DType::F32));
  }
};

const RecipeSchema<GrpoSettings>& grpo_schema() {
  using S = GrpoSettings;
  const int64_t kBig = int64_t{1} << 30;
  static const RecipeSchema<S> schema = [&] {
    RecipeSchema<S> s;
    s.add(KeyRule::string("model.path"), &S::model_path, true)
        .add(KeyRule::string("model.compute", {"f32", "bf16"}), &S::compute)
        .add(KeyRule::string("data.path"), &S::data_path, true)
        .add(KeyRule::string("data.prompt_field"), &S::prompt_field)
        .add(KeyRule::string("data.answer_field"), &S::answer_field)
        .add(KeyRule::string("data.reward_field"), &S::route_field)
        .add(KeyRule::boolean("data.gsm8k_answer"), &S::gsm8k_answer)
        .add(KeyRule::string("data.template", {"r1zero", "chat", "distill", "none"}),
             [](S& x) -> std::string& { return x.prompt.templ; })
        .add(KeyRule::string("data.instruction"), [](S& x) -> std::string& { return x.prompt.instruction; })
        .add(KeyRule::integer("data.limit", 1, kBig), &S::data_limit)
        .add(KeyRule::integer("grpo.steps", 1, kBig), &S::steps, true)
        .add(KeyRule::integer("grpo.prompts_per_step", 1, 1 << 20), &S::B)
        .add(KeyRule::integer("grpo.group_size", 2, 1 << 16), [](S& x) -> int& { return x.gen.n; })
        .add(KeyRule::integer("grpo.max_new_tokens", 1, 1 << 24),
             [](S& x) -> int& { return x.gen.max_new_tokens; })
        .add(KeyRule::real("grpo.temperature", 0, 100, true),
             [](S& x) -> float& { return x.gen.sampling.temperature; })
        .add(KeyRule::real("grpo.top_p", 0, 1, true), [](S& x) -> float& { return x.gen.sampling.top_p; })
        .add(KeyRule::int_at_least("grpo.top_k", 0), [](S& x) -> int& { return x.gen.sampling.top_k; })
        .add(KeyRule::real("grpo.min_p", 0, 1), [](S& x) -> float& { return x.gen.sampling.min_p; })
        .add(KeyRule::string("grpo.stop"), &S::stop)
        .add(KeyRule::positive("grpo.kv_budget_mb"), &S::kv_budget_mb)
        .add(KeyRule::integer("grpo.mu", 1, 1 << 16), &S::mu)
        .add(KeyRule::integer("grpo.mini_batches", 1, 1 << 20), &S::mini_batches)
        .add(KeyRule::real("grpo.eps_low", 0, 1), [](S& x) -> float& { return x.objective.eps_low; })
        .add(KeyRule::non_negative("grpo.eps_high"), [](S& x) -> float& { return x.objective.eps_high; })
        .add(KeyRule::non_negative("grpo.clip_ratio_c"),
             [](S& x) -> float& { return x.objective.clip_ratio_c; })
        .add(KeyRule::non_negative("grpo.beta"), [](S& x) -> float& { return x.objective.beta; })
        .add_choice<GrpoAgg>("grpo.loss_agg",
                             {{"seq-mean", GrpoAgg::kSeqMean},
                              {"token-mean", GrpoAgg::kTokenMean},
                              {"constant", GrpoAgg::kConstant}},
                             [](S& x) -> GrpoAgg& { return x.objective.agg; })
        .add_choice<GrpoLossType>(
            "grpo.loss",
            {{"grpo", GrpoLossType::kGrpo}, {"gspo", GrpoLossType::kGspo}, {"cispo", GrpoLossType::kCispo}},
            [](S& x) -> GrpoLossType& { return x.objective.loss_type; })
        .add(KeyRule::boolean("grpo.scale_rewards"), [](S& x) -> bool& { return x.objective.scale_rewards; })
        .add(KeyRule::boolean("grpo.mask_truncated"),
             [](S& x) -> bool& { return x.objective.mask_truncated; })
        .add(KeyRule::finite("grpo.entropy_coef"), [](S& x) -> float& { return x.objective.entropy_coef; })
        .add(KeyRule::boolean("grpo.dynamic_sampling"), &S::dynamic_sampling)
        .add(KeyRule::integer("grpo.max_draws", 1, 1 << 20), &S::max_draws)
        .add(KeyRule::string("grpo.old_logp", {"auto", "sampler", "recompute"}), &S::old_logp)
        .add(KeyRule::non_negative("grpo.tis_cap"), &S::tis_cap)
        .add(KeyRule::string("distill.teacher"), &S::distill_teacher)
        .add(KeyRule::non_negative("distill.coef"), &S::distill_coef)
        .add(KeyRule::integer("grpo.micro_batch_tokens", 0, kBig), &S::micro_batch_tokens)
        .add(KeyRule::non_negative("train.memory_budget_mb"), &S::memory_budget_mb)
        .add(KeyRule::boolean("grpo.share_prompt"), &S::share_prompt)
        .add(KeyRule::integer("train.max_bad_steps", 1, kBig), &S::max_bad_steps)
        .add(KeyRule::boolean("reward.last_number"),
             [](S& x) -> bool& { return x.reward.extract.last_number; })
        .add(KeyRule::string("reward.target_language"),
             [](S& x) -> std::string& { return x.reward.language; })
        .add(KeyRule::integer("reward.max_tokens", 1, kBig),
             [](S& x) -> int64_t& { return x.reward.max_tokens; })
        .add(KeyRule::integer("reward.cache_tokens", 0, kBig),
             [](S& x) -> int64_t& { return x.reward.cache_tokens; })
        .add(KeyRule::string("reward.external_cmd"),
             [](S& x) -> std::string& { return x.reward.external_cmd; })
        .add(KeyRule::positive("reward.external_timeout_s"),
             [](S& x) -> double& { return x.reward.external_timeout_s; })
        .add(KeyRule::string("eval.data"), &S::eval_data)
        .add(KeyRule::string("eval.prompt_field"), &S::eval_prompt_field)
        .add(KeyRule::string("eval.answer_field"), &S::eval_answer_field)
        .add(KeyRule::boolean("eval.gsm8k_answer"), &S::eval_gsm8k_answer)
        .add(KeyRule::int_at_least("eval.every", 0), &S::eval_every)
        .add(KeyRule::boolean("eval.at_start"), &S::eval_at_start)
        .add(KeyRule::boolean("eval.at_end"), &S::eval_at_end)
        .add(KeyRule::integer("eval.limit", 1, kBig), &S::eval_limit)
        .add(KeyRule::integer("eval.k", 1, 1024), &S::eval_k)
        .add(KeyRule::real("eval.temperature", 0, 100), &S::eval_temperature)
        .add(KeyRule::real("eval.top_p", 0, 1, true), &S::eval_top_p)
        .add(KeyRule::integer("eval.max_new_tokens", 1, 1 << 24), &S::eval_max_new_tokens)
        .add(KeyRule::int_at_least("eval.seed", 0), &S::eval_seed)
        .add(KeyRule::int_at_least("output.sample_every", 0), &S::sample_every)
        .add(KeyRule::int_at_least("output.samples_per_step", 0), &S::samples_per_step)
        .add_part(train_settings_schema(), [](S& x) -> TrainSettings& { return x.train; });
    for (const auto& k : verify::reward_recipe_keys("reward")) s.add_rule(KeyRule::finite(k));
    return s;
  }();
  return schema;
}

// The keys of reward model NAME ([reward.models.NAME]) and of judge NAME ([reward.judges.NAME]).
std::vector<KeyRule> reward_model_rules(const std::string& name) {
  const std::string t = "reward.models." + name + ".";
  return {KeyRule::string(t + "path"), KeyRule::finite(t + "weight"),
          KeyRule::string(t + "scope", {"full", "summary"}), KeyRule::string(t + "template"),
          KeyRule::integer(t + "batch_tokens", 1, int64_t{1} << 30)};
}
std::vector<KeyRule> judge_rules(const std::string& name) {
  const std::string t = "reward.judges." + name + ".";
  return {KeyRule::string(t + "path"), KeyRule::finite(t + "weight"), KeyRule::string(t + "template"),
          KeyRule::integer(t + "max_new_tokens", 1, 4096)};
}

// The names of the tables under reward.models and reward.judges, each checked: it can be a metric
// name, it is not a rule reward's, no two are alike, and the table has a non-empty path.
std::vector<std::string> reward_component_tables(const Recipe& r, const std::string& kind,
                                                 std::vector<std::string>& seen) {
  std::vector<std::string> out;
  for (const std::string& name : r.keys_under("reward." + kind)) {
    const std::string t = "reward." + kind + "." + name;
    if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
        }))
      fail("{}: the name '{}' ([{}]) must be 1 to 64 letters, digits, '_' or '-'", r.name(),
           printable(name, 40), printable(t, 80));
    for (const verify::RewardDef& d : verify::reward_registry())
      if (d.name == name)
        fail("{}: the name '{}' ([{}]) is the name of a rule reward; choose another", r.name(), name, t);
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      fail("{}: the name '{}' ([{}]) is used twice; each reward component needs its own", r.name(), name, t);
    seen.push_back(name);
    if (!r.has(t + ".path") || r.get_string(t + ".path").empty())
      fail("{}: [{}] needs key 'path' (the model's directory)", r.name(), t);
    out.push_back(name);
  }
  return out;
}

void read_reward_components(const Recipe& r, GrpoSettings& s) {
  std::vector<std::string> seen;
  for (const std::string& name : reward_component_tables(r, "models", seen)) {
    const std::string t = "reward.models." + name;
    GrpoSettings::RewardModel m;
    m.name = name;
    m.path = r.get_string(t + ".path");
    m.weight = r.get_float(t + ".weight", 1.0);
    m.scope = r.get_string(t + ".scope", "full") == "summary" ? RmScope::kSummary : RmScope::kFull;
    m.templ = r.get_string(t + ".template", "auto");
    m.batch_tokens = r.get_int(t + ".batch_tokens", 8192);
    s.reward_models.push_back(std::move(m));
  }
  for (const std::string& name : reward_component_tables(r, "judges", seen)) {
    const std::string t = "reward.judges." + name;
    GrpoSettings::RewardJudge j;
    j.name = name;
    j.path = r.get_string(t + ".path");
    j.weight = r.get_float(t + ".weight", 1.0);
    j.templ_file = r.get_string(t + ".template", "");
    j.max_new_tokens = static_cast<int>(r.get_int(t + ".max_new_tokens", 16));
    s.judges.push_back(std::move(j));
  }
}

// The recipe read and checked whole, with the defaults that depend on other keys filled in.
GrpoSettings read_grpo_settings(const Recipe& r) {
  std::vector<KeyRule> named_rules;
  for (const std::string& name : r.keys_under("reward.models"))
    for (KeyRule& k : reward_model_rules(name)) named_rules.push_back(std::move(k));
  for (const std::string& name : r.keys_under("reward.judges"))
    for (KeyRule& k : judge_rules(name)) named_rules.push_back(std::move(k));
  GrpoSettings s = grpo_schema().read(r, GrpoSettings{}, named_rules);
  const std::string rn = r.name();
  read_reward_components(r, s);
  s.rule_rewards = false;
  for (const verify::RewardDef& d : verify::reward_registry()) s.rule_rewards |= r.has("reward." + d.name);
  if (!s.rule_rewards && s.reward_models.empty() && s.judges.empty())
    fail(
        "{}: no reward: name rule rewards in [reward] (known: {}), reward models in [reward.models.NAME] or "
        "judges in [reward.judges.NAME]",
        rn, verify::known_reward_names());
  if (!s.route_field.empty() && ((!s.rule_rewards && s.judges.empty()) || s.reward_models.empty()))
    fail(
        "{}: key 'data.reward_field' routes each prompt to the rule rewards (and judges), the reward models "
        "or both, so the recipe needs both kinds ([reward] or [reward.judges.NAME], and "
        "[reward.models.NAME])",
        rn);
  const int64_t BG = int64_t{s.B} * s.gen.n;
  if (s.mini_batches > BG)
    fail("{}: key 'grpo.mini_batches' must be at most grpo.prompts_per_step x grpo.group_size ({}), got {}",
         rn, BG, s.mini_batches);
  if (s.reward.max_tokens == 0) s.reward.max_tokens = s.gen.max_new_tokens;
  if (r.has("reward.length") && s.reward.cache_tokens >= s.reward.max_tokens)
    fail(
        "{}: key 'reward.cache_tokens' ({}) must be less than reward.max_tokens ({}): the length penalty "
        "ramps over the last cache_tokens before max_tokens",
        rn, s.reward.cache_tokens, s.reward.max_tokens);
  if (r.has("reward.external") && s.reward.external_cmd.empty())
    fail("{}: the reward 'external' needs key 'reward.external_cmd' (the grader command)", rn);
  for (const auto* k : {&s.model_path, &s.data_path})
    if (k->empty())
      fail("{}: key '{}' must not be empty", rn, k == &s.model_path ? "model.path" : "data.path");
  if (s.objective.clip_ratio_c != 0 && s.objective.clip_ratio_c <= 1)
    fail("{}: key 'grpo.clip_ratio_c' must be 0 (off) or greater than 1 (dual clip), got {}", rn,
         s.objective.clip_ratio_c);
  if (!s.distill_teacher.empty() && s.objective.loss_type == GrpoLossType::kGspo)
    fail("{}: key 'distill.teacher' (per-token advantages) needs grpo.loss = \"grpo\" or \"cispo\", not gspo",
         rn);
  if (s.objective.loss_type == GrpoLossType::kCispo && s.objective.clip_ratio_c != 0)
    fail(
        "{}: key 'grpo.clip_ratio_c' (dual clip) does not apply to grpo.loss = \"cispo\", whose weight is "
        "capped at "
        "1 + eps_high",
        rn);
  try {
    s.objective.validate();
  } catch (const Error& e) {
    fail("{}: {}", rn, e.what());
  }
  if (s.tis_cap > 0 && !s.recompute_old())
    fail(
        "{}: key 'grpo.tis_cap' weighs each token by pi_old / pi_sampler, which needs pi_old from the "
        "training "
        "forward: set grpo.old_logp = \"recompute\" (or \"auto\" with model.compute or train.compute "
        "\"bf16\")",
        rn);
  if (!r.has("eval.gsm8k_answer")) s.eval_gsm8k_answer = s.gsm8k_answer;
  if (s.eval_prompt_field.empty()) s.eval_prompt_field = s.prompt_field;
  if (s.eval_answer_field.empty()) s.eval_answer_field = s.answer_field;
  if (s.eval_max_new_tokens == 0) s.eval_max_new_tokens = s.gen.max_new_tokens;
  s.gen.seed = s.train.seed;
  s.gen.kv_budget_bytes = static_cast<size_t>(s.kv_budget_mb * 1048576.0);
  s.gen.compute = s.compute == "bf16" ? DType::BF16 : DType::F32;
  s.objective.max_new_tokens = s.gen.max_new_tokens;
  return s;
}

}  // namespace

std::vector<KeyRule> grpo_recipe_rules() {
  std::vector<KeyRule> rules = grpo_schema().rules();
  for (KeyRule& k : reward_model_rules("NAME")) rules.push_back(std::move(k));
  for (KeyRule& k : judge_rules("NAME")) rules.push_back(std::move(k));
  return rules;
}

void check_grpo_recipe(const Recipe& r) {
  read_grpo_settings(r);
}

namespace {

using Clock = std::chrono::steady_clock;

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
      shuffle_by(order_, [&](size_t i) { return hash_u64(seed_, 0x6f72646572ULL + e, i - 1); });
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

}  // namespace

namespace {

// One sampled response and what it earned.
struct Rollout {
  int64_t problem = 0;
  Completion c;
  verify::Score score;
  float reward = 0;
  bool format_ok = false;
};

// Data parallelism: every rank's rollouts (scored), on every rank, in rank order. Collective.
std::vector<Rollout> gather_rollouts(std::vector<Rollout> mine) {
  if (!world().distributed()) return mine;
  nlohmann::json a = nlohmann::json::array();
  for (const Rollout& x : mine) {
    nlohmann::json comps = nlohmann::json::array();
    for (const verify::ComponentScore& c : x.score.components)
      comps.push_back({c.name, c.weight, c.value, c.reason});
    a.push_back({x.problem, x.c.prompt_index, x.c.sample_index, x.c.token_ids, x.c.logprobs, x.c.text,
                 x.c.finish_reason, x.score.total, std::move(comps),
                 x.score.extracted ? nlohmann::json(*x.score.extracted) : nlohmann::json(),
                 x.score.verdict ? nlohmann::json(static_cast<int>(*x.score.verdict)) : nlohmann::json()});
  }
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(a);
  std::vector<Rollout> all;
  for (const std::string& b : world().all_gather(std::string(bytes.begin(), bytes.end())))
    for (const nlohmann::json& j : nlohmann::json::from_msgpack(b)) {
      Rollout x;
      x.problem = j[0].get<int64_t>();
      x.c.prompt_index = j[1].get<int64_t>(), x.c.sample_index = j[2].get<int64_t>();
      x.c.token_ids = j[3].get<std::vector<int32_t>>();
      x.c.logprobs = j[4].get<std::vector<float>>();
      x.c.text = j[5].get<std::string>(), x.c.finish_reason = j[6].get<std::string>();
      x.score.total = j[7].get<double>();
      for (const nlohmann::json& c : j[8])
        x.score.components.push_back(
            {c[0].get<std::string>(), c[1].get<double>(), c[2].get<double>(), c[3].get<std::string>()});
      if (!j[9].is_null()) x.score.extracted = j[9].get<std::string>();
      if (!j[10].is_null()) x.score.verdict = static_cast<verify::Verdict>(j[10].get<int>());
      all.push_back(std::move(x));
    }
  return all;
}

// A training sequence: prompt + completion, with per-target-position pi_old and pi_ref.
struct TrainSeq {
  const std::vector<int32_t>* prompt = nullptr;
  const Completion* c = nullptr;
  float advantage = 0;
  std::vector<float> ref_logp;      // per completion token (empty when beta == 0)
  std::vector<float> old_logp;      // per completion token
  std::vector<float> is_weight;     // per completion token: truncated importance weight (empty: none)
  std::vector<float> teacher_logp;  // per completion token: log pi_teacher (on-policy distillation)
  std::vector<float> token_adv;     // per completion token: distill.coef * (teacher_logp - old_logp)
};

// A micro-batch as the model sees it: a packed Batch and, per position, pi_old, pi_ref and the
// importance weight of the completion tokens; per sequence of the batch, the index of the training
// sequence it holds (-1 for a shared prompt).
struct TrainBatch {
  Batch batch;
  std::vector<float> old_logp, ref_logp, is_weight, token_adv;
  std::vector<int64_t> seq;  // (batch.num_seqs())
  // Position of completion token j of the k-th training sequence of the micro-batch.
  std::vector<size_t> first_target;  // per training sequence, in the order given
};

// Packs the training sequences `idx` into one Batch. With share_prompt, the samples of one prompt
// share it (Batch::prefix): the prompt minus its last token runs once, and each sample is a
// continuation holding that last token and its completion, so each row computes what it would
// alone (tests/model/test_shared_prefix.cpp). Otherwise each sample repeats its whole prompt.
TrainBatch pack(const std::vector<TrainSeq>& seqs, const std::vector<size_t>& idx, bool share_prompt) {
  TrainBatch tb;
  Batch& b = tb.batch;
  auto grow = [&tb](size_t n) {
    for (auto* v : {&tb.old_logp, &tb.ref_logp, &tb.is_weight, &tb.token_adv}) v->resize(v->size() + n, 0.f);
  };
  std::vector<std::pair<const std::vector<int32_t>*, int32_t>> prompt_seq;  // prompt -> its sequence
  for (size_t k = 0; k < idx.size(); k++) {
    const TrainSeq& s = seqs[idx[k]];
    const std::vector<int32_t>& p = *s.prompt;
    const size_t P = p.size(), C = s.c->token_ids.size();
    int32_t ps = -1;
    if (share_prompt && P >= 2) {
      for (const auto& [ptr, q] : prompt_seq)
        if (ptr == s.prompt) ps = q;
      if (ps < 0) {
        const std::vector<int32_t> head(p.begin(), p.end() - 1);
        b.append(head, std::vector<int32_t>(head.size(), -1));
        grow(head.size());
        tb.seq.push_back(-1);
        ps = static_cast<int32_t>(b.num_seqs() - 1);
        prompt_seq.emplace_back(s.prompt, ps);
      }
    }
    // The tokens this sequence adds: the prompt's last token (or all of it) and the completion.
    const size_t skip = ps >= 0 ? P - 1 : 0;
    std::vector<int32_t> toks(p.begin() + static_cast<std::ptrdiff_t>(skip), p.end()), targets;
    toks.insert(toks.end(), s.c->token_ids.begin(), s.c->token_ids.end());
    targets.assign(toks.size(), -1);
    const size_t base = static_cast<size_t>(b.size()),
                 t0 = P - 1 - skip;  // row predicting completion token 0
    grow(toks.size());
    for (size_t j = 0; j < C; j++) {
      targets[t0 + j] = s.c->token_ids[j];
      tb.old_logp[base + t0 + j] = s.old_logp[j];
      if (!s.ref_logp.empty()) tb.ref_logp[base + t0 + j] = s.ref_logp[j];
      if (!s.is_weight.empty()) tb.is_weight[base + t0 + j] = s.is_weight[j];
      if (!s.token_adv.empty()) tb.token_adv[base + t0 + j] = s.token_adv[j];
    }
    tb.first_target.push_back(base + t0);
    if (ps >= 0)
      b.append_continuation(ps, toks, targets);
    else
      b.append(toks, targets);
    tb.seq.push_back(static_cast<int64_t>(idx[k]));
  }
  return tb;
}

// Splits the sequences `idx` into micro-batches of at most max_tokens tokens as packed (a shared
// prompt counted once), at least one sequence each, in order.
std::vector<std::vector<size_t>> micro_batches(const std::vector<TrainSeq>& seqs,
                                               const std::vector<size_t>& idx, int64_t max_tokens,
                                               bool share_prompt) {
  std::vector<std::vector<size_t>> out;
  std::vector<const std::vector<int32_t>*> prompts;  // shared in the current micro-batch
  int64_t used = 0;
  for (size_t i : idx) {
    const TrainSeq& s = seqs[i];
    const int64_t P = static_cast<int64_t>(s.prompt->size()), C = static_cast<int64_t>(s.c->token_ids.size());
    const bool shared = share_prompt && P >= 2;
    auto seen = [&] { return std::find(prompts.begin(), prompts.end(), s.prompt) != prompts.end(); };
    int64_t n = shared && seen() ? C + 1 : P + C;  // a continuation, or the prompt too
    if (out.empty() || (used + n > max_tokens && !out.back().empty())) {
      out.emplace_back();
      prompts.clear();
      used = 0;
      n = P + C;
    }
    if (shared && !seen()) prompts.push_back(s.prompt);
    out.back().push_back(i);
    used += n;
  }
  return out;
}

// Log-probs of each sequence's completion tokens under `model`, in micro-batches: into
// ref_logp (pi_ref), old_logp (pi_old recomputed by the training forward) or teacher_logp.
void completion_logprobs(Model& model, std::vector<TrainSeq>& seqs, int64_t max_tokens, bool share_prompt,
                         std::vector<float> TrainSeq::*into) {
  // Data parallelism: each rank scores a contiguous block of about equal tokens, then the blocks
  // are gathered (every rank ends with every sequence's log-probs).
  std::vector<int64_t> cum{0};
  for (const TrainSeq& s : seqs)
    cum.push_back(cum.back() + static_cast<int64_t>(s.prompt->size() + s.c->token_ids.size()));
  const Shard mine = shard_by_cost(cum, world().rank(), world().size());
  std::vector<size_t> all(static_cast<size_t>(mine.size()));
  std::iota(all.begin(), all.end(), static_cast<size_t>(mine.begin));
  for (const auto& mb : micro_batches(seqs, all, max_tokens, share_prompt)) {
    const TrainBatch tb = pack(seqs, mb, share_prompt);
    std::vector<float> lp(static_cast<size_t>(tb.batch.size())), ent(lp.size());
    model.forward(tb.batch, lp.data(), ent.data());
    for (size_t k = 0; k < mb.size(); k++) {
      TrainSeq& s = seqs[mb[k]];
      std::vector<float>& dst = s.*into;
      dst.assign(s.c->token_ids.size(), 0.f);
      for (size_t j = 0; j < dst.size(); j++) dst[j] = lp[tb.first_target[k] + j];
    }
  }
  if (!world().distributed()) return;
  std::string block;
  for (int64_t i = mine.begin; i < mine.end; i++) {
    const std::vector<float>& v = seqs[static_cast<size_t>(i)].*into;
    block.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  const std::vector<std::string> blocks = world().all_gather(block);
  for (int r = 0; r < world().size(); r++) {
    const Shard theirs = shard_by_cost(cum, r, world().size());
    size_t at = 0;
    for (int64_t i = theirs.begin; i < theirs.end; i++) {
      TrainSeq& s = seqs[static_cast<size_t>(i)];
      std::vector<float>& dst = s.*into;
      dst.resize(s.c->token_ids.size());
      R1_CHECK(at + dst.size() * sizeof(float) <= blocks[static_cast<size_t>(r)].size());
      std::memcpy(dst.data(), blocks[static_cast<size_t>(r)].data() + at, dst.size() * sizeof(float));
      at += dst.size() * sizeof(float);
    }
  }
}

struct StepMetrics {
  double reward_sum = 0, reward_sq = 0, correct = 0, format_ok = 0, revisits_slip = 0, truncated = 0;
  double len_sum = 0;
  int64_t len_max = 0, n = 0, groups = 0, zero_var_groups = 0, gen_tokens = 0;
  int64_t rule_scored = 0;       // samples the rule rewards scored (accuracy's denominator)
  int64_t rm_truncated = 0;      // samples a reward model saw only the end of (longer than its context)
  int64_t judge_no_verdict = 0;  // judge outputs that said neither yes nor no
  struct Component {
    std::string name;
    double sum = 0;
    int64_t count = 0;
  };
  std::vector<Component> components;  // in the order first seen: rule rewards, then reward models
  verify::ReasoningStats reasoning;   // reflection and check steps

  void add(const Rollout& r, bool by_rules) {
    n++;
    rule_scored += by_rules;
    reward_sum += r.reward, reward_sq += double(r.reward) * r.reward;
    const bool ok = r.score.verdict == verify::Verdict::kCorrect;
    correct += ok;
    format_ok += r.format_ok;
    const verify::ReasoningTraits t = reasoning.add(r.c.text, static_cast<int64_t>(r.c.token_ids.size()), ok);
    revisits_slip += ok && t.revisits_slip;
    truncated += r.c.finish_reason == "length";
    const int64_t L = static_cast<int64_t>(r.c.token_ids.size());
    len_sum += double(L), len_max = std::max(len_max, L), gen_tokens += L;
    for (const verify::ComponentScore& c : r.score.components) {
      auto it = std::find_if(components.begin(), components.end(),
                             [&](const Component& k) { return k.name == c.name; });
      if (it == components.end()) it = components.insert(components.end(), Component{c.name});
      it->sum += c.value, it->count++;
    }
  }
};

// What one step's sampling produced: every sample drawn (all groups, kept or not) and the first
// sample of each kept group.
struct StepRollouts {
  std::vector<Rollout> rolls;
  std::vector<size_t> kept;
  StepMetrics metrics;
  int64_t draws = 0;
  double rollout_s = 0, reward_s = 0;
};

// What the update saw.
struct UpdateStats {
  GrpoStats objective;
  double loss_sum = 0, norm_sum = 0;
  int64_t updates = 0, skipped = 0, empty = 0, train_tokens = 0;
  double first_pass_max_log_ratio = 0;  // max |log rho| in the first mini-batch, before any update
  double seconds = 0;
};

// pi_old as the training forward sees it, against the sampler's log-probs.
struct OldLogpStats {
  double gap_max = 0, gap_sum = 0;
  int64_t tokens = 0;
  double is_weight_sum = 0;
  int64_t is_capped = 0;
  double reverse_kl_sum = 0, teacher_logp_sum = 0;  // on-policy distillation, over sampled tokens
  int64_t distill_tokens = 0;
};

// One GRPO run. The step, read top to bottom, is equations (1)-(3) of R1-NOTES section 1:
// sample_groups (rollouts o_1..o_G per prompt and their rule rewards r_i), training_sequences
// (advantages A_i = (r_i - mean) / std), old_and_reference_logprobs (pi_old, pi_ref), update
// (the clipped surrogate minus beta KL, mu passes of mini-batch AdamW steps), then metrics,
// evaluation and checkpoints (TrainingLoop).
class GrpoRun {
 public:
  GrpoRun(const Recipe& r, RunStart start, const GrpoHooks* hooks)
      : s_(read_grpo_settings(r)),
        loop_("grpo", r, start, s_.train, s_.steps),
        hooks_(hooks),
        model_(load_model(s_.model_path)) {
    tok_ = load_tokenizer(s_.model_path);
    const PromptBuilder prompts(s_.prompt, s_.model_path);
    s_.gen.stop_ids = stop_ids_of(model_, tok_.get());
    s_.gen.stop_strings = s_.stop == "auto" ? prompts.stop_strings() : std::vector<std::string>{s_.stop};
    if (s_.gen.stop_strings.size() == 1 && s_.gen.stop_strings[0].empty()) s_.gen.stop_strings.clear();
    load_problems(prompts);
    if (!s_.distill_teacher.empty()) load_teacher(r.name());
    for (const GrpoSettings::RewardModel& m : s_.reward_models) reward_models_.emplace_back(m.path, m.templ);
    for (const GrpoSettings::RewardJudge& j : s_.judges) {
      JudgeConfig jc;
      jc.path = j.path, jc.templ_file = j.templ_file, jc.max_new_tokens = j.max_new_tokens;
      judges_.emplace_back(jc);
    }
    size_memory(r.name());
    if (s_.objective.beta > 0) ref_.emplace(load_model(s_.model_path));
    // The objective's log-probs are those of the distribution the rollouts sample from: logits / T
    // over the ids the tokenizer can produce (Engine::sample_vocab).
    head_.temperature = s_.gen.sampling.temperature;
    head_.vocab = std::min<int64_t>(model_.config().vocab_size, tok_->vocab_size());
    model_.set_head(head_);
    for (auto* frozen : {&ref_, &teacher_})
      if (*frozen) {
        (*frozen)->set_head(head_);  // the policy's distribution: the same temperature and vocabulary
        (*frozen)->set_compute({s_.train.compute.dtype, false});  // in the policy's numerics
      }
    if (s_.rule_rewards) rewards_.emplace(verify::reward_terms_from_recipe(r, "reward"), s_.reward);
    check_routes(r.name());
    check_golds();
    load_eval(prompts);
    order_.emplace(static_cast<int64_t>(problems_.size()), s_.train.seed);
  }

  int run(const Recipe& r, bool resume) {
    const TrainState& st = loop_.attach(model_);
    const int64_t N = static_cast<int64_t>(problems_.size());
    drawn_ = st.data.epoch * N + st.data.index;
    loop_.data_position = [this, N] { return DataPosition{drawn_ / N, drawn_ % N}; };
    loop_.export_model = [this](const std::string& dir) {
      save_model(model_, dir, s_.model_path, s_.train.save_dtype);
    };
    loop_.begin(r, true);  // everything is checked: from here on the run writes

    std::fprintf(stderr, "grpo: %s model, %.2fM parameters, %zu problems, B %d x G %d, beta %g, %s\n",
                 model_.config().arch_name().c_str(), model_.num_params() / 1e6, problems_.size(), s_.B,
                 s_.gen.n, s_.objective.beta,
                 resume ? fmt::format("resuming at step {}", loop_.step()).c_str() : "starting");
    // One engine for the run, rollouts and evaluation: one KV pool, and its bf16 weight copy packed
    // once per optimizer step (Engine::cache_, Engine::forward_).
    engine_.emplace(model_, tok_.get(), s_.gen);
    if (!resume && s_.eval_at_start) evaluate();

    Progress progress("grpo", loop_.steps(), loop_.step());
    t_start_ = Clock::now();
    while (!loop_.done()) {
      const auto t_step = Clock::now();
      comm_at_step_ = world().seconds();
      StepRollouts ro = sample_groups(*engine_);
      std::vector<TrainSeq> seqs = training_sequences(ro);
      auto t0 = Clock::now();
      const OldLogpStats old = old_and_reference_logprobs(seqs);
      const double ref_s = seconds_since(t0);
      const UpdateStats up = update(seqs);
      check_bad_streak(up);
      write_metrics(ro, up, old, ref_s, seconds_since(t_step));
      const int64_t step = loop_.step() + 1;
      write_samples(ro, step);
      note_first_self_correction(ro, step);
      const StepMetrics& sm = ro.metrics;
      const double n = std::max<double>(1, double(sm.n));
      progress.update(
          step,
          {{"reward", fmt::format("{:.3f}", sm.reward_sum / n)},
           {"acc", fmt::format("{:.1f}%", 100 * sm.correct / std::max<double>(1, double(sm.rule_scored)))},
           {"len", fmt::format("{:.1f}", sm.len_sum / n)},
           {"kl", fmt::format("{:.4f}", up.objective.mean_kl())},
           {"s/step", fmt::format("{:.1f}", seconds_since(t_step))}});
      const bool last = step == loop_.steps();
      if ((s_.eval_every > 0 && step % s_.eval_every == 0) || (last && s_.eval_at_end)) evaluate(step);
      if (loop_.end_step(progress)) break;
    }
    const int rc = loop_.finish(progress);
    if (rc == 0)
      std::fprintf(stderr, "grpo: done, %lld steps in %.0f s; model saved to %s\n", (long long)loop_.step(),
                   seconds_since(t_start_), loop_.run().path(RunDir::kModel).c_str());
    return rc;
  }

 private:
  // The whole run (gradients, AdamW moments, activations, the reference copy, the KV pool) must
  // fit before any of it is allocated. grpo.micro_batch_tokens = 0 (the default) sizes the
  // micro-batches to the memory budget; either way the longest sample (a prompt and all its new
  // tokens) must fit in one, since a micro-batch holds at least one sample.
  void size_memory(const std::string& rn) {
    int64_t longest = 0;
    for (const auto& p : prompt_ids_) longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
    longest += s_.gen.max_new_tokens;
    TrainingMemoryPlan plan;
    plan.kv_budget_bytes = s_.gen.kv_budget_bytes;
    plan.kv_dtype = s_.gen.compute;
    plan.reference_model = s_.objective.beta > 0;
    if (teacher_)
      plan.teacher_bytes =
          estimate_model_memory(teacher_->config()).params +
          (s_.train.compute.dtype == DType::BF16 ? bf16_weight_copy_bytes(teacher_->config()) : 0);
    plan.compute = s_.train.compute.dtype, plan.recompute = s_.train.compute.recompute;
    for (const RewardModelScorer& rm : reward_models_)  // frozen, like the teacher
      plan.teacher_bytes += estimate_model_memory(rm.model().config()).params;
    for (const Judge& j : judges_) plan.teacher_bytes += estimate_model_memory(j.model().config()).params;
    const uint64_t machine = machine_memory_bytes();
    const uint64_t budget = s_.memory_budget_mb > 0 ? static_cast<uint64_t>(s_.memory_budget_mb * 1048576.0)
                                                    : static_cast<uint64_t>(0.8 * double(machine));
    if (s_.micro_batch_tokens == 0) {
      const int64_t fit = fit_batch_tokens(model_.config(), plan, budget);
      if (fit < longest) {
        plan.batch_tokens = longest;
        const MemoryEstimate e = estimate_training_memory(model_.config(), plan);
        fail(
            "{}: training {} needs {} ({}) for one micro-batch of its longest sample ({} tokens: prompt and "
            "grpo.max_new_tokens), more than the memory budget of {} (train.memory_budget_mb; 0 = 80% of "
            "this machine's {}): set train.recompute = true (if not set), lower grpo.max_new_tokens or "
            "grpo.kv_budget_mb, or set grpo.beta = 0",
            rn, describe_model_size(model_.config()), format_bytes(e.total()), e.breakdown(), longest,
            format_bytes(budget), format_bytes(machine));
      }
      s_.micro_batch_tokens = fit;
    }
    plan.batch_tokens = std::max(s_.micro_batch_tokens, longest);
    check_training_memory(model_.config(), plan, rn, "grpo.micro_batch_tokens");
    const MemoryEstimate e = estimate_training_memory(model_.config(), plan);
    std::fprintf(stderr, "grpo: micro-batches of up to %lld tokens; the run needs about %s (%s)\n",
                 (long long)s_.micro_batch_tokens, format_bytes(e.total()).c_str(), e.breakdown().c_str());
  }

  // The teacher of on-policy distillation must score the student's own tokens: one vocabulary,
  // the same ids for the same token texts. Checked before anything runs.
  void load_teacher(const std::string& rn) {
    const std::string& path = s_.distill_teacher;
    const std::unique_ptr<Tokenizer> ttok = load_tokenizer(path);
    if (ttok->vocab_size() != tok_->vocab_size())
      fail(
          "{}: distill.teacher {}: its tokenizer has {} tokens and the student's ({}) {}; on-policy "
          "distillation scores the student's own tokens, so both need one vocabulary",
          rn, path, ttok->vocab_size(), s_.model_path, tok_->vocab_size());
    for (int32_t id = 0; id < tok_->vocab_size(); id++)
      if (ttok->token_text(id) != tok_->token_text(id))
        fail(
            "{}: distill.teacher {}: token {} is '{}' for the teacher and '{}' for the student ({}); "
            "on-policy "
            "distillation needs one vocabulary",
            rn, path, id, printable(ttok->token_text(id), 40), printable(tok_->token_text(id), 40),
            s_.model_path);
    teacher_.emplace(load_model(path));
    if (teacher_->config().vocab_size < std::min<int64_t>(model_.config().vocab_size, tok_->vocab_size()))
      fail("{}: distill.teacher {}: its model has {} output rows, fewer than the student samples from", rn,
           path, teacher_->config().vocab_size);
  }

  void load_problems(const PromptBuilder& prompts) {
    DatasetSpec spec{"", s_.prompt_field, s_.answer_field, s_.gsm8k_answer};
    spec.route_field = s_.route_field;
    // Reward models alone need no answers (judges compare with them).
    if (!s_.rule_rewards && s_.judges.empty()) spec.route_default = "model";
    problems_ = load_eval_problems(s_.data_path, spec, s_.data_limit);
    if (problems_.empty()) fail("{}: no problems", s_.data_path);
    for (const EvalProblem& p : problems_) {
      prompt_ids_.push_back(prompts.encode(p.prompt, *tok_));
      prompt_text_.push_back(tok_->decode(prompt_ids_.back()));
    }
    // Every rollout must have its whole budget: a prompt that leaves less is refused, naming it.
    ContextFitOptions fit;
    fit.context = model_.config().max_position_embeddings;
    fit.max_new_tokens = s_.gen.max_new_tokens;
    fit.policy = ContextPolicy::kRefuse;
    fit.max_new_name = "grpo.max_new_tokens";
    fit_prompts_to_context(prompt_ids_, fit, [&](size_t i) {
      return fmt::format("{}:{}: problem {}", s_.data_path, problems_[i].line, problems_[i].id);
    });
    s_.gen.context = fit.context;
  }

  // The accuracy reward of the recipe (the first accuracy term), alone: it scores evaluation
  // samples, and tells which gold answers it cannot read.
  const verify::RewardTerm* accuracy_term() const {
    if (!rewards_) return nullptr;
    for (const verify::RewardTerm& t : rewards_->terms())
      for (const verify::RewardDef& d : verify::reward_registry())
        if (d.name == t.name && d.accuracy) return &t;
    return nullptr;
  }

  // Counts the training problems whose gold answer the accuracy reward cannot read (they can
  // never earn it) and says so before the run starts.
  void check_golds() {
    const verify::RewardTerm* acc = accuracy_term();
    if (!acc || acc->name == "code" || acc->name == "external") return;  // no cheap probe: running code
    accuracy_.emplace(std::vector<verify::RewardTerm>{{acc->name, 1.0}}, s_.reward);
    int64_t bad = 0;
    std::string first;
    for (const EvalProblem& p : problems_) {
      if (p.route == "model") continue;
      verify::RewardInput in;
      const std::string probe = "<think>.</think> <answer>" + p.gold + "</answer> \\boxed{" + p.gold + "}";
      in.completion = probe;
      in.gold = p.gold;
      if (accuracy_->score(in).verdict == verify::Verdict::kUnverifiable) {
        if (bad++ == 0) first = fmt::format("{}:{}", s_.data_path, p.line);
      }
    }
    if (bad > 0)
      std::fprintf(
          stderr,
          "grpo: %lld of %zu training problems have a gold answer the '%s' reward cannot read (first: "
          "%s); they never earn it\n",
          (long long)bad, problems_.size(), acc->name.c_str(), first.c_str());
  }

  void load_eval(const PromptBuilder& prompts) {
    if (s_.eval_data.empty()) return;
    const DatasetSpec es{"", s_.eval_prompt_field, s_.eval_answer_field, s_.eval_gsm8k_answer};
    eval_problems_ = load_eval_problems(s_.eval_data, es, s_.eval_limit);
    for (const EvalProblem& p : eval_problems_) eval_prompts_.push_back(prompts.encode(p.prompt, *tok_));
    eval_gen_ = s_.gen;
    eval_gen_.n = s_.eval_k;
    eval_gen_.sampling = SamplingParams{};
    eval_gen_.sampling.temperature = s_.eval_temperature;
    eval_gen_.sampling.top_p = s_.eval_top_p;
    eval_gen_.max_new_tokens = s_.eval_max_new_tokens;
    eval_gen_.seed = s_.eval_seed;
  }

  // --- 1. rollouts and rewards (dynamic sampling draws until B groups have signal) -----------
  StepRollouts sample_groups(Engine& engine) {
    StepRollouts out;
    const int B = s_.B, G = s_.gen.n;
    const bool dynamic = s_.dynamic_sampling;
    while (static_cast<int>(out.kept.size()) < B && out.draws < (dynamic ? s_.max_draws * B : B)) {
      const int want = dynamic ? B - static_cast<int>(out.kept.size()) : B;
      // Data parallelism: this rank rolls out and scores a block of whole groups; each prompt keeps
      // its draw index for the sampling keys, so the samples are those of one process.
      const Shard mine = my_shard(want);
      std::vector<std::vector<int32_t>> ps;
      std::vector<int64_t> idx;
      for (int64_t i = mine.begin; i < mine.end; i++) {
        idx.push_back(order_->at(drawn_ + i));
        ps.push_back(prompt_ids_[static_cast<size_t>(idx.back())]);
      }
      auto t0 = Clock::now();
      std::vector<Completion> done = engine.generate_all(ps, drawn_ + mine.begin);
      out.rollout_s += seconds_since(t0);
      t0 = Clock::now();
      StepRollouts local;
      for (Completion& c : done) {
        Rollout x;
        x.problem = idx[static_cast<size_t>(c.prompt_index - drawn_ - mine.begin)];
        x.c = std::move(c);
        local.rolls.push_back(std::move(x));
      }
      drawn_ += want;
      out.draws += want;
      score_rewards(local);
      out.metrics.judge_no_verdict += world().sum(local.metrics.judge_no_verdict);
      out.metrics.rm_truncated += world().sum(local.metrics.rm_truncated);
      const size_t first = out.rolls.size();
      for (Rollout& x : gather_rollouts(std::move(local.rolls))) out.rolls.push_back(std::move(x));
      finish_scores(out, first);
      for (int g = 0; g < want; g++) {
        const size_t g0 = first + static_cast<size_t>(g) * G;
        bool all_equal = true;
        for (int j = 1; j < G; j++) all_equal &= out.rolls[g0 + j].reward == out.rolls[g0].reward;
        out.metrics.groups++;
        out.metrics.zero_var_groups += all_equal;
        if ((!dynamic || !all_equal) && static_cast<int>(out.kept.size()) < B) out.kept.push_back(g0);
      }
      out.reward_s += seconds_since(t0);
    }
    return out;
  }

  // Every prompt is routed to rewards that exist: a "rule" prompt needs rule rewards, a "model"
  // prompt reward models (with no data.reward_field, every prompt gets every reward).
  void check_routes(const std::string& rn) const {
    for (const EvalProblem& p : problems_) {
      if (p.route == "model" && reward_models_.empty())
        fail("{}: {}:{}: the prompt is routed to the reward models, but the recipe has none", rn,
             s_.data_path, p.line);
      if (p.route == "rule" && !rewards_ && judges_.empty())
        fail("{}: {}:{}: the prompt is routed to the rule rewards, but the recipe has none (nor a judge)", rn,
             s_.data_path, p.line);
    }
  }
  bool rule_scored(const Rollout& x) const {
    return (rewards_ || !judges_.empty()) && problems_[static_cast<size_t>(x.problem)].route != "model";
  }
  bool model_scored(const Rollout& x) const {
    return !reward_models_.empty() && problems_[static_cast<size_t>(x.problem)].route != "rule";
  }

  // A judge's or a reward model's component, added to a sample's score after its rule rewards.
  static void add_component(verify::Score& sc, verify::ComponentScore c) {
    sc.total += c.weight * c.value;
    sc.components.push_back(std::move(c));
  }

  // The rewards of out.rolls (one rank's share of the step's samples): the rule rewards in one batch (an
  // external grader sees all of them), then each reward model over the samples routed to it, in packed
  // batches. A sample's components are those of the rewards that scored it, rule rewards first; its reward
  // their weighted sum.
  void score_rewards(StepRollouts& out) {
    std::vector<verify::RewardInput> ins;
    std::vector<size_t> rule_at;  // rollout of each input
    for (size_t i = 0; i < out.rolls.size(); i++) {
      const Rollout& x = out.rolls[i];
      if (!rewards_ || !rule_scored(x)) continue;
      verify::RewardInput in;
      in.prompt = prompt_text_[static_cast<size_t>(x.problem)];
      in.completion = x.c.text;
      in.gold = problems_[static_cast<size_t>(x.problem)].gold;
      in.num_tokens = static_cast<int64_t>(x.c.token_ids.size());
      ins.push_back(in);
      rule_at.push_back(i);
    }
    if (!ins.empty()) {
      std::vector<verify::Score> scores = rewards_->score_batch(ins);
      for (size_t k = 0; k < ins.size(); k++) out.rolls[rule_at[k]].score = std::move(scores[k]);
    }
    for (size_t j = 0; j < judges_.size(); j++) {
      std::vector<JudgeItem> items;
      std::vector<size_t> at;
      for (size_t i = 0; i < out.rolls.size(); i++)
        if (rule_scored(out.rolls[i])) {
          const EvalProblem& p = problems_[static_cast<size_t>(out.rolls[i].problem)];
          items.push_back({p.prompt, p.gold, out.rolls[i].c.text});
          at.push_back(i);
        }
      const std::vector<JudgeResult> verdicts = judges_[j].judge(items);
      const GrpoSettings::RewardJudge& jd = s_.judges[j];
      for (size_t k = 0; k < at.size(); k++) {
        const JudgeResult& v = verdicts[k];
        const double value = v.accept.value_or(false) ? 1.0 : 0.0;
        add_component(out.rolls[at[k]].score, {jd.name, jd.weight, value,
                                               !v.accept   ? "judge: no verdict"
                                               : *v.accept ? "judge: yes"
                                                           : "judge: no"});
        out.metrics.judge_no_verdict += !v.accept.has_value();
      }
    }
    for (size_t m = 0; m < reward_models_.size(); m++) {
      const GrpoSettings::RewardModel& rm = s_.reward_models[m];
      std::vector<std::vector<int32_t>> seqs;
      std::vector<size_t> at;
      for (size_t i = 0; i < out.rolls.size(); i++) {
        const Rollout& x = out.rolls[i];
        if (!model_scored(x)) continue;
        const EvalProblem& p = problems_[static_cast<size_t>(x.problem)];
        seqs.push_back(
            reward_models_[m].rollout_sequence(p.prompt, p.messages, rm_scope_text(x.c.text, rm.scope)));
        at.push_back(i);
      }
      const std::vector<float> values =
          reward_models_[m].score(seqs, rm.batch_tokens, &out.metrics.rm_truncated);
      for (size_t k = 0; k < at.size(); k++)
        add_component(out.rolls[at[k]].score, {rm.name, rm.weight, values[k], "reward model"});
    }
  }

  // Each sample's reward (checked finite), format and the step's metrics, from its components.
  void finish_scores(StepRollouts& out, size_t first) {
    for (size_t i = first; i < out.rolls.size(); i++) {
      Rollout& x = out.rolls[i];
      x.reward = static_cast<float>(x.score.total);
      if (!std::isfinite(x.reward))
        fail(
            "grpo: step {}: reward {} of sample {} of problem {} is not a finite float; check the reward "
            "spec, the grader or the reward models",
            loop_.step() + 1, x.score.total, x.c.sample_index, problems_[static_cast<size_t>(x.problem)].id);
      x.format_ok =
          verify::format_reward(x.c.text, prompt_text_[static_cast<size_t>(x.problem)]).value >= 1.0;
      out.metrics.add(x, rule_scored(x));
    }
  }

  // --- 2. advantages (equation (3)) ---------------------------------------------------------
  std::vector<TrainSeq> training_sequences(const StepRollouts& ro) const {
    const int G = s_.gen.n;
    std::vector<float> group_rewards;
    for (size_t g0 : ro.kept)
      for (int j = 0; j < G; j++) group_rewards.push_back(ro.rolls[g0 + j].reward);
    const std::vector<float> adv =
        group_advantages(group_rewards, G, s_.objective.scale_rewards, s_.objective.std_eps);
    std::vector<TrainSeq> seqs;
    for (size_t k = 0; k < ro.kept.size(); k++)
      for (int j = 0; j < G; j++) {
        const Rollout& x = ro.rolls[ro.kept[k] + j];
        TrainSeq s;
        s.prompt = &prompt_ids_[static_cast<size_t>(x.problem)];
        s.c = &x.c;
        s.advantage = adv[k * G + j];
        s.old_logp = x.c.logprobs;
        if (!x.c.token_ids.empty()) seqs.push_back(std::move(s));
      }
    return seqs;
  }

  // --- 3. pi_old and pi_ref -----------------------------------------------------------------
  // pi_old comes from the numerics of pi_theta: recomputed by the training forward when the
  // rollouts ran in other numerics (bf16), so the first pass's ratio is 1. With tis_cap, each
  // token also carries min(pi_old / pi_sampler, C) (truncated importance sampling).
  OldLogpStats old_and_reference_logprobs(std::vector<TrainSeq>& seqs) {
    if (ref_) completion_logprobs(*ref_, seqs, s_.micro_batch_tokens, s_.share_prompt, &TrainSeq::ref_logp);
    OldLogpStats st;
    if (s_.recompute_old()) recompute_old_logprobs(seqs, st);
    if (teacher_) teacher_advantages(seqs, st);
    return st;
  }

  // On-policy distillation: the teacher's log-prob of every sampled token, and the token's
  // advantage coef * (log pi_teacher - log pi_old); the mean of log pi_old - log pi_teacher over
  // the sampled tokens estimates the per-token reverse KL(student || teacher).
  void teacher_advantages(std::vector<TrainSeq>& seqs, OldLogpStats& st) {
    completion_logprobs(*teacher_, seqs, s_.micro_batch_tokens, s_.share_prompt, &TrainSeq::teacher_logp);
    for (TrainSeq& s : seqs) {
      s.token_adv.resize(s.old_logp.size());
      for (size_t j = 0; j < s.old_logp.size(); j++) {
        const double d = double(s.teacher_logp[j]) - double(s.old_logp[j]);
        s.token_adv[j] = static_cast<float>(s_.distill_coef * d);
        st.reverse_kl_sum -= d, st.teacher_logp_sum += s.teacher_logp[j], st.distill_tokens++;
      }
    }
  }

  void recompute_old_logprobs(std::vector<TrainSeq>& seqs, OldLogpStats& st) {
    std::vector<std::vector<float>> sampler(seqs.size());
    for (size_t i = 0; i < seqs.size(); i++) sampler[i] = seqs[i].old_logp;
    completion_logprobs(model_, seqs, s_.micro_batch_tokens, s_.share_prompt, &TrainSeq::old_logp);
    for (size_t i = 0; i < seqs.size(); i++) {
      TrainSeq& s = seqs[i];
      if (s_.tis_cap > 0) s.is_weight.resize(s.old_logp.size());
      for (size_t j = 0; j < s.old_logp.size(); j++) {
        const double d = double(s.old_logp[j]) - double(sampler[i][j]);
        st.gap_max = std::max(st.gap_max, std::abs(d)), st.gap_sum += std::abs(d), st.tokens++;
        if (s_.tis_cap > 0) {
          const double w = std::min(std::exp(std::min(d, 50.0)), s_.tis_cap);
          st.is_capped += w == s_.tis_cap;
          st.is_weight_sum += w;
          s.is_weight[j] = static_cast<float>(w);
        }
      }
    }
  }

  // --- 4. the update: mu passes, mini_batches AdamW steps each ------------------------------
  UpdateStats update(const std::vector<TrainSeq>& seqs) {
    const auto t0 = Clock::now();
    UpdateStats up;
    const int M = s_.mini_batches, mu = s_.mu;
    const uint64_t seed = s_.train.seed;
    for (int epoch = 0; epoch < mu && !seqs.empty(); epoch++) {
      std::vector<size_t> perm(seqs.size());
      std::iota(perm.begin(), perm.end(), size_t{0});
      if (M > 1 || mu > 1)
        shuffle_by(perm, [&](size_t i) {
          return hash_u64(seed ^ 0x6d696e69ULL, static_cast<uint64_t>(loop_.step()), epoch, i - 1);
        });
      const size_t per = (perm.size() + M - 1) / M;
      for (size_t m0 = 0; m0 < perm.size(); m0 += per) {
        const std::vector<size_t> mb(perm.begin() + m0, perm.begin() + std::min(perm.size(), m0 + per));
        mini_batch_step(seqs, mb, up, epoch == 0 && m0 == 0);
      }
    }
    up.seconds = seconds_since(t0);
    return up;
  }

  void mini_batch_step(const std::vector<TrainSeq>& seqs, const std::vector<size_t>& mb, UpdateStats& up,
                       bool first) {
    std::vector<int64_t> lens;
    std::vector<uint8_t> trunc;
    for (size_t i : mb) {
      lens.push_back(static_cast<int64_t>(seqs[i].c->token_ids.size()));
      trunc.push_back(seqs[i].c->finish_reason == "length");
    }
    const std::vector<float> w = grpo_output_weights(lens, trunc, s_.objective);
    std::vector<float> weight_of(seqs.size(), 0.f);  // by training sequence
    for (size_t k = 0; k < mb.size(); k++) weight_of[mb[k]] = w[k];
    // Every output masked (say, all truncated with mask_truncated): nothing to learn from, and an
    // AdamW step on zero gradients would still move the weights (momentum, weight decay).
    if (std::all_of(w.begin(), w.end(), [](float x) { return x == 0.f; })) {
      up.empty++;
      return;
    }
    model_.zero_grads();
    GrpoStats gs;
    double loss = 0;
    // The samples of one prompt side by side, so that they share it (the set, and so the
    // gradient, is the mini-batch's whatever the order).
    std::vector<size_t> order(mb);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return seqs[x].prompt < seqs[y].prompt; });
    // Data parallelism: this rank's block of the mini-batch (about equal tokens); the gradients,
    // the loss and the statistics are summed over the ranks below.
    std::vector<int64_t> cum{0};
    for (size_t i : order)
      cum.push_back(cum.back() + static_cast<int64_t>(seqs[i].prompt->size() + seqs[i].c->token_ids.size()));
    const Shard mine = shard_by_cost(cum, world().rank(), world().size());
    order = std::vector<size_t>(order.begin() + mine.begin, order.begin() + mine.end);
    int64_t train_tokens = 0;
    for (const auto& micro : micro_batches(seqs, order, s_.micro_batch_tokens, s_.share_prompt)) {
      const TrainBatch tb = pack(seqs, micro, s_.share_prompt);
      std::vector<float> a, wt;  // per sequence of the batch; a shared prompt carries no loss
      for (const int64_t i : tb.seq) {
        a.push_back(i < 0 ? 0.f : seqs[static_cast<size_t>(i)].advantage);
        wt.push_back(i < 0 ? 0.f : weight_of[static_cast<size_t>(i)]);
      }
      GrpoInputs in{tb.old_logp.data(), ref_ ? tb.ref_logp.data() : nullptr, a.data(), wt.data()};
      if (teacher_) in.token_advantage = tb.token_adv.data();
      if (s_.tis_cap > 0) in.is_weight = tb.is_weight.data();
      loss += model_.forward_backward(tb.batch, grpo_loss(s_.objective, tb.batch, in, &gs));
      train_tokens += tb.batch.size();
    }
    if (world().distributed()) {
      loss = world().sum(loss), train_tokens = world().sum(train_tokens);
      int64_t counts[] = {gs.tokens, gs.clipped_low, gs.clipped_high, gs.clipped_dual};
      double sums[] = {gs.ratio_sum, gs.kl_sum, gs.entropy_sum, gs.loss};
      world().sum(counts, 4), world().sum(sums, 4);
      gs.tokens = counts[0], gs.clipped_low = counts[1], gs.clipped_high = counts[2],
      gs.clipped_dual = counts[3];
      gs.ratio_sum = sums[0], gs.kl_sum = sums[1], gs.entropy_sum = sums[2], gs.loss = sums[3];
      gs.max_abs_log_ratio = world().max(gs.max_abs_log_ratio);
    }
    up.train_tokens += train_tokens;
    if (first) up.first_pass_max_log_ratio = gs.max_abs_log_ratio;
    up.objective.add(gs);
    if (hooks_ && hooks_->loss) loss = hooks_->loss(loop_.step() + 1, loss);
    const double norm = loop_.clip_gradients();
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      up.skipped++;
      std::fprintf(stderr,
                   "\ngrpo: step %lld: the loss (%g) or gradient norm (%g) is not finite; update skipped\n",
                   (long long)loop_.step() + 1, loss, norm);
      return;
    }
    loop_.optimizer_step();
    up.loss_sum += loss, up.norm_sum += norm, up.updates++;
  }

  void check_bad_streak(const UpdateStats& up) {
    bad_streak_ = up.skipped > 0 ? bad_streak_ + 1 : 0;
    if (bad_streak_ >= s_.max_bad_steps)
      fail(
          "grpo: the loss or gradient was not finite in {} steps in a row (last: step {}); stopping. The "
          "last "
          "checkpoint in {} is intact; lower train.lr or check the rewards",
          bad_streak_, loop_.step() + 1, loop_.run().dir());
  }

  // --- 5. metrics, samples, evaluation ------------------------------------------------------
  void write_metrics(const StepRollouts& ro, const UpdateStats& up, const OldLogpStats& old, double ref_s,
                     double step_s) {
    const StepMetrics& sm = ro.metrics;
    const GrpoStats& gs = up.objective;
    const double n = std::max<double>(1, double(sm.n));
    const double mean = sm.reward_sum / n;
    nlohmann::json row = {
        {"step", loop_.step() + 1},
        {"reward_mean", mean},
        {"reward_std", std::sqrt(std::max(0.0, sm.reward_sq / n - mean * mean))},
        {"accuracy", sm.correct / std::max<double>(1, double(sm.rule_scored))},
        {"format_rate", sm.format_ok / n},
        {"response_length_mean", sm.len_sum / n},
        {"response_length_max", sm.len_max},
        {"truncated_rate", sm.truncated / n},
        {"self_correction_rate", sm.revisits_slip / n},
        {"zero_variance_groups", sm.groups ? double(sm.zero_var_groups) / double(sm.groups) : 0.0},
        {"groups_trained", ro.kept.size()},
        {"prompts_drawn", ro.draws},
        {"loss", up.updates ? up.loss_sum / double(up.updates) : 0.0},
        {"grad_norm", up.updates ? up.norm_sum / double(up.updates) : 0.0},
        {"lr", loop_.lr()},
        {"clip_fraction", gs.clip_fraction()},
        {"ratio_mean", gs.mean_ratio()},
        {"first_pass_max_abs_log_ratio", up.first_pass_max_log_ratio},
        {"entropy", gs.mean_entropy()},
        {"skipped_updates", up.skipped},
        {"empty_updates", up.empty},
        {"rollout_s", ro.rollout_s},
        {"reward_s", ro.reward_s},
        {"ref_s", ref_s},
        {"update_s", up.seconds},
        {"step_s", step_s},
        {"rollout_tokens_per_s", double(sm.gen_tokens) / std::max(ro.rollout_s, 1e-9)},
        {"train_tokens_per_s", double(up.train_tokens) / std::max(up.seconds, 1e-9)},
        {"peak_rss_mb", double(peak_rss_bytes()) / 1048576.0},
        {"elapsed_s", seconds_since(t_start_)}};
    if (world().distributed()) {  // rank 0's seconds in collectives (waits for the others included)
      row["dist/ranks"] = world().size();
      row["dist/comm_s"] = world().seconds() - comm_at_step_;
    }
    if (s_.objective.beta > 0) row["kl"] = gs.mean_kl();
    if (s_.objective.clip_ratio_c > 0) row["clip_dual_fraction"] = gs.dual_clip_fraction();
    if (old.tokens > 0) {
      row["sampler_logp_gap_max"] = old.gap_max;
      row["sampler_logp_gap_mean"] = old.gap_sum / double(old.tokens);
    }
    if (old.distill_tokens > 0) {
      row["distill/reverse_kl"] = old.reverse_kl_sum / double(old.distill_tokens);
      row["distill/teacher_logp_mean"] = old.teacher_logp_sum / double(old.distill_tokens);
    }
    if (s_.tis_cap > 0 && old.tokens > 0) {
      row["tis_weight_mean"] = old.is_weight_sum / double(old.tokens);
      row["tis_capped_fraction"] = double(old.is_capped) / double(old.tokens);
    }
    // Each component's mean over the samples it scored (all of them, unless data.reward_field routes).
    for (const auto& c : sm.components)
      row["reward/" + c.name] = c.sum / double(std::max<int64_t>(1, c.count));
    if (!reward_models_.empty()) row["reward_model_truncated"] = sm.rm_truncated;
    if (!judges_.empty()) row["judge_no_verdict"] = sm.judge_no_verdict;
    sm.reasoning.write(row, "");
    loop_.metrics().write(row);
  }

  void write_samples(const StepRollouts& ro, int64_t step) {
    if (s_.sample_every <= 0 || step % s_.sample_every != 0) return;
    const int64_t n = std::min<int64_t>(s_.samples_per_step, static_cast<int64_t>(ro.rolls.size()));
    for (int64_t i = 0; i < n; i++)
      write_sample(ro.rolls[static_cast<size_t>(i * s_.gen.n) % ro.rolls.size()], step);
  }

  void write_sample(const Rollout& x, int64_t step, const char* kind = nullptr) {
    const EvalProblem& p = problems_[static_cast<size_t>(x.problem)];
    nlohmann::json row = {{"step", step},
                          {"prompt", p.prompt},
                          {"gold", p.gold},
                          {"completion", x.c.text},
                          {"reward", x.reward},
                          {"verdict", x.score.verdict ? verify::verdict_name(*x.score.verdict) : "none"},
                          {"tokens", x.c.token_ids.size()}};
    nlohmann::json parts = nlohmann::json::object();  // each reward's unweighted value
    for (const verify::ComponentScore& c : x.score.components) parts[c.name] = c.value;
    row["rewards"] = std::move(parts);
    if (kind) row["kind"] = kind;
    loop_.samples().write(row);
  }

  // The first rollout of the run that corrects itself (a slip, then a check step, and a right
  // answer) goes to samples.jsonl with kind = report::kFirstSelfCorrection, for the report.
  void note_first_self_correction(const StepRollouts& ro, int64_t step) {
    if (!self_correction_known_) {  // a resumed run may have recorded it already
      self_correction_known_ = true;
      const std::string path = loop_.run().path(RunDir::kSamples);
      std::ifstream in(path);
      for (std::string line; !self_correction_seen_ && std::getline(in, line);) {
        const nlohmann::json j = parse_json_or_discarded(line);
        self_correction_seen_ =
            j.is_object() && j.contains("kind") && j["kind"] == report::kFirstSelfCorrection;
      }
    }
    if (self_correction_seen_) return;
    for (const Rollout& x : ro.rolls)
      if (x.score.verdict == verify::Verdict::kCorrect && verify::reasoning_traits(x.c.text).revisits_slip) {
        write_sample(x, step, report::kFirstSelfCorrection);
        self_correction_seen_ = true;
        return;
      }
  }

  // Held-out evaluation, scored by the recipe's own accuracy reward (the math verifier when the
  // recipe has none), on prompts built as for training.
  void evaluate(int64_t step = 0) {
    if (eval_problems_.empty()) return;
    const auto t0 = Clock::now();
    Engine& engine = *engine_;
    engine.set_config(eval_gen_);
    SampleScorer scorer;
    if (accuracy_)
      scorer = [this](const EvalProblem& p, const std::string& text) {
        verify::RewardInput in;
        in.completion = text;
        in.gold = p.gold;
        const verify::Score sc = accuracy_->score(in);
        SampleResult r;
        r.extracted = sc.extracted;
        r.verdict = sc.verdict.value_or(verify::Verdict::kWrong);
        return r;
      };
    const std::vector<ProblemResult> res =
        run_eval(engine, eval_problems_, eval_prompts_, s_.reward.extract, nullptr, scorer);
    engine.set_config(s_.gen);
    const EvalSummary s = summarise(res, eval_gen_.n);
    double fmt_ok = 0;
    int64_t n = 0;
    verify::ReasoningStats reasoning;
    for (const ProblemResult& pr : res)
      for (const SampleResult& sr : pr.samples) {
        fmt_ok += verify::format_reward(sr.text).value >= 1.0;
        reasoning.add(sr.text, sr.num_tokens, sr.verdict == verify::Verdict::kCorrect);
        n++;
      }
    nlohmann::json row = {{"step", step},
                          {"eval/pass@1", s.pass1},
                          {fmt::format("eval/cons@{}", eval_gen_.n), s.cons},
                          {"eval/response_length_mean", s.mean_tokens},
                          {"eval/answered", s.answered},
                          {"eval/format_rate", n ? fmt_ok / double(n) : 0.0},
                          {"eval/truncated", s.truncated},
                          {"eval/unverifiable", s.unverifiable},
                          {"eval/seconds", seconds_since(t0)}};
    if (eval_gen_.n > 1) row[fmt::format("eval/pass@{}", eval_gen_.n)] = s.pass_at.back();
    reasoning.write(row, "eval/");
    loop_.metrics().write(row);
    std::fprintf(
        stderr,
        "eval at step %lld: pass@1 %.1f%%  cons@%d %.1f%%  mean length %.1f tokens  (%zu problems, %.0f s)\n",
        (long long)step, 100 * s.pass1, eval_gen_.n, 100 * s.cons, s.mean_tokens, eval_problems_.size(),
        seconds_since(t0));
  }

  GrpoSettings s_;
  TrainingLoop loop_;
  const GrpoHooks* hooks_;
  Model model_;
  HeadConfig head_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<Model> ref_;
  std::optional<Model> teacher_;  // on-policy distillation (distill.teacher)
  std::optional<Engine> engine_;  // rollouts and evaluation (run())
  std::vector<EvalProblem> problems_;
  std::vector<std::vector<int32_t>> prompt_ids_;
  std::vector<std::string> prompt_text_;                  // rendered (what the format reward reads)
  std::optional<verify::RewardSpec> rewards_, accuracy_;  // the rule rewards (none: reward models only)
  std::vector<RewardModelScorer> reward_models_;          // per s_.reward_models
  std::vector<Judge> judges_;                             // per s_.judges
  std::vector<EvalProblem> eval_problems_;
  std::vector<std::vector<int32_t>> eval_prompts_;
  GenerationConfig eval_gen_;
  std::optional<PromptOrder> order_;
  int64_t drawn_ = 0;  // prompts drawn so far (epoch x N + index in the state)
  int64_t bad_streak_ = 0;
  double comm_at_step_ = 0;  // world().seconds() when the step began
  bool self_correction_known_ = false, self_correction_seen_ = false;
  Clock::time_point t_start_ = Clock::now();
};

}  // namespace

int run_grpo_training(Recipe r, RunStart start, const GrpoHooks* hooks) {
  GrpoRun run(r, start, hooks);
  return run.run(r, start.resume);
}

}  // namespace r1
