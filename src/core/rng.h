// Counter-based random numbers: a value is a pure function of (seed, stream, counter), so a draw
// never depends on how many draws happened elsewhere (batch layout, thread count, resume point).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace r1 {

// SplitMix64 finaliser: a strong 64-bit mixing function.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a over n bytes, continuing from h (a fingerprint of data, not a random draw).
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset) {
  const auto* b = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

inline uint64_t hash_u64(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// Standard normal from two counter-based uniforms (Box-Muller).
inline double normal(uint64_t seed, uint64_t a, uint64_t b) {
  double u1 = uniform01(hash_u64(seed, a, b, 0));
  double u2 = uniform01(hash_u64(seed, a, b, 1));
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
}

// Fisher-Yates with explicit draws (std::shuffle's algorithm is not specified): for i = n down to
// 2, v[i - 1] trades places with v[draw(i) % i]. With counter-based draws (hash_u64 of i) the
// order is a pure function of the key.
template <class T, class Draw>
void shuffle_by(std::vector<T>& v, Draw draw) {
  for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[static_cast<size_t>(draw(i) % i)]);
}

}  // namespace r1
