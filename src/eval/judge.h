// A generative judge (DeepSeek-R1's stage 3 judged answers that no rule can check with
// DeepSeek-V3, given the reference): a local model reads a question, the reference answer and a
// response through a judge template, writes a short verdict (greedy), and the first "yes" or "no"
// in it (after any <think>...</think>) is the verdict. Used as a GRPO reward
// ([reward.judges.NAME]: 1 for yes, 0 for no or no verdict).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "rollout/prompts.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

class Engine;

// The built-in judge template: {question}, {reference} and {response} are replaced.
extern const char* const kJudgeTemplate;

// The template with its three fields filled in. A template that lacks {response} is an error (a
// judge that cannot see the response judges nothing).
std::string judge_prompt(std::string_view templ, std::string_view question, std::string_view reference,
                         std::string_view response);

// The verdict of a judge's output: the first whole word "yes" or "no" (any case) after the last
// </think> (the whole output when it has none); nullopt when neither occurs.
std::optional<bool> judge_verdict(std::string_view output);

struct JudgeConfig {
  std::string path;         // the judge model
  std::string templ_file;   // a file holding the judge template; "": kJudgeTemplate
  int max_new_tokens = 16;  // of the verdict
  size_t kv_budget_bytes = size_t{256} << 20;
};

struct JudgeItem {
  std::string question, reference, response;
};

struct JudgeResult {
  std::optional<bool> accept;  // nullopt: the output named no verdict
  std::string output;          // what the judge wrote
};

class Judge {
 public:
  // Loads the model, its tokenizer and the template. The judge prompt is one user turn through
  // the model's chat template when it has one, else plain text followed by "\nAnswer:".
  explicit Judge(const JudgeConfig& cfg);
  ~Judge();
  Judge(Judge&&) noexcept;
  Judge& operator=(Judge&&) noexcept;

  // Greedy verdicts of every item, in one batch. The engine (and its KV cache) is made by the
  // first call and kept for the next ones (GRPO judges every step).
  std::vector<JudgeResult> judge(const std::vector<JudgeItem>& items);

  const std::string& path() const { return cfg_.path; }
  const Model& model() const { return *model_; }
  // The prompt the judge model reads for an item (text, before tokenisation).
  std::string prompt_text(const JudgeItem& item) const;

 private:
  JudgeConfig cfg_;
  std::string templ_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<PromptBuilder> prompts_;
  bool chat_ = false;
  std::unique_ptr<Engine> engine_;  // made by the first judge() call, then reused (its KV cache too)
};

}  // namespace r1
