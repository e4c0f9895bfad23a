// SentencePiece-style BPE: stories260K through its GGUF vocabulary (scores) and through its
// Hugging Face tokenizer.json (merges) gives the same ids; save() round trips.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using r1::testing::cached_tokenizer;

const std::vector<std::string>& story_texts() {
  static const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "She loved to play outside in the park. One day, she saw a big, red ball!",
      " leading space and  two spaces   and three",
      "Tom said, \"Can I have it?\" Mom said: no.\nThe end.\n\n",
      "numbers 1234567890 and symbols @#$%^&*()_+-=[]{}|;':,./<>?",
      "unicode: café, naïve, Ærøskøbing, 東京, 🦙🚀, Привет",
      "",
      " ",
      "\t\ttabs\tand\r\nwindows lines",
      "<s>not special text</s> <unk>",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb",
  };
  return texts;
}

}  // namespace

TEST(SpmStories, GgufAndTokenizerJsonAgree) {
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  const r1::Tokenizer& gg = cached_tokenizer(r1::testing::stories_gguf());
  const r1::Tokenizer& hf = cached_tokenizer(r1::testing::stories_hf());
  EXPECT_EQ(gg.vocab_size(), 512);
  EXPECT_EQ(hf.vocab_size(), 512);
  EXPECT_EQ(gg.bos_id(), 1);
  EXPECT_EQ(hf.bos_id(), 1);
  EXPECT_EQ(gg.eos_id(), 2);
  EXPECT_EQ(hf.eos_id(), 2);
  for (const std::string& t : story_texts()) {
    for (const bool special : {false, true}) {
      const auto a = gg.encode(t, special), b = hf.encode(t, special);
      EXPECT_EQ(a, b) << "text: '" << t << "' parse_special " << special;
      EXPECT_EQ(gg.encode(t, special, true), hf.encode(t, special, true)) << t;
      EXPECT_EQ(gg.decode(a), hf.decode(b)) << t;
    }
    EXPECT_EQ(gg.decode(gg.encode(t, false)), t) << t;
    EXPECT_EQ(hf.decode(hf.encode(t, false)), t) << t;
  }
}

TEST(SpmStories, KnownIds) {
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  const r1::Tokenizer& gg = cached_tokenizer(r1::testing::stories_gguf());
  // BOS is added only on request, from the post-processor (add_bos_token).
  const auto ids = gg.encode("Once upon a time", true, true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(gg.encode("Once upon a time")[0], ids[1]);
  EXPECT_EQ(gg.decode(ids), "<s> Once upon a time");
  EXPECT_EQ(gg.decode(ids, true), "Once upon a time");
  // Special text is a special token only when parsed so.
  EXPECT_EQ(gg.encode("</s>"), (std::vector<int32_t>{2}));
  EXPECT_NE(gg.encode("</s>", false), (std::vector<int32_t>{2}));
}
