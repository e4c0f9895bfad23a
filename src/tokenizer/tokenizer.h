// The tokenizer interface every trainer and command uses, and the loader that picks the right
// tokenizer for a model path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text to ids; adds no BOS/EOS (callers decide where documents start and end).
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;
  virtual int32_t vocab_size() const = 0;
  // Writes the tokenizer's files into a model directory being saved.
  virtual void save(const std::string& dir) const = 0;
};

// The tokenizer of a model directory or GGUF file. Today: the built-in byte tokenizer (a
// tokenizer.json it wrote). Fails naming the path for any other tokenizer.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path);

// The built-in byte-level tokenizer.
std::unique_ptr<Tokenizer> make_byte_tokenizer();

}  // namespace r1
