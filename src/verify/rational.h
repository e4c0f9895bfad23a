// Exact rationals of arbitrary precision (GMP's mpq_class), shared by the math verifier and the
// countdown reward. Every value is canonical (denominator > 0, gcd(numerator, denominator) == 1)
// and bounded: an operation whose result would need more than kRatMaxBits bits in its numerator
// or denominator reports "too big" (false) instead, and the caller falls back to its approximate
// path. Results of + - * / on bounded operands have at most 2 * kRatMaxBits + 1 bits, so each
// operation costs microseconds; the operations whose results can be huge (powers, factorials,
// parsing long digit strings) estimate the result's size first and never compute one past the cap.
#pragma once

#include <gmpxx.h>

#include <cstdint>
#include <string>

namespace r1::verify {

// 4096 bits (1233 decimal digits): every exact value a competition answer plausibly holds
// (2^{4000}, 10^{1000}, 450!, 1/3^{2000}) stays exact, while a chain of the ~10^4 operations a
// 20 kB input can hold stays far below a millisecond of GMP time per operation.
inline constexpr size_t kRatMaxBits = 4096;

struct Rat {
  mpq_class v;  // canonical; |numerator| < 2^kRatMaxBits and denominator < 2^kRatMaxBits
};

inline Rat rat_int(int64_t n) {
  Rat r;
  r.v = static_cast<long>(n);
  return r;
}

// Whether |x| < 2^kRatMaxBits.
inline bool mpz_fits_cap(const mpz_class& x) {
  return mpz_sizeinbase(x.get_mpz_t(), 2) <= kRatMaxBits;
}

// Accepts an already canonical value when it is within the cap.
inline bool rat_accept(mpq_class&& q, Rat* out) {
  if (!mpz_fits_cap(q.get_num()) || !mpz_fits_cap(q.get_den())) return false;
  out->v = std::move(q);
  return true;
}

// n / d in lowest terms; false when d == 0 or the result is past the cap.
inline bool rat_make(const mpz_class& n, const mpz_class& d, Rat* out) {
  if (sgn(d) == 0) return false;
  mpq_class q(n, d);
  q.canonicalize();
  return rat_accept(std::move(q), out);
}
inline bool rat_make(int64_t n, int64_t d, Rat* out) {
  if (d == 0) return false;
  if (d < 0) {
    if (n == INT64_MIN || d == INT64_MIN)
      return rat_make(mpz_class(static_cast<long>(n)), mpz_class(static_cast<long>(d)), out);
    n = -n;
    d = -d;
  }
  mpq_set_si(out->v.get_mpq_t(), static_cast<long>(n), static_cast<unsigned long>(d));
  if (d != 1) out->v.canonicalize();
  return true;  // 64-bit values are far within the cap
}

inline int rat_sign(const Rat& a) {
  return sgn(a.v);
}
inline bool rat_is_int(const Rat& a) {
  return a.v.get_den() == 1;
}
inline bool rat_equal(const Rat& a, const Rat& b) {
  return mpq_equal(a.v.get_mpq_t(), b.v.get_mpq_t()) != 0;
}
// "n" or "n/d" in decimal.
inline std::string rat_str(const Rat& a) {
  return a.v.get_str(10);
}

// a + b, a - b, a * b, a / b: false when the result is past the cap (or b == 0 for the division).
inline bool rat_add(const Rat& a, const Rat& b, Rat* out) {
  return rat_accept(mpq_class(a.v + b.v), out);
}
inline bool rat_sub(const Rat& a, const Rat& b, Rat* out) {
  return rat_accept(mpq_class(a.v - b.v), out);
}
inline bool rat_mul(const Rat& a, const Rat& b, Rat* out) {
  return rat_accept(mpq_class(a.v * b.v), out);
}
inline bool rat_div(const Rat& a, const Rat& b, Rat* out) {
  if (sgn(b.v) == 0) return false;
  return rat_accept(mpq_class(a.v / b.v), out);
}

}  // namespace r1::verify
