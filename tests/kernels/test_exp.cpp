// ops::exp_neg / exp_shifted (the vectorised exp of the sampler's and attention's softmax)
// against std::exp in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ops.h"

TEST(OpsExp, WithinTwoUlpOfStdExp) {
  std::vector<float> x;
  for (float v = -87.f; v <= 0.f; v += 0.000731f) x.push_back(v);
  for (float v : {0.f, -0.f, -1e-8f, -0.5f, -1.f, -10.f, -87.f}) x.push_back(v);
  std::vector<float> y = x;
  (void)r1::ops::exp_shifted(y.data(), static_cast<int64_t>(y.size()), 0.f);
  double worst = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const double want = std::exp(double(x[i]));
    ASSERT_EQ(y[i], r1::ops::exp_neg(x[i]));  // the array form is the scalar function
    // Relative error in units of float epsilon (2 ulp = 2.4e-7).
    worst = std::max(worst, std::abs(double(y[i]) - want) / want / 1.1920929e-7);
  }
  EXPECT_LT(worst, 2.0) << "worst error in float epsilons";
  // The returned sum, and the shift: exp(x - max); underflow gives exactly 0.
  std::vector<float> r;
  double want_sum = 0;
  for (float v = -20.f; v <= 20.f; v += 0.01f) r.push_back(v), want_sum += std::exp(double(v) - 20.0);
  const float sum = r1::ops::exp_shifted(r.data(), static_cast<int64_t>(r.size()), 20.f);
  EXPECT_NEAR(sum / want_sum, 1.0, 1e-5);
  std::vector<float> s = {3.f, 1.f, -1000.f, 3.f};
  const float t = r1::ops::exp_shifted(s.data(), 4, 3.f);
  EXPECT_FLOAT_EQ(s[0], 1.f);
  EXPECT_NEAR(s[1], std::exp(-2.f), 2.4e-7f * std::exp(-2.f));
  EXPECT_EQ(s[2], 0.f);
  EXPECT_NEAR(t, 2.f + std::exp(-2.f), 1e-6f);
}
