// Hugging Face `tokenizers`-style tokenizers: added tokens matched first, then normalizer,
// pre-tokenizer and BPE model on the text between them; a decoder chain back to text. Built
// from a TokenizerSpec, which the three file loaders fill: tokenizer.json, a vocab.json +
// merges.txt directory, and GGUF metadata (tokenizer.ggml.*).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/components.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

class GGUFFile;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = true;
  bool single_word = false;  // only matched where it is not part of a longer word
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool normalized = false;   // matched in the normalized text rather than the input
};

// Everything a tokenizer is made of, as tokenizer.json says it.
struct TokenizerSpec {
  std::string file;                // the file errors name
  std::string merges_where;        // how errors name the merges ("FILE: model.merges")
  std::string config_file;         // the file that named bos_token / eos_token
  std::vector<std::string> vocab;  // model vocabulary by id ("" = unused id)
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<uint32_t> merge_ranks;  // empty: rank = position in merges
  std::optional<std::string> unk_token;
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  std::vector<AddedToken> added;
  nlohmann::json normalizer, pre_tokenizer, post_processor, decoder;  // null = none
  // BOS/EOS as token texts (from tokenizer_config.json or GGUF metadata); empty = none.
  std::string bos_token, eos_token;
  // What save() writes: these files copied (source path, name in the model directory), or,
  // when empty, tokenizer.json and tokenizer_config.json generated from this spec.
  std::vector<std::pair<std::string, std::string>> save_files;
};

// tokenizer.json (already parsed) at `path`.
TokenizerSpec spec_from_tokenizer_json(const nlohmann::json& j, const std::string& path);
// A directory with vocab.json + merges.txt (Qwen2 and GPT-2 tokenizer classes).
TokenizerSpec spec_from_vocab_merges(const std::string& dir);
// GGUF metadata: tokenizer.ggml.model "llama" (SentencePiece BPE by scores) or "gpt2".
TokenizerSpec spec_from_gguf(const GGUFFile& g);
// Reads bos_token / eos_token from a tokenizer_config.json into spec (file may be absent).
void read_tokenizer_config(TokenizerSpec& spec, const std::string& config_path);
// The spec as a Hugging Face tokenizer.json.
nlohmann::json spec_to_tokenizer_json(const TokenizerSpec& spec);

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(TokenizerSpec spec);
  ~HfTokenizer() override;

  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  std::string token_text(int32_t id) const override;
  int32_t token_id(std::string_view text) const override;
  bool is_special(int32_t id) const override;
  void save(const std::string& dir) const override;

  const BpeModel& model() const { return *model_; }
  BpeModel& model() { return *model_; }
  // The post-processor's tokens around a sequence (add_special).
  const tok::SpecialAround& special_around() const { return around_; }

 protected:
  std::vector<int32_t> encode_impl(std::string_view text, bool parse_special,
                                   bool add_special) const override;
  std::string decode_impl(std::span<const int32_t> ids, bool skip_special) const override;

 private:
  class Matcher;
  void encode_segment(std::string_view text, bool at_start, bool parse_special,
                      std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view text, bool at_start, std::vector<int32_t>& out) const;

  std::string file_;
  std::vector<std::string> tokens_;  // text by id, added tokens included
  std::vector<uint8_t> special_;     // per id
  StringMap<int32_t> ids_;           // token text -> id (added tokens win)
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::Decoder> decoder_;
  tok::SpecialAround around_;
  // Added-token matchers: on the input (normalized=false) and on normalized text; each with
  // all tokens and with the non-special ones only (parse_special=false).
  std::unique_ptr<Matcher> raw_all_, raw_plain_, norm_all_, norm_plain_;
  std::vector<std::string> byte_pieces_;  // ByteLevel decoder only: each id's bytes
  int32_t bos_ = -1, eos_ = -1;
  TokenizerSpec save_spec_;  // kept only when save() must generate files
  std::vector<std::pair<std::string, std::string>> save_files_;
};

}  // namespace r1
