// Exact rationals in checked 128-bit integers, shared by the math verifier and the countdown
// reward: every operation reports overflow (false) instead of wrapping, and every result keeps
// |numerator| and the denominator below kRatLimit = 2^125, so negation and abs can never
// overflow (a product equal to -2^127 is refused, not negated).
#pragma once

namespace r1::verify {

__extension__ typedef __int128 i128;

inline i128 abs128(i128 x) {
  return x < 0 ? -x : x;
}

inline i128 gcd128(i128 a, i128 b) {
  a = abs128(a);
  b = abs128(b);
  while (b != 0) {
    i128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

constexpr i128 kRatLimit = (static_cast<i128>(1) << 125);  // keeps negation and abs safe

struct Rat {
  i128 n = 0, d = 1;  // d > 0, gcd(n, d) == 1
};

inline bool rat_make(i128 n, i128 d, Rat* out) {
  if (d == 0) return false;
  if (d < 0) {
    n = -n;
    d = -d;
  }
  i128 g = gcd128(n, d);
  if (g > 1) {
    n /= g;
    d /= g;
  }
  if (abs128(n) >= kRatLimit || d >= kRatLimit) return false;
  out->n = n;
  out->d = d;
  return true;
}

// Range checks without abs128: a product that fits 128 bits may be exactly -2^127, whose
// negation overflows (found by fuzz/fuzz_verify).
inline bool in_range(i128 x) {
  return x > -kRatLimit && x < kRatLimit;
}
inline bool mul_ok(i128 a, i128 b, i128* r) {
  return !__builtin_mul_overflow(a, b, r) && in_range(*r);
}
inline bool add_ok(i128 a, i128 b, i128* r) {
  return !__builtin_add_overflow(a, b, r) && in_range(*r);
}

inline bool rat_add(const Rat& a, const Rat& b, Rat* out) {
  i128 g = gcd128(a.d, b.d);
  i128 x, y, n, d;
  if (!mul_ok(a.n, b.d / g, &x) || !mul_ok(b.n, a.d / g, &y) || !add_ok(x, y, &n) ||
      !mul_ok(a.d / g, b.d, &d)) {
    return false;
  }
  return rat_make(n, d, out);
}

inline bool rat_mul(const Rat& a, const Rat& b, Rat* out) {
  i128 g1 = gcd128(a.n, b.d), g2 = gcd128(b.n, a.d);
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  i128 n, d;
  if (!mul_ok(a.n / g1, b.n / g2, &n) || !mul_ok(a.d / g2, b.d / g1, &d)) return false;
  return rat_make(n, d, out);
}

// a - b and a / b (false on overflow, or b == 0 for the division).
inline bool rat_sub(const Rat& a, const Rat& b, Rat* out) {
  return rat_add(a, Rat{-b.n, b.d}, out);
}
inline bool rat_div(const Rat& a, const Rat& b, Rat* out) {
  Rat inv;
  return rat_make(b.d, b.n, &inv) && rat_mul(a, inv, out);
}

}  // namespace r1::verify
