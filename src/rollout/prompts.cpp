#include "rollout/prompts.h"

#include <fmt/format.h>

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

const char* const kBoxedInstruction =
    "Please reason step by step, and put your final answer within \\boxed{}.";

PromptBuilder::PromptBuilder(const PromptFormat& f, const std::string& model_path)
    : templ_(f.templ), force_think_(f.force_think) {
  if (templ_ == "auto") {  // the model's chat template if it has one, else none
    templ_ = "none";
    try {
      tmpl_ = ChatTemplate::load(model_path);
      templ_ = "chat";
    } catch (const Error&) {
    }
    if (force_think_ && !tmpl_) fail("--force-think needs a --template");
  } else {
    tmpl_ = load_prompt_template(templ_, model_path, force_think_);
  }
  instruction_ = f.instruction != "auto" ? f.instruction : (templ_ == "r1zero" ? "" : kBoxedInstruction);
}

std::string PromptBuilder::render(const std::string& question) const {
  return instruction_.empty() ? question : question + "\n" + instruction_;
}

std::string PromptBuilder::prompt_text(const std::string& question) const {
  if (!tmpl_) return render(question);
  ChatOptions opt;
  opt.add_generation_prompt = true;
  opt.force_think = force_think_;
  return tmpl_->render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", render(question)}}}),
                       opt);
}

std::vector<int32_t> PromptBuilder::encode(const std::string& question, const Tokenizer& tok) const {
  return encode_prompt(render(question), tok, tmpl_, force_think_);
}

std::vector<int32_t> PromptBuilder::encode_messages(const nlohmann::ordered_json& messages,
                                                    const Tokenizer& tok) const {
  if (!tmpl_)
    fail("--template {}: a conversation (a list of messages) needs a chat template: chat, distill or r1zero",
         templ_);
  R1_CHECK(messages.is_array() && !messages.empty());
  nlohmann::ordered_json m = messages;
  m.back()["content"] = render(m.back()["content"].get<std::string>());
  return encode_conversation(m, tok, *tmpl_, force_think_);
}

std::vector<std::string> template_stop_strings(const std::string& templ) {
  if (templ == "r1zero") return {"</answer>"};
  return {};
}

std::vector<std::string> PromptBuilder::stop_strings() const {
  return template_stop_strings(templ_);
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
  return encode_conversation(nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}}), tok,
                             *tmpl, force_think);
}

std::vector<int32_t> encode_conversation(const nlohmann::ordered_json& messages, const Tokenizer& tok,
                                         const ChatTemplate& tmpl, bool force_think) {
  ChatOptions opt;
  opt.add_generation_prompt = true;
  opt.force_think = force_think;
  return encode_with_bos(tok, tmpl.render(messages, opt));
}

std::vector<int32_t> stop_ids_of(const Model& model, const Tokenizer* tok) {
  std::vector<int32_t> ids(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());
  if (tok && tok->eos_id() >= 0 && tok->eos_id() < model.config().vocab_size) ids.push_back(tok->eos_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

ContextFit fit_prompts_to_context(std::vector<std::vector<int32_t>>& prompts, const ContextFitOptions& o,
                                  const std::function<std::string(size_t)>& prompt_name) {
  ContextFit fit;
  fit.prompts = static_cast<int64_t>(prompts.size());
  const int64_t C = o.context, M = o.max_new_tokens;
  if (C <= 0) return fit;
  if (o.policy == ContextPolicy::kTruncate && M >= C)
    fail("--truncate-prompt: {} {} leaves no room for a prompt in the model's context of {} tokens; lower {}",
         o.max_new_name, M, C, o.max_new_name);
  for (size_t i = 0; i < prompts.size(); i++) {
    std::vector<int32_t>& p = prompts[i];
    const int64_t P = static_cast<int64_t>(p.size());
    if (P + M <= C) continue;
    switch (o.policy) {
      case ContextPolicy::kRefuse:
        fail(
            "{}: needs {} positions (prompt {} tokens + {} {}), more than the model's context "
            "(max_position_embeddings) of {}",
            prompt_name(i), P + M, P, o.max_new_name, M, C);
      case ContextPolicy::kCap:
        if (P >= C)
          fail(
              "{}: the prompt is {} tokens, the model's context (max_position_embeddings) is {}: no room "
              "to generate; {}",
              prompt_name(i), P, C, o.hint);
        if (fit.capped++ == 0) fit.first_capped_name = prompt_name(i), fit.first_capped_tokens = P;
        break;
      case ContextPolicy::kTruncate: {
        const int64_t keep = C - M;  // >= 1
        const bool bos = o.bos_id >= 0 && p.front() == o.bos_id && keep >= 2;
        std::vector<int32_t> cut;
        cut.reserve(static_cast<size_t>(keep));
        if (bos) cut.push_back(p.front());
        cut.insert(cut.end(), p.end() - (keep - (bos ? 1 : 0)), p.end());
        p = std::move(cut);
        fit.truncated++;
        fit.cut_to = keep;
        break;
      }
    }
  }
  return fit;
}

std::string ContextFit::warning(const ContextFitOptions& o) const {
  if (truncated > 0)
    return fmt::format(
        "warning: --truncate-prompt cut {} of {} prompts to their last {} tokens (the model's context of {} "
        "minus {} {})",
        truncated, prompts, cut_to, o.context, o.max_new_name, o.max_new_tokens);
  if (capped > 0)
    return fmt::format(
        "warning: {} of {} prompts leave fewer than {} {} positions in the model's context of {} tokens (the "
        "first: {}, {} tokens); their samples stop at the context with finish_reason \"length\"",
        capped, prompts, o.max_new_name, o.max_new_tokens, o.context, first_capped_name, first_capped_tokens);
  return "";
}

}  // namespace r1
