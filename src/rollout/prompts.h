// Prompts as token ids, shared by every command that generates (generate, chat, eval, grpo):
// the prompt template by name, BOS handling, and the ids that end a sample.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// A prompt template by name: "chat" (the model's own template, from model_path), "r1zero" or
// "distill" (built-ins), or "none" (no template: nullopt). force_think needs a template.
std::optional<ChatTemplate> load_prompt_template(const std::string& name, const std::string& model_path,
                                                 bool force_think);

// The text's ids with BOS first when the tokenizer has one and the text does not already
// start with it (chat templates write it themselves).
std::vector<int32_t> encode_with_bos(const Tokenizer& tok, const std::string& text);

// Prompt text to ids: through the template (as one user message, with the generation prompt),
// then BOS; without a template the text as is.
std::vector<int32_t> encode_prompt(const std::string& text, const Tokenizer& tok,
                                   const std::optional<ChatTemplate>& tmpl, bool force_think);
// A conversation through the template with the generation prompt, then BOS.
std::vector<int32_t> encode_conversation(const nlohmann::ordered_json& messages, const Tokenizer& tok,
                                         const ChatTemplate& tmpl, bool force_think);

// Stop strings a template implies: "</answer>" for r1zero (R1-Zero's answer tags), else none.
std::vector<std::string> template_stop_strings(const std::string& templ);

// R1's instruction for math questions (R1-NOTES section 6): reason step by step, answer in \boxed{}.
extern const char* const kBoxedInstruction;

// How a task's questions become prompts and when a sample stops: the one function behind
// `r1 eval`, GRPO's rollouts and GRPO's in-training evaluation, so a model is evaluated on the
// prompts it was trained on.
struct PromptFormat {
  // "auto" (the model's chat template if it has one, else none), "chat", "r1zero", "distill", "none".
  std::string templ = "auto";
  // Appended to each question on a new line; "auto": kBoxedInstruction, except none with r1zero
  // (whose template asks for <answer> tags itself); "" for none.
  std::string instruction = "auto";
  bool force_think = false;  // the response starts with "<think>\n" (needs a template)
};

class PromptBuilder {
 public:
  // Resolves "auto" and loads the template (errors name the template).
  PromptBuilder(const PromptFormat& format, const std::string& model_path);
  // The question with the instruction, before the template.
  std::string render(const std::string& question) const;
  // The rendered question through the template, as text (no BOS): what encode() tokenizes.
  std::string prompt_text(const std::string& question) const;
  // The rendered question through the template, then BOS.
  std::vector<int32_t> encode(const std::string& question, const Tokenizer& tok) const;
  // A conversation ending with a user turn (the instruction appended to that turn) through the
  // template, then BOS. Needs a template: with "none" it is an r1::Error.
  std::vector<int32_t> encode_messages(const nlohmann::ordered_json& messages, const Tokenizer& tok) const;
  // Stop strings the template implies: "</answer>" for r1zero (R1-Zero's answer tags), else none.
  std::vector<std::string> stop_strings() const;
  const std::string& templ() const { return templ_; }  // resolved: never "auto"
  const std::string& instruction() const { return instruction_; }

 private:
  std::string templ_, instruction_;
  bool force_think_ = false;
  std::optional<ChatTemplate> tmpl_;
};

// The model's end-of-sequence ids (config) and the tokenizer's, without repeats.
std::vector<int32_t> stop_ids_of(const Model& model, const Tokenizer* tok);

// Prompts against the model's context C (max_position_embeddings): a sample holds its prompt
// and its new tokens, C tokens at most. The one check every command that generates makes.
enum class ContextPolicy {
  // A prompt of C tokens or more is an error; a prompt that leaves fewer than max_new_tokens
  // positions is kept and its samples stop at the context (GenerationConfig::context) with
  // finish_reason "length": generate, eval, chat.
  kCap,
  // Any prompt whose length plus max_new_tokens exceeds C is an error (GRPO: every rollout must
  // have its whole budget).
  kRefuse,
  // The user asked for it (--truncate-prompt): a prompt longer than C - max_new_tokens keeps
  // its last C - max_new_tokens tokens (after its BOS, which stays), so every sample has its
  // whole budget; max_new_tokens >= C is then an error.
  kTruncate,
};

struct ContextFitOptions {
  int64_t context = 0;  // C; 0 = no limit (nothing is checked)
  int64_t max_new_tokens = 0;
  ContextPolicy policy = ContextPolicy::kCap;
  int32_t bos_id = -1;  // kept at the front when truncating (-1: none)
  // For messages: how the user set max_new_tokens, and what to do about a prompt that is too long.
  std::string max_new_name = "--max-new-tokens";
  std::string hint = "shorten it, or pass --truncate-prompt to keep its last tokens";
};

struct ContextFit {
  int64_t prompts = 0;
  int64_t truncated = 0;          // prompts cut (kTruncate)
  int64_t cut_to = 0;             // ... to this many tokens
  int64_t capped = 0;             // prompts whose samples stop at the context before max_new_tokens
  std::string first_capped_name;  // the first of them, and its length
  int64_t first_capped_tokens = 0;
  // One line for stderr when prompts were cut or capped, else empty (no trailing newline).
  std::string warning(const ContextFitOptions& o) const;
};

// Checks (and with kTruncate, cuts) prompts for the context. prompt_name(i) names prompt i the
// way the user knows it ("p.jsonl:3", "problem 7 (test.jsonl:8)"); errors are one line naming
// it, its length and the context.
ContextFit fit_prompts_to_context(std::vector<std::vector<int32_t>>& prompts, const ContextFitOptions& o,
                                  const std::function<std::string(size_t)>& prompt_name);

}  // namespace r1
