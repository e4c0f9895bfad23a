#include "rollout/prompts.h"

#include <algorithm>

#include "core/error.h"

namespace r1 {

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
  if (tok.bos_id() < 0 || (!ids.empty() && ids.front() == tok.bos_id())) return ids;
  std::vector<int32_t> out;
  out.reserve(ids.size() + 1);
  out.push_back(tok.bos_id());
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
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

}  // namespace r1
