// Training data for language-model training (pretraining and SFT): JSONL rows or a built-in
// corpus, tokenized into examples, shuffled per epoch by a counter-based permutation, and packed
// into micro-batches under a token budget. The stream's position is two integers, so a resumed
// run sees exactly the batches an uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct LmExample {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;  // next-token targets, -1 where masked (SFT prompts)
};

struct LmDataConfig {
  std::string path;               // JSONL file, or "builtin:arith"
  std::string mode = "pretrain";  // "pretrain": a text field; "sft": prompt + completion
  std::string text_field = "text";
  std::string prompt_field = "prompt";
  std::string completion_field = "completion";
  int64_t seq_len = 256;         // maximum tokens per example
  int64_t builtin_docs = 20000;  // size of a built-in corpus
  uint64_t seed = 1;
};

// Pretraining: BOS + text + EOS, split into pieces of at most seq_len tokens.
// SFT: BOS + prompt + completion + EOS, loss on the completion (and EOS) only; truncated to
// seq_len; rows whose prompt leaves no room for the completion are skipped and counted.
std::vector<LmExample> load_lm_examples(const LmDataConfig& cfg, const Tokenizer& tok,
                                        int64_t* skipped = nullptr);

// The built-in corpus: worked multi-digit additions, as plain text documents.
std::vector<std::string> builtin_arith_corpus(int64_t docs, uint64_t seed);

struct DataPosition {
  int64_t epoch = 0;
  int64_t index = 0;  // next example within the epoch's order
};

class LmDataStream {
 public:
  LmDataStream(std::vector<LmExample> examples, int64_t batch_tokens, uint64_t seed);
  // Packs whole examples, in this epoch's order, until the next would exceed the token budget
  // (at least one example per batch).
  void next_batch(Batch& batch);
  DataPosition position() const { return pos_; }
  void set_position(const DataPosition& p);
  size_t size() const { return examples_.size(); }

 private:
  void shuffle();
  std::vector<LmExample> examples_;
  std::vector<int64_t> order_;
  int64_t batch_tokens_;
  uint64_t seed_;
  DataPosition pos_;
};

}  // namespace r1
