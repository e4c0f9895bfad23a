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

// Packing (wrapped): the epoch's examples back to back in the epoch's order, cut into sequences
// of pack_len tokens, targets travelling with their tokens; a stream with epochs ends there, and
// batches_in_epoch counts what next_batch makes.
TEST(LmData, WrappedPackingKeepsEveryTokenAndTargetInOrder) {
  std::vector<LmExample> ex;
  for (int i = 0; i < 9; i++) {
    LmExample e;
    for (int k = 0; k < 3 + i % 5; k++) {
      e.tokens.push_back(100 * i + k);
      e.targets.push_back(k % 2 ? -1 : 100 * i + k + 1);
    }
    ex.push_back(e);
  }
  for (const int64_t pack : {int64_t{0}, int64_t{7}}) {
    LmStreamOptions o;
    o.batch_tokens = 16;
    o.pack_len = pack;
    o.epochs = 2;
    LmDataStream s(ex, o, 3);
    const int64_t want0 = s.batches_in_epoch(0), want1 = s.batches_in_epoch(1);
    Batch b;
    std::vector<int32_t> tokens[2], targets[2];
    int64_t made[2] = {0, 0};
    while (true) {
      if (!s.next_batch(b)) break;
      const int64_t e = s.position().epoch;
      ASSERT_LT(e, 2);
      made[e]++;
      EXPECT_LE(b.size(), 16);
      for (int64_t q = 0; q < b.num_seqs(); q++) {
        const int64_t len = b.cu_seqlens[q + 1] - b.cu_seqlens[q];
        if (pack > 0) {
          EXPECT_LE(len, pack);
        }
        EXPECT_EQ(b.positions[b.cu_seqlens[q]], 0) << "positions restart at each sequence";
      }
      tokens[e].insert(tokens[e].end(), b.tokens.begin(), b.tokens.end());
      targets[e].insert(targets[e].end(), b.targets.begin(), b.targets.end());
    }
    EXPECT_FALSE(s.next_batch(b)) << "the stream stays ended";
    EXPECT_EQ(made[0], want0) << "pack " << pack;
    EXPECT_EQ(made[1], want1) << "pack " << pack;
    for (int e = 0; e < 2; e++) {
      // The epoch holds every example once, whole, each token with its own target.
      std::vector<std::pair<int32_t, int32_t>> got, want;
      for (size_t i = 0; i < tokens[e].size(); i++) got.push_back({tokens[e][i], targets[e][i]});
      for (const auto& x : ex)
        for (size_t i = 0; i < x.tokens.size(); i++) want.push_back({x.tokens[i], x.targets[i]});
      if (pack > 0) {
        // Wrapped: each example stays whole and contiguous in the stream, across sequence cuts.
        for (size_t i = 0; i < got.size();) {
          const auto& x = ex[static_cast<size_t>(got[i].first / 100)];
          for (size_t k = 0; k < x.tokens.size(); k++, i++) {
            ASSERT_LT(i, got.size());
            EXPECT_EQ(got[i].first, x.tokens[k]) << "epoch " << e << " at " << i;
          }
        }
      }
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      EXPECT_EQ(got, want) << "epoch " << e << " pack " << pack;
    }
  }
}
