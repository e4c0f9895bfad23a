// What the tests against the PyTorch oracle (tests/reference/*.py) share: whether python3 with
// torch is there, reading the oracle's float64 outputs, and a scale-free error measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace r1::testing {

inline bool have_torch() {
  static int ok = -1;
  if (ok < 0) ok = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return ok == 1;
}

// A float64 tensor of the oracle's output file.
inline std::vector<double> read_f64(const r1::SafetensorsFile& f, const std::string& name) {
  const r1::TensorInfo* t = f.find(name);
  if (!t) throw std::runtime_error("reference output lacks " + name);
  std::vector<double> v(t->numel());
  std::memcpy(v.data(), t->data, v.size() * sizeof(double));
  return v;
}

// max |a - b| / max |b|: a scale-free error that a wrong index, sign or transpose blows up.
template <typename A>
double rel_err(const A* a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); i++) {
    num = std::max(num, std::abs(double(a[i]) - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / std::max(den, 1e-30);
}

}  // namespace r1::testing
