// The sampler against distributions computed independently here (plainly, in double): chi-square
// goodness-of-fit on 200000 draws per setting, exact log-probs, key determinism, greedy and ties,
// errors; and the stop-string matcher.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/rng.h"
#include "sample/sampler.h"
#include "test_util.h"

using r1::Draw;
using r1::sample_key;
using r1::sample_token;
using r1::SamplerWorkspace;
using r1::SamplingParams;
using r1::StopMatcher;

namespace {

constexpr int64_t kDraws = 200000;
// A correct sampler fails a goodness-of-fit test at this p-value once in a million runs; the
// draws are seeded, so the outcome is fixed anyway.
constexpr double kPValue = 1e-6;

SamplingParams params(float temperature, int top_k = 0, float top_p = 1, float min_p = 0) {
  SamplingParams p;
  p.temperature = temperature, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p;
  return p;
}

// 16 distinct logits in no particular order, so that rank and id differ.
const std::vector<float> kLogits = {0.3f, 2.0f, -1.0f, 1.2f, 0.5f,  -0.2f, 1.5f,  -3.0f,
                                    0.9f, 0.0f, -0.5f, 0.7f, -2.0f, 0.1f,  -0.8f, -1.5f};

// The intended distribution, step by step as documented in sampler.h: temperature, top-k, top-p,
// min-p, each on the renormalised result of the previous one. Fails the test when a cut falls
// within 1e-5 of a boundary, where float and double could legitimately disagree.
std::vector<double> reference(const std::vector<float>& x, const SamplingParams& p) {
  const size_t n = x.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  const double mx = x[order[0]];
  std::vector<double> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = std::exp((x[i] - mx) / p.temperature);
  const auto normalise = [&] {
    const double s = std::accumulate(q.begin(), q.end(), 0.0);
    for (double& v : q) v /= s;
  };
  normalise();
  if (p.top_k > 0) {
    for (size_t r = static_cast<size_t>(p.top_k); r < n; ++r) q[order[r]] = 0;
    normalise();
  }
  if (p.top_p < 1) {
    double cum = 0;
    size_t r = 0;
    while (cum < p.top_p) cum += q[order[r++]];
    EXPECT_GT(std::abs(cum - p.top_p), 1e-5) << "top-p cut too close to call";
    for (; r < n; ++r) q[order[r]] = 0;
    normalise();
  }
  if (p.min_p > 0) {
    const double pmax = q[order[0]];
    for (double& v : q) {
      EXPECT_GT(std::abs(v - p.min_p * pmax), 1e-5 * pmax) << "min-p cut too close to call";
      if (v < p.min_p * pmax) v = 0;
    }
    normalise();
  }
  return q;
}

std::vector<int64_t> draw_counts(const std::vector<float>& x, const SamplingParams& p, int64_t n = kDraws,
                                 uint64_t seed = 1234) {
  SamplerWorkspace ws;
  std::vector<int64_t> counts(x.size());
  for (int64_t i = 0; i < n; ++i)
    ++counts[sample_token(x.data(), static_cast<int64_t>(x.size()), p, sample_key(seed, 0, i, 0), ws).token];
  return counts;
}

// Regularised upper incomplete gamma Q(a, x) (series below a + 1, Lentz continued fraction above).
double gamma_q(double a, double x) {
  const double front = std::exp(-x + a * std::log(x) - std::lgamma(a));
  if (x < a + 1) {
    double term = 1 / a, sum = term;
    for (double ap = a + 1; std::abs(term) > 1e-17 * std::abs(sum); ap += 1) sum += term *= x / ap;
    return 1 - sum * front;
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = std::abs(d) < tiny ? tiny : d;
    c = b + an / c;
    c = std::abs(c) < tiny ? tiny : c;
    d = 1 / d;
    h *= d * c;
    if (std::abs(d * c - 1) < 1e-16) break;
  }
  return front * h;
}

// p-value of Pearson's chi-square for counts against probs. Cells expected below 5 are pooled
// into one (the chi-square approximation needs about 5 per cell); zero-probability cells are
// checked separately.
double chi_square_p(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  const double n = static_cast<double>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  double stat = 0, pool_e = 0, pool_o = 0;
  int cells = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0) continue;
    const double e = probs[i] * n, o = static_cast<double>(counts[i]);
    if (e < 5) {
      pool_e += e, pool_o += o;
    } else {
      stat += (o - e) * (o - e) / e, ++cells;
    }
  }
  if (pool_e > 0) stat += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, ++cells;
  return cells < 2 ? 1.0 : gamma_q((cells - 1) / 2.0, stat / 2);
}

