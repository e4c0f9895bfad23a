// Preference pairs for reward-model training (`r1 rm train`) and the sequences `r1 rm score`
// scores. A JSONL row is one of
//   {"prompt": P, "chosen": C, "rejected": R}   P a string and C, R strings: BOS + P + C (+ EOS);
//                                               P a list of messages and C, R an assistant
//                                               message's text or a list of messages: the
//                                               conversation P + C through the chat template;
//   {"chosen": C, "rejected": R}                the implicit prompt: C, R full texts or full
//                                               conversations (lists of messages);
// with an optional numeric "margin" (Bradley-Terry's -log sigmoid(r_c - r_r - margin)).
// A conversation must end with an assistant turn; it is rendered as SFT renders it
// (train/chat_data.h) and ends at that turn's end-of-turn token, where the score is read.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct PreferencePair {
  std::vector<int32_t> chosen, rejected;
  float margin = 0;
  int64_t row = 0;  // the data row (0-based), for held-out splits
};

struct PreferenceDataConfig {
  std::string path;  // JSONL, or "builtin:sort" (generated pairs, see builtin_sort_pairs)
  std::string prompt_field = "prompt";
  std::string chosen_field = "chosen";
  std::string rejected_field = "rejected";
  std::string margin_field = "margin";
  int64_t max_len = 512;        // a pair with a side longer than this (tokens) is dropped
  int64_t builtin_rows = 4000;  // rows of a built-in set
  uint64_t seed = 1;            // of a built-in set
};

// How conversations are rendered: the chat template (null: rows with messages are an error) and
// the strings that end an assistant turn.
struct PreferenceFormat {
  const ChatTemplate* tmpl = nullptr;
  std::vector<std::string> end_of_turn;
};

struct PreferenceStats {
  int64_t rows = 0;
  int64_t pairs = 0;          // kept
  int64_t dropped_long = 0;   // pairs with a side longer than max_len
  int64_t conversations = 0;  // rows rendered through the chat template
  int64_t tokens = 0;         // of the kept pairs, both sides
};

// The sequence one side of a row makes: `prompt` (null when the row has none) followed by
// `completion`, as the header describes. Errors are one line and start with `where`
// ("FILE:LINE"), naming the field.
std::vector<int32_t> preference_sequence(const nlohmann::json* prompt, const nlohmann::json& completion,
                                         const std::string& prompt_field, const std::string& completion_field,
                                         const Tokenizer& tok, const PreferenceFormat& fmt,
                                         const std::string& where, bool* conversation = nullptr);

// Every pair of the file. Refused with one line naming FILE:LINE and the field: a line that is not
// a JSON object, a missing chosen or rejected field, a field of the wrong type, a non-finite
// margin, chosen equal to rejected; and a file in which no pair fits max_len.
std::vector<PreferencePair> load_preference_pairs(const PreferenceDataConfig& cfg, const Tokenizer& tok,
                                                  const PreferenceFormat& fmt,
                                                  PreferenceStats* stats = nullptr);

// The built-in preference set (builtin:sort), rows as JSON: "sort 5071938264:" with the digits
// sorted chosen ("0123456789") and the sorted digits with one adjacent pair swapped rejected
// ("0123546789").
std::vector<nlohmann::json> builtin_sort_pairs(int64_t rows, uint64_t seed);

}  // namespace r1
