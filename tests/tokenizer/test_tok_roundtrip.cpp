// decode(encode(x)) == x on hard inputs for every kind of tokenizer r1 reads, streaming decode
// equals whole decode, and the special-token switches.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/components.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using r1::testing::cached_tokenizer;

// Text that trips tokenizers up.
const std::vector<std::string>& hard_inputs() {
  static const std::vector<std::string> v = {
      "",
      "Hello, world!",
      " leading space",
      "trailing space ",
      "emoji: 🦙🚀😶‍🌫️👩🏽‍💻🇫🇷 ✅ and a lone ZWJ \u200d here",
      "CJK: 我想在apple工作1314151天～ 東京タワー 한국어 텍스트",
      "combining marks: e\u0301 a\u0308 q\u0307 \u0915\u094d\u0937 Z\u0351\u0357\u035b",
      "RTL: مرحبا بالعالم \u200fשלום עולם\u200e mixed עברית and English",
      "          many spaces          then\n\n\n\n\nnewlines\r\n\r\n\t\t\ttabs   \n  \n",
      std::string(300, ' ') + std::string(200, '\n') + "x",
      "digits 0 12 345 6789 3.14159 1,000,000 ١٢٣ ①② 3333333333333",
      "<|im_start|>user\nhi<|im_end|> <|endoftext|> <think>\n</think> <s> </s> <unk> <|begin_of_text|>",
      "<|im_end|<|im_end|>><<s>>",
      "'s 't 're 've 'm 'll 'd 'S 'T 'RE I'VE don't",
      "mixed\u00a0nbsp\u2003em space\u3000ideographic space\u2028line sep\u0085nel",
      "control chars \x01\x02\x1b[31m\x7f",
      "ꙮ𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𝄞 \U0010FFFD",
      "Ⅻ ǅ ß ﬁ ﬀ Å Ω K",  // compatibility and case-sensitive letters
  };
  return v;
}

// Invalid UTF-8: byte-level and byte-fallback tokenizers must give these bytes back exactly.
const std::vector<std::string>& invalid_inputs() {
  static const std::vector<std::string> v = {
      std::string("\xff\xfe"),
      std::string("a\xc3("),
      std::string("\xed\xa0\x80 surrogate"),
      std::string("cut \xf0\x9f\x99"),
      std::string("\xc0\xaf overlong"),
      std::string("nul \0 inside", 12),
      std::string("\x80\x80\x80 continuation"),
      std::string("mixed \xe4\xb8 CJK \xe4\xb8\xad end\xe4"),
  };
  return v;
}

std::string nfc(const std::string& s) {
  static const auto n = r1::tok::make_normalizer({{"type", "NFC"}}, {"test", "nfc"});
  std::string out = s;
  n->normalize(out);
  return out;
}

struct TokCase {
  std::string name;
  bool nfc;                                       // the tokenizer NFC-normalizes (decode gives NFC(x))
  bool byte_exact;                                // any bytes round-trip (byte level or byte fallback)
  bool specials_round_trip;                       // decode(encode(x, parse_special=true)) == x too
  std::function<std::string(std::string*)> path;  // "" with *why when unavailable
};

std::string fixture(const std::string& p, std::string* why) {
  return r1::testing::have_shared({p}, why) ? p : "";
}

std::vector<TokCase> cases() {
  using r1::testing::npm_tokenizer_dir;
  return {
      {"Qwen3TokenizerJson", true, true, true,
       [](std::string* w) { return fixture(r1::testing::qwen3_tokenizer_json(), w); }},
      {"Qwen25VocabMerges", true, true, true,
       [](std::string* w) { return fixture(r1::testing::qwen25_dir(), w); }},
      {"Stories260KGguf", false, true, false,
       [](std::string* w) { return fixture(r1::testing::stories_gguf(), w); }},
      {"Stories260KHf", false, true, false,
       [](std::string* w) { return fixture(r1::testing::stories_hf(), w); }},
      {"Llama3", false, true, true,
       [](std::string* w) {
         const std::string d = npm_tokenizer_dir("llama3", w);
         return d.empty() ? d : d + "/tokenizer.json";
       }},
      {"Llama2", false, true, false,
       [](std::string* w) {
         const std::string d = npm_tokenizer_dir("llama2", w);
         return d.empty() ? d : r1::testing::llama2_tokenizer_json(d);
       }},
      {"Mistral", false, true, false,
       [](std::string* w) {
         const std::string d = npm_tokenizer_dir("mistral", w);
         return d.empty() ? d : d + "/tokenizer.json";
       }},
  };
}

class TokRoundTrip : public ::testing::TestWithParam<TokCase> {
 protected:
  const r1::Tokenizer* tok() {
    std::string why;
    const std::string p = GetParam().path(&why);
    if (p.empty()) return nullptr;
    return &cached_tokenizer(p);
  }
};

#define TOK_OR_SKIP(t)            \
  const r1::Tokenizer* t = tok(); \
  if (t == nullptr) {             \
    std::string why;              \
    GetParam().path(&why);        \
    GTEST_SKIP() << why;          \
  }

TEST_P(TokRoundTrip, HardInputs) {
  TOK_OR_SKIP(t);
  for (const std::string& x : hard_inputs()) {
    const std::string want = GetParam().nfc ? nfc(x) : x;
    EXPECT_EQ(t->decode(t->encode(x, false)), want) << GetParam().name << ": " << x;
    if (GetParam().specials_round_trip) {
      EXPECT_EQ(t->decode(t->encode(x, true)), want) << x;
    }
  }
}

