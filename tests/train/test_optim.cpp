#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/model.h"
#include "train/loss.h"
#include "train/optim.h"

using namespace r1;

TEST(Schedule, WarmupThenCosineToTheFloor) {
  ScheduleConfig s{"cosine", 1.0, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(s, 9), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 10), 1.0);
  EXPECT_NEAR(lr_at(s, 60), 0.55, 1e-12);  // halfway through the decay
  EXPECT_NEAR(lr_at(s, 110), 0.1, 1e-12);
  EXPECT_NEAR(lr_at(s, 500), 0.1, 1e-12);  // clamps past the end
  ScheduleConfig c{"constant", 0.5, 4, 100, 0.1};
  EXPECT_DOUBLE_EQ(lr_at(c, 1), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(c, 50), 0.5);
  ScheduleConfig bad{"linear-ish", 0.5, 0, 100, 0.1};
  EXPECT_THROW(lr_at(bad, 0), Error);
}

TEST(ClipGradNorm, ScalesToTheLimitOnlyWhenAbove) {
  std::vector<float> g = {3.f, 4.f};
  EXPECT_NEAR(clip_grad_norm(g.data(), 2, 10.0), 5.0, 1e-12);
  EXPECT_EQ(g[0], 3.f);
  EXPECT_NEAR(clip_grad_norm(g.data(), 2, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0, 1e-6);
}

TEST(GradAccumulation, TwoMicroBatchesEqualOnePackedBatch) {
  ModelConfig c;
  c.vocab_size = 40, c.hidden_size = 16, c.intermediate_size = 24, c.num_layers = 2, c.num_heads = 2;
  c.num_kv_heads = 1, c.head_dim = 8;
  Model m(c);
  m.init_random(9, 0.2f);
  std::vector<int32_t> a = {1, 5, 7, 9, 11}, b = {3, 2, 8};
  const float w = 1.f / 6.f;  // 4 + 2 target tokens
  Batch both, ba, bb;
  both.append_lm(a), both.append_lm(b), ba.append_lm(a), bb.append_lm(b);
  m.zero_grads();
  double l1 = m.forward_backward(both, weighted_cross_entropy(both, w));
  std::vector<float> g1(m.grads(), m.grads() + m.num_params());
  m.zero_grads();
  double l2 = m.forward_backward(ba, weighted_cross_entropy(ba, w)) +
              m.forward_backward(bb, weighted_cross_entropy(bb, w));
  EXPECT_NEAR(l1, l2, 1e-6);
  double num = 0, den = 0;
  for (size_t i = 0; i < g1.size(); i++) {
    num = std::max(num, double(std::abs(g1[i] - m.grads()[i])));
    den = std::max(den, double(std::abs(g1[i])));
  }
  EXPECT_LT(num / den, 1e-5);
}
