#include "tokenizer/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "io/file.h"
#include "io/json.h"
#include "tokenizer/byte_tokenizer.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

class BuiltinByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override { return bt_.encode(text); }
  std::string decode(const std::vector<int32_t>& ids) const override { return bt_.decode(ids); }
  int32_t bos_id() const override { return bt_.bos_id(); }
  int32_t eos_id() const override { return bt_.eos_id(); }
  int32_t vocab_size() const override { return bt_.vocab_size(); }
  void save(const std::string& dir) const override {
    write_file_atomic((fs::path(dir) / "tokenizer.json").string(), bt_.to_hf_tokenizer_json().dump(2) + "\n");
  }

 private:
  ByteTokenizer bt_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() {
  return std::make_unique<BuiltinByteTokenizer>();
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path) {
  if (fs::is_directory(model_path)) {
    const std::string tj = (fs::path(model_path) / "tokenizer.json").string();
    if (fs::exists(tj)) {
      if (read_json_file(tj) == ByteTokenizer().to_hf_tokenizer_json()) return make_byte_tokenizer();
      fail(
          "{}: this tokenizer is not supported yet (only r1's built-in byte tokenizer); pass token ids "
          "instead",
          tj);
    }
    fail("{}: no tokenizer.json in the model directory", model_path);
  }
  fail("{}: tokenizers from GGUF files are not supported yet; pass token ids instead", model_path);
}

}  // namespace r1
