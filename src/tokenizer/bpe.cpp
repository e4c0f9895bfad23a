#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace r1 {

namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kEmpty = std::numeric_limits<uint64_t>::max();

// The word cache: a per-thread table of slots, each holding one word (up to kSlotKey bytes)
// and its ids (up to kSlotIds), tagged with the id of the model that computed them.
constexpr size_t kSlotKey = 30, kSlotIds = 8, kSlots = size_t{1} << 14;
struct CacheSlot {
  uint64_t model = 0;  // 0: empty
  uint8_t len = 0, nids = 0;
  char key[kSlotKey] = {};
  int32_t ids[kSlotIds] = {};
};

CacheSlot* cache_slots() {
  thread_local const std::unique_ptr<CacheSlot[]> slots(new CacheSlot[kSlots]());
  return slots.get();
}

uint64_t next_cache_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

inline uint64_t word_hash(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  std::memcpy(&w, s.data() + i, s.size() - i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 29);
}

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

void BpeModel::MergeTable::init(size_t n) {
  size_t cap = 16;
  int bits = 4;
  while (cap < n * 2) {
    cap <<= 1;
    ++bits;
  }
  keys.assign(cap, kEmpty);
  vals.assign(cap, Merge{kNoRank, -1});
  mask = cap - 1;
  shift = 64 - bits;
}

void BpeModel::MergeTable::put(int32_t a, int32_t b, Merge m) {
  const uint64_t k = pair_key(a, b);
  for (uint64_t i = (k * 0x9E3779B97F4A7C15ULL) >> shift;; i = (i + 1) & mask) {
    if (keys[i] == kEmpty || keys[i] == k) {
      keys[i] = k;
      vals[i] = m;
      return;
    }
  }
}

const BpeModel::Merge* BpeModel::MergeTable::find(int32_t a, int32_t b) const {
  const uint64_t k = pair_key(a, b);
  for (uint64_t i = (k * 0x9E3779B97F4A7C15ULL) >> shift;; i = (i + 1) & mask) {
    if (keys[i] == k) return &vals[i];
    if (keys[i] == kEmpty) return nullptr;
  }
}

BpeModel::BpeModel(const std::vector<std::string>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   const std::vector<uint32_t>& ranks, const BpeOptions& opt, const std::string& where)
    : opt_(opt), cache_id_(next_cache_id()) {
  R1_CHECK(ranks.empty() || ranks.size() == merges.size());
  vocab_.reserve(vocab.size());
  std::string raw;
  for (size_t id = 0; id < vocab.size(); ++id) {
    const std::string& t = vocab[id];
    if (t.empty()) continue;
    if (opt_.byte_level) {
      // Tokens that are not byte characters (added tokens kept in the vocabulary) cannot come
      // out of merges over bytes; they are matched before the model, if at all.
      if (utf8::byte_level_to_bytes(t, raw)) vocab_[raw] = static_cast<int32_t>(id);
    } else {
      vocab_[t] = static_cast<int32_t>(id);
    }
  }
  byte_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    const std::string key =
        opt_.byte_level ? std::string(1, static_cast<char>(b)) : fmt::format("<0x{:02X}>", b);
    if (const auto it = vocab_.find(key); it != vocab_.end()) byte_ids_[static_cast<size_t>(b)] = it->second;
  }

  merges_.init(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& a = merges[i].first;  // not a structured binding: lambdas capture it
    const std::string& b = merges[i].second;
    const auto missing = [&](const std::string& t) {
      fail("{}[{}] '{} {}': token '{}' is not in the vocabulary", where, i, utf8::printable(a),
           utf8::printable(b), utf8::printable(t));
    };
    const int32_t ia = token_id(a);
    if (ia < 0) missing(a);
    const int32_t ib = token_id(b);
    if (ib < 0) missing(b);
    const int32_t im = token_id(a + b);
    if (im < 0) missing(a + b);
    merges_.put(ia, ib, Merge{ranks.empty() ? static_cast<uint32_t>(i) : ranks[i], im});
  }
}

