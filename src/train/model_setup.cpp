#include "train/model_setup.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "io/json.h"
#include "model/checkpoint.h"
#include "rollout/prompts.h"

namespace r1 {

std::vector<KeyRule> model_shape_rules() {
  // Sizes only need to be positive ints here: what they add up to is checked against the
  // machine's memory when the model is built (model/memory.h), naming the key that makes it big.
  constexpr int64_t kInt = 2147483647;
  return {KeyRule::string("model.config"),
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
          KeyRule::non_negative("model.init_std")};
}

Model build_model(const Recipe& r, const Tokenizer& tok, const ModelBuild& how, bool* created) {
  const std::string path = r.get_string("model.path", "");
  const auto seed = static_cast<uint64_t>(r.get_int("train.seed", 1));
  *created = path.empty();
  if (!path.empty()) {
    Model m = load_model(path);
    if (!how.score_head && m.config().score_head)
      fail("{}: model.path {} is a reward model ({}); this trainer needs a causal LM", r.name(), path,
           m.config().arch_name());
    return how.score_head ? with_score_head(std::move(m), seed, how.score_init_std) : std::move(m);
  }
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
    c.max_position_embeddings = static_cast<int>(how.context);
    c.bos_token_id = tok.bos_id();
    if (tok.eos_id() >= 0) c.eos_token_ids = {tok.eos_id()};
    c.validate(r.name());
  }
  c.score_head = how.score_head;
  if (c.vocab_size < tok.vocab_size())
    fail("{}: the model's vocab_size {} is smaller than the tokenizer's {}", r.name(), c.vocab_size,
         tok.vocab_size());
  Model m(c);
  m.init_random(seed, static_cast<float>(r.get_float("model.init_std", 0.02)));
  return m;
}

std::optional<ChatTemplate> recipe_chat_template(const std::string& name, const std::string& model_path) {
  if (name == "none") return std::nullopt;
  if (name == "auto") {
    if (model_path.empty()) return std::nullopt;
    try {
      return ChatTemplate::load(model_path);
    } catch (const Error&) {
      return std::nullopt;
    }
  }
  if (name == "chat") {
    if (model_path.empty()) fail("data.template = \"chat\" needs a model.path whose chat template to use");
    return ChatTemplate::load(model_path);
  }
  try {
    return ChatTemplate::load(name);
  } catch (const Error& e) {
    fail("data.template: {}", e.what());
  }
}

std::vector<std::string> end_of_turn_strings(const Model& model, const Tokenizer& tok,
                                             const std::optional<ChatTemplate>& tmpl) {
  std::vector<std::string> out;
  for (int32_t id : stop_ids_of(model, &tok))
    if (id < tok.vocab_size()) out.push_back(tok.decode(std::vector<int32_t>{id}));
  if (tmpl) {
    const std::string eos = tmpl->special_token("eos_token");
    if (!eos.empty()) out.push_back(eos);
  }
  return out;
}

std::vector<uint8_t> held_out_rows(int64_t rows, int64_t n, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(rows));
  std::iota(perm.begin(), perm.end(), 0);
  shuffle_by(perm, [&](size_t i) { return hash_u64(seed, 0xe7a1, i); });
  std::vector<uint8_t> is_eval(perm.size(), 0);
  for (int64_t i = 0; i < std::min(n, rows); i++)
    is_eval[static_cast<size_t>(perm[static_cast<size_t>(i)])] = 1;
  return is_eval;
}

void check_run_length(const Recipe& r, const std::string& eval_path, int64_t eval_rows, int64_t eval_every) {
  if (r.has("train.steps") == r.has("train.epochs"))
    fail("{}: set either train.steps or train.epochs (the run's length){}", r.name(),
         r.has("train.steps") ? ", not both" : "");
  if (!eval_path.empty() && eval_rows > 0)
    fail("{}: data.eval_path and data.eval_rows both name a held-out set; set one", r.name());
  if (eval_every > 0 && eval_path.empty() && eval_rows == 0)
    fail("{}: train.eval_every needs a held-out set (data.eval_path or data.eval_rows)", r.name());
}

}  // namespace r1
