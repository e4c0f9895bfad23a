// Chat templates: a model's own Jinja chat template (rendered as Hugging Face's
// apply_chat_template renders it) and two built-in prompt formats.
//
// Built-ins:
//   "r1zero"  the R1-Zero plain-text template (Table 1 of the DeepSeek-R1 paper) around one user
//             message: "A conversation between User and Assistant. ... User: {prompt}. Assistant:"
//   "distill" the DeepSeek-R1-Distill chat format for system, user and assistant turns:
//             "<｜begin▁of▁sentence｜>{system}<｜User｜>{user}<｜Assistant｜>{answer}<｜end▁of▁sentence｜>...",
//             earlier answers without their <think> part, and "<｜Assistant｜><think>\n" as the
//             generation prompt (as the released template does since its 2025-02 update).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tokenizer/jinja.h"

namespace r1 {

struct ChatOptions {
  bool add_generation_prompt = false;
  // The response starts with "<think>\n": appended after the generation prompt unless the
  // template already ends with it. Needs add_generation_prompt (except for r1zero, whose
  // prompt always ends where the response starts).
  bool force_think = false;
  nlohmann::ordered_json tools;  // null: no tools (the template sees tools = none)
  // More template variables, e.g. {"enable_thinking": false}; they override the special tokens.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// Checks one message of a conversation read from a file: an object with a role that is one of
// system, user, assistant, tool and a string content (an assistant message with tool_calls may
// leave content out or null when tool_calls_may_omit_content). Errors are one line starting with
// `where` (file:line: field message N).
void check_message(const nlohmann::json& message, const std::string& where, bool tool_calls_may_omit_content);

class ChatTemplate {
 public:
  // PATH: "r1zero" or "distill"; a model directory (its chat_template.jinja, else the
  // chat_template field of its tokenizer_config.json); a tokenizer_config.json file; or a .gguf
  // file (tokenizer.chat_template). A chat_template field that is a list of {name, template}
  // uses the one named "default".
  static ChatTemplate load(const std::string& path);

  // A template from source; special_tokens is transformers' special_tokens_map
  // ({"bos_token": "...", "eos_token": "...", ...}), passed to the template as variables.
  ChatTemplate(std::string_view source, std::string name,
               nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object());

  // Renders messages ([{"role": ..., "content": ...}, ...]; other fields such as
  // reasoning_content and tool_calls are passed through) with the variables transformers
  // passes: messages, tools, documents (none), add_generation_prompt, the special tokens, and
  // opt.extra.
  std::string render(const nlohmann::ordered_json& messages, const ChatOptions& opt = {}) const;

  const std::string& name() const { return tmpl_.name(); }
  const std::string& source() const { return source_; }
  // A special token the template sees as a variable ("eos_token"), or "" when it has none.
  std::string special_token(const std::string& key) const;

 private:
  std::string source_;
  jinja::Template tmpl_;
  nlohmann::ordered_json special_;
  bool r1zero_ = false;
};

}  // namespace r1
