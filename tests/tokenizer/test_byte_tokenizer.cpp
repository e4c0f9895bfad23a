#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/byte_tokenizer.h"

namespace {

using r1::testing::error_of;

// Number of code points in a valid UTF-8 string.
size_t code_points(const std::string& s) {
  size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

TEST(ByteTok, Ids) {
  const r1::ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(tok.bos_id(), 256);
  EXPECT_EQ(tok.eos_id(), 257);
  EXPECT_EQ(tok.pad_id(), 258);
  EXPECT_EQ(tok.encode("Hi!"), (std::vector<int32_t>{72, 105, 33}));
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_EQ(tok.encode("\xC3\xA9"), (std::vector<int32_t>{0xC3, 0xA9}));
}

TEST(ByteTok, RoundTripsEveryByte) {
  const r1::ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const auto ids = tok.encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<size_t>(b)], b);
  EXPECT_EQ(tok.decode(ids), all);
}

TEST(ByteTok, RoundTripsInvalidUtf8AndRandomBytes) {
  const r1::ByteTokenizer tok;
  for (const std::string& s : {std::string("\xFF\xFE"), std::string("\xC3("), std::string("a\0b", 3),
                               std::string("\xED\xA0\x80"), std::string("\xF0\x9F\x99")})
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 50; ++trial) {
    std::string s(rng() % 300, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    ASSERT_EQ(tok.decode(tok.encode(s)), s);
  }
}

TEST(ByteTok, SpecialsDecodeToText) {
  const r1::ByteTokenizer tok;
  EXPECT_EQ(tok.decode({256, 'a', 257, 258}), "<|bos|>a<|eos|><|pad|>");
  EXPECT_EQ(tok.token_text(257), "<|eos|>");
  EXPECT_EQ(tok.token_text('x'), "x");
}

TEST(ByteTok, OutOfRangeIdsFail) {
  const r1::ByteTokenizer tok;
  EXPECT_EQ(error_of([&] {
              tok.decode({'a', 259});
            }),
            "byte tokenizer: token id 259 at position 1 is out of range [0, 259)");
  EXPECT_EQ(error_of([&] { tok.decode({-1}); }),
            "byte tokenizer: token id -1 at position 0 is out of range [0, 259)");
}

TEST(ByteTok, ByteLevelCharsFollowGpt2) {
  // Reference points of GPT-2's bytes_to_unicode.
  EXPECT_EQ(r1::byte_level_char('A'), "A");
  EXPECT_EQ(r1::byte_level_char('!'), "!");
  EXPECT_EQ(r1::byte_level_char('~'), "~");
  EXPECT_EQ(r1::byte_level_char(0x00), "\xC4\x80");  // U+0100 Ā
  EXPECT_EQ(r1::byte_level_char(0x0A), "\xC4\x8A");  // U+010A Ċ
  EXPECT_EQ(r1::byte_level_char(0x20), "\xC4\xA0");  // U+0120 Ġ
  EXPECT_EQ(r1::byte_level_char(0x7F), "\xC4\xA1");  // U+0121 ġ
  EXPECT_EQ(r1::byte_level_char(0xA0), "\xC5\x82");  // U+0142 ł
  EXPECT_EQ(r1::byte_level_char(0xA1), "\xC2\xA1");  // ¡ stands for itself
  EXPECT_EQ(r1::byte_level_char(0xAD), "\xC5\x83");  // U+0143 Ń (soft hyphen)
  EXPECT_EQ(r1::byte_level_char(0xFF), "\xC3\xBF");  // ÿ stands for itself
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string c = r1::byte_level_char(static_cast<uint8_t>(b));
    EXPECT_EQ(code_points(c), 1u);
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 256u);
}

TEST(ByteTok, HfTokenizerJson) {
  const r1::ByteTokenizer tok;
  const nlohmann::json j = tok.to_hf_tokenizer_json();
  EXPECT_EQ(j["version"], "1.0");
  const auto& model = j["model"];
  EXPECT_EQ(model["type"], "BPE");
  EXPECT_TRUE(model["merges"].is_array());
  EXPECT_TRUE(model["merges"].empty());
  const auto& vocab = model["vocab"];
  ASSERT_EQ(vocab.size(), 259u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(vocab.at(r1::byte_level_char(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(vocab.at("<|bos|>"), 256);
  EXPECT_EQ(vocab.at("<|pad|>"), 258);
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["pre_tokenizer"]["add_prefix_space"], false);
  EXPECT_EQ(j["pre_tokenizer"]["use_regex"], false);
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  ASSERT_EQ(j["added_tokens"].size(), 3u);
  const char* names[] = {"<|bos|>", "<|eos|>", "<|pad|>"};
  for (int k = 0; k < 3; ++k) {
    const auto& t = j["added_tokens"][static_cast<size_t>(k)];
    EXPECT_EQ(t["id"], 256 + k);
    EXPECT_EQ(t["content"], names[k]);
    EXPECT_EQ(t["special"], true);
  }
  // What a Hugging Face loader does with this file (byte-level characters, then a vocabulary
  // lookup per character, as there are no merges) gives exactly encode()'s ids, and its
  // decoder maps them back to the bytes.
  std::map<std::string, uint8_t> to_byte;
  for (int b = 0; b < 256; ++b)
    to_byte[r1::byte_level_char(static_cast<uint8_t>(b))] = static_cast<uint8_t>(b);
  const std::string text = "Hello, world!\n\t\xC3\xA9\xFF end";
  std::vector<int32_t> ids;
  std::string back;
  for (const char c : text) {
    const std::string ch = r1::byte_level_char(static_cast<uint8_t>(c));
    ids.push_back(vocab.at(ch).get<int32_t>());
    back += static_cast<char>(to_byte.at(ch));
  }
  EXPECT_EQ(ids, tok.encode(text));
  EXPECT_EQ(back, text);
  // It serialises to valid JSON that parses back the same.
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}
