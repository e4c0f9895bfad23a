#include "train/data.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "core/rng.h"
#include "io/jsonl.h"
#include "rollout/prompts.h"
#include "train/chat_data.h"
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

std::string LmDataStats::summary(int64_t seq_len) const {
  std::string out =
      fmt::format("{} of {} sequences cut at seq_len {} ({} of {} trained tokens lost)", truncated, examples,
                  seq_len, truncated_targets, trained_tokens + truncated_targets);
  if (skipped > 0) out += fmt::format(", {} skipped with nothing left to train", skipped);
  return out;
}

std::vector<LmExample> load_lm_examples(const LmDataConfig& cfg, const Tokenizer& tok, LmDataStats* stats,
                                        const LmChatFormat& chat) {
  if (cfg.seq_len < 2) fail("data: seq_len must be at least 2, got {}", cfg.seq_len);
  if (cfg.mode != "pretrain" && cfg.mode != "sft") fail("data: unknown mode '{}'", cfg.mode);
  std::vector<LmExample> out;
  LmDataStats st;
  int64_t row = 0;
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
      ex.row = row;
      ex.tokens.assign(ids.begin() + start, ids.begin() + end);
      ex.targets.assign(ex.tokens.size(), -1);
      for (size_t i = 0; i + 1 < ex.tokens.size(); i++) ex.targets[i] = ex.tokens[i + 1];
      out.push_back(std::move(ex));
      if (end == ids.size()) break;
    }
  };
  // A sequence with its trained tokens marked: cut at seq_len, counted, kept if anything is trained.
  auto add_sequence = [&](std::vector<int32_t> ids, const std::vector<uint8_t>& trained) {
    LmExample ex;
    ex.row = row;
    ex.targets.assign(ids.size(), -1);
    int64_t all = 0, kept = 0;
    for (size_t i = 1; i < ids.size(); i++) {
      if (!trained[i]) continue;
      all++;
      if (!cfg.truncate || i < static_cast<size_t>(cfg.seq_len)) {
        ex.targets[i - 1] = ids[i];
        kept++;
      }
    }
    st.truncated_targets += all - kept;
    if (kept == 0) {
      st.skipped++;
      return;
    }
    if (cfg.truncate && ids.size() > static_cast<size_t>(cfg.seq_len)) {
      st.truncated++;
      ids.resize(cfg.seq_len);
      ex.targets.resize(cfg.seq_len);
    }
    st.trained_tokens += kept;
    ex.tokens = std::move(ids);
    out.push_back(std::move(ex));
  };
  auto add_pair = [&](const std::string& prompt, const std::string& completion) {
    std::vector<int32_t> ids = encode_with_bos(tok, prompt);
    const size_t first_completion = ids.size();
    const auto c = tok.encode(completion);
    ids.insert(ids.end(), c.begin(), c.end());
    if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
    std::vector<uint8_t> trained(ids.size(), 0);
    std::fill(trained.begin() + static_cast<std::ptrdiff_t>(first_completion), trained.end(), 1);
    add_sequence(std::move(ids), trained);
  };
  ChatSequenceOptions chat_opt;
  chat_opt.end_of_turn = chat.end_of_turn;
  auto add_conversation = [&](const nlohmann::json& messages, size_t first_trained,
                              const nlohmann::json& row_json, const std::string& where) {
    if (!chat.tmpl)
      fail(
          "{}: a conversation needs a chat template: the model has none; set data.template (distill, or a "
          "tokenizer_config.json with a chat_template)",
          where);
    ChatSequenceOptions o = chat_opt;
    o.first_trained = first_trained;
    const auto tools = row_json.find(cfg.tools_field);
    if (tools != row_json.end() && !tools->is_null()) {
      if (!tools->is_array())
        fail("{}: field '{}' must be a list of tools, got {}", where, cfg.tools_field, tools->type_name());
      o.chat.tools = nlohmann::ordered_json::parse(tools->dump());
    }
    const auto msgs = training_messages(messages, *chat.tmpl, where);
    st.conversations++;
    for (const auto& pieces : conversation_pieces(*chat.tmpl, msgs, o, where)) {
      TokenizedPieces t = tokenize_pieces(pieces, tok);
      add_sequence(std::move(t.tokens), t.trained);
    }
  };

  if (cfg.path.rfind("builtin:", 0) == 0) {
    if (cfg.path != "builtin:arith" && cfg.path != "builtin:zero")
      fail("data: unknown built-in corpus '{}' (available: builtin:arith, builtin:zero)", cfg.path);
    if (cfg.mode != "pretrain") fail("data: the built-in corpus is for pretraining");
    const auto docs = cfg.path == "builtin:zero" ? builtin_zero_corpus(cfg.builtin_docs, cfg.seed)
                                                 : builtin_arith_corpus(cfg.builtin_docs, cfg.seed);
    for (const std::string& doc : docs) {
      add_text(doc);
      row++;
    }
  } else {
    JsonlReader reader(cfg.path);
    nlohmann::json r;
    while (reader.next(r)) {
      const std::string where = fmt::format("{}:{}", reader.path(), reader.line());
      if (cfg.mode == "pretrain") {
        add_text(jsonl_string_field(r, cfg.text_field, cfg.path, reader.line()));
      } else if (const auto m = r.find(cfg.messages_field); m != r.end()) {
        add_conversation(*m, 0, r, where + ": field '" + cfg.messages_field + "'");
      } else if (const auto p = r.find(cfg.prompt_field); p != r.end() && p->is_array()) {
        // TRL's conversational prompt-completion: the completion's assistant turns are trained.
        const auto c = r.find(cfg.completion_field);
        if (c == r.end()) fail("{}: field '{}' is missing", where, cfg.completion_field);
        nlohmann::json messages = *p;
        if (c->is_string())
          messages.push_back({{"role", "assistant"}, {"content", *c}});
        else if (c->is_array())
          messages.insert(messages.end(), c->begin(), c->end());
        else
          fail("{}: field '{}' must be a string or a list of messages, got {}", where, cfg.completion_field,
               c->type_name());
        add_conversation(messages, p->size(), r,
                         where + ": fields '" + cfg.prompt_field + "' and '" + cfg.completion_field + "'");
      } else {
        add_pair(jsonl_string_field(r, cfg.prompt_field, cfg.path, reader.line()),
                 jsonl_string_field(r, cfg.completion_field, cfg.path, reader.line()));
      }
      row++;
    }
  }
  st.rows = row;
  st.examples = static_cast<int64_t>(out.size());
  if (out.empty())
    fail("{}: no training examples{}", cfg.path,
         st.skipped > 0
             ? fmt::format(" ({} sequences, none with anything to train within data.seq_len {}; raise it)",
                           st.skipped, cfg.seq_len)
             : "");
  if (stats) *stats = st;
  return out;
}