int32_t BpeModel::token_id(std::string_view text) const {
  if (opt_.byte_level) {
    std::string raw;
    if (!utf8::byte_level_to_bytes(text, raw)) return -1;
    const auto it = vocab_.find(raw);
    return it == vocab_.end() ? -1 : it->second;
  }
  const auto it = vocab_.find(text);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::symbols(std::string_view word, std::vector<int32_t>& syms) const {
  syms.clear();
  bool prev_unk = false;
  const auto unknown = [&] {
    if (opt_.unk_id < 0) return;  // no unknown token: the character is dropped (as the reference does)
    if (!(opt_.fuse_unk && prev_unk)) syms.push_back(opt_.unk_id);
    prev_unk = true;
  };
  if (opt_.byte_level) {
    for (const char c : word) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id < 0) {
        unknown();
      } else {
        syms.push_back(id);
        prev_unk = false;
      }
    }
    return;
  }
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8::unit_len(word, i);
    if (const auto it = vocab_.find(word.substr(i, n)); it != vocab_.end()) {
      syms.push_back(it->second);
      prev_unk = false;
    } else {
      bool all_bytes = opt_.byte_fallback;
      for (size_t k = 0; k < n && all_bytes; ++k)
        all_bytes = byte_ids_[static_cast<unsigned char>(word[i + k])] >= 0;
      if (all_bytes) {
        for (size_t k = 0; k < n; ++k) syms.push_back(byte_ids_[static_cast<unsigned char>(word[i + k])]);
        prev_unk = false;
      } else {
        unknown();
      }
    }
    i += n;
  }
}

void BpeModel::merge_scan(std::vector<int32_t>& syms) const {
  // pr[i] is the merge of syms[i] and syms[i+1] (rank kNoRank when there is none).
  thread_local std::vector<Merge> pr;
  pr.clear();
  for (size_t i = 0; i + 1 < syms.size(); ++i) {
    const Merge* m = merges_.find(syms[i], syms[i + 1]);
    pr.push_back(m ? *m : Merge{kNoRank, -1});
  }
  while (!pr.empty()) {
    size_t best = 0;
    for (size_t i = 1; i < pr.size(); ++i)
      if (pr[i].rank < pr[best].rank) best = i;
    if (pr[best].rank == kNoRank) break;
    syms[best] = pr[best].id;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    pr.erase(pr.begin() + static_cast<std::ptrdiff_t>(best));
    const auto refresh = [&](size_t i) {
      const Merge* m = merges_.find(syms[i], syms[i + 1]);
      pr[i] = m ? *m : Merge{kNoRank, -1};
    };
    if (best > 0) refresh(best - 1);
    if (best < pr.size()) refresh(best);
  }
}

void BpeModel::merge_heap(std::vector<int32_t>& syms) const {
  const auto n = static_cast<int32_t>(syms.size());
  std::vector<int32_t> prev(syms.size()), next(syms.size());
  for (int32_t i = 0; i < n; ++i) {
    prev[static_cast<size_t>(i)] = i - 1;
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    uint32_t rank;
    int32_t left, right;
    int32_t left_id, right_id, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> q;
  const auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const int32_t a = syms[static_cast<size_t>(l)], b = syms[static_cast<size_t>(r)];
    if (const Merge* m = merges_.find(a, b)) q.push(Cand{m->rank, l, r, a, b, m->id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!q.empty()) {
    const Cand c = q.top();
    q.pop();
    const auto l = static_cast<size_t>(c.left), r = static_cast<size_t>(c.right);
    // Stale when either side has been merged away or changed since the candidate was made.
    if (syms[l] != c.left_id || syms[r] != c.right_id || next[l] != c.right) continue;
    syms[l] = c.id;
    syms[r] = -1;
    next[l] = next[r];
    if (next[r] >= 0) prev[static_cast<size_t>(next[r])] = c.left;
    consider(prev[l], c.left);
    consider(c.left, next[l]);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0 && i < n; i = next[static_cast<size_t>(i)])
    syms[k++] = syms[static_cast<size_t>(i)];
  syms.resize(k);
}

void BpeModel::set_cache(bool on) {
  opt_.cache = on;
  cache_id_ = next_cache_id();
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (opt_.ignore_merges) {
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  CacheSlot* slot = nullptr;
  if (opt_.cache && word.size() <= kSlotKey) {
    slot = &cache_slots()[word_hash(word) & (kSlots - 1)];
    if (slot->model == cache_id_ && slot->len == word.size() &&
        std::memcmp(slot->key, word.data(), word.size()) == 0) {
      out.insert(out.end(), slot->ids, slot->ids + slot->nids);
      return;
    }
  }
  thread_local std::vector<int32_t> syms;
  symbols(word, syms);
  if (syms.size() > heap_threshold_)
    merge_heap(syms);
  else
    merge_scan(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (slot != nullptr && syms.size() <= kSlotIds) {
    slot->model = cache_id_;
    slot->len = static_cast<uint8_t>(word.size());
    slot->nids = static_cast<uint8_t>(syms.size());
    std::memcpy(slot->key, word.data(), word.size());
    std::copy(syms.begin(), syms.end(), slot->ids);
  }
}

}  // namespace r1
