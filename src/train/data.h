// Training data for language-model training (pretraining and SFT): JSONL rows or a built-in
// corpus, tokenized into examples, shuffled per epoch by a counter-based permutation, and packed
// into micro-batches under a token budget. The stream's position is two integers, so a resumed
// run sees exactly the batches an uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct LmExample {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;  // next-token targets, -1 where masked (SFT prompts)
  int64_t row = 0;               // the data row it came from (0-based), for held-out splits
};

struct LmDataConfig {
  std::string path;               // JSONL file, or "builtin:arith"
  std::string mode = "pretrain";  // "pretrain": a text field; "sft": prompt + completion, or messages
  std::string text_field = "text";
  std::string prompt_field = "prompt";
  std::string completion_field = "completion";
  std::string messages_field = "messages";  // SFT rows holding a conversation
  std::string tools_field = "tools";        // optional per-row tool list passed to the template
  int64_t seq_len = 256;                    // maximum tokens per example
  bool truncate = true;  // SFT: cut sequences at seq_len (off when packing wraps them into seq_len pieces)
  int64_t builtin_docs = 20000;  // size of a built-in corpus
  uint64_t seed = 1;
};

// How SFT renders conversations: the chat template (null: rows with messages are an error) and
// the strings that end an assistant turn (see train/chat_data.h).
struct LmChatFormat {
  const ChatTemplate* tmpl = nullptr;
  std::vector<std::string> end_of_turn;
};

// What loading made of the rows.
struct LmDataStats {
  int64_t rows = 0;
  int64_t conversations = 0;   // rows rendered through the chat template
  int64_t examples = 0;        // training sequences made
  int64_t skipped = 0;         // rows (or conversation sequences) with no trained token left within seq_len
  int64_t truncated = 0;       // sequences cut at seq_len that kept some trained tokens
  int64_t trained_tokens = 0;  // target tokens kept
  int64_t truncated_targets = 0;  // target tokens the cuts removed
  // One line: "3 of 120 sequences cut at seq_len 512 (41 of 9,812 trained tokens lost), 1 skipped".
  std::string summary(int64_t seq_len) const;
};

// Pretraining: BOS + text + EOS, split into pieces of at most seq_len tokens.
// SFT, a row with the messages field: the conversation through the chat template with the loss on
// the assistant turns only (train/chat_data.h). A row with prompt and completion: strings are
// BOS + prompt + completion + EOS with the loss on the completion and EOS; a prompt that is a
// list of messages (TRL's conversational prompt-completion) is a conversation whose completion
// (a string: one assistant message; or a list of messages) is trained. Sequences longer than
// seq_len keep their first seq_len tokens (counted; unless !truncate); those left with nothing to train
// are skipped.
std::vector<LmExample> load_lm_examples(const LmDataConfig& cfg, const Tokenizer& tok,
                                        LmDataStats* stats = nullptr, const LmChatFormat& chat = {});

// The built-in corpus: worked multi-digit additions, as plain text documents.
std::vector<std::string> builtin_arith_corpus(int64_t docs, uint64_t seed);

struct DataPosition {
  int64_t epoch = 0;
  int64_t index = 0;  // next example within the epoch's order
};

struct LmStreamOptions {
  int64_t batch_tokens = 4096;  // tokens per micro-batch (at least one sequence)
  // 0: each example is its own sequence (attention never crosses examples). N > 0: packing, TRL's
  // "wrapped" strategy: the epoch's examples back to back, cut into sequences of N tokens; an
  // example may continue into the next sequence and attention crosses example boundaries (the
  // loss mask travels with the tokens).
  int64_t pack_len = 0;
  int64_t epochs = 0;  // > 0: the stream ends after this many epochs (next_batch returns false)
};

class LmDataStream {
 public:
  LmDataStream(std::vector<LmExample> examples, const LmStreamOptions& opt, uint64_t seed);
  // Packs whole sequences, in this epoch's order, until the next would exceed the token budget
  // (at least one per batch). A batch never spans two epochs. Returns false, with an empty batch,
  // once the stream's epochs are done.
  bool next_batch(Batch& batch);
  DataPosition position() const { return pos_; }
  void set_position(const DataPosition& p);
  size_t size() const { return examples_.size(); }
  // Micro-batches next_batch makes in epoch e (a pure function of the seed, like the order).
  int64_t batches_in_epoch(int64_t epoch) const;

 private:
  // The sequences of `epoch`, in order: examples shuffled, then wrapped when packing.
  std::vector<LmExample> epoch_sequences(int64_t epoch) const;
  std::vector<int64_t> order(int64_t epoch) const;
  void start_epoch();
  std::vector<LmExample> examples_;
  std::vector<LmExample> packed_;  // this epoch's sequences when packing
  std::vector<int64_t> order_;
  LmStreamOptions opt_;
  uint64_t seed_;
  DataPosition pos_;
};

}  // namespace r1
