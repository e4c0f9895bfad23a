#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/json.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

class BuiltinByteTokenizer : public Tokenizer {
 public:
  int32_t bos_id() const override { return bt_.bos_id(); }
  int32_t eos_id() const override { return bt_.eos_id(); }
  int32_t vocab_size() const override { return bt_.vocab_size(); }
  std::string token_text(int32_t id) const override { return bt_.token_text(id); }
  int32_t token_id(std::string_view text) const override {
    for (int32_t id = ByteTokenizer::kBos; id < ByteTokenizer::kVocabSize; ++id)
      if (bt_.token_text(id) == text) return id;
    return text.size() == 1 ? static_cast<int32_t>(static_cast<unsigned char>(text[0])) : -1;
  }
  bool is_special(int32_t id) const override {
    if (id < 0 || id >= ByteTokenizer::kVocabSize)
      fail("byte tokenizer: token id {} is out of range [0, {})", id, ByteTokenizer::kVocabSize);
    return id >= ByteTokenizer::kBos;
  }
  void save(const std::string& dir) const override {
    write_file_atomic((fs::path(dir) / "tokenizer.json").string(), bt_.to_hf_tokenizer_json().dump(2) + "\n");
  }

 protected:
  // Every byte is its own token; text that spells a special token stays bytes, and there is
  // no post-processor, so both flags change nothing.
  std::vector<int32_t> encode_impl(std::string_view text, bool, bool) const override {
    return bt_.encode(text);
  }
  std::string decode_impl(std::span<const int32_t> ids, bool skip_special) const override {
    std::vector<int32_t> keep;
    keep.reserve(ids.size());
    for (const int32_t id : ids)
      if (!(skip_special && id >= ByteTokenizer::kBos && id < ByteTokenizer::kVocabSize)) keep.push_back(id);
    return bt_.decode(keep);
  }

 private:
  ByteTokenizer bt_;
};

// A tokenizer.json file: the built-in byte tokenizer when it is exactly the file r1 writes for
// it, else a Hugging Face tokenizer (with bos/eos from a tokenizer_config.json beside it).
std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path, bool copy_dir_files) {
  const nlohmann::json j = read_json_file(path);
  if (j == ByteTokenizer().to_hf_tokenizer_json()) return make_byte_tokenizer();
  TokenizerSpec spec = spec_from_tokenizer_json(j, path);
  const fs::path dir = fs::path(path).parent_path();
  read_tokenizer_config(spec, (dir / "tokenizer_config.json").string());
  spec.save_files.emplace_back(path, "tokenizer.json");
  const std::vector<std::string> extra = copy_dir_files ? std::vector<std::string>{"tokenizer_config.json",
                                                                                   "special_tokens_map.json",
                                                                                   "vocab.json",
                                                                                   "merges.txt",
                                                                                   "added_tokens.json",
                                                                                   "tokenizer.model"}
                                                        : std::vector<std::string>{"tokenizer_config.json"};
  for (const std::string& name : extra)
    if (fs::is_regular_file(dir / name)) spec.save_files.emplace_back((dir / name).string(), name);
  return std::make_unique<HfTokenizer>(std::move(spec));
}

// A .gguf name, or a file that starts with GGUF's magic.
bool is_gguf(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  std::ifstream f(path, std::ios::binary);
  char head[4] = {};
  f.read(head, 4);
  return f.gcount() == 4 && std::string_view(head, 4) == "GGUF";
}

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() {
  return std::make_unique<BuiltinByteTokenizer>();
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::is_regular_file(dir / "tokenizer.json"))
      return from_tokenizer_json((dir / "tokenizer.json").string(), true);
    if (fs::is_regular_file(dir / "vocab.json") && fs::is_regular_file(dir / "merges.txt"))
      return std::make_unique<HfTokenizer>(spec_from_vocab_merges(path));
    if (fs::is_regular_file(dir / "tokenizer.model"))
      fail(
          "{}: only a SentencePiece tokenizer.model here, which r1 does not read; add the model's "
          "tokenizer.json",
          path);
    fail("{}: no tokenizer in the model directory (tokenizer.json, or vocab.json + merges.txt)", path);
  }
  if (!fs::exists(path, ec)) fail("{}: no such file or directory", path);
  if (is_gguf(path)) {
    const GGUFFile g(path);
    return std::make_unique<HfTokenizer>(spec_from_gguf(g));
  }
  return from_tokenizer_json(path, false);
}

// ---------------------------------------------------------------- streaming decode

std::string StreamDecoder::put(int32_t id) {
  window_.push_back(id);
  const std::string text = tok_.decode(window_, skip_special_);
  if (text.size() <= emitted_) return "";
  const size_t hold = utf8::incomplete_tail(text);
  const size_t end = text.size() - std::min(hold, text.size() - emitted_);
  std::string out = text.substr(emitted_, end - emitted_);
  emitted_ = end;
  if (hold == 0) {
    // Everything is out: keep only the last id, as context for the next one (decoders that
    // treat the first token specially, such as Strip and Metaspace, then see it as first).
    window_.erase(window_.begin(), window_.end() - 1);
    emitted_ = tok_.decode(window_, skip_special_).size();
  }
  return out;
}

std::string StreamDecoder::finish() {
  const std::string text = window_.empty() ? std::string() : tok_.decode(window_, skip_special_);
  std::string out = text.size() > emitted_ ? text.substr(emitted_) : std::string();
  window_.clear();
  emitted_ = 0;
  return out;
}

}  // namespace r1
