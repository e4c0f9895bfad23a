// The stages of a Hugging Face `tokenizers` pipeline around the model, built from their
// tokenizer.json objects: normalizers, pre-tokenizers, decoders and the post-processor's
// special tokens. Each builder refuses a type or field it does not implement with a one-line
// r1::Error naming the file and the field ("tokenizer.json: pre_tokenizer.type 'Whitespace' is
// not supported"), rather than tokenizing differently from the reference.
//
// Text is bytes throughout: invalid UTF-8 passes every stage unchanged (Unicode operations
// apply to the well-formed runs between invalid bytes).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace r1::tok {

using json = nlohmann::json;

// Where a tokenizer.json value sits, for messages: the file and a field path
// ("pre_tokenizer.pretokenizers[1]").
struct Where {
  std::string file;
  std::string field;
  Where at(std::string_view key) const;                 // field + "." + key (or key at the top)
  Where at(size_t index) const;                         // field + "[index]"
  [[noreturn]] void fail(std::string_view what) const;  // "FILE: FIELD WHAT"
};

// Typed access to optional fields of a JSON object: the default when the key is absent or
// null, an r1::Error naming the field when the value has another type.
bool get_bool(const json& obj, std::string_view key, const Where& w, bool def);
std::string get_string(const json& obj, std::string_view key, const Where& w, const std::string& def);
int64_t get_int(const json& obj, std::string_view key, const Where& w, int64_t def);
// The object's "type" string; an error when missing.
std::string get_type(const json& obj, const Where& w);

// ---- normalizers ----
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};
// nullptr for a null/absent normalizer. Supported: NFC, NFD, NFKC, NFKD (ICU), Prepend,
// Replace (String or Regex pattern), Lowercase, Strip, Sequence.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const Where& w);

// ---- pre-tokenizers ----
// Pieces are views into the segment being encoded or into strings a stage made (kept in
// `arena`, whose elements never move).
struct PreTokContext {
  std::list<std::string>* arena = nullptr;
  bool segment_at_start = false;  // the segment starts at offset 0 of the input (Metaspace "first")
};
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their split.
  virtual void split(std::vector<std::string_view>& pieces, const PreTokContext& ctx) const = 0;
  // True when a ByteLevel stage maps bytes to GPT-2's byte characters before the model.
  virtual bool byte_level() const { return false; }
};
// nullptr for null/absent. Supported: Split (String or Regex pattern; behavior Removed,
// Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel
// (add_prefix_space, use_regex with GPT-2's pattern), Metaspace, Sequence.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const Where& w);

// GPT-2's pre-tokenization pattern (ByteLevel use_regex), and the Split patterns of the
// Llama-3 and Qwen2 tokenizers (for vocab.json/merges.txt directories and GGUF files, which
// name rather than store them).
extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;
extern const char* const kQwen2Pattern;

// ---- decoders ----
class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF's decode_chain: token strings in, strings out (ByteLevel and Fuse join them into one).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  virtual bool is_byte_level() const { return false; }
};
// nullptr for null/absent. Supported: ByteLevel, Replace, ByteFallback, Fuse, Strip,
// Metaspace, Sequence. ByteLevel and ByteFallback keep bytes that are not valid UTF-8 as they
// are (the reference replaces them with U+FFFD), so decode(encode(x)) == x for any bytes.
std::unique_ptr<Decoder> make_decoder(const json& j, const Where& w);

// ---- post-processor ----
// The special tokens the post-processor adds around a single sequence (only on request:
// add_special). Supported: TemplateProcessing (list or string form of "single"),
// RobertaProcessing, BertProcessing, ByteLevel (adds nothing), Sequence; null adds nothing.
struct SpecialAround {
  std::vector<int32_t> prefix, suffix;
};
SpecialAround make_post_processor(const json& j, const Where& w);

}  // namespace r1::tok