// Draws under p and checks the counts against the reference distribution: excluded tokens never
// drawn, chi-square p-value above kPValue.
void expect_distribution(const std::vector<float>& x, const SamplingParams& p) {
  const std::vector<double> probs = reference(x, p);
  const std::vector<int64_t> counts = draw_counts(x, p);
  for (size_t i = 0; i < x.size(); ++i) {
    if (probs[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "excluded token " << i << " was drawn";
    }
  }
  EXPECT_GT(chi_square_p(counts, probs), kPValue)
      << "T=" << p.temperature << " top_k=" << p.top_k << " top_p=" << p.top_p << " min_p=" << p.min_p;
}

std::vector<float> random_logits(int64_t V, double scale, uint64_t seed) {
  std::vector<float> x(V);
  for (int64_t i = 0; i < V; ++i) x[i] = static_cast<float>(scale * r1::normal(seed, i, 0));
  return x;
}

double log_softmax(const std::vector<float>& x, size_t i) {
  const double mx = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (float v : x) s += std::exp(v - mx);
  return x[i] - mx - std::log(s);
}

Draw draw(const std::vector<float>& x, const SamplingParams& p, uint64_t key) {
  SamplerWorkspace ws;
  return sample_token(x.data(), static_cast<int64_t>(x.size()), p, key, ws);
}

}  // namespace

TEST(SamplerStats, ChiSquareDetectsAWrongTemperature) {
  // The test has power: draws at temperature 1.3 are rejected as draws at temperature 1.
  const std::vector<int64_t> counts = draw_counts(kLogits, params(1.3f));
  EXPECT_LT(chi_square_p(counts, reference(kLogits, params(1))), kPValue);
}

TEST(SamplerStats, Temperature) {
  for (float t : {0.5f, 1.0f, 2.0f}) expect_distribution(kLogits, params(t));
}

TEST(SamplerStats, TopK) {
  expect_distribution(kLogits, params(1, 5));
  expect_distribution(kLogits, params(0.7f, 3));
}

TEST(SamplerStats, TopP) {
  expect_distribution(kLogits, params(1, 0, 0.8f));
  expect_distribution(kLogits, params(1.5f, 0, 0.6f));
}

TEST(SamplerStats, MinP) {
  expect_distribution(kLogits, params(1, 0, 1, 0.1f));
  expect_distribution(kLogits, params(0.8f, 0, 1, 0.3f));
}

TEST(SamplerStats, Combined) {
  expect_distribution(kLogits, params(1.3f, 10, 0.9f, 0.05f));
}

TEST(SamplerStats, LargeVocabularyUsesBucketedSelection) {
  // 1200 candidates exceed what is sorted directly, so top-k and top-p go through the buckets.
  const std::vector<float> x = random_logits(1200, 1.0, 77);
  expect_distribution(x, params(1, 0, 0.7f));
  expect_distribution(x, params(0.9f, 600, 0.9f, 0.02f));
}

TEST(Sampler, LogprobIsTheTemperedLogSoftmaxWhateverTheTruncation) {
  const std::vector<float> x = random_logits(1000, 4.0, 5);
  SamplingParams greedy;
  greedy.greedy = true;
  greedy.temperature = 0.5f;  // ignored when greedy: the log-prob is at T = 1
  for (const SamplingParams& p : {params(1), params(0.3f), params(2, 40), params(1, 0, 0.5f),
                                  params(1, 0, 1, 0.2f), params(0.7f, 20, 0.9f, 0.1f), params(0), greedy}) {
    const float t = p.greedy || p.temperature == 0 ? 1.0f : p.temperature;
    std::vector<float> xt(x);
    for (float& v : xt) v /= t;
    for (uint64_t i = 0; i < 20; ++i) {
      const Draw d = draw(x, p, sample_key(9, 0, i, 0));
      EXPECT_NEAR(d.logprob, log_softmax(xt, d.token), 2e-6) << "T " << p.temperature;
      // At T != 1 the untempered log-prob differs by far more than the bound.
      if (t != 1) {
        EXPECT_GT(std::abs(d.logprob - log_softmax(x, d.token)), 1e-3);
      }
    }
  }
}

