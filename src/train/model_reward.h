// Reward models as scorers: `r1 rm score` and the model rewards of GRPO (DeepSeek-R1's stage 4,
// R1-NOTES section 2: a helpfulness model that sees only the final summary, a harmlessness model
// that sees the whole response).
//
// A reward model (a *ForSequenceClassification checkpoint, model/model.h's score head) reads a
// packed batch of sequences and gives one score per sequence, read at its last token. What a
// sequence holds is preference_data.h's rule, so a model scores here exactly what `r1 rm train`
// trained it on: a prompt and a response as plain text (BOS + prompt + response + EOS), or as a
// conversation rendered by the model's chat template.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/preference_data.h"

namespace r1 {

// What of a response a reward model sees: all of it, or its final summary (the text after the
// last "</think>"; the whole response when it has none, since then all of it is the answer).
enum class RmScope { kFull, kSummary };
std::string_view rm_scope_text(std::string_view completion, RmScope scope);

// A loaded reward model with its tokenizer and the format of its sequences.
class RewardModelScorer {
 public:
  // templ: as data.template ("auto": the model's chat template if it has one). init_head: a causal
  // LM gets a fresh, seeded score head (tests and baselines); without it a causal LM is refused.
  explicit RewardModelScorer(const std::string& path, const std::string& templ = "auto",
                             bool init_head = false, uint64_t seed = 1);

  // The sequence of a prompt (null: none; a string; a list of messages) and a response (a string
  // or a list of messages), as preference_sequence makes it; errors start with `where`.
  std::vector<int32_t> sequence(const nlohmann::json* prompt, const nlohmann::json& completion,
                                const std::string& where, const std::string& prompt_field = "prompt",
                                const std::string& completion_field = "completion") const;

  // The sequence of a GRPO rollout: with a chat template, the conversation (the problem's
  // messages, or its question as one user turn) and the response as the assistant's turn;
  // without one, the question and the response as plain text. Either way what `r1 rm score`
  // makes of {"prompt": messages or question, "completion": response}: the reward model sees
  // the task, not the policy's prompt template.
  std::vector<int32_t> rollout_sequence(const std::string& question, const nlohmann::ordered_json& messages,
                                        std::string_view response) const;

  // One score per sequence, in order, in packed batches of at most batch_tokens tokens (a longer
  // sequence alone). A sequence longer than the model's context keeps its last tokens (the score
  // is read at the last one); *truncated (may be null) counts them.
  std::vector<float> score(const std::vector<std::vector<int32_t>>& seqs, int64_t batch_tokens,
                           int64_t* truncated = nullptr);

  const Model& model() const { return model_; }
  const std::string& path() const { return path_; }
  bool has_template() const { return tmpl_.has_value(); }

 private:
  std::string path_;
  Model model_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<ChatTemplate> tmpl_;
  std::vector<std::string> end_of_turn_;
  PreferenceFormat format() const { return {tmpl_ ? &*tmpl_ : nullptr, end_of_turn_}; }
};

}  // namespace r1
