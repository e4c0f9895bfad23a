// The built-in byte-level tokenizer, for pretraining from scratch before real tokenizers
// exist: ids 0..255 are the bytes themselves, then three special tokens. Any byte string
// (including invalid UTF-8) encodes and decodes back exactly.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class ByteTokenizer {
 public:
  static constexpr int32_t kBos = 256;
  static constexpr int32_t kEos = 257;
  static constexpr int32_t kPad = 258;
  static constexpr int32_t kVocabSize = 259;

  // One id per byte; no BOS/EOS are added (the caller decides where documents start and end).
  std::vector<int32_t> encode(std::string_view text) const;
  // Bytes back; special tokens decode to their text ("<|bos|>", ...). Ids outside
  // [0, vocab_size()) are an r1::Error.
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t bos_id() const { return kBos; }
  int32_t eos_id() const { return kEos; }
  int32_t pad_id() const { return kPad; }
  int32_t vocab_size() const { return kVocabSize; }
  // "<|bos|>", "<|eos|>", "<|pad|>" for the special ids, the single byte otherwise.
  std::string token_text(int32_t id) const;

  // A Hugging Face `tokenizers` tokenizer.json equivalent to this tokenizer, saved beside a
  // model so other tools can load it: a BPE model without merges whose vocabulary is the 256
  // byte-level characters (GPT-2's bytes_to_unicode) at ids 0..255 in byte order, a ByteLevel
  // pre-tokenizer and decoder, and the three specials as added tokens.
  nlohmann::json to_hf_tokenizer_json() const;
};

// GPT-2's printable stand-in for a byte (UTF-8 encoded): bytes that are printable Latin-1
// map to themselves, the rest to U+0100 onwards in byte order (0x20 -> "Ġ", 0x0A -> "Ċ").
std::string byte_level_char(uint8_t byte);

}  // namespace r1
