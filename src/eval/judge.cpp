#include "eval/judge.h"

#include <cctype>

#include "core/error.h"
#include "io/file.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"

namespace r1 {

const char* const kJudgeTemplate =
    "You are grading a response to a question against the reference answer.\n\n"
    "Question:\n{question}\n\n"
    "Reference answer:\n{reference}\n\n"
    "Response:\n{response}\n\n"
    "Is the final answer of the response equivalent to the reference answer? Reply with one word: yes "
    "or no.";

std::string judge_prompt(std::string_view templ, std::string_view question, std::string_view reference,
                         std::string_view response) {
  if (templ.find("{response}") == std::string_view::npos)
    fail("judge template: it must contain {{response}} (and usually {{question}} and {{reference}})");
  std::string out;
  for (size_t i = 0; i < templ.size();) {
    bool done = false;
    for (const auto& [key, value] : {std::pair<std::string_view, std::string_view>{"{question}", question},
                                     {"{reference}", reference},
                                     {"{response}", response}})
      if (templ.substr(i, key.size()) == key) {
        out += value;
        i += key.size();
        done = true;
        break;
      }
    if (!done) out += templ[i++];
  }
  return out;
}

std::optional<bool> judge_verdict(std::string_view output) {
  const size_t think = output.rfind("</think>");
  if (think != std::string_view::npos) output.remove_prefix(think + 8);
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < output.size();) {
    if (!letter(output[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < output.size() && letter(output[j])) j++;
    std::string word(output.substr(i, j - i));
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (word == "yes") return true;
    if (word == "no") return false;
    i = j;
  }
  return std::nullopt;
}

Judge::Judge(const JudgeConfig& cfg) : cfg_(cfg) {
  if (cfg_.max_new_tokens < 1) fail("judge {}: max_new_tokens must be positive", cfg_.path);
  templ_ = cfg_.templ_file.empty() ? std::string(kJudgeTemplate) : read_file(cfg_.templ_file);
  judge_prompt(templ_, "", "", "");  // a template without {response} fails now
  model_ = std::make_unique<Model>(load_model(cfg_.path));
  if (model_->config().score_head)
    fail("judge {}: a reward model (score head) cannot write a verdict; a judge is a causal LM", cfg_.path);
  tok_ = load_tokenizer(cfg_.path);
  PromptFormat f;
  f.templ = "auto", f.instruction = "";
  prompts_ = std::make_unique<PromptBuilder>(f, cfg_.path);
  chat_ = prompts_->templ() == "chat";
}

Judge::~Judge() = default;
Judge::Judge(Judge&&) noexcept = default;
Judge& Judge::operator=(Judge&&) noexcept = default;

std::string Judge::prompt_text(const JudgeItem& item) const {
  const std::string text = judge_prompt(templ_, item.question, item.reference, item.response);
  return chat_ ? prompts_->prompt_text(text) : text + "\nAnswer:";
}

std::vector<JudgeResult> Judge::judge(const std::vector<JudgeItem>& items) {
  std::vector<JudgeResult> out(items.size());
  if (items.empty()) return out;
  std::vector<std::vector<int32_t>> prompts;
  const int64_t context = model_->config().max_position_embeddings;
  for (const JudgeItem& it : items) {
    const std::string text = judge_prompt(templ_, it.question, it.reference, it.response);
    prompts.push_back(chat_ ? prompts_->encode(text, *tok_) : encode_with_bos(*tok_, text + "\nAnswer:"));
    // Too long for the judge's context: keep the template's end (the question to answer) by
    // cutting the front, so a long response still gets a verdict.
    const auto keep = static_cast<size_t>(std::max<int64_t>(1, context - cfg_.max_new_tokens));
    if (prompts.back().size() > keep)
      prompts.back().erase(prompts.back().begin(), prompts.back().end() - static_cast<std::ptrdiff_t>(keep));
  }
  GenerationConfig g;
  g.sampling.greedy = true;
  g.max_new_tokens = cfg_.max_new_tokens;
  g.stop_ids = stop_ids_of(*model_, tok_.get());
  g.kv_budget_bytes = cfg_.kv_budget_bytes;
  g.context = context;
  if (!engine_) engine_ = std::make_unique<Engine>(*model_, tok_.get(), g);
  for (Completion& c : engine_->generate_all(prompts, 0)) {
    JudgeResult& r = out[static_cast<size_t>(c.prompt_index)];
    r.output = std::move(c.text);
    r.accept = judge_verdict(r.output);
  }
  return out;
}

}  // namespace r1
