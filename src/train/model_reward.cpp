#include "train/model_reward.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "model/checkpoint.h"
#include "train/model_setup.h"
#include "train/rm_trainer.h"

namespace r1 {

std::string_view rm_scope_text(std::string_view completion, RmScope scope) {
  if (scope == RmScope::kFull) return completion;
  const size_t at = completion.rfind("</think>");
  return at == std::string_view::npos ? completion : completion.substr(at + 8);
}

RewardModelScorer::RewardModelScorer(const std::string& path, const std::string& templ, bool init_head,
                                     uint64_t seed)
    : path_(path), model_(load_reward_model(path, init_head, seed)) {
  tok_ = load_tokenizer(path);
  tmpl_ = recipe_chat_template(templ, path);
  end_of_turn_ = end_of_turn_strings(model_, *tok_, tmpl_);
}

std::vector<int32_t> RewardModelScorer::sequence(const nlohmann::json* prompt,
                                                 const nlohmann::json& completion, const std::string& where,
                                                 const std::string& prompt_field,
                                                 const std::string& completion_field) const {
  std::vector<int32_t> ids =
      preference_sequence(prompt, completion, prompt_field, completion_field, *tok_, format(), where);
  for (int32_t id : ids)
    if (id >= model_.config().vocab_size)
      fail("{}: token id {} exceeds the vocabulary of the reward model {} ({})", where, id, path_,
           model_.config().vocab_size);
  return ids;
}

std::vector<int32_t> RewardModelScorer::rollout_sequence(const std::string& question,
                                                         const nlohmann::ordered_json& messages,
                                                         std::string_view response) const {
  const nlohmann::json completion = std::string(response);
  const std::string where = fmt::format("reward model {}", path_);
  if (!tmpl_) {
    const nlohmann::json prompt = question;
    return sequence(&prompt, completion, where);
  }
  nlohmann::json conversation = nlohmann::json::array();
  if (messages.is_array())
    conversation = nlohmann::json::parse(messages.dump());
  else
    conversation.push_back({{"role", "user"}, {"content", question}});
  return sequence(&conversation, completion, where);
}

std::vector<float> RewardModelScorer::score(const std::vector<std::vector<int32_t>>& seqs,
                                            int64_t batch_tokens, int64_t* truncated) {
  if (batch_tokens < 1) fail("reward model {}: the batch size must be a positive number of tokens", path_);
  const auto context = static_cast<size_t>(model_.config().max_position_embeddings);
  std::vector<float> out;
  out.reserve(seqs.size());
  Batch b;
  std::vector<float> scores;
  for (size_t i = 0; i < seqs.size();) {
    b.clear();
    while (i < seqs.size()) {
      const std::vector<int32_t>& s = seqs[i];
      const size_t n = std::min(s.size(), context);
      if (b.size() > 0 && b.size() + static_cast<int64_t>(n) > batch_tokens) break;
      const std::vector<int32_t> ids(s.end() - static_cast<std::ptrdiff_t>(n), s.end());
      if (n < s.size() && truncated) ++*truncated;
      b.append(ids, std::vector<int32_t>(ids.size(), -1));
      i++;
    }
    scores.resize(static_cast<size_t>(b.num_seqs()));
    model_.forward_scores(b, scores.data());
    out.insert(out.end(), scores.begin(), scores.end());
  }
  return out;
}

}  // namespace r1