TEST(Sampler, KeysDetermineDraws) {
  const std::vector<float> x = random_logits(500, 1.0, 3);
  const SamplingParams p = params(1, 0, 0.95f);
  // Same key, same token; one workspace reused across other vocabulary sizes and settings.
  SamplerWorkspace ws;
  std::vector<int32_t> forward, backward(64);
  for (uint64_t i = 0; i < 64; ++i) {
    forward.push_back(sample_token(x.data(), 500, p, sample_key(1, 2, 3, i), ws).token);
    const std::vector<float> other = random_logits(100 + i, 2.0, i);
    sample_token(other.data(), static_cast<int64_t>(other.size()), params(0.5f, 7), i, ws);
  }
  // Draw order does not matter.
  for (uint64_t i = 64; i-- > 0;) backward[i] = draw(x, p, sample_key(1, 2, 3, i)).token;
  EXPECT_EQ(forward, backward);
  // Other samples of the same prompt get other streams.
  std::vector<int32_t> other_sample;
  for (uint64_t i = 0; i < 64; ++i) other_sample.push_back(draw(x, p, sample_key(1, 2, 4, i)).token);
  EXPECT_NE(forward, other_sample);
  // Every coordinate changes the key.
  const uint64_t k = sample_key(1, 2, 3, 4);
  EXPECT_NE(k, sample_key(0, 2, 3, 4));
  EXPECT_NE(k, sample_key(1, 3, 3, 4));
  EXPECT_NE(k, sample_key(1, 2, 4, 4));
  EXPECT_NE(k, sample_key(1, 2, 3, 5));
  EXPECT_NE(sample_key(1, 0, 1, 0), sample_key(1, 1, 0, 0));
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  const std::vector<float> x = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f};
  SamplingParams greedy;
  greedy.greedy = true;
  greedy.temperature = 5;  // ignored
  for (uint64_t key = 0; key < 50; ++key) {
    EXPECT_EQ(draw(x, greedy, key).token, 1);
    EXPECT_EQ(draw(x, params(0), key).token, 1);
    EXPECT_EQ(draw(x, params(1, 1), key).token, 1);         // top_k = 1
    EXPECT_EQ(draw(x, params(1, 0, 1e-6f), key).token, 1);  // top_p tiny
  }
  // A long vocabulary whose maximum repeats across SIMD lanes and the tail.
  std::vector<float> y(1003, 0.0f);
  y[700] = y[17] = y[1002] = 1.0f;
  EXPECT_EQ(draw(y, params(0), 0).token, 17);
}

TEST(Sampler, TiesAreCutByIdLowerFirst) {
  // All logits equal: top-k keeps ids 0..k-1; top-p keeps the smallest prefix of ids with
  // mass >= top_p (4 of 10 for 0.35).
  for (int64_t V : {int64_t{10}, int64_t{5000}}) {
    const std::vector<float> x(V, 0.25f);
    std::vector<int> seen(V);
    for (uint64_t i = 0; i < 2000; ++i) ++seen[draw(x, params(1, 3), sample_key(4, 0, i, 0)).token];
    for (int64_t t = 0; t < V; ++t) EXPECT_EQ(seen[t] > 0, t < 3) << "V=" << V << " token " << t;
  }
  const std::vector<float> x(10, -2.0f);
  std::vector<int> seen(10);
  for (uint64_t i = 0; i < 2000; ++i) ++seen[draw(x, params(1, 0, 0.35f), sample_key(4, 0, i, 0)).token];
  for (int t = 0; t < 10; ++t) EXPECT_EQ(seen[t] > 0, t < 4) << "token " << t;
}

TEST(Sampler, ExtremeLogitsStayFinite) {
  // Logits far apart: weights underflow to 0 and must never be drawn; the log-prob stays exact.
  const std::vector<float> x = {-3e38f, 0.0f, 3e38f, 3e38f - 1e32f};
  for (uint64_t i = 0; i < 100; ++i) {
    const Draw d = draw(x, params(1), i);
    EXPECT_EQ(d.token, 2);
    EXPECT_EQ(d.logprob, 0.0f);
  }
  EXPECT_EQ(draw({1.0f, 2.0f}, params(1e-45f), 3).token, 1);  // 1/t overflows: greedy
}

TEST(Sampler, BadParamsNameTheField) {
  const std::vector<float> x = {1, 2, 3};
  const auto bad = [&](SamplingParams p) { return [&x, p] { draw(x, p, 0); }; };
  r1::testing::expect_error(bad(params(-1)), {"temperature", "-1"});
  r1::testing::expect_error(bad(params(NAN)), {"temperature"});
  r1::testing::expect_error(bad(params(INFINITY)), {"temperature"});
  r1::testing::expect_error(bad(params(1, -2)), {"top_k", "-2"});
  r1::testing::expect_error(bad(params(1, 0, 0)), {"top_p", "(0, 1]"});
  r1::testing::expect_error(bad(params(1, 0, 1.5f)), {"top_p", "1.5"});
  r1::testing::expect_error(bad(params(1, 0, NAN)), {"top_p"});
  r1::testing::expect_error(bad(params(1, 0, 1, 1)), {"min_p", "[0, 1)"});
  r1::testing::expect_error(bad(params(1, 0, 1, -0.1f)), {"min_p"});
  EXPECT_EQ(r1::testing::error_of([] { params(1, -1).validate(); }), "top_k: must be >= 0 (0 = off), got -1");
  SamplerWorkspace ws;
  r1::testing::expect_error([&] { sample_token(x.data(), 0, params(1), 0, ws); }, {"vocabulary size", "0"});
}