TEST_P(TokRoundTrip, InvalidUtf8Bytes) {
  TOK_OR_SKIP(t);
  for (const std::string& x : invalid_inputs()) {
    const std::string want = GetParam().nfc ? nfc(x) : x;
    EXPECT_EQ(t->decode(t->encode(x, false)), want) << GetParam().name << ": " << r1::utf8::printable(x);
  }
}

TEST_P(TokRoundTrip, RandomBytesAndCodePoints) {
  TOK_OR_SKIP(t);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    std::string x;
    const int n = static_cast<int>(rng() % 80);
    for (int i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0:  // any byte
          x += static_cast<char>(rng() & 0xFF);
          break;
        case 1:  // ASCII, spaces weighted up
          x += (rng() % 3 == 0) ? ' ' : static_cast<char>(0x20 + rng() % 95);
          break;
        default: {  // a random code point (no surrogates)
          uint32_t cp = rng() % 0x30000;
          if (cp >= 0xD800 && cp < 0xE000) cp = 0x4E00 + cp % 100;
          r1::utf8::append(x, cp);
        }
      }
    }
    const std::string want = GetParam().nfc ? nfc(x) : x;
    ASSERT_EQ(t->decode(t->encode(x, false)), want) << GetParam().name << ": " << r1::utf8::printable(x, 400);
  }
}

TEST_P(TokRoundTrip, StreamingEqualsWholeDecode) {
  TOK_OR_SKIP(t);
  std::vector<std::string> texts = hard_inputs();
  texts.insert(texts.end(), invalid_inputs().begin(), invalid_inputs().end());
  for (const std::string& x : texts) {
    const auto ids = t->encode(x, true, true);
    for (const bool skip : {false, true}) {
      r1::StreamDecoder sd(*t, skip);
      std::string streamed;
      for (const int32_t id : ids) {
        const std::string piece = sd.put(id);
        // A valid text is never cut inside a character.
        if (r1::utf8::is_valid(x)) {
          EXPECT_TRUE(r1::utf8::is_valid(piece)) << r1::utf8::printable(piece);
        }
        streamed += piece;
      }
      streamed += sd.finish();
      EXPECT_EQ(streamed, t->decode(ids, skip)) << GetParam().name << ": " << r1::utf8::printable(x);
    }
  }
}

TEST_P(TokRoundTrip, TokenTextAndIds) {
  TOK_OR_SKIP(t);
  ASSERT_GT(t->vocab_size(), 0);
  for (int32_t id : {0, 1, t->vocab_size() / 2, t->vocab_size() - 1}) {
    const std::string text = t->token_text(id);
    if (!text.empty()) {
      EXPECT_EQ(t->token_id(text), id) << text;
    }
  }
  if (t->eos_id() >= 0) {
    EXPECT_TRUE(t->is_special(t->eos_id()));
    EXPECT_EQ(t->encode(t->token_text(t->eos_id())), (std::vector<int32_t>{t->eos_id()}));
    EXPECT_NE(t->encode(t->token_text(t->eos_id()), false), (std::vector<int32_t>{t->eos_id()}));
    EXPECT_EQ(t->decode({t->eos_id()}, true), "");
  }
  EXPECT_EQ(t->token_id("no such token \x01\x02"), -1);
  r1::testing::expect_error([&] { t->token_text(t->vocab_size()); }, {"out of range"});
  r1::testing::expect_error([&] { t->decode({0, -1}); }, {"token id -1 at position 1", "out of range"});
}

INSTANTIATE_TEST_SUITE_P(Tok, TokRoundTrip, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<TokCase>& p) { return p.param.name; });

}  // namespace

TEST(TokSpecial, QwenChatMarkers) {
  const std::string path = r1::testing::qwen3_tokenizer_json();
  R1_SKIP_UNLESS_SHARED(path);
  const r1::Tokenizer& t = cached_tokenizer(path);
  EXPECT_EQ(t.vocab_size(), 151669);
  EXPECT_EQ(t.bos_id(), -1);
  EXPECT_EQ(t.eos_id(), 151645);  // <|im_end|> (tokenizer_config.json)
  const auto ids = t.encode("<|im_start|>user\nHi<|im_end|>");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(ids.back(), 151645);
  // Non-special added tokens (<think>) are matched even when special text is not parsed.
  EXPECT_EQ(t.encode("<think>", false), (std::vector<int32_t>{151667}));
  EXPECT_FALSE(t.is_special(151667));
  EXPECT_TRUE(t.is_special(151645));
  const auto plain = t.encode("<|im_end|>", false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(t.decode(plain), "<|im_end|>");
  // Qwen's post-processor adds nothing.
  EXPECT_EQ(t.encode("Hi", true, true), t.encode("Hi"));
  EXPECT_EQ(t.decode(ids, true), "user\nHi");
}

TEST(TokSpecial, ByteTokenizerUnchanged) {
  const auto t = r1::make_byte_tokenizer();
  EXPECT_EQ(t->encode("<|eos|>a"), (std::vector<int32_t>{'<', '|', 'e', 'o', 's', '|', '>', 'a'}));
  EXPECT_EQ(t->decode({256, 'a', 257}), "<|bos|>a<|eos|>");
  EXPECT_EQ(t->decode({256, 'a', 257}, true), "a");
  EXPECT_EQ(t->token_id("<|eos|>"), 257);
  EXPECT_TRUE(t->is_special(258));
  EXPECT_FALSE(t->is_special('a'));
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(t->decode(t->encode(all)), all);
}
