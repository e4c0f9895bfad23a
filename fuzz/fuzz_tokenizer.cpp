// libFuzzer target for the tokenizers: encode arbitrary bytes (with and without special-token
// parsing), decode the ids whole and token by token, and decode arbitrary id sequences. The
// streamed text must equal the whole decode; ids out of range must be an r1::Error; nothing may
// crash, hang, leak or hit undefined behaviour. The tokenizer is R1_FUZZ_TOKENIZER (a model
// directory, tokenizer.json or .gguf), by default ../shared's Qwen3 tokenizer.json.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

const r1::Tokenizer& tokenizer() {
  static const std::unique_ptr<r1::Tokenizer> t = [] {
    const char* env = std::getenv("R1_FUZZ_TOKENIZER");
    return r1::load_tokenizer(env ? env : R1_SOURCE_DIR "/../shared/models/qwen3-tokenizer/tokenizer.json");
  }();
  return *t;
}

void check_stream(const r1::Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  r1::StreamDecoder sd(t, skip_special);
  std::string streamed;
  for (const int32_t id : ids) streamed += sd.put(id);
  streamed += sd.finish();
  if (streamed != t.decode(ids, skip_special)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const r1::Tokenizer& t = tokenizer();
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((mode & 3) != 3) {
    const auto ids = t.encode(text, (mode & 1) != 0, (mode & 2) != 0);
    for (const int32_t id : ids)
      if (id < 0 || id >= t.vocab_size()) std::abort();
    check_stream(t, ids, (mode & 4) != 0);
    return 0;
  }
  // Arbitrary ids: mostly in range, sometimes not.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 4 <= text.size(); i += 4) {
    int32_t v;
    std::memcpy(&v, text.data() + i, 4);
    ids.push_back(
        (mode & 4) ? v
                   : static_cast<int32_t>(static_cast<uint32_t>(v) % static_cast<uint32_t>(t.vocab_size())));
  }
  try {
    check_stream(t, ids, (mode & 8) != 0);
  } catch (const r1::Error&) {
    for (const int32_t id : ids)
      if (id < 0 || id >= t.vocab_size()) return 0;
    std::abort();  // an error for ids that are all in range
  }
  return 0;
}
