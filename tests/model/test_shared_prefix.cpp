// The group's prompt computed once (Batch::prefix): G completions of a prompt attend to one copy of
// the prompt's rows, and the backward gathers the prompt's gradient once. It must equal the
// unshared computation, where every sample repeats its prompt: log-probs, entropies, the loss and
// every parameter gradient within 1e-5 relative (max abs error over max abs value, per tensor), for
// Llama, Qwen2 and Qwen3 tiny models, with several groups of different prompt lengths (one crossing
// attention's 64-row block) packed together. Dropping the prefix's gradient from the continuations
// (or attending to it with the wrong positions) fails it by orders of magnitude.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/rng.h"
#include "model/model.h"
#include "tiny_model.h"

namespace {

using r1::testing::random_tokens;

struct Group {
  std::vector<int32_t> prompt;
  std::vector<std::vector<int32_t>> completions;
};

struct Layout {
  r1::Batch batch;
  std::vector<float> w_logp, w_ent;  // per position: the loss's weights (0 where no target)
};

// The weights of completion token j of sample (g, i): fixed, so both layouts get the same loss.
float weight_of(size_t g, size_t i, size_t j, uint64_t salt) {
  return static_cast<float>(r1::normal(salt, g * 1000 + i, j));
}

Layout unshared(const std::vector<Group>& groups) {
  Layout L;
  for (size_t g = 0; g < groups.size(); g++)
    for (size_t i = 0; i < groups[g].completions.size(); i++) {
      const auto& p = groups[g].prompt;
      const auto& c = groups[g].completions[i];
      std::vector<int32_t> toks(p), tg(p.size() + c.size(), -1);
      toks.insert(toks.end(), c.begin(), c.end());
      const size_t base = L.w_logp.size();
      L.w_logp.resize(base + toks.size(), 0.f), L.w_ent.resize(base + toks.size(), 0.f);
      for (size_t j = 0; j < c.size(); j++) {
        tg[p.size() - 1 + j] = c[j];
        L.w_logp[base + p.size() - 1 + j] = weight_of(g, i, j, 1);
        L.w_ent[base + p.size() - 1 + j] = 0.1f * weight_of(g, i, j, 2);
      }
      L.batch.append(toks, tg);
    }
  return L;
}

Layout shared(const std::vector<Group>& groups) {
  Layout L;
  for (size_t g = 0; g < groups.size(); g++) {
    const auto& p = groups[g].prompt;
    const std::vector<int32_t> head(p.begin(), p.end() - 1);
    L.batch.append(head, std::vector<int32_t>(head.size(), -1));
    L.w_logp.resize(L.w_logp.size() + head.size(), 0.f), L.w_ent.resize(L.w_ent.size() + head.size(), 0.f);
    const int32_t ps = static_cast<int32_t>(L.batch.num_seqs() - 1);
    for (size_t i = 0; i < groups[g].completions.size(); i++) {
      const auto& c = groups[g].completions[i];
      std::vector<int32_t> toks = {p.back()}, tg(c.size() + 1, -1);
      toks.insert(toks.end(), c.begin(), c.end());
      const size_t base = L.w_logp.size();
      L.w_logp.resize(base + toks.size(), 0.f), L.w_ent.resize(base + toks.size(), 0.f);
      for (size_t j = 0; j < c.size(); j++) {
        tg[j] = c[j];
        L.w_logp[base + j] = weight_of(g, i, j, 1);
        L.w_ent[base + j] = 0.1f * weight_of(g, i, j, 2);
      }
      L.batch.append_continuation(ps, toks, tg);
    }
  }
  return L;
}

struct Result {
  double loss;
  std::vector<float> grads, logp;  // logp: the completion tokens', in sample order
};

Result run(r1::Model& m, const Layout& L) {
  m.zero_grads();
  const r1::Batch& b = L.batch;
  auto loss = [&](const float* lp, const float* ent, float* dlp, float* dent) {
    double sum = 0;
    for (int64_t t = 0; t < b.size(); t++) {
      sum += double(L.w_logp[t]) * lp[t] + double(L.w_ent[t]) * ent[t];
      dlp[t] = L.w_logp[t], dent[t] = L.w_ent[t];
    }
    return sum;
  };
  std::vector<float> lp(static_cast<size_t>(b.size()));
  Result r;
  r.loss = m.forward_backward(b, loss, lp.data());
  r.grads.assign(m.grads(), m.grads() + m.num_params());
  for (int64_t t = 0; t < b.size(); t++)
    if (b.targets[t] >= 0) r.logp.push_back(lp[t]);
  return r;
}

class SharedPrefix : public ::testing::TestWithParam<r1::Arch> {};

TEST_P(SharedPrefix, EqualsTheUnsharedComputation) {
  r1::Model m = r1::testing::tiny_model(GetParam());
  const int V = m.config().vocab_size;
  // Prompt lengths 70 (crosses the 64-row block), 9, 2 and 4; 3, 4, 2 and 1 samples.
  std::vector<Group> groups;
  const int plen[] = {70, 9, 2, 4}, n[] = {3, 4, 2, 1};
  for (int g = 0; g < 4; g++) {
    Group gr;
    gr.prompt = random_tokens(plen[g], V, 100 + g);
    for (int i = 0; i < n[g]; i++)
      gr.completions.push_back(
          random_tokens(1 + static_cast<int>(r1::hash_u64(g, i) % 12), V, 200 + 10 * g + i));
    groups.push_back(gr);
  }
  const Layout a = unshared(groups), b = shared(groups);
  EXPECT_LT(b.batch.size(), a.batch.size());
  const Result ra = run(m, a), rb = run(m, b);
  ASSERT_EQ(ra.logp.size(), rb.logp.size());
  for (size_t i = 0; i < ra.logp.size(); i++) EXPECT_NEAR(ra.logp[i], rb.logp[i], 1e-5) << i;
  EXPECT_NEAR(ra.loss, rb.loss, 1e-5 * std::max(1.0, std::abs(ra.loss)));
  double worst = 0;
  for (const r1::ParamSpec& p : m.param_specs()) {
    double err = 0, mx = 0;
    for (size_t i = p.offset; i < p.offset + p.numel; i++) {
      err = std::max(err, double(std::abs(ra.grads[i] - rb.grads[i])));
      mx = std::max(mx, double(std::abs(ra.grads[i])));
    }
    ASSERT_GT(mx, 0) << p.name;
    EXPECT_LE(err / mx, 1e-5) << p.name;
    worst = std::max(worst, err / mx);
  }
  RecordProperty("worst_relative_error", std::to_string(worst));
  // The same through forward() (the reference and old log-prob passes).
  std::vector<float> la(static_cast<size_t>(a.batch.size())), lb(static_cast<size_t>(b.batch.size()));
  std::vector<float> ea(la.size()), eb(lb.size());
  m.forward(a.batch, la.data(), ea.data());
  m.forward(b.batch, lb.data(), eb.data());
  std::vector<float> fa, fb;
  for (int64_t t = 0; t < a.batch.size(); t++)
    if (a.batch.targets[t] >= 0) fa.push_back(la[t]);
  for (int64_t t = 0; t < b.batch.size(); t++)
    if (b.batch.targets[t] >= 0) fb.push_back(lb[t]);
  ASSERT_EQ(fa.size(), fb.size());
  for (size_t i = 0; i < fa.size(); i++) EXPECT_NEAR(fa[i], fb[i], 1e-5) << i;
}

INSTANTIATE_TEST_SUITE_P(Archs, SharedPrefix,
                         ::testing::Values(r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3),
                         [](const auto& param_info) {
                           return std::string(param_info.param == r1::Arch::Llama   ? "Llama"
                                              : param_info.param == r1::Arch::Qwen2 ? "Qwen2"
                                                                                    : "Qwen3");
                         });

TEST(SharedPrefix, BadPrefixIsAnError) {
  r1::Model m = r1::testing::tiny_model(r1::Arch::Llama);
  r1::Batch b;
  b.append({1, 2, 3}, {-1, -1, -1});
  b.append({4, 5}, {5, -1});
  b.prefix = {-1, 1};  // a sequence cannot be its own prefix
  std::vector<float> lp(5);
  try {
    m.forward(b, lp.data(), nullptr);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("not an earlier sequence without a prefix"), std::string::npos)
        << e.what();
  }
}

}  // namespace
