#include "train/preference_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "io/jsonl.h"
#include "rollout/prompts.h"
#include "train/chat_data.h"

namespace r1 {

namespace {

std::vector<int32_t> conversation_tokens(const nlohmann::json& messages, size_t first, const Tokenizer& tok,
                                         const PreferenceFormat& fmt, const std::string& where) {
  if (!fmt.tmpl)
    fail(
        "{}: a conversation needs a chat template: the model has none; set data.template (distill, or a "
        "tokenizer_config.json with a chat_template)",
        where);
  const nlohmann::ordered_json msgs = training_messages(messages, *fmt.tmpl, where);
  if (msgs.back()["role"] != "assistant")
    fail("{}: the conversation must end with an assistant turn (its score is read there), not '{}'", where,
         msgs.back()["role"].get<std::string>());
  ChatSequenceOptions o;
  o.first_trained = first;
  o.end_of_turn = fmt.end_of_turn;
  // The last sequence holds the conversation up to its last assistant turn, ending at that turn's
  // last end-of-turn token.
  const auto seqs = conversation_pieces(*fmt.tmpl, msgs, o, where);
  return tokenize_pieces(seqs.back(), tok).tokens;
}

}  // namespace

std::vector<int32_t> preference_sequence(const nlohmann::json* prompt, const nlohmann::json& completion,
                                         const std::string& prompt_field, const std::string& completion_field,
                                         const Tokenizer& tok, const PreferenceFormat& fmt,
                                         const std::string& where, bool* conversation) {
  const bool prompt_is_list = prompt && prompt->is_array();
  if (prompt && !prompt->is_string() && !prompt_is_list)
    fail("{}: field '{}' must be a string or a list of messages, got {}", where, prompt_field,
         prompt->type_name());
  if (!completion.is_string() && !completion.is_array())
    fail("{}: field '{}' must be a string or a list of messages, got {}", where, completion_field,
         completion.type_name());
  if (conversation) *conversation = prompt_is_list || completion.is_array();
  if (prompt_is_list) {
    nlohmann::json messages = *prompt;
    if (completion.is_string())
      messages.push_back({{"role", "assistant"}, {"content", completion}});
    else
      messages.insert(messages.end(), completion.begin(), completion.end());
    return conversation_tokens(
        messages, prompt->size(), tok, fmt,
        fmt::format("{}: fields '{}' and '{}'", where, prompt_field, completion_field));
  }
  if (completion.is_array()) {
    if (prompt)
      fail("{}: field '{}' is a list of messages but '{}' is a string; make both conversations", where,
           completion_field, prompt_field);
    return conversation_tokens(completion, 0, tok, fmt,
                               fmt::format("{}: field '{}'", where, completion_field));
  }
  std::vector<int32_t> ids = encode_with_bos(tok, prompt ? prompt->get<std::string>() : std::string());
  const auto c = tok.encode(completion.get<std::string>());
  ids.insert(ids.end(), c.begin(), c.end());
  if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  if (ids.empty()) fail("{}: field '{}' makes an empty sequence", where, completion_field);
  return ids;
}

std::vector<nlohmann::json> builtin_sort_pairs(int64_t rows, uint64_t seed) {
  // Row k: 10 digits drawn from (seed, k); chosen is them sorted, rejected the sorted digits with
  // one adjacent pair of different digits swapped (so it is not sorted). With 4000 rows and 400
  // held out, about 12% of the held-out sorted answers also occur among the training rows' (10
  // digits make 92378 multisets), so held-out accuracy measures the rule, not recall.
  std::vector<nlohmann::json> out;
  for (int64_t k = 0; k < rows; k++) {
    const auto key = static_cast<uint64_t>(k);
    std::string digits;
    for (uint64_t i = 0; i < 10; i++) digits += static_cast<char>('0' + hash_u64(seed, 0x5047, key, i) % 10);
    if (std::all_of(digits.begin(), digits.end(), [&](char ch) { return ch == digits[0]; }))
      digits.back() = digits[0] == '9' ? '0' : static_cast<char>(digits[0] + 1);  // all equal: one differs
    std::string sorted = digits;
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> at;  // adjacent positions whose swap changes the string
    for (size_t i = 0; i + 1 < sorted.size(); i++)
      if (sorted[i] != sorted[i + 1]) at.push_back(i);
    std::string wrong = sorted;
    const size_t i = at[hash_u64(seed, 0x5a9, key) % at.size()];
    std::swap(wrong[i], wrong[i + 1]);
    out.push_back({{"prompt", "sort " + digits + ":"}, {"chosen", sorted}, {"rejected", wrong}});
  }
  return out;
}

std::vector<PreferencePair> load_preference_pairs(const PreferenceDataConfig& cfg, const Tokenizer& tok,
                                                  const PreferenceFormat& fmt, PreferenceStats* stats) {
  if (cfg.max_len < 2) fail("data: max_len must be at least 2, got {}", cfg.max_len);
  std::vector<PreferencePair> out;
  PreferenceStats st;
  auto add_row = [&](const nlohmann::json& r, const std::string& where) {
    if (!r.is_object()) fail("{}: expected a JSON object, got {}", where, r.type_name());
    const auto c = r.find(cfg.chosen_field), j = r.find(cfg.rejected_field);
    if (c == r.end()) fail("{}: field '{}' is missing", where, cfg.chosen_field);
    if (j == r.end()) fail("{}: field '{}' is missing", where, cfg.rejected_field);
    const auto p = r.find(cfg.prompt_field);
    const nlohmann::json* prompt = p != r.end() && !p->is_null() ? &*p : nullptr;
    if (*c == *j)
      fail("{}: fields '{}' and '{}' are equal: a pair must prefer one response to another", where,
           cfg.chosen_field, cfg.rejected_field);
    PreferencePair pair;
    pair.row = st.rows;
    if (const auto m = r.find(cfg.margin_field); m != r.end() && !m->is_null()) {
      if (!m->is_number() || !std::isfinite(m->get<double>()))
        fail("{}: field '{}' must be a finite number, got {}", where, cfg.margin_field, m->dump());
      pair.margin = m->get<float>();
    }
    bool conv = false;
    pair.chosen = preference_sequence(prompt, *c, cfg.prompt_field, cfg.chosen_field, tok, fmt, where, &conv);
    pair.rejected = preference_sequence(prompt, *j, cfg.prompt_field, cfg.rejected_field, tok, fmt, where);
    st.conversations += conv;
    if (pair.chosen == pair.rejected)
      fail("{}: fields '{}' and '{}' make the same tokens: a pair must prefer one response to another", where,
           cfg.chosen_field, cfg.rejected_field);
    if (static_cast<int64_t>(std::max(pair.chosen.size(), pair.rejected.size())) > cfg.max_len) {
      st.dropped_long++;
      return;
    }
    st.tokens += static_cast<int64_t>(pair.chosen.size() + pair.rejected.size());
    out.push_back(std::move(pair));
  };
  if (cfg.path.rfind("builtin:", 0) == 0) {
    if (cfg.path != "builtin:sort")
      fail("data: unknown built-in preference set '{}' (available: builtin:sort)", cfg.path);
    const auto rows = builtin_sort_pairs(cfg.builtin_rows, cfg.seed);
    for (const auto& r : rows) {
      add_row(r, fmt::format("{}:{}", cfg.path, st.rows + 1));
      st.rows++;
    }
  } else {
    JsonlReader reader(cfg.path);
    nlohmann::json r;
    while (reader.next(r)) {
      add_row(r, fmt::format("{}:{}", reader.path(), reader.line()));
      st.rows++;
    }
  }
  st.pairs = static_cast<int64_t>(out.size());
  if (out.empty())
    fail("{}: no preference pairs{}", cfg.path,
         st.dropped_long > 0 ? fmt::format(" ({} rows, every pair longer than data.max_len {}; raise it)",
                                           st.rows, cfg.max_len)
                             : "");
  if (stats) *stats = st;
  return out;
}

}  // namespace r1
