// Prompts as token ids, shared by every command that generates (generate, chat, eval, grpo):
// the prompt template by name, BOS handling, and the ids that end a sample.
#pragma once

#include <cstdint>
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

// The model's end-of-sequence ids (config) and the tokenizer's, without repeats.
std::vector<int32_t> stop_ids_of(const Model& model, const Tokenizer* tok);

}  // namespace r1
