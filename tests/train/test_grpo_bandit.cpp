// GRPO must find a known optimum: a one-token bandit on a real (tiny) model. The prompt is one
// fixed token; the completion is one token of K = vocab_size choices, sampled by the rollout
// engine with a fixed seed; reward 1 for one token, 0 otherwise. The whole GRPO path runs:
// engine log-probs as pi_old, group advantages, a frozen reference model for the KL term, the
// GRPO loss through Model::forward_backward, AdamW, two optimizer steps per rollout batch (so
// ratios leave 1 and clipping acts).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "rollout/engine.h"
#include "tiny_model.h"
#include "train/grpo.h"
#include "train/optim.h"

namespace {

// Softmax over the logits after the prompt token.
std::vector<double> next_token_probs(r1::Model& model, int32_t prompt) {
  r1::Batch b;
  b.append({prompt}, {-1});
  const int64_t V = model.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(V));
  model.forward_last_logits(b, logits.data());
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(static_cast<size_t>(V));
  double z = 0;
  for (int64_t v = 0; v < V; v++) z += p[v] = std::exp(double(logits[v]) - mx);
  for (double& x : p) x /= z;
  return p;
}

TEST(GrpoBandit, OneTokenBanditConverges) {
  r1::ModelConfig mc = r1::testing::tiny_config(r1::Arch::Llama);
  mc.vocab_size = 8;  // K = 8 arms
  r1::Model model(mc);
  model.init_random(31, 0.2f);
  r1::Model ref(mc);  // the frozen reference policy: the starting weights
  std::copy(model.params(), model.params() + model.num_params(), ref.params());

  const int32_t prompt = 0, K = mc.vocab_size;
  const std::vector<double> p0 = next_token_probs(model, prompt);
  // Reward the arm the initial policy likes least, so that the policy must move.
  const int32_t best = static_cast<int32_t>(std::min_element(p0.begin(), p0.end()) - p0.begin());
  ASSERT_LT(p0[best], 1.0 / K);

  r1::GrpoConfig cfg;  // the default GRPO objective (seq-mean, std-scaled, eps 0.2, beta 0.001)
  const int B = 4, G = 8, steps = 40, mu = 2;
  r1::AdamW opt(r1::AdamWConfig{0.9, 0.99, 1e-8, 0.0}, model.num_params());
  const double lr = 2e-2;
  r1::GrpoStats last;
  int64_t clipped = 0;  // tokens on the clipped branch over the run
  for (int step = 0; step < steps; step++) {
    r1::GenerationConfig gen;
    gen.n = G, gen.max_new_tokens = 1, gen.seed = 7, gen.kv_budget_bytes = size_t{1} << 20;
    r1::Engine engine(model, nullptr, gen);
    const std::vector<std::vector<int32_t>> prompts(B, std::vector<int32_t>{prompt});
    const std::vector<r1::Completion> done = engine.generate_all(prompts, int64_t{step} * B);
    ASSERT_EQ(done.size(), size_t(B * G));

    r1::Batch batch;
    std::vector<float> rewards, old_logp;
    std::vector<int64_t> lengths;
    std::vector<uint8_t> truncated;
    for (const r1::Completion& c : done) {
      const int32_t tok = c.token_ids.at(0);
      batch.append({prompt, tok}, {tok, -1});
      old_logp.insert(old_logp.end(), {c.logprobs.at(0), 0.f});
      rewards.push_back(tok == best ? 1.f : 0.f);
      lengths.push_back(1);
      truncated.push_back(c.finish_reason == "length");
    }
    std::vector<float> ref_logp(batch.size()), ent(batch.size());
    ref.forward(batch, ref_logp.data(), ent.data());
    const std::vector<float> adv = r1::group_advantages(rewards, G, cfg.scale_rewards, cfg.std_eps);
    const std::vector<float> w = r1::grpo_output_weights(lengths, truncated, cfg);
    r1::GrpoInputs in{old_logp.data(), ref_logp.data(), adv.data(), w.data()};
    for (int k = 0; k < mu; k++) {
      r1::GrpoStats st;
      model.zero_grads();
      const double loss = model.forward_backward(batch, r1::grpo_loss(cfg, batch, in, &st));
      ASSERT_TRUE(std::isfinite(loss));
      if (k == 0) {
        EXPECT_NEAR(st.mean_ratio(), 1.0, 1e-4) << "pi_old must be the engine's policy";
      }
      opt.step(model, lr);
      last = st;
      clipped += st.clipped_low + st.clipped_high;
    }
  }
  const std::vector<double> p = next_token_probs(model, prompt);
  std::printf("bandit: p(rewarded arm %d) %.4f -> %.4f after %d steps; %lld clipped tokens; last KL %.4f\n",
              best, p0[best], p[best], steps, static_cast<long long>(clipped), last.mean_kl());
  EXPECT_GT(p[best], 0.9);
  EXPECT_GT(clipped, 0);  // the second update on a batch moved ratios past the clip range
}

}  // namespace
