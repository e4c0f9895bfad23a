// Conversations as training sequences (`r1 sft` on {"messages": [...]} rows): the conversation is
// rendered with a chat template and the loss falls on the assistant turns only, exact to the
// token. The mask comes from renderings of the conversation's prefixes, so it holds for any
// template, with no per-model rules:
//
//   P_a = render(messages[:a], add_generation_prompt)   what the model sees before answering turn a
//   Q_a = render(messages[:a + 1])                       ... and after it
//
// Turn a's trained text is Q_a past P_a, up to and including its last end-of-turn token (the
// "\n" a template writes after "<|im_end|>" is glue the model never generates, so it is left
// out). A turn is trained inside the rendering F of the whole conversation when P_a and that text
// sit in F exactly where they sit in Q_a. Templates that render earlier turns differently from
// the last one (Qwen3 and the distill format drop the reasoning of turns before the last user
// message) break that for those turns: each such turn becomes its own sequence, rendered up to
// itself, so every turn is trained in exactly the context the model sees when it answers it, and
// once. For the Qwen2.5 template a conversation is one sequence.
//
// The pieces are tokenized one by one (special tokens parsed, as a rendered template wants), the
// way generation sees them: the prompt alone, then the tokens of the answer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// A run of rendered text, trained (the loss falls on its tokens) or context.
struct TextPiece {
  std::string text;
  bool trained = false;
};

struct ChatSequenceOptions {
  // Assistant turns before this message index are context, not trained (a prompt-completion row
  // whose prompt is itself a conversation).
  size_t first_trained = 0;
  ChatOptions chat;  // tools and extra template variables; add_generation_prompt is set per render
  // Strings that end a turn (the end-of-sequence tokens' texts, "<|im_end|>"); the trained text of
  // a turn runs to the end of the last one in it. Without one, up to its last non-blank byte.
  std::vector<std::string> end_of_turn;
};

// The training sequences of a conversation as text pieces (context and trained alternating, each
// sequence ending with a trained piece). Errors are one line and start with `where`: no
// assistant turn to train, a template whose generation prompt does not change the rendering
// (nothing marks where an answer starts) or does not start the rendered answer, and the
// template's own errors.
std::vector<std::vector<TextPiece>> conversation_pieces(const ChatTemplate& tmpl,
                                                        const nlohmann::ordered_json& messages,
                                                        const ChatSequenceOptions& opt,
                                                        const std::string& where);

struct TokenizedPieces {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> trained;  // 1 where the token is trained (predicted with loss)
};

// The pieces' tokens, each piece encoded alone (special tokens parsed), with BOS first when the
// tokenizer has one and the text does not start with it (as prompts are encoded for generation).
TokenizedPieces tokenize_pieces(const std::vector<TextPiece>& pieces, const Tokenizer& tok);

// The messages of a training row, checked: a non-empty list of objects with a known role
// (system, developer, user, assistant, tool) and string content (an assistant turn with
// tool_calls may leave content out or null: it becomes ""). A string reasoning_content on an
// assistant turn is kept for templates that render it (their source names reasoning_content);
// for the others it is written into the content as "<think>\n...\n</think>\n\n" + content, the
// R1 format. Errors name `where` (file:line: field) and the message.
nlohmann::ordered_json training_messages(const nlohmann::json& list, const ChatTemplate& tmpl,
                                         const std::string& where);

}  // namespace r1
