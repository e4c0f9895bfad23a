// The scheduler under the engine: requests that arrive while others run, each with its own
// sampling settings, seed, stops and budget, give the samples they give alone; cancellation
// frees a request's blocks at once, wherever it is; top log-probs agree with the draw's.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "rollout/engine.h"
#include "rollout/scheduler.h"
#include "rollout/think_split.h"
#include "test_util.h"
#include "tiny_model.h"

namespace {

using r1::Completion;
using r1::RequestParams;
using r1::Scheduler;
using r1::SchedulerConfig;
using r1::testing::random_tokens;
using r1::testing::tiny_model;

RequestParams params(uint64_t seed, int n, int max_new, float temperature, float top_p, int top_k) {
  RequestParams p;
  p.seed = seed;
  p.n = n;
  p.max_new_tokens = max_new;
  p.sampling.temperature = temperature;
  p.sampling.top_p = top_p;
  p.sampling.top_k = top_k;
  return p;
}

// Runs each request alone on a fresh scheduler: its completions by sample index.
std::vector<Completion> alone(r1::Model& m, const std::vector<int32_t>& prompt, const RequestParams& p) {
  Scheduler s(m, nullptr, SchedulerConfig{});
  std::vector<Completion> out(static_cast<size_t>(p.n));
  s.submit(prompt, p,
           {nullptr, [&](Completion&& c) { out[static_cast<size_t>(c.sample_index)] = std::move(c); }});
  while (!s.idle()) s.step();
  return out;
}

TEST(Scheduler, RequestsArrivingWhileOthersRunGiveTheirSamplesAlone) {
  r1::Model m = tiny_model(r1::Arch::Qwen3);
  const int V = static_cast<int>(m.config().vocab_size);
  struct Req {
    std::vector<int32_t> prompt;
    RequestParams p;
    int arrives_at;  // step
  };
  std::vector<Req> reqs = {
      {random_tokens(5, V, 1), params(1, 2, 30, 1.0f, 1.0f, 0), 0},
      {random_tokens(40, V, 2), params(2, 1, 25, 0.7f, 0.9f, 0), 3},
      {random_tokens(17, V, 3), params(3, 3, 12, 1.2f, 1.0f, 5), 4},
      {random_tokens(9, V, 4), params(4, 1, 40, 0.0f, 1.0f, 0), 10},  // greedy
      {random_tokens(33, V, 5), params(5, 2, 8, 1.0f, 0.5f, 0), 11},
  };
  reqs[4].p.stop_ids = {3, 7};
  reqs[2].p.top_logprobs = 4;
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 24;  // prefills in chunks, mixed with decoding
  Scheduler s(m, nullptr, cfg);
  std::map<std::pair<size_t, int64_t>, Completion> got;
  size_t next = 0;
  for (int step = 0; next < reqs.size() || !s.idle(); step++) {
    while (next < reqs.size() && reqs[next].arrives_at <= step) {
      const size_t k = next++;
      s.submit(reqs[k].prompt, reqs[k].p, {nullptr, [&got, k](Completion&& c) {
                                             got[{k, c.sample_index}] = std::move(c);
                                           }});
    }
    s.step();
  }
  for (size_t k = 0; k < reqs.size(); k++) {
    const auto want = alone(m, reqs[k].prompt, reqs[k].p);
    for (int i = 0; i < reqs[k].p.n; i++) {
      SCOPED_TRACE("request " + std::to_string(k) + " sample " + std::to_string(i));
      const Completion& c = got.at({k, i});
      EXPECT_EQ(c.token_ids, want[static_cast<size_t>(i)].token_ids);
      ASSERT_EQ(c.logprobs.size(), want[static_cast<size_t>(i)].logprobs.size());
      for (size_t t = 0; t < c.logprobs.size(); t++)
        EXPECT_NEAR(c.logprobs[t], want[static_cast<size_t>(i)].logprobs[t], 1e-4);
      EXPECT_EQ(c.finish_reason, want[static_cast<size_t>(i)].finish_reason);
    }
  }
  // The greedy request's tokens are the argmax: each one's log-prob is the top one.
  for (const auto& [key, c] : got)
    if (key.first == 2) {
      ASSERT_EQ(c.top_logprobs.size(), c.token_ids.size());
      for (size_t t = 0; t < c.token_ids.size(); t++) {
        const auto& top = c.top_logprobs[t];
        ASSERT_EQ(top.size(), 4u);
        for (size_t j = 1; j < top.size(); j++) EXPECT_GE(top[j - 1].logprob, top[j].logprob);
        double mass = 0;
        for (const auto& x : top) mass += std::exp(x.logprob);
        EXPECT_LE(mass, 1.0 + 1e-5);
        for (const auto& x : top) {
          if (x.token == c.token_ids[t]) {
            EXPECT_NEAR(x.logprob, c.logprobs[t], 1e-5);
          }
        }
      }
    }
  EXPECT_EQ(s.blocks_in_use(), 0);
}

TEST(Scheduler, CancelFreesTheRequestsBlocksAtOnceWhereverItIs) {
  r1::Model m = tiny_model(r1::Arch::Llama);
  const int V = static_cast<int>(m.config().vocab_size);
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 40;  // the first step: a's 30 prompt tokens and 10 of b's
  cfg.kv_budget_bytes = size_t{4} << 20;
  Scheduler s(m, nullptr, cfg);
  int after_cancel = 0;
  bool cancelled = false;
  auto counting = [&](Completion&&) { after_cancel += cancelled; };
  const auto a = s.submit(random_tokens(30, V, 1), params(1, 4, 50, 1, 1, 0), {nullptr, counting});
  const auto b = s.submit(random_tokens(30, V, 2), params(2, 2, 50, 1, 1, 0), {nullptr, nullptr});
  const auto w = s.submit(random_tokens(3, V, 3), params(3, 1, 5, 1, 1, 0), {nullptr, nullptr});
  EXPECT_EQ(s.waiting(), 3);
  s.step();  // all three admitted; a prefilled and sampling, b part-prefilled, w not started
  const int64_t used = s.blocks_in_use();
  EXPECT_GT(used, 0);
  // b still prefilling: cancelling frees its prompt blocks.
  EXPECT_TRUE(s.cancel(b));
  EXPECT_LT(s.blocks_in_use(), used);
  EXPECT_FALSE(s.cancel(b)) << "already gone";
  for (int i = 0; i < 8; i++) s.step();  // a decoding its 4 samples
  EXPECT_GE(s.live_samples(), 4);
  EXPECT_TRUE(s.cancel(a));
  cancelled = true;
  s.cancel(w);  // w may have finished already (5 tokens)
  EXPECT_EQ(s.blocks_in_use(), 0);
  EXPECT_EQ(s.live_samples(), 0);
  EXPECT_TRUE(s.idle());
  s.step();
  EXPECT_EQ(after_cancel, 0) << "a cancelled request is not called back";
  // A waiting request cancelled before admission never runs.
  int called = 0;
  const auto x =
      s.submit(random_tokens(3, V, 4), params(4, 1, 5, 1, 1, 0), {nullptr, [&](Completion&&) { called++; }});
  EXPECT_TRUE(s.cancel(x));
  while (!s.idle()) s.step();
  EXPECT_EQ(called, 0);
}

TEST(Scheduler, BadRequestsAreRefusedAtSubmit) {
  r1::Model m = tiny_model(r1::Arch::Llama);
  SchedulerConfig cfg;
  cfg.context = 64;
  cfg.max_seqs = 4;
  Scheduler s(m, nullptr, cfg);
  const auto noop = Scheduler::Callbacks{};
  r1::testing::expect_error([&] { s.submit({}, RequestParams{}, noop); }, {"is empty"});
  r1::testing::expect_error([&] { s.submit(std::vector<int32_t>(64, 1), RequestParams{}, noop); },
                            {"fills the model's context"});
  r1::testing::expect_error([&] { s.submit({1}, params(1, 5, 4, 1, 1, 0), noop); }, {"exceeds max_seqs"});
  RequestParams p;
  p.top_logprobs = 21;
  r1::testing::expect_error([&] { s.submit({1}, p, noop); }, {"top_logprobs"});
  p = RequestParams{};
  p.stop_strings = {"x"};
  r1::testing::expect_error([&] { s.submit({1}, p, noop); }, {"need a tokenizer"});
  EXPECT_TRUE(s.idle());
}

TEST(ThinkSplitter, SplitsTagsArrivingInAnyPieces) {
  const std::string reply = " <think> 4+9=13, 13+7=20 </think> <answer> 20 </answer>";
  for (size_t piece = 1; piece <= 9; piece++) {
    r1::ThinkSplitter split;
    std::string reasoning, content;
    auto take = [&](const std::vector<r1::ThinkSplitter::Piece>& v) {
      for (const auto& x : v) (x.reasoning ? reasoning : content) += x.text;
    };
    for (size_t at = 0; at < reply.size(); at += piece) take(split.put(reply.substr(at, piece)));
    take(split.finish());
    EXPECT_EQ(reasoning, " 4+9=13, 13+7=20 ") << piece;
    EXPECT_EQ(content, "  <answer> 20 </answer>") << piece;
  }
  // A prompt that ends inside <think> (DeepSeek's distill template, Qwen3's thinking mode).
  EXPECT_TRUE(r1::ThinkSplitter::starts_in_think("<｜Assistant｜><think>\n"));
  EXPECT_FALSE(r1::ThinkSplitter::starts_in_think("<think>\n\n</think>\n\n"));
  r1::ThinkSplitter in(true);
  auto v = in.put("a </thi");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].reasoning);
  EXPECT_EQ(v[0].text, "a ");
  v = in.put("nk>b");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].reasoning);
  EXPECT_EQ(v[0].text, "b");
  // A tag prefix at the end that never completes comes out at finish().
  r1::ThinkSplitter cut;
  EXPECT_TRUE(cut.put("x <thi").size() == 1);
  v = cut.finish();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].text, "<thi");
}

}  // namespace