TEST(Sampler, NonFiniteLogitsAreAnError) {
  std::vector<float> x(40, 0.5f);
  x[3] = NAN;
  x[33] = INFINITY;  // the first bad token is reported
  EXPECT_EQ(r1::testing::error_of([&] { draw(x, params(1), 0); }), "logits contain NaN at token 3");
  x[3] = 0;
  EXPECT_EQ(r1::testing::error_of([&] { draw(x, params(0), 0); }), "logits contain inf at token 33");
  x[33] = 0;
  x[39] = -INFINITY;  // in the scalar tail after the SIMD lanes
  EXPECT_EQ(r1::testing::error_of([&] { draw(x, params(1, 5), 0); }), "logits contain -inf at token 39");
}

TEST(StopMatcher, FindsTheEarliestOfSeveralStops) {
  StopMatcher m({"</answer>", "\n\n", "END"});
  EXPECT_EQ(m.feed("The answer is 4."), StopMatcher::npos);
  EXPECT_EQ(m.feed(" Done END and </answer>"), 22u);  // "END" starts at 16 + 6
  EXPECT_EQ(m.feed("more"), 22u);                     // fixed once found
  EXPECT_EQ(m.bytes_fed(), 43u);
  StopMatcher one({"ab", "xaby"});  // both complete in one feed: the earlier start wins
  EXPECT_EQ(one.feed("zxaby"), 1u);
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "aab" after a false start "aa": the match begins one byte later than the first 'a'.
  StopMatcher m({"aab"});
  EXPECT_EQ(m.feed("xa"), StopMatcher::npos);
  EXPECT_EQ(m.feed("a"), StopMatcher::npos);
  EXPECT_EQ(m.feed("a"), StopMatcher::npos);
  EXPECT_EQ(m.feed("b"), 2u);
  StopMatcher n({"abcd", "bc"});  // "bc" completes first while "abcd" is still open
  EXPECT_EQ(n.feed("ab"), StopMatcher::npos);
  EXPECT_EQ(n.feed("c"), 1u);
}

TEST(StopMatcher, MatchesSplitByteByByte) {
  const std::string text = "Let me think. <think>2+2</think> so the answer is <answer>4</answer> trailing";
  StopMatcher m({"</answer>", "</think>x"});
  size_t found = StopMatcher::npos;
  for (char c : text) {
    const size_t r = m.feed(std::string_view(&c, 1));
    if (found == StopMatcher::npos && r != StopMatcher::npos) {
      found = r;
      EXPECT_EQ(m.bytes_fed(), text.find("</answer>") + 9);  // reported as soon as it completes
    }
  }
  EXPECT_EQ(found, text.find("</answer>"));
}

TEST(StopMatcher, Utf8StopStrings) {
  const std::string text = "答案是 42。結束 more";  // CJK: 3 bytes per character
  StopMatcher m({"結束", "🛑"});
  size_t r = StopMatcher::npos;
  for (size_t i = 0; i < text.size(); i += 2)
    r = m.feed(std::string_view(text).substr(i, 2));  // splits characters
  EXPECT_EQ(r, text.find("結束"));
  StopMatcher emoji({"🛑"});
  EXPECT_EQ(emoji.feed("ok \xF0\x9F"), StopMatcher::npos);
  EXPECT_EQ(emoji.feed("\x9B\x91!"), 3u);
}

TEST(StopMatcher, NoFalsePositives) {
  StopMatcher m({"</answer>", "stop"});
  for (const char* piece : {"</answ", "er", "</", "answe", "r ", "st", "o", "P", "-s", "t0p"})
    EXPECT_EQ(m.feed(piece), StopMatcher::npos) << piece;
  StopMatcher none({});
  EXPECT_EQ(none.feed("anything at all"), StopMatcher::npos);
  r1::testing::expect_error([] { StopMatcher bad({"ok", ""}); }, {"stop", "2", "empty"});
}
