// The BPE engine's two merge loops (linear scan for short words, priority queue for long
// ones) and its word cache give identical ids; and unit checks of the UTF-8 helpers the
// streaming decoder relies on.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

std::vector<std::string> random_texts(size_t count, size_t max_len, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> words = {"the", " the", "ing",  " Hello", "world", "  ", "\n", "123", "4567",
                                          "é",   "東京", "🦙", "aaaa",   "'s",    "!!", "—",  "z",   " q"};
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    const size_t n = rng() % max_len;
    while (s.size() < n) {
      if (rng() % 5 == 0)
        s += static_cast<char>(0x20 + rng() % 95);
      else
        s += words[rng() % words.size()];
    }
    out.push_back(s);
  }
  return out;
}

void check_engines_agree(const std::string& path, size_t max_len) {
  auto tok = r1::load_tokenizer(path);
  auto* hf = dynamic_cast<r1::HfTokenizer*>(tok.get());
  ASSERT_NE(hf, nullptr);
  const auto texts = random_texts(300, max_len, 99);
  std::vector<std::vector<int32_t>> scan, heap, cached;
  hf->model().set_cache(false);
  hf->model().set_heap_threshold(size_t{1} << 30);
  for (const auto& t : texts) scan.push_back(tok->encode(t));
  hf->model().set_heap_threshold(0);
  for (const auto& t : texts) heap.push_back(tok->encode(t));
  hf->model().set_heap_threshold(48);
  hf->model().set_cache(true);
  for (int pass = 0; pass < 2; ++pass) {
    cached.clear();
    for (const auto& t : texts) cached.push_back(tok->encode(t));
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(cached[i], scan[i]) << texts[i];
  }
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(heap[i], scan[i]) << texts[i];
}

}  // namespace

TEST(BpeEngine, ScanHeapAndCacheAgreeByteLevel) {
  R1_SKIP_UNLESS_SHARED(r1::testing::qwen3_tokenizer_json());
  check_engines_agree(r1::testing::qwen3_tokenizer_json(), 200);
}

TEST(BpeEngine, ScanHeapAndCacheAgreeSentencePiece) {
  // No pre-tokenizer: the whole text is one word, so long texts take the heap path.
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  check_engines_agree(r1::testing::stories_gguf(), 2000);
  check_engines_agree(r1::testing::stories_hf(), 2000);
}

TEST(BpeEngine, LongInputs) {
  R1_SKIP_UNLESS_SHARED(r1::testing::qwen3_tokenizer_json());
  const auto& t = r1::testing::cached_tokenizer(r1::testing::qwen3_tokenizer_json());
  // One huge pre-token (no spaces) and a long run of whitespace.
  const std::string word(100000, 'x');
  EXPECT_EQ(t.decode(t.encode(word)), word);
  const std::string spaces = std::string(100000, ' ') + "a" + std::string(50000, '\n');
  EXPECT_EQ(t.decode(t.encode(spaces)), spaces);
}

TEST(TokUtf8, IncompleteTail) {
  using r1::utf8::incomplete_tail;
  EXPECT_EQ(incomplete_tail(""), 0u);
  EXPECT_EQ(incomplete_tail("abc"), 0u);
  EXPECT_EQ(incomplete_tail("a\xe4"), 1u);
  EXPECT_EQ(incomplete_tail("a\xe4\xb8"), 2u);
  EXPECT_EQ(incomplete_tail("a\xe4\xb8\xad"), 0u);
  EXPECT_EQ(incomplete_tail("\xf0\x9f\x99"), 3u);
  EXPECT_EQ(incomplete_tail("\xff"), 0u);      // never valid: nothing to wait for
  EXPECT_EQ(incomplete_tail("\xed\xa0"), 0u);  // a surrogate can never complete
  EXPECT_EQ(incomplete_tail("\xc3"), 1u);
  EXPECT_EQ(incomplete_tail("\x80"), 0u);
  EXPECT_TRUE(r1::utf8::is_valid("héllo 🦙"));
  EXPECT_FALSE(r1::utf8::is_valid("\xc0\xaf"));
  EXPECT_FALSE(r1::utf8::is_valid("\xf4\x90\x80\x80"));
}

