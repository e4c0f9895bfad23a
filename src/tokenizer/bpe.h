// The BPE model: one pre-token (a "word") in, token ids out, by repeatedly merging the adjacent
// pair of symbols with the lowest merge rank (leftmost first among equal ranks), as Hugging
// Face `tokenizers` and llama.cpp do. Ranks are the merges' order in tokenizer.json; for
// SentencePiece vocabularies (GGUF "llama") they come from the pieces' scores, equal scores
// sharing a rank, which is llama.cpp's llm_tokenizer_spm order (highest score, then leftmost).
//
// Two symbol alphabets:
//  - byte level (GPT-2, Llama-3, Qwen): the word is raw bytes; each byte starts as the token
//    of its GPT-2 byte character. The vocabulary is also indexed by raw bytes, so no string
//    is ever mapped to byte characters while encoding.
//  - characters (SentencePiece style): each UTF-8 character starts as its token; one that is
//    not in the vocabulary becomes its bytes' <0xNN> tokens (byte_fallback) or the unknown
//    token (consecutive unknowns fused into one with fuse_unk). A byte that is not valid
//    UTF-8 counts as one character.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace r1 {

struct BpeOptions {
  bool byte_level = false;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;  // a word that is itself in the vocabulary is emitted whole
  int32_t unk_id = -1;
  bool cache = true;  // remember the ids of short words (per thread)
};

// Hashing for maps with std::string keys that are searched with std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // vocab: token text by id ("" marks an unused id). merges: pairs of token texts, applied in
  // order of ranks[i] (ranks empty: rank = index). Every merge's two tokens and their
  // concatenation must be in the vocabulary; otherwise an r1::Error naming `where` and the
  // merge. A later duplicate of a merge replaces the earlier one's rank.
  BpeModel(const std::vector<std::string>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, const std::vector<uint32_t>& ranks,
           const BpeOptions& opt, const std::string& where);

  // Appends the ids of one word.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // The id of a token given as model text (byte characters for byte-level models), or -1.
  int32_t token_id(std::string_view text) const;

  const BpeOptions& options() const { return opt_; }
  // Words longer than this many symbols merge through a priority queue over a linked list,
  // shorter ones through a linear scan; the results are the same. For tests.
  void set_heap_threshold(size_t n) { heap_threshold_ = n; }
  // Turns the word cache on or off (and forgets what it held).
  void set_cache(bool on);

 private:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  // Open-addressing map (left id, right id) -> merge.
  struct MergeTable {
    std::vector<uint64_t> keys;
    std::vector<Merge> vals;
    uint64_t mask = 0;
    int shift = 64;
    void init(size_t n);
    void put(int32_t a, int32_t b, Merge m);
    const Merge* find(int32_t a, int32_t b) const;
  };

  void symbols(std::string_view word, std::vector<int32_t>& syms) const;
  void merge_scan(std::vector<int32_t>& syms) const;
  void merge_heap(std::vector<int32_t>& syms) const;

  BpeOptions opt_;
  // Lookup key -> id; keys are raw bytes for byte-level models, token text otherwise.
  StringMap<int32_t> vocab_;
  std::array<int32_t, 256> byte_ids_{};  // byte level: each byte's token; characters: <0xNN>'s
  MergeTable merges_;
  size_t heap_threshold_ = 48;

  // Words up to 30 bytes are remembered in a per-thread direct-mapped cache (no locks) under
  // this model's id, which no other model ever has.
  uint64_t cache_id_ = 0;
};

}  // namespace r1
