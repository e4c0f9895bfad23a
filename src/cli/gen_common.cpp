#include "cli/gen_common.h"

#include <algorithm>

#include "core/error.h"

namespace r1::cli {

std::optional<ChatTemplate> load_prompt_template(const std::string& name, const std::string& model_path,
                                                 bool force_think) {
  std::optional<ChatTemplate> tmpl;
  if (name == "chat")
    tmpl = ChatTemplate::load(model_path);
  else if (name == "r1zero" || name == "distill")
    tmpl = ChatTemplate::load(name);
  else if (name != "none")
    fail("--template: '{}' is not one of chat, r1zero, distill, none", name);
  if (force_think && !tmpl) fail("--force-think needs a --template");
  return tmpl;
}

std::vector<int32_t> encode_with_bos(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids = tok.encode(text);
  if (tok.bos_id() >= 0 && (ids.empty() || ids.front() != tok.bos_id()))
    ids.insert(ids.begin(), tok.bos_id());
  return ids;
}

std::vector<int32_t> encode_prompt(const std::string& text, const Tokenizer& tok,
                                   const std::optional<ChatTemplate>& tmpl, bool force_think) {
  if (!tmpl) return encode_with_bos(tok, text);
  ChatOptions opt;
  opt.add_generation_prompt = true;
  opt.force_think = force_think;
  return encode_with_bos(
      tok, tmpl->render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}}), opt));
}

std::vector<int32_t> stop_ids_of(const Model& model, const Tokenizer* tok) {
  std::vector<int32_t> ids(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());
  if (tok && tok->eos_id() >= 0 && tok->eos_id() < model.config().vocab_size) ids.push_back(tok->eos_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void add_sampling_options(CLI::App* cmd, GenerationConfig& g, bool& greedy, double& kv_budget_mb) {
  cmd->add_option("--temperature", g.sampling.temperature, "sampling temperature; 0 = greedy (1)");
  cmd->add_option("--top-p", g.sampling.top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--top-k", g.sampling.top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--min-p", g.sampling.min_p, "keep tokens with p >= min_p * p_max (0 = off)");
  cmd->add_flag("--greedy", greedy, "argmax decoding");
  cmd->add_option("--max-new-tokens", g.max_new_tokens, "tokens to generate per sample at most (256)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--seed", g.seed, "sampling seed (0)");
  cmd->add_option("--kv-budget-mb", kv_budget_mb, "KV-cache memory in MiB")->check(CLI::Range(0.001, 1e7));
  cmd->add_option_function<std::string>(
         "--dtype", [&g](const std::string& d) { g.compute = d == "bf16" ? DType::BF16 : DType::F32; },
         "matrix products in f32 or bf16 (f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

}  // namespace r1::cli