TEST(TokStream, HoldsSplitCharacters) {
  R1_SKIP_UNLESS_SHARED(r1::testing::qwen3_tokenizer_json());
  const auto& t = r1::testing::cached_tokenizer(r1::testing::qwen3_tokenizer_json());
  // Each byte of "🦙" as its own byte token: nothing comes out until the fourth.
  const std::string llama = "\xf0\x9f\xa6\x99";
  std::vector<int32_t> ids;
  for (const char c : llama) ids.push_back(t.token_id(r1::byte_level_char(static_cast<uint8_t>(c))));
  ASSERT_EQ(t.decode(ids), llama);
  r1::StreamDecoder sd(t);
  EXPECT_EQ(sd.put(ids[0]), "");
  EXPECT_EQ(sd.put(ids[1]), "");
  EXPECT_EQ(sd.put(ids[2]), "");
  EXPECT_EQ(sd.put(ids[3]), llama);
  EXPECT_EQ(sd.finish(), "");
  // A sequence that stops half way is flushed by finish().
  r1::StreamDecoder sd2(t);
  EXPECT_EQ(sd2.put(ids[0]), "");
  EXPECT_EQ(sd2.put(ids[1]), "");
  EXPECT_EQ(sd2.finish(), llama.substr(0, 2));
}

// Time-bounded fuzzing of encode/decode/stream on random bytes, code points, special-token
// fragments and whitespace runs: no crash (run it under the sanitizers), exact round trips.
// R1_TOK_FUZZ_SECONDS sets the time per tokenizer (default 1).
TEST(TokFuzz, EncoderRoundTrips) {
  std::vector<std::pair<std::string, bool>> paths;  // path, NFC-normalizing
  if (std::filesystem::exists(r1::testing::qwen3_tokenizer_json()))
    paths.emplace_back(r1::testing::qwen3_tokenizer_json(), true);
  if (std::filesystem::exists(r1::testing::stories_gguf())) {
    paths.emplace_back(r1::testing::stories_gguf(), false);
    paths.emplace_back(r1::testing::stories_hf(), false);
  }
  if (paths.empty()) GTEST_SKIP() << "no tokenizer fixtures in " << r1::testing::shared_dir();
  const char* env = std::getenv("R1_TOK_FUZZ_SECONDS");
  const double seconds = env ? std::atof(env) : 1.0;
  const std::vector<std::string> frags = {
      "<|im_end|>", "<|im_start|>", "<s>",          "</s>",  "<think>", "<|", "|>",   "\xe4\xb8",
      "\xad",       "\xf0\x9f",     "\xff",         " ",     "\n",      "\t", "  \n", "e\xcc\x81",
      "'s",         "123",          "\xe2\x96\x81", "<0x0A>"};
  std::mt19937 rng(2024);
  const std::string kMark = "\xe2\x96\x81";
  size_t cases = 0;
  for (const auto& [path, is_nfc] : paths) {
    const auto& t = r1::testing::cached_tokenizer(path);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      std::string x;
      const size_t n = rng() % 64;
      for (size_t i = 0; i < n; ++i) {
        switch (rng() % 3) {
          case 0:
            x += static_cast<char>(rng() & 0xFF);
            break;
          case 1:
            x += frags[rng() % frags.size()];
            break;
          default:
            r1::utf8::append(x, 0x20 + rng() % 0x3000);
        }
      }
      const auto ids = t.encode(x, false);
      const std::string back = t.decode(ids);
      if (!is_nfc) {
        // SentencePiece tokenizers write spaces as U+2581, so a U+2581 in the text comes back
        // as a space (as in the reference).
        std::string want;
        for (size_t i = 0; i < x.size();) {
          if (x.compare(i, kMark.size(), kMark) == 0) {
            want += ' ';
            i += kMark.size();
          } else {
            want += x[i++];
          }
        }
        ASSERT_EQ(back, want) << path << ": " << r1::utf8::printable(x, 400);
      }
      const auto ids2 = t.encode(x, true, true);
      r1::StreamDecoder sd(t);
      std::string streamed;
      for (const int32_t id : ids2) streamed += sd.put(id);
      streamed += sd.finish();
      ASSERT_EQ(streamed, t.decode(ids2)) << path << ": " << r1::utf8::printable(x, 400);
      ++cases;
    }
  }
  std::printf("TokFuzz: %zu cases\n", cases);
}
