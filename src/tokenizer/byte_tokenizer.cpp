#include "tokenizer/byte_tokenizer.h"

#include <array>

#include "core/error.h"

namespace r1 {

namespace {

constexpr std::array<const char*, 3> kSpecials = {"<|bos|>", "<|eos|>", "<|pad|>"};

std::string utf8_encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    // bytes_to_unicode never goes past U+0143, but stay correct for any BMP code point.
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

}  // namespace

std::string byte_level_char(uint8_t byte) {
  // GPT-2's bytes_to_unicode: '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves; the
  // other 68 bytes (controls, space, DEL, NBSP, soft hyphen...) take U+0100, U+0101, ... in
  // byte order, so every byte has a visible, non-whitespace character.
  const auto keeps_itself = [](uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  if (keeps_itself(byte)) return utf8_encode(byte);
  uint32_t n = 0;
  for (uint32_t b = 0; b < byte; ++b)
    if (!keeps_itself(b)) ++n;
  return utf8_encode(0x100 + n);
}

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (const char c : text) ids.push_back(static_cast<int32_t>(static_cast<unsigned char>(c)));
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id >= 0 && id < 256)
      out += static_cast<char>(static_cast<unsigned char>(id));
    else if (id >= kBos && id < kVocabSize)
      out += kSpecials[static_cast<size_t>(id - kBos)];
    else
      fail("byte tokenizer: token id {} at position {} is out of range [0, {})", id, i, kVocabSize);
  }
  return out;
}

std::string ByteTokenizer::token_text(int32_t id) const {
  return decode({id});
}

nlohmann::json ByteTokenizer::to_hf_tokenizer_json() const {
  using json = nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<uint8_t>(b))] = b;
  // The specials are in the model's vocabulary too, so every loader finds them at exactly
  // these ids rather than appending them after the vocabulary in its own order.
  json added = json::array();
  for (int32_t id = kBos; id < kVocabSize; ++id) {
    const std::string content = kSpecials[static_cast<size_t>(id - kBos)];
    vocab[content] = id;
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", json::array()}};
  // use_regex false: the whole text is one word, so no GPT-2 word splitting happens and
  // every byte becomes one token, exactly as encode() does.
  json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return json{{"version", "1.0"},          {"truncation", nullptr}, {"padding", nullptr},
              {"added_tokens", added},     {"normalizer", nullptr}, {"pre_tokenizer", byte_level},
              {"post_processor", nullptr}, {"decoder", byte_level}, {"model", model}};
}

}  // namespace r1
