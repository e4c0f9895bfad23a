// Finite-difference gradient checking shared by the kernel and model tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace r1::testing {

inline std::vector<float> random_vector(size_t n, uint64_t seed, float scale = 1.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = scale * static_cast<float>(normal(seed, 7, i));
  return v;
}

// Compares analytic[i] with the central difference (f(x+h) - f(x-h)) / 2h for up to max_checks
// coordinates of x (spread evenly). f must read x. The loss is evaluated in double; with fp32
// kernels and h = 1e-2 the difference is accurate to about 1e-3 relative, while a wrong index or
// transpose gives O(1) errors.
inline void expect_grad_close(const std::function<double()>& f, std::vector<float>& x,
                              const std::vector<float>& analytic, const std::string& what, float h = 1e-2f,
                              double rtol = 1e-2, double atol = 2e-3, size_t max_checks = 200) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const size_t step = std::max<size_t>(1, x.size() / max_checks);
  int bad = 0;
  for (size_t i = 0; i < x.size(); i += step) {
    const float saved = x[i];
    x[i] = saved + h;
    const double fp = f();
    x[i] = saved - h;
    const double fm = f();
    x[i] = saved;
    const double fd = (fp - fm) / (2.0 * h);
    if (std::abs(fd - analytic[i]) > atol + rtol * std::abs(fd)) {
      if (++bad <= 5)
        ADD_FAILURE() << what << "[" << i << "]: finite difference " << fd << " vs analytic " << analytic[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace r1::testing
