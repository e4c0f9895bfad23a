#include <gtest/gtest.h>

#include "test_util.h"
#include "train/data.h"

using namespace r1;
using r1::testing::scratch_dir;
using r1::testing::write_file;

TEST(LmData, SftMasksThePromptAndTrainsTheCompletionAndEos) {
  auto tok = make_byte_tokenizer();
  LmDataConfig c;
  c.mode = "sft";
  c.path = write_file(scratch_dir() + "/sft.jsonl", "{\"prompt\": \"ab\", \"completion\": \"xyz\"}\n");
  auto ex = load_lm_examples(c, *tok);
  ASSERT_EQ(ex.size(), 1u);
  // BOS a b x y z EOS; targets only where the next token is x, y, z or EOS.
  std::vector<int32_t> want_tok = {tok->bos_id(), 'a', 'b', 'x', 'y', 'z', tok->eos_id()};
  std::vector<int32_t> want_tgt = {-1, -1, 'x', 'y', 'z', tok->eos_id(), -1};
  EXPECT_EQ(ex[0].tokens, want_tok);
  EXPECT_EQ(ex[0].targets, want_tgt);
}

TEST(LmData, SftSkipsRowsWhosePromptFillsTheSequence) {
  auto tok = make_byte_tokenizer();
  LmDataConfig c;
  c.mode = "sft";
  c.seq_len = 4;
  c.path = write_file(
      scratch_dir() + "/sft2.jsonl",
      "{\"prompt\": \"abcdef\", \"completion\": \"x\"}\n{\"prompt\": \"a\", \"completion\": \"xyzw\"}\n");
  LmDataStats stats;
  auto ex = load_lm_examples(c, *tok, &stats);
  EXPECT_EQ(stats.skipped, 1);
  EXPECT_EQ(stats.truncated, 1);
  EXPECT_EQ(stats.trained_tokens, 2);     // x y of BOS a x y | z w EOS
  EXPECT_EQ(stats.truncated_targets, 5);  // x EOS of the skipped row; z w EOS of the cut one
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].tokens.size(), 4u);  // truncated to seq_len
}

TEST(LmData, PretrainSplitsLongDocumentsWithOneTokenOverlap) {
  auto tok = make_byte_tokenizer();
  LmDataConfig c;
  c.seq_len = 4;
  c.path = write_file(scratch_dir() + "/pt.jsonl", "{\"text\": \"abcdefg\"}\n");
  auto ex = load_lm_examples(c, *tok);
  // BOS a b c d e f g EOS = 9 tokens -> [BOS a b c] [c d e f] [f g EOS]: every next-token pair once.
  ASSERT_EQ(ex.size(), 3u);
  int targets = 0;
  for (const auto& e : ex)
    for (int32_t t : e.targets) targets += t >= 0;
  EXPECT_EQ(targets, 8);
  EXPECT_EQ(ex[1].tokens.front(), 'c');
}

TEST(LmData, StreamPacksUnderTheBudgetAndResumesFromAPosition) {
  std::vector<LmExample> ex;
  for (int i = 0; i < 10; i++)
    ex.push_back({std::vector<int32_t>(3 + i % 4, i), std::vector<int32_t>(3 + i % 4, -1)});
  LmDataStream s(ex, LmStreamOptions{12}, 7);
  Batch b;
  std::vector<std::vector<int32_t>> seen;
  DataPosition mid;
  for (int i = 0; i < 8; i++) {
    if (i == 4) mid = s.position();
    s.next_batch(b);
    EXPECT_LE(b.size(), 12);
    EXPECT_GE(b.num_seqs(), 1);
    seen.push_back(b.tokens);
  }
  LmDataStream s2(ex, LmStreamOptions{12}, 7);
  s2.set_position(mid);
  for (int i = 4; i < 8; i++) {
    s2.next_batch(b);
    EXPECT_EQ(b.tokens, seen[i]) << "batch " << i;
  }
}

TEST(LmData, BuiltinCorpusIsDeterministicAndCorrect) {
  auto a = builtin_arith_corpus(50, 3), b = builtin_arith_corpus(50, 3);
  EXPECT_EQ(a, b);
  for (const auto& doc : a) {
    // "A+B= ... so S\n" with S = A + B
    long x = 0, y = 0, s = 0;
    ASSERT_EQ(std::sscanf(doc.c_str(), "%ld+%ld=", &x, &y), 2) << doc;
    ASSERT_EQ(std::sscanf(doc.c_str() + doc.rfind("so ") + 3, "%ld", &s), 1) << doc;
    EXPECT_EQ(s, x + y) << doc;
  }
}
