#include "train/data.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "io/jsonl.h"
#include "train/zero_task.h"

namespace r1 {

std::vector<std::string> builtin_arith_corpus(int64_t docs, uint64_t seed) {
  std::vector<std::string> out;
  out.reserve(docs);
  for (int64_t d = 0; d < docs; d++) {
    auto draw = [&](uint64_t k, int64_t lo, int64_t hi) {
      return lo + static_cast<int64_t>(hash_u64(seed, d, k) % static_cast<uint64_t>(hi - lo + 1));
    };
    const int64_t digits = draw(0, 1, 3);
    const int64_t lim = digits == 1 ? 9 : digits == 2 ? 99 : 999;
    const int64_t a = draw(1, 0, lim), b = draw(2, 0, lim);
    // Column addition from the right, the carry written out: the worked solution a model can
    // learn to produce, followed by the answer.
    std::string text = std::to_string(a) + "+" + std::to_string(b) + "=";
    std::string sa = std::to_string(a), sb = std::to_string(b);
    int64_t carry = 0;
    std::string work;
    for (size_t i = 0; i < std::max(sa.size(), sb.size()); i++) {
      const int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] - '0' : 0;
      const int64_t db = i < sb.size() ? sb[sb.size() - 1 - i] - '0' : 0;
      const int64_t s = da + db + carry;
      work +=
          std::to_string(da) + "+" + std::to_string(db) + (carry ? "+1" : "") + "=" + std::to_string(s) + " ";
      carry = s / 10;
    }
    out.push_back(text + " " + work + "so " + std::to_string(a + b) + "\n");
  }
  return out;
}

std::vector<LmExample> load_lm_examples(const LmDataConfig& cfg, const Tokenizer& tok, int64_t* skipped) {
  if (cfg.seq_len < 2) fail("data: seq_len must be at least 2, got {}", cfg.seq_len);
  if (cfg.mode != "pretrain" && cfg.mode != "sft") fail("data: unknown mode '{}'", cfg.mode);
  std::vector<LmExample> out;
  int64_t nskip = 0;
  auto add_text = [&](const std::string& text) {
    std::vector<int32_t> ids;
    if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
    auto body = tok.encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
    // Consecutive pieces overlap by one token so every next-token target is trained once.
    for (size_t start = 0; start + 1 < ids.size(); start += cfg.seq_len - 1) {
      const size_t end = std::min(ids.size(), start + cfg.seq_len);
      LmExample ex;
      ex.tokens.assign(ids.begin() + start, ids.begin() + end);
      ex.targets.assign(ex.tokens.size(), -1);
      for (size_t i = 0; i + 1 < ex.tokens.size(); i++) ex.targets[i] = ex.tokens[i + 1];
      out.push_back(std::move(ex));
      if (end == ids.size()) break;
    }
  };
  auto add_pair = [&](const std::string& prompt, const std::string& completion) {
    std::vector<int32_t> ids;
    if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
    auto p = tok.encode(prompt), c = tok.encode(completion);
    ids.insert(ids.end(), p.begin(), p.end());
    const size_t first_completion = ids.size();
    ids.insert(ids.end(), c.begin(), c.end());
    if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
    if (ids.size() > static_cast<size_t>(cfg.seq_len)) ids.resize(cfg.seq_len);
    if (first_completion >= ids.size()) {
      nskip++;
      return;
    }
    LmExample ex;
    ex.tokens = ids;
    ex.targets.assign(ids.size(), -1);
    for (size_t i = first_completion; i < ids.size(); i++) ex.targets[i - 1] = ids[i];
    out.push_back(std::move(ex));
  };

  if (cfg.path.rfind("builtin:", 0) == 0) {
    if (cfg.path != "builtin:arith" && cfg.path != "builtin:zero")
      fail("data: unknown built-in corpus '{}' (available: builtin:arith, builtin:zero)", cfg.path);
    if (cfg.mode != "pretrain") fail("data: the built-in corpus is for pretraining");
    const auto docs = cfg.path == "builtin:zero" ? builtin_zero_corpus(cfg.builtin_docs, cfg.seed)
                                                 : builtin_arith_corpus(cfg.builtin_docs, cfg.seed);
    for (const std::string& doc : docs) add_text(doc);
  } else {
    JsonlReader reader(cfg.path);
    nlohmann::json row;
    while (reader.next(row)) {
      if (cfg.mode == "pretrain") {
        add_text(jsonl_string_field(row, cfg.text_field, cfg.path, reader.line()));
      } else {
        add_pair(jsonl_string_field(row, cfg.prompt_field, cfg.path, reader.line()),
                 jsonl_string_field(row, cfg.completion_field, cfg.path, reader.line()));
      }
    }
  }
  if (out.empty()) fail("{}: no training examples", cfg.path);
  if (skipped) *skipped = nskip;
  return out;
}

LmDataStream::LmDataStream(std::vector<LmExample> examples, int64_t batch_tokens, uint64_t seed)
    : examples_(std::move(examples)), batch_tokens_(batch_tokens), seed_(seed) {
  if (examples_.empty()) fail("data: no training examples");
  if (batch_tokens_ < 1) fail("data: batch_tokens must be positive");
  shuffle();
}

void LmDataStream::shuffle() {
  // Fisher-Yates with counter-based draws keyed by (seed, epoch, i): the order of epoch e is a
  // pure function of the seed.
  order_.resize(examples_.size());
  std::iota(order_.begin(), order_.end(), 0);
  for (size_t i = order_.size(); i > 1; i--) {
    const size_t j = hash_u64(seed_, 0x5eed, static_cast<uint64_t>(pos_.epoch), i) % i;
    std::swap(order_[i - 1], order_[j]);
  }
}

void LmDataStream::set_position(const DataPosition& p) {
  if (p.epoch < 0 || p.index < 0 || p.index > static_cast<int64_t>(examples_.size()))
    fail("data: saved position (epoch {}, index {}) does not fit a dataset of {} examples", p.epoch, p.index,
         examples_.size());
  pos_ = p;
  shuffle();
}

void LmDataStream::next_batch(Batch& batch) {
  batch.clear();
  while (true) {
    if (pos_.index >= static_cast<int64_t>(order_.size())) {
      pos_.epoch++;
      pos_.index = 0;
      shuffle();
    }
    const LmExample& ex = examples_[order_[pos_.index]];
    if (batch.size() > 0 && batch.size() + static_cast<int64_t>(ex.tokens.size()) > batch_tokens_) return;
    batch.append(ex.tokens, ex.targets);
    pos_.index++;
    if (batch.size() >= batch_tokens_) return;
  }
}

}  // namespace r1
