// The tokenizer interface every trainer and command uses, the loader that picks the right
// tokenizer for a model path, and a streaming decoder.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text to ids. parse_special: text spelling a special token ("<|im_end|>") becomes that
  // token; false tokenizes it as plain text (added tokens that are not special are still
  // matched, as Hugging Face's split_special_tokens and llama.cpp's parse_special=false do).
  // add_special: add the special tokens the tokenizer's post-processor puts around a sequence
  // (BOS/EOS); off by default, callers decide where documents start and end.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true,
                              bool add_special = false) const {
    return encode_impl(text, parse_special, add_special);
  }
  // Ids to text, special tokens as their text unless skip_special. The bytes are exactly the
  // tokens' bytes: a sequence cut inside a UTF-8 character, or a byte-fallback token for an
  // invalid byte, comes back as those bytes (not U+FFFD). Ids outside [0, vocab_size()) are an
  // r1::Error.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const {
    return decode_impl(ids, skip_special);
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const {
    return decode_impl(std::span<const int32_t>(ids), skip_special);
  }

  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;  // -1 when the tokenizer has none
  // One past the largest id (vocabulary and added tokens).
  virtual int32_t vocab_size() const = 0;
  // The token as its vocabulary writes it ("Ġthe", "▁the", "<|im_end|>", "<0x0A>"); "" for an
  // id no token uses. Out-of-range ids are an r1::Error.
  virtual std::string token_text(int32_t id) const = 0;
  // The id of a token given as its vocabulary text (token_text's inverse), or -1.
  virtual int32_t token_id(std::string_view text) const = 0;
  // True for special tokens (BOS, EOS, chat markers...): the ones decode(..., true) skips.
  virtual bool is_special(int32_t id) const = 0;
  // Writes the tokenizer's files into a model directory being saved: the source files when it
  // was loaded from files, a tokenizer.json (and tokenizer_config.json) when it came from a
  // GGUF file or is built in.
  virtual void save(const std::string& dir) const = 0;

 protected:
  virtual std::vector<int32_t> encode_impl(std::string_view text, bool parse_special,
                                           bool add_special) const = 0;
  virtual std::string decode_impl(std::span<const int32_t> ids, bool skip_special) const = 0;
};

// Decodes ids one at a time, as a sampler produces them: put() returns the text that became
// complete, holding back a UTF-8 character split across tokens (or byte-fallback tokens)
// until its last byte arrives; finish() returns whatever is still held. The concatenation of
// everything returned equals decode(all ids) exactly (invalid UTF-8 included: bytes that can
// no longer become a character are returned as they are).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(tok), skip_special_(skip_special) {}
  std::string put(int32_t id);
  std::string finish();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::vector<int32_t> window_;  // the ids whose text is not all out yet, after one id of context
  size_t emitted_ = 0;           // bytes of decode(window_) already returned
};

// The tokenizer of a model: PATH is a model directory (tokenizer.json; or vocab.json +
// merges.txt with tokenizer_config.json / added_tokens.json), a tokenizer.json file, or a
// .gguf file (tokenizer.ggml.model "llama" or "gpt2"). Anything it cannot reproduce exactly
// is a one-line r1::Error naming the file and the field.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The built-in byte-level tokenizer.
std::unique_ptr<Tokenizer> make_byte_tokenizer();

}  // namespace r1