LmDataStream::LmDataStream(std::vector<LmExample> examples, const LmStreamOptions& opt, uint64_t seed)
    : examples_(std::move(examples)), opt_(opt), seed_(seed) {
  if (examples_.empty()) fail("data: no training examples");
  if (opt_.batch_tokens < 1) fail("data: batch_tokens must be positive");
  if (opt_.pack_len < 0 || opt_.epochs < 0) fail("data: pack_len and epochs must not be negative");
  start_epoch();
}

std::vector<int64_t> LmDataStream::order(int64_t epoch) const {
  // Fisher-Yates with counter-based draws keyed by (seed, epoch, i): the order of epoch e is a
  // pure function of the seed.
  std::vector<int64_t> o(examples_.size());
  std::iota(o.begin(), o.end(), 0);
  shuffle_by(o, [&](size_t i) { return hash_u64(seed_, 0x5eed, static_cast<uint64_t>(epoch), i); });
  return o;
}

std::vector<LmExample> LmDataStream::epoch_sequences(int64_t epoch) const {
  std::vector<LmExample> out;
  LmExample cur;
  for (int64_t k : order(epoch)) {
    const LmExample& ex = examples_[static_cast<size_t>(k)];
    for (size_t i = 0; i < ex.tokens.size(); i++) {
      cur.tokens.push_back(ex.tokens[i]);
      cur.targets.push_back(ex.targets[i]);
      if (static_cast<int64_t>(cur.tokens.size()) == opt_.pack_len) out.push_back(std::exchange(cur, {}));
    }
  }
  if (!cur.tokens.empty()) out.push_back(std::move(cur));
  return out;
}

void LmDataStream::start_epoch() {
  order_ = order(pos_.epoch);
  if (opt_.pack_len > 0) packed_ = epoch_sequences(pos_.epoch);
}

void LmDataStream::set_position(const DataPosition& p) {
  pos_ = DataPosition{p.epoch, 0};
  if (p.epoch < 0) fail("data: saved position (epoch {}, index {}) is not valid", p.epoch, p.index);
  start_epoch();
  const size_t n = opt_.pack_len > 0 ? packed_.size() : order_.size();
  if (p.index < 0 || p.index > static_cast<int64_t>(n))
    fail("data: saved position (epoch {}, index {}) does not fit a dataset of {} sequences per epoch",
         p.epoch, p.index, n);
  pos_ = p;
}

int64_t LmDataStream::batches_in_epoch(int64_t epoch) const {
  std::vector<size_t> sizes;
  if (opt_.pack_len > 0) {
    for (const auto& s : epoch_sequences(epoch)) sizes.push_back(s.tokens.size());
  } else {
    for (int64_t k : order(epoch)) sizes.push_back(examples_[static_cast<size_t>(k)].tokens.size());
  }
  int64_t batches = 0, fill = 0;
  for (size_t n : sizes) {
    const auto t = static_cast<int64_t>(n);
    if (fill > 0 && fill + t > opt_.batch_tokens) {
      batches++;
      fill = 0;
    }
    fill += t;
    if (fill >= opt_.batch_tokens) {
      batches++;
      fill = 0;
    }
  }
  return batches + (fill > 0);
}

bool LmDataStream::next_batch(Batch& batch) {
  batch.clear();
  const auto count = [&] { return static_cast<int64_t>(opt_.pack_len > 0 ? packed_.size() : order_.size()); };
  if (pos_.index >= count()) {
    pos_.epoch++;
    pos_.index = 0;
    start_epoch();
  }
  if (opt_.epochs > 0 && pos_.epoch >= opt_.epochs) return false;
  while (pos_.index < count()) {
    const LmExample& ex = opt_.pack_len > 0 ? packed_[static_cast<size_t>(pos_.index)]
                                            : examples_[static_cast<size_t>(order_[pos_.index])];
    if (batch.size() > 0 && batch.size() + static_cast<int64_t>(ex.tokens.size()) > opt_.batch_tokens) break;
    batch.append(ex.tokens, ex.targets);
    pos_.index++;
    if (batch.size() >= opt_.batch_tokens) break;
  }
  return true;
}

}  // namespace r1
