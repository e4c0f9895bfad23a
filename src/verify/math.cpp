#include "verify/math.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "core/rng.h"
#include "verify/rational.h"

namespace r1::verify {

namespace {

// value = m * 2^e with 0.5 <= |m| < 1, or m == 0.
struct Wide {
  long double m = 0;
  int64_t e = 0;
};

constexpr int64_t kMaxExp = int64_t{1} << 60;

struct Num {
  enum Kind { kExact, kApprox, kInf, kNaN } kind = kNaN;
  Rat q;
  Wide w;
  int inf_sign = 0;
};

Num nan_num() {
  return Num{};
}

Num exact(Rat q) {
  Num r;
  r.kind = Num::kExact;
  r.q = std::move(q);
  return r;
}

Num exact_int(int64_t v) {
  return exact(rat_int(v));
}

Num approx(long double m, int64_t e) {
  Num r;
  if (std::isnan(m)) return r;
  if (std::isinf(m)) {
    r.kind = Num::kInf;
    r.inf_sign = m > 0 ? 1 : -1;
    return r;
  }
  r.kind = Num::kApprox;
  if (m == 0) return r;
  int ex = 0;
  m = std::frexp(m, &ex);
  if (e > kMaxExp || e < -kMaxExp) return nan_num();  // beyond any sensible magnitude: refuse
  e += ex;
  r.w.m = m;
  r.w.e = e;
  return r;
}

Num from_ld(long double x) {
  return approx(x, 0);
}

// x = m * 2^e with the top 64 bits of |x| in m (truncated: relative error below 2^-63), read
// straight from the limbs (no allocation).
void mpz_to_ld_exp(const mpz_class& x, long double* m, int64_t* e) {
  static_assert(GMP_LIMB_BITS == 64, "64-bit limbs");
  const mpz_srcptr z = x.get_mpz_t();
  const size_t size = mpz_size(z);
  uint64_t top = 0;
  *e = 0;
  if (size == 1) {
    top = mpz_getlimbn(z, 0);
  } else if (size > 1) {
    const uint64_t hi = mpz_getlimbn(z, static_cast<mp_size_t>(size - 1));
    const uint64_t lo = mpz_getlimbn(z, static_cast<mp_size_t>(size - 2));
    const int lz = __builtin_clzll(hi);  // hi != 0: mpz limbs are normalised
    top = lz == 0 ? hi : (hi << lz) | (lo >> (64 - lz));
    *e = static_cast<int64_t>(size * 64 - static_cast<size_t>(lz)) - 64;
  }
  *m = static_cast<long double>(top);
  if (sgn(x) < 0) *m = -*m;
}

Wide rat_to_wide(const Rat& q) {
  long double mn, md;
  int64_t en, ed;
  mpz_to_ld_exp(q.v.get_num(), &mn, &en);
  mpz_to_ld_exp(q.v.get_den(), &md, &ed);
  return approx(mn / md, en - ed).w;
}

Wide to_wide(const Num& a) {
  if (a.kind == Num::kApprox) return a.w;
  if (a.kind != Num::kExact) return Wide{};
  return rat_to_wide(a.q);
}

// The value as a long double (inf or 0 when out of range).
long double to_ld(const Num& a) {
  if (a.kind == Num::kInf) return a.inf_sign * std::numeric_limits<long double>::infinity();
  if (a.kind == Num::kNaN) return std::numeric_limits<long double>::quiet_NaN();
  Wide w = to_wide(a);
  if (w.e > 20000) return w.m > 0 ? INFINITY : -INFINITY;
  if (w.e < -20000) return 0;
  return std::ldexp(w.m, static_cast<int>(w.e));
}

bool is_zero(const Num& a) {
  return (a.kind == Num::kExact && rat_sign(a.q) == 0) || (a.kind == Num::kApprox && a.w.m == 0);
}

int sign_of(const Num& a) {
  if (a.kind == Num::kExact) return rat_sign(a.q);
  if (a.kind == Num::kApprox) return a.w.m > 0 ? 1 : (a.w.m < 0 ? -1 : 0);
  if (a.kind == Num::kInf) return a.inf_sign;
  return 0;
}

Num neg(const Num& a) {
  Num r = a;
  if (r.kind == Num::kExact) r.q.v = -r.q.v;
  r.w.m = -r.w.m;
  r.inf_sign = -r.inf_sign;
  return r;
}

Num add(const Num& a, const Num& b) {
  if (a.kind == Num::kNaN || b.kind == Num::kNaN) return nan_num();
  if (a.kind == Num::kInf || b.kind == Num::kInf) {
    if (a.kind == Num::kInf && b.kind == Num::kInf && a.inf_sign != b.inf_sign) return nan_num();
    return a.kind == Num::kInf ? a : b;
  }
  if (a.kind == Num::kExact && b.kind == Num::kExact) {
    Rat q;
    if (rat_add(a.q, b.q, &q)) return exact(std::move(q));
  }
  Wide x = to_wide(a), y = to_wide(b);
  if (x.m == 0) return approx(y.m, y.e);
  if (y.m == 0) return approx(x.m, x.e);
  if (x.e < y.e) std::swap(x, y);
  int64_t diff = x.e - y.e;
  if (diff > 100) return approx(x.m, x.e);
  return approx(x.m + std::ldexp(y.m, static_cast<int>(-diff)), x.e);
}

Num mul(const Num& a, const Num& b) {
  if (a.kind == Num::kNaN || b.kind == Num::kNaN) return nan_num();
  if (a.kind == Num::kInf || b.kind == Num::kInf) {
    int s = sign_of(a) * sign_of(b);
    if (s == 0) return nan_num();
    Num r;
    r.kind = Num::kInf;
    r.inf_sign = s;
    return r;
  }
  if (a.kind == Num::kExact && b.kind == Num::kExact) {
    Rat q;
    if (rat_mul(a.q, b.q, &q)) return exact(std::move(q));
  }
  Wide x = to_wide(a), y = to_wide(b);
  if (x.m == 0 || y.m == 0) return approx(0, 0);
  return approx(x.m * y.m, x.e + y.e);
}

Num recip(const Num& a) {
  if (a.kind == Num::kNaN || is_zero(a)) return nan_num();
  if (a.kind == Num::kInf) return exact_int(0);
  if (a.kind == Num::kExact) {
    Num r = a;
    mpq_inv(r.q.v.get_mpq_t(), r.q.v.get_mpq_t());  // same bit sizes: stays within the cap
    return r;
  }
  Wide x = to_wide(a);
  return approx(1.0L / x.m, -x.e);
}

Num divide(const Num& a, const Num& b) {
  return mul(a, recip(b));
}

// log2 |a| for a finite non-zero value.
long double log2_abs(const Num& a) {
  Wide x = to_wide(a);
  return std::log2(std::fabs(x.m)) + static_cast<long double>(x.e);
}

// log2 |x| for x != 0 (accurate to a few ulps whatever the size).
long double log2_mpz(const mpz_class& x) {
  long double m;
  int64_t e;
  mpz_to_ld_exp(x, &m, &e);
  return std::log2(std::fabs(m)) + static_cast<long double>(e);
}

// 2^L as a Num, L possibly huge.
Num exp2_wide(long double L, int sign) {
  if (!std::isfinite(L) || std::fabs(L) > static_cast<long double>(kMaxExp)) return nan_num();
  long double fl = std::floor(L);
  return approx(sign * std::exp2(L - fl), static_cast<int64_t>(fl));
}

// The exact integer value of a (false when a is not an exact integer).
const mpz_class* exact_integer(const Num& a) {
  if (a.kind != Num::kExact || !rat_is_int(a.q)) return nullptr;
  return &a.q.v.get_num();
}

bool isqrt_exact(const mpz_class& x, mpz_class* r) {
  if (sgn(x) < 0 || mpz_perfect_square_p(x.get_mpz_t()) == 0) return false;
  mpz_sqrt(r->get_mpz_t(), x.get_mpz_t());
  return true;
}

Num power(const Num& a, const Num& b) {
  if (a.kind == Num::kNaN || b.kind == Num::kNaN || a.kind == Num::kInf || b.kind == Num::kInf)
    return nan_num();
  const mpz_class* n = exact_integer(b);
  if (a.kind == Num::kExact && n) {
    int s = rat_sign(a.q);
    if (s == 0) return sgn(*n) > 0 ? exact_int(0) : (sgn(*n) == 0 ? exact_int(1) : nan_num());
    if (sgn(*n) == 0) return exact_int(1);
    if (rat_is_int(a.q) && (a.q.v.get_num() == 1 || a.q.v.get_num() == -1))
      return exact_int(s > 0 || mpz_even_p(n->get_mpz_t()) ? 1 : -1);
    // Exact only when the result surely fits the cap: |n| * log2 max(|num|, den) <= kRatMaxBits
    // (that maximum is at least 1, so |n| <= kRatMaxBits and the powering below is cheap).
    if (mpz_fits_slong_p(n->get_mpz_t())) {
      long k = mpz_get_si(n->get_mpz_t());
      long double bits = std::max(log2_mpz(a.q.v.get_num()), log2_mpz(a.q.v.get_den()));
      unsigned long mag = k < 0 ? 0UL - static_cast<unsigned long>(k) : static_cast<unsigned long>(k);
      if (bits * static_cast<long double>(mag) <= static_cast<long double>(kRatMaxBits)) {
        mpq_class base = a.q.v;
        if (k < 0) mpq_inv(base.get_mpq_t(), base.get_mpq_t());
        mpz_class pn, pd;
        mpz_pow_ui(pn.get_mpz_t(), base.get_num_mpz_t(), mag);
        mpz_pow_ui(pd.get_mpz_t(), base.get_den_mpz_t(), mag);
        Rat r;
        // Powers of coprime integers are coprime and pd > 0: already canonical.
        if (rat_accept(mpq_class(pn, pd), &r)) return exact(std::move(r));
      }
    }
  }
  // Square roots and other rational exponents of perfect powers: a^(1/2) exactly when possible.
  if (a.kind == Num::kExact && b.kind == Num::kExact && b.q.v.get_den() == 2 && rat_sign(a.q) > 0 &&
      abs(b.q.v.get_num()) <= 8) {
    mpz_class rn, rd;
    if (isqrt_exact(a.q.v.get_num(), &rn) && isqrt_exact(a.q.v.get_den(), &rd)) {
      Rat root;
      if (rat_make(rn, rd, &root))
        return power(exact(std::move(root)), exact_int(mpz_get_si(b.q.v.get_num_mpz_t())));
    }
  }
  if (is_zero(a)) return sign_of(b) > 0 ? exact_int(0) : nan_num();
  int sign = 1;
  if (sign_of(a) < 0) {
    if (n) {
      sign = mpz_even_p(n->get_mpz_t()) ? 1 : -1;
    } else if (b.kind == Num::kExact && mpz_odd_p(b.q.v.get_den_mpz_t())) {
      sign = mpz_even_p(b.q.v.get_num_mpz_t()) ? 1 : -1;  // odd roots of negatives are real
    } else {
      return nan_num();
    }
  }
  long double L = log2_abs(a) * to_ld(b);
  return exp2_wide(L, sign);
}

// The largest n whose n! fits kRatMaxBits (n! has floor(log2 n!) + 1 bits).
unsigned long max_exact_factorial() {
  static const unsigned long kMax = [] {
    long double log2f = 0;
    unsigned long n = 1;
    while (log2f + std::log2(static_cast<long double>(n + 1)) < static_cast<long double>(kRatMaxBits) - 1) {
      ++n;
      log2f += std::log2(static_cast<long double>(n));
    }
    return n;
  }();
  return kMax;
}

Num factorial(const Num& a) {
  const mpz_class* n = exact_integer(a);
  if (!n || sgn(*n) < 0) return nan_num();
  if (mpz_cmp_ui(n->get_mpz_t(), max_exact_factorial()) <= 0) {
    mpz_class f;
    mpz_fac_ui(f.get_mpz_t(), mpz_get_ui(n->get_mpz_t()));
    Rat r;
    if (rat_make(f, mpz_class(1), &r)) return exact(std::move(r));
    return nan_num();
  }
  // Past the cap: log2 n! = lgamma(n + 1) / ln 2 (n itself may be huge: then the result is NaN).
  long double L = std::lgamma(to_ld(a) + 1) / std::log(2.0L);
  return exp2_wide(L, 1);
}

enum class Cmp { kEqual, kDifferent, kInvalid };

Cmp compare_num(const Num& a, const Num& b) {
  if (a.kind == Num::kNaN || b.kind == Num::kNaN) return Cmp::kInvalid;
  if (a.kind == Num::kInf || b.kind == Num::kInf) {
    return (a.kind == b.kind && a.inf_sign == b.inf_sign) ? Cmp::kEqual : Cmp::kDifferent;
  }
  if (a.kind == Num::kExact && b.kind == Num::kExact) {
    return rat_equal(a.q, b.q) ? Cmp::kEqual : Cmp::kDifferent;
  }
  Num d = add(a, neg(b));
  if (d.kind == Num::kNaN) return Cmp::kInvalid;
  if (is_zero(d)) return Cmp::kEqual;
  Wide x = to_wide(a), y = to_wide(b), z = to_wide(d);
  // |d| <= tol * max(|a|, |b|), in log2 terms.
  long double ld = std::log2(std::fabs(z.m)) + z.e;
  long double la = x.m == 0 ? -INFINITY : std::log2(std::fabs(x.m)) + x.e;
  long double lb = y.m == 0 ? -INFINITY : std::log2(std::fabs(y.m)) + y.e;
  return ld <= std::log2(static_cast<long double>(kRelTol)) + std::max(la, lb) ? Cmp::kEqual
                                                                               : Cmp::kDifferent;
}

// ---------------------------------------------------------------------------------------------
// Normalisation (string level).

bool is_alpha(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

void replace_all(std::string* s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  while (true) {
    size_t p = s->find(from, i);
    if (p == std::string::npos) break;
    out.append(*s, i, p - i);
    out.append(to);
    i = p + from.size();
  }
  out.append(*s, i, std::string::npos);
  *s = std::move(out);
}

// The end (one past the closing brace) of the brace group starting at s[i] == '{', or npos.
size_t group_end(const std::string& s, size_t i) {
  int depth = 0;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '\\' && k + 1 < s.size()) {
      ++k;
      continue;
    }
    if (s[k] == '{') ++depth;
    if (s[k] == '}' && --depth == 0) return k + 1;
  }
  return std::string::npos;
}

bool letters_only(std::string_view w) {
  bool any = false;
  for (char c : w) {
    if (is_alpha(c)) {
      any = true;
    } else if (!is_space(c) && c != '.') {
      return false;
    }
  }
  return any;
}

const std::vector<std::string_view>& unit_words() {
  static const std::vector<std::string_view> kUnits = {
      "cm",         "mm",     "km",      "m",      "meter",   "meters",  "metre",  "metres",   "centimeters",
      "kilometers", "inch",   "inches",  "in",     "ft",      "feet",    "foot",   "yard",     "yards",
      "mile",       "miles",  "mph",     "units",  "unit",    "square",  "sq",     "cubic",    "degrees",
      "degree",     "deg",    "dollars", "dollar", "cents",   "cent",    "hours",  "hour",     "hrs",
      "minutes",    "minute", "mins",    "min",    "seconds", "second",  "sec",    "days",     "day",
      "weeks",      "week",   "years",   "year",   "months",  "month",   "kg",     "g",        "grams",
      "gram",       "pounds", "pound",   "lbs",    "lb",      "liters",  "liter",  "litres",   "ml",
      "gallons",    "gallon", "ounces",  "ounce",  "oz",      "percent", "people", "students", "times",
      "ways",       "radians"};
  return kUnits;
}

// Rewrites LaTeX commands in one pass: spacing and sizing commands vanish, \text{unit} after a
// value is dropped, \text{...} and font commands are unwrapped.
std::string rewrite_commands(const std::string& s, bool* ok) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) {
      *ok = false;
      return out;
    }
    char n = s[i + 1];
    if (!is_alpha(n)) {
      if (n == '!') {
        i += 2;
      } else if (n == ',' && !out.empty() && is_digit(out.back()) && i + 2 < s.size() && is_digit(s[i + 2])) {
        i += 2;  // 1\,000: a thin space between digit groups
      } else if (n == ',' || n == ';' || n == ':' || n == ' ') {
        out += ' ';
        i += 2;
      } else if (n == '%' || n == '$') {
        i += 2;
      } else if (n == '\\') {
        out += " \\matrow ";
        i += 2;
      } else {
        out += c;
        out += n;
        i += 2;
      }
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && is_alpha(s[j])) ++j;
    std::string name = s.substr(i + 1, j - i - 1);
    if (name == "left" || name == "right" || name == "bigl" || name == "bigr" || name == "Bigl" ||
        name == "Bigr" || name == "big" || name == "Big" || name == "displaystyle" || name == "textstyle" ||
        name == "circ" || name == "degree" || name == "limits") {
      if ((name == "left" || name == "right") && j < s.size() && s[j] == '.') ++j;
      i = j;
      continue;
    }
    if (name == "begin" || name == "end") {
      // Matrices: \begin{pmatrix} a & b \\ c & d \end{pmatrix} (any matrix environment).
      size_t k = j;
      size_t close = k < s.size() && s[k] == '{' ? s.find('}', k) : std::string::npos;
      std::string env = close == std::string::npos ? "" : s.substr(k + 1, close - k - 1);
      if (env.size() < 6 || env.compare(env.size() - 6, 6, "matrix") != 0) {
        *ok = false;
        return out;
      }
      out += name == "begin" ? " \\matbegin " : " \\matend ";
      i = close + 1;
      continue;
    }
    if (name == "quad" || name == "qquad") {
      out += ' ';
      i = j;
      continue;
    }
    bool text =
        name == "text" || name == "textrm" || name == "mbox" || name == "textnormal" || name == "textit";
    bool font = name == "textbf" || name == "mathrm" || name == "mathbf" || name == "mathit" ||
                name == "operatorname" || name == "boldsymbol" || name == "mathsf" || name == "emph";
    if (text || font) {
      size_t k = j;
      while (k < s.size() && is_space(s[k])) ++k;
      if (k >= s.size() || s[k] != '{') {
        i = j;
        continue;
      }
      size_t end = group_end(s, k);
      if (end == std::string::npos) {
        *ok = false;
        return out;
      }
      std::string content = s.substr(k + 1, end - k - 2);
      bool rest_empty = trim(out).empty() && trim(std::string_view(s).substr(end)).empty();
      if (text && letters_only(content) && !rest_empty && !trim(out).empty()) {
        // A unit after a value: drop it, and a power of it (\text{cm}^2).
        i = end;
        while (i < s.size() && is_space(s[i])) ++i;
        if (i < s.size() && s[i] == '^') {
          ++i;
          if (i < s.size() && s[i] == '{') {
            size_t e2 = group_end(s, i);
            i = e2 == std::string::npos ? s.size() : e2;
          } else if (i < s.size()) {
            ++i;
          }
        }
        out += ' ';
        continue;
      }
      out += ' ';
      out += content;
      out += ' ';
      i = end;
      continue;
    }
    out.append(s, i, j - i);
    i = j;
  }
  return out;
}

// Drops trailing unit words ("5 cm", "12 square units", "3 cm^2") after a value.
std::string strip_trailing_units(std::string s) {
  while (true) {
    std::string t = trim(s);
    size_t end = t.size();
    // Optional ^2 / ^{2}.
    size_t p = end;
    if (p >= 2 && is_digit(t[p - 1]) && t[p - 2] == '^')
      p -= 2;
    else if (p >= 4 && t[p - 1] == '}' && is_digit(t[p - 2]) && t[p - 3] == '{' && t[p - 4] == '^')
      p -= 4;
    size_t wend = p;
    while (p > 0 && is_alpha(t[p - 1])) --p;
    if (p == wend) return t;
    std::string word = t.substr(p, wend - p);
    for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (p == 0 || t[p - 1] == '\\') return t;
    bool unit = std::find(unit_words().begin(), unit_words().end(), word) != unit_words().end();
    if (!unit) return t;
    // Multi-letter units need a space or a digit before them; one-letter ones (m, g) a space.
    std::string before = trim(t.substr(0, p));
    if (before.empty()) return t;
    if (word.size() == 1 && !is_space(t[p - 1])) return t;
    char last = before.back();
    if (!is_digit(last) && last != '}' && last != ')' && !is_alpha(last) && last != '.') return t;
    s = before;
  }
}

// {n \choose k} -> \binom{n}{k}: the brace group around each \choose (the whole string when it
// has none) becomes a \binom of what stands before and after it. False when braces do not match.
bool rewrite_choose(std::string* s) {
  constexpr std::string_view kChoose = "\\choose";
  for (size_t at = s->find(kChoose); at != std::string::npos; at = s->find(kChoose)) {
    const size_t after = at + kChoose.size();
    if (after < s->size() && is_alpha((*s)[after])) return false;  // \chooser: not the command
    size_t open = std::string::npos, close = std::string::npos;
    for (size_t i = at, depth = 0; i-- > 0;) {
      if ((*s)[i] == '}') depth++;
      if ((*s)[i] == '{' && depth-- == 0) {
        open = i;
        break;
      }
    }
    for (size_t i = after, depth = 0; i < s->size(); i++) {
      if ((*s)[i] == '{') depth++;
      if ((*s)[i] == '}' && depth-- == 0) {
        close = i;
        break;
      }
    }
    if ((open == std::string::npos) != (close == std::string::npos)) return false;
    const size_t b = open == std::string::npos ? 0 : open + 1,
                 e = close == std::string::npos ? s->size() : close;
    const std::string n = s->substr(b, at - b), k = s->substr(after, e - after);
    if (trim(n).empty() || trim(k).empty()) return false;
    const std::string binom = "\\binom{" + n + "}{" + k + "}";
    if (open == std::string::npos)
      *s = binom;
    else
      s->replace(open, close + 1 - open, binom);
  }
  return true;
}

std::optional<std::string> normalize(std::string_view in) {
  if (in.size() > kMaxInput) return std::nullopt;
  std::string s(in);
  replace_all(&s, "\xe2\x88\x92", "-");         // minus sign
  replace_all(&s, "\xc3\x97", "*");             // times
  replace_all(&s, "\xc2\xb7", "*");             // middle dot
  replace_all(&s, "\xcf\x80", "\\pi ");         // pi
  replace_all(&s, "\xe2\x88\x9a", "\\sqrt ");   // square root
  replace_all(&s, "\xe2\x88\x9e", "\\infty ");  // infinity
  replace_all(&s, "\xe2\x89\xa4", "\\le ");     // <=
  replace_all(&s, "\xe2\x89\xa5", "\\ge ");     // >=
  replace_all(&s, "\xc2\xb0", "");              // degree sign
  replace_all(&s, "\xe2\x80\x89", " ");         // thin space
  replace_all(&s, "\xe2\x80\xaf", " ");         // narrow no-break space
  replace_all(&s, "\xc2\xa0", " ");             // no-break space
  std::replace(s.begin(), s.end(), '~', ' ');   // LaTeX's no-break space
  if (!rewrite_choose(&s)) return std::nullopt;
  replace_all(&s, "^{\\circ}", "");
  replace_all(&s, "^\\circ", "");
  replace_all(&s, "^{\\degree}", "");
  replace_all(&s, "\\(", " ");
  replace_all(&s, "\\)", " ");
  replace_all(&s, "\\[", " ");
  replace_all(&s, "\\]", " ");
  replace_all(&s, "\\$", "");
  s.erase(std::remove(s.begin(), s.end(), '$'), s.end());
  bool ok = true;
  s = rewrite_commands(s, &ok);
  if (!ok) return std::nullopt;
  replace_all(&s, "{,}", ",");
  s.erase(std::remove(s.begin(), s.end(), '%'), s.end());
  s = trim(s);
  while (!s.empty() && (s.back() == '.' || s.back() == ';')) s = trim(s.substr(0, s.size() - 1));
  s = strip_trailing_units(s);
  if (s.empty()) return std::nullopt;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Tokens.

enum class T { kNum, kVar, kPi, kE, kInf, kFunc, kFrac, kBinom, kSqrt, kOp, kEnd };

struct Tok {
  T t = T::kEnd;
  std::string text;  // number digits, variable name, function name
  char op = 0;       // for kOp: + - * / ^ ! , _ | = < > ( ) [ ] { }, L(<=) G(>=) N(!=) P(+-) M(-+) U(cup)
                     // S(\{) s(\})
};

const std::vector<std::string_view>& func_names() {
  static const std::vector<std::string_view> kFuncs = {
      "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sin", "cos", "tan", "sec",
      "csc",    "cot",    "ln",     "log",  "exp",  "gcd",  "lcm", "max", "min"};
  return kFuncs;
}

const std::vector<std::string_view>& greek_names() {
  static const std::vector<std::string_view> kGreek = {
      "alpha",    "beta",    "gamma", "delta",  "epsilon", "varepsilon", "zeta",  "eta",   "theta",
      "vartheta", "iota",    "kappa", "lambda", "mu",      "nu",         "xi",    "rho",   "sigma",
      "tau",      "upsilon", "phi",   "varphi", "chi",     "psi",        "omega", "Gamma", "Delta",
      "Theta",    "Lambda",  "Xi",    "Sigma",  "Phi",     "Psi",        "Omega"};
  return kGreek;
}

// Thousands separators: a first group of 1-3 digits, then groups of exactly three digits, each
// after the same separator: a comma ("1,000"; "1{,}000", "1\\,000" and "1\\!000" arrive here as
// "1,000" or "1000"), one space ("1 000"; LaTeX's \\; \\: \\  and ~ and Unicode thin spaces
// arrive as one), or, with comma_space, a comma and a space ("1, 000": read so only when the other
// answer is one number, since it is otherwise a list).
bool tokenize(const std::string& s, std::vector<Tok>* out, bool comma_space = false) {
  size_t i = 0;
  auto push_op = [&](char op) {
    Tok t;
    t.t = T::kOp;
    t.op = op;
    out->push_back(t);
  };
  while (i < s.size()) {
    char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      std::string num;
      size_t j = i;
      while (j < s.size() && is_digit(s[j])) num += s[j++];
      // Thousands separators: groups of exactly three digits after a first group of 1-3 digits.
      if (!num.empty() && num.size() <= 3 && num[0] != '0') {
        std::string grouped = num;
        size_t k = j;
        std::string_view sep;
        for (std::string_view cand : {std::string_view(", "), std::string_view(","), std::string_view(" ")}) {
          if (cand == ", " && !comma_space) continue;
          if (s.compare(k, cand.size(), cand) == 0) {
            sep = cand;
            break;
          }
        }
        while (!sep.empty() && s.compare(k, sep.size(), sep) == 0) {
          const size_t g = k + sep.size();
          if (!(g + 2 < s.size() && is_digit(s[g]) && is_digit(s[g + 1]) && is_digit(s[g + 2]) &&
                (g + 3 >= s.size() || !is_digit(s[g + 3]))))
            break;
          grouped += s.substr(g, 3);
          k = g + 3;
        }
        if (grouped.size() > num.size()) {
          num = grouped;
          j = k;
        }
      }
      if (j < s.size() && s[j] == '.' && (j + 1 < s.size() && is_digit(s[j + 1]))) {
        num += s[j++];
        while (j < s.size() && is_digit(s[j])) num += s[j++];
      }
      Tok t;
      t.t = T::kNum;
      t.text = num;
      out->push_back(t);
      i = j;
      continue;
    }
    if (is_alpha(c)) {
      size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string run = s.substr(i, j - i);
      size_t k = 0;
      while (k < run.size()) {
        bool matched = false;
        for (std::string_view f : func_names()) {
          if (run.compare(k, f.size(), f) == 0) {
            Tok t;
            t.t = T::kFunc;
            t.text = f;
            out->push_back(t);
            k += f.size();
            matched = true;
            break;
          }
        }
        if (matched) continue;
        if (run.compare(k, 4, "sqrt") == 0) {
          Tok t;
          t.t = T::kSqrt;
          out->push_back(t);
          k += 4;
          continue;
        }
        if (run == "pi") {
          Tok t;
          t.t = T::kPi;
          out->push_back(t);
          k += 2;
          continue;
        }
        Tok t;
        if (run[k] == 'e') {
          t.t = T::kE;
        } else {
          t.t = T::kVar;
          t.text = std::string(1, run[k]);
        }
        out->push_back(t);
        ++k;
      }
      i = j;
      continue;
    }
    if (c == '\\') {
      if (i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
        push_op(s[i + 1] == '{' ? 'S' : 's');
        i += 2;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string name = s.substr(i + 1, j - i - 1);
      i = j;
      if (name.empty()) return false;
      if (name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac") {
        Tok t;
        t.t = T::kFrac;
        out->push_back(t);
      } else if (name == "binom" || name == "dbinom" || name == "tbinom") {
        Tok t;
        t.t = T::kBinom;
        out->push_back(t);
      } else if (name == "sqrt") {
        Tok t;
        t.t = T::kSqrt;
        out->push_back(t);
      } else if (name == "pi") {
        Tok t;
        t.t = T::kPi;
        out->push_back(t);
      } else if (name == "infty" || name == "infin") {
        Tok t;
        t.t = T::kInf;
        out->push_back(t);
      } else if (name == "cdot" || name == "times" || name == "ast") {
        push_op('*');
      } else if (name == "div") {
        push_op('/');
      } else if (name == "pm") {
        push_op('P');
      } else if (name == "mp") {
        push_op('M');
      } else if (name == "le" || name == "leq" || name == "leqslant") {
        push_op('L');
      } else if (name == "ge" || name == "geq" || name == "geqslant") {
        push_op('G');
      } else if (name == "ne" || name == "neq") {
        push_op('N');
      } else if (name == "lt") {
        push_op('<');
      } else if (name == "gt") {
        push_op('>');
      } else if (name == "in") {
        push_op('=');  // "x \in [a, b]" reads as "x = [a, b]"
      } else if (name == "matbegin") {
        push_op('B');
      } else if (name == "matend") {
        push_op('E');
      } else if (name == "matrow") {
        push_op(';');
      } else if (name == "cup") {
        push_op('U');
      } else if (name == "lbrace") {
        push_op('S');
      } else if (name == "rbrace") {
        push_op('s');
      } else if (name == "lfloor") {
        push_op('F');
      } else if (name == "rfloor") {
        push_op('f');
      } else if (name == "lceil") {
        push_op('C');
      } else if (name == "rceil") {
        push_op('c');
      } else if (name == "langle") {
        push_op('(');
      } else if (name == "rangle") {
        push_op(')');
      } else if (std::find(func_names().begin(), func_names().end(), name) != func_names().end()) {
        Tok t;
        t.t = T::kFunc;
        t.text = name;
        out->push_back(t);
      } else if (std::find(greek_names().begin(), greek_names().end(), name) != greek_names().end()) {
        Tok t;
        t.t = T::kVar;
        t.text = "\\" + name;
        out->push_back(t);
      } else {
        return false;
      }
      continue;
    }
    if (c == '&') {
      push_op('&');
      ++i;
      continue;
    }
    if (std::string_view("+-*/^!,_|=<>()[]{}").find(c) != std::string_view::npos) {
      if ((c == '<' || c == '>') && i + 1 < s.size() && s[i + 1] == '=') {
        push_op(c == '<' ? 'L' : 'G');
        i += 2;
        continue;
      }
      if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
        push_op('N');
        i += 2;
        continue;
      }
      if (c == '*' && i + 1 < s.size() && s[i + 1] == '*') {  // Python power
        push_op('^');
        i += 2;
        continue;
      }
      push_op(c);
      ++i;
      continue;
    }
    return false;  // any other character: not a math answer
  }
  if (out->size() > kMaxInput) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Expression trees.

constexpr int kMaxTreeDepth = 2000;

enum class Op {
  kNum,
  kVar,
  kPi,
  kE,
  kInf,
  kAdd,
  kMul,
  kDiv,
  kPow,
  kNeg,
  kFact,
  kFunc,
  kAbs,
  kSub,
  kBinom,
  kFloor,
  kCeil,
  kFunc2  // gcd, lcm, max, min of a and b (more arguments fold left)
};

struct Node {
  Op op = Op::kNum;
  int a = -1, b = -1;
  Num val;
  std::string name;  // variable or function name
};

struct Tree {
  std::vector<Node> nodes;
  int add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
};

Num parse_number(const std::string& digits) {
  size_t dot = digits.find('.');
  std::string intpart = dot == std::string::npos ? digits : digits.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : digits.substr(dot + 1);
  std::string all = intpart + frac;
  size_t nz = all.find_first_not_of('0');
  std::string sig = nz == std::string::npos ? "0" : all.substr(nz);
  // Exact when numerator and denominator surely fit the cap: 10^k has fewer than
  // kRatMaxBits bits for k <= kRatMaxBits * log10(2) (decided before converting anything).
  constexpr size_t kMaxExactDigits = kRatMaxBits * 30103 / 100000;
  if (sig.size() <= 18 && frac.size() <= 18 && std::all_of(all.begin(), all.end(), is_digit)) {
    int64_t n = 0, d = 1;  // below 10^18: no overflow
    for (char ch : sig) n = n * 10 + (ch - '0');
    for (size_t k = 0; k < frac.size(); ++k) d *= 10;
    Rat q;
    if (rat_make(n, d, &q)) return exact(std::move(q));
  }
  if (sig.size() <= kMaxExactDigits && frac.size() <= kMaxExactDigits &&
      std::all_of(all.begin(), all.end(), is_digit)) {
    mpz_class n, d;
    mpz_set_str(n.get_mpz_t(), sig.c_str(), 10);
    mpz_ui_pow_ui(d.get_mpz_t(), 10, frac.size());
    Rat q;
    if (rat_make(n, d, &q)) return exact(std::move(q));
  }
  // Long numbers: mantissa from the leading digits, scaled by the power of ten.
  long double m = std::strtold(digits.c_str(), nullptr);
  if (std::isfinite(m)) return from_ld(m);
  long double L = (static_cast<long double>(intpart.size()) - 1) * std::log2(10.0L) +
                  std::log2(std::strtold(("0." + intpart).c_str(), nullptr) * 10);
  return exp2_wide(L, 1);
}

class Parser {
 public:
  Parser(const std::vector<Tok>& toks, size_t begin, size_t end, Tree* tree)
      : toks_(toks), begin_(begin), pos_(begin), end_(end), tree_(tree) {}

  // Parses the whole range as one expression; -1 on failure.
  int parse_all() {
    int r = expr();
    if (r < 0 || pos_ != end_) return -1;
    return r;
  }

 private:
  static constexpr int kMaxDepth = 200;

  const Tok* peek() const { return pos_ < end_ ? &toks_[pos_] : nullptr; }
  bool is_op(char op) const { return pos_ < end_ && toks_[pos_].t == T::kOp && toks_[pos_].op == op; }

  int make(Op op, int a = -1, int b = -1) {
    Node n;
    n.op = op;
    n.a = a;
    n.b = b;
    return tree_->add(std::move(n));
  }

  struct DepthGuard {
    explicit DepthGuard(int* d) : d_(d) { ++*d_; }
    ~DepthGuard() { --*d_; }
    int* d_;
  };

  int expr() {
    DepthGuard g(&depth_);
    if (depth_ > kMaxDepth) return -1;
    int left = term();
    if (left < 0) return -1;
    while (is_op('+') || is_op('-')) {
      bool minus = is_op('-');
      ++pos_;
      int right = term();
      if (right < 0) return -1;
      left = make(minus ? Op::kSub : Op::kAdd, left, right);
    }
    return left;
  }

  bool starts_implicit() const {
    const Tok* t = peek();
    if (!t) return false;
    switch (t->t) {
      case T::kNum:
        return last_was_num_ ? false : true;
      case T::kVar:
      case T::kPi:
      case T::kE:
      case T::kFunc:
      case T::kFrac:
      case T::kBinom:
      case T::kSqrt:
      case T::kInf:
        return true;
      case T::kOp:
        return t->op == '(' || t->op == '{';
      default:
        return false;
    }
  }

  int term() {
    int left = unary();
    if (left < 0) return -1;
    while (true) {
      if (is_op('*') || is_op('/')) {
        bool div = is_op('/');
        ++pos_;
        int right = unary();
        if (right < 0) return -1;
        left = make(div ? Op::kDiv : Op::kMul, left, right);
      } else if (starts_implicit()) {
        int right = power();
        if (right < 0) return -1;
        left = make(Op::kMul, left, right);
      } else {
        return left;
      }
    }
  }

  int unary() {
    DepthGuard g(&depth_);
    if (depth_ > kMaxDepth) return -1;
    if (is_op('-')) {
      ++pos_;
      int a = unary();
      return a < 0 ? -1 : make(Op::kNeg, a);
    }
    if (is_op('+')) {
      ++pos_;
      return unary();
    }
    return power();
  }

  int power() {
    DepthGuard g(&depth_);
    if (depth_ > kMaxDepth) return -1;
    int base = postfix();
    if (base < 0) return -1;
    if (is_op('^')) {
      ++pos_;
      int e;
      if (is_op('{')) {
        e = group('{', '}');
      } else {
        e = unary();
      }
      if (e < 0) return -1;
      int r = make(Op::kPow, base, e);
      while (is_op('!')) {
        ++pos_;
        r = make(Op::kFact, r);
      }
      last_was_num_ = false;
      return r;
    }
    return base;
  }

  int postfix() {
    int p = primary();
    if (p < 0) return -1;
    while (is_op('!')) {
      ++pos_;
      p = make(Op::kFact, p);
    }
    return p;
  }

  int group(char open, char close) {
    ++pos_;  // open
    (void)open;
    int e = expr();
    if (e < 0 || !is_op(close)) return -1;
    ++pos_;
    last_was_num_ = false;
    return e;
  }

  // After an integer at the start of a term: \frac{p}{q} with integers 0 < p < q (a mixed number).
  bool is_mixed_fraction(const std::string& whole) const {
    if (whole.empty() || !std::all_of(whole.begin(), whole.end(), is_digit)) return false;
    if (pos_ + 7 > end_ || toks_[pos_].t != T::kFrac) return false;
    const Tok* g = &toks_[pos_ + 1];
    if (!(g[0].t == T::kOp && g[0].op == '{' && g[1].t == T::kNum && g[2].t == T::kOp && g[2].op == '}' &&
          g[3].t == T::kOp && g[3].op == '{' && g[4].t == T::kNum && g[5].t == T::kOp && g[5].op == '}'))
      return false;
    const std::string &p = g[1].text, &q = g[4].text;
    auto integer = [](const std::string& x) {
      return !x.empty() && x.size() <= 9 && std::all_of(x.begin(), x.end(), is_digit);
    };
    if (!integer(p) || !integer(q)) return false;
    const long pv = std::stol(p), qv = std::stol(q);
    return pv > 0 && pv < qv;
  }

  // A LaTeX macro argument: a brace group or a single token (one digit of a number: \frac12).
  int argument() {
    DepthGuard g(&depth_);
    if (depth_ > kMaxDepth) return -1;
    const Tok* t = peek();
    if (!t) return -1;
    if (is_op('{')) return group('{', '}');
    if (t->t == T::kNum) {
      size_t off = pos_ == partial_pos_ ? partial_off_ : 0;
      std::string text = t->text.substr(off);
      if (text.size() > 1 && text[0] != '.') {
        int n = make(Op::kNum);
        tree_->nodes[n].val = parse_number(text.substr(0, 1));
        partial_pos_ = pos_;
        partial_off_ = off + 1;
        return n;
      }
    }
    if (t->t == T::kNum || t->t == T::kVar || t->t == T::kPi || t->t == T::kE) return primary();
    return -1;
  }

  int primary() {
    DepthGuard g(&depth_);
    if (depth_ > kMaxDepth) return -1;
    const Tok* t = peek();
    if (!t) return -1;
    last_was_num_ = false;
    switch (t->t) {
      case T::kNum: {
        int n = make(Op::kNum);
        std::string digits = t->text.substr(pos_ == partial_pos_ ? partial_off_ : 0);
        tree_->nodes[n].val = parse_number(digits);
        // At the start of a term: first, after a leading sign, a bracket, a comma, a relation or
        // an explicit product sign (2 \cdot 3\frac{1}{5} is 2 times 16/5).
        const Tok* prev = pos_ > begin_ && toks_[pos_ - 1].t == T::kOp ? &toks_[pos_ - 1] : nullptr;
        const bool term_start =
            pos_ == begin_ ||
            (prev && (std::string_view("([{,=<>LGN*").find(prev->op) != std::string_view::npos ||
                      ((prev->op == '-' || prev->op == '+') && pos_ - 1 == begin_)));
        ++pos_;
        last_was_num_ = true;
        if (term_start && is_mixed_fraction(digits)) {  // 3\frac{2}{5}: MATH's mixed number 17/5
          ++pos_;
          int num = make(Op::kNum), den = make(Op::kNum);
          tree_->nodes[num].val = parse_number(toks_[pos_ + 1].text);
          tree_->nodes[den].val = parse_number(toks_[pos_ + 4].text);
          pos_ += 6;
          last_was_num_ = false;
          return make(Op::kAdd, n, make(Op::kDiv, num, den));
        }
        if (is_op('_')) {  // a numeral in base b: 52_8, 4210_{5}
          ++pos_;
          bool braced = is_op('{');
          if (braced) ++pos_;
          const Tok* bt = peek();
          if (!bt || bt->t != T::kNum) return -1;
          int base = bt->text.size() <= 2 ? std::atoi(bt->text.c_str()) : 0;
          ++pos_;
          if (braced) {
            if (!is_op('}')) return -1;
            ++pos_;
          }
          if (base < 2 || base > 10 || digits.size() > 30) return -1;
          if (digits.empty()) return -1;
          for (char ch : digits) {
            if (!is_digit(ch) || ch - '0' >= base) return -1;
          }
          Rat q;
          mpz_set_str(q.v.get_num_mpz_t(), digits.c_str(), base);  // at most 30 digits: below the cap
          tree_->nodes[n].val = exact(std::move(q));
        }
        return n;
      }
      case T::kVar: {
        std::string name = t->text;
        ++pos_;
        if (is_op('_')) {
          ++pos_;
          const Tok* s = peek();
          if (!s) return -1;
          if (is_op('{')) {
            size_t depth = 0;
            name += "_{";
            while (pos_ < end_) {
              const Tok& x = toks_[pos_++];
              if (x.t == T::kOp && x.op == '{') ++depth;
              if (x.t == T::kOp && x.op == '}' && --depth == 0) break;
              name += x.t == T::kOp ? std::string(1, x.op) : x.text + "#";
            }
            if (depth != 0) return -1;
          } else {
            name += "_" + (s->t == T::kOp ? std::string(1, s->op) : s->text);
            ++pos_;
          }
        }
        int n = make(Op::kVar);
        tree_->nodes[n].name = name;
        return n;
      }
      case T::kPi:
        ++pos_;
        return make(Op::kPi);
      case T::kE:
        ++pos_;
        return make(Op::kE);
      case T::kInf:
        ++pos_;
        return make(Op::kInf);
      case T::kFrac:
      case T::kBinom: {
        const Op op = t->t == T::kFrac ? Op::kDiv : Op::kBinom;
        ++pos_;
        int a = argument();
        if (a < 0) return -1;
        int b = argument();
        if (b < 0) return -1;
        return make(op, a, b);
      }
      case T::kSqrt: {
        ++pos_;
        int index = -1;
        if (is_op('[')) {
          ++pos_;
          index = expr();
          if (index < 0 || !is_op(']')) return -1;
          ++pos_;
        }
        int a = argument();
        if (a < 0) {
          if (is_op('(')) a = group('(', ')');
          if (a < 0) return -1;
        }
        if (index < 0) {
          int half = make(Op::kNum);
          Rat q;
          rat_make(1, 2, &q);
          tree_->nodes[half].val = exact(std::move(q));
          return make(Op::kPow, a, half);
        }
        int one = make(Op::kNum);
        tree_->nodes[one].val = exact_int(1);
        return make(Op::kPow, a, make(Op::kDiv, one, index));
      }
      case T::kFunc: {
        std::string name = t->text;
        ++pos_;
        if (name == "gcd" || name == "lcm" || name == "max" || name == "min") {  // name(a, b, ...)
          if (!is_op('(')) return -1;
          ++pos_;
          int acc = -1;
          while (true) {
            int e = expr();
            if (e < 0) return -1;
            if (acc < 0) {
              acc = e;
            } else {
              acc = make(Op::kFunc2, acc, e);
              tree_->nodes[acc].name = name;
            }
            if (is_op(',')) {
              ++pos_;
              continue;
            }
            if (!is_op(')')) return -1;
            ++pos_;
            break;
          }
          if (tree_->nodes[acc].op != Op::kFunc2 || tree_->nodes[acc].name != name)
            return -1;  // one argument
          last_was_num_ = false;
          return acc;
        }
        int fpow = -1, base = -1;
        for (int k = 0; k < 2; ++k) {
          if (is_op('^') && fpow < 0) {
            ++pos_;
            fpow = is_op('{') ? group('{', '}') : argument();
            if (fpow < 0) return -1;
          } else if (is_op('_') && base < 0 && name == "log") {
            ++pos_;
            base = is_op('{') ? group('{', '}') : argument();
            if (base < 0) return -1;
          }
        }
        int arg;
        if (is_op('(')) {
          arg = group('(', ')');
        } else if (is_op('{')) {
          arg = group('{', '}');
        } else {
          arg = power();
        }
        if (arg < 0) return -1;
        int f = make(Op::kFunc, arg, base);
        tree_->nodes[f].name = name;
        if (fpow >= 0) f = make(Op::kPow, f, fpow);
        return f;
      }
      case T::kOp:
        if (t->op == '(') return group('(', ')');
        if (t->op == '{') return group('{', '}');
        if (t->op == '[') return group('[', ']');
        if (t->op == '|') {
          ++pos_;
          int e = expr();
          if (e < 0 || !is_op('|')) return -1;
          ++pos_;
          return make(Op::kAbs, e);
        }
        if (t->op == 'F' || t->op == 'C') {  // \lfloor x \rfloor, \lceil x \rceil
          const char close = t->op == 'F' ? 'f' : 'c';
          const Op op = t->op == 'F' ? Op::kFloor : Op::kCeil;
          ++pos_;
          int e = expr();
          if (e < 0 || !is_op(close)) return -1;
          ++pos_;
          last_was_num_ = false;
          return make(op, e);
        }
        return -1;
      default:
        return -1;
    }
  }

  const std::vector<Tok>& toks_;
  size_t begin_, pos_, end_;
  Tree* tree_;
  int depth_ = 0;
  bool last_was_num_ = false;
  size_t partial_pos_ = static_cast<size_t>(-1);  // a number token whose first partial_off_ digits
  size_t partial_off_ = 0;                        // an argument (\frac12) already took
};

using Env = std::map<std::string, Num>;

Num apply_func(const std::string& f, const Num& x, const Num* base) {
  if (x.kind == Num::kNaN || x.kind == Num::kInf) return nan_num();
  if (f == "ln" || f == "log") {
    if (sign_of(x) <= 0) return nan_num();
    long double l2 = log2_abs(x);
    if (base) {
      if (sign_of(*base) <= 0) return nan_num();
      long double lb = log2_abs(*base);
      if (lb == 0) return nan_num();
      return from_ld(l2 / lb);
    }
    return from_ld(l2 * std::log(2.0L));  // log means natural log, as in most graders
  }
  if (f == "exp") return exp2_wide(to_ld(x) / std::log(2.0L), 1);
  long double v = to_ld(x);
  if (!std::isfinite(v) || std::fabs(v) > 1e15L) return nan_num();
  long double r;
  if (f == "sin")
    r = std::sin(v);
  else if (f == "cos")
    r = std::cos(v);
  else if (f == "tan")
    r = std::tan(v);
  else if (f == "sec")
    r = 1 / std::cos(v);
  else if (f == "csc")
    r = 1 / std::sin(v);
  else if (f == "cot")
    r = 1 / std::tan(v);
  else if (f == "arcsin")
    r = std::asin(v);
  else if (f == "arccos")
    r = std::acos(v);
  else if (f == "arctan")
    r = std::atan(v);
  else if (f == "sinh")
    r = std::sinh(v);
  else if (f == "cosh")
    r = std::cosh(v);
  else if (f == "tanh")
    r = std::tanh(v);
  else
    return nan_num();
  if (!std::isfinite(r)) return nan_num();
  return from_ld(r);
}

// \binom{n}{k} for integers n and k (no value otherwise): 0 for k < 0, and for 0 <= n < k;
// (-1)^k \binom{k-n-1}{k} for negative n. Exact while n' < kRatMaxBits (the result has fewer bits
// than n'), otherwise from log-gamma.
Num binomial(const Num& n, const Num& k) {
  const mpz_class* ni = exact_integer(n);
  const mpz_class* ki = exact_integer(k);
  if (!ni || !ki) return nan_num();
  if (sgn(*ki) < 0) return exact_int(0);
  if (!ki->fits_slong_p() || !ni->fits_slong_p()) return nan_num();
  long nn = ni->get_si();
  const long kk = ki->get_si();
  int sign = 1;
  if (nn < 0) {
    if (kk > LONG_MAX + nn) return nan_num();
    nn = kk - nn - 1;
    sign = kk % 2 ? -1 : 1;
  } else if (kk > nn) {
    return exact_int(0);
  }
  if (nn < static_cast<long>(kRatMaxBits)) {
    mpz_class r;
    mpz_bin_uiui(r.get_mpz_t(), static_cast<unsigned long>(nn), static_cast<unsigned long>(kk));
    if (sign < 0) r = -r;
    Rat q;
    if (!rat_make(r, mpz_class(1), &q)) return nan_num();
    return exact(std::move(q));
  }
  const long double l =
      (std::lgamma(static_cast<long double>(nn) + 1) - std::lgamma(static_cast<long double>(kk) + 1) -
       std::lgamma(static_cast<long double>(nn - kk) + 1)) /
      std::log(2.0L);
  return exp2_wide(l, sign);
}

// floor(x) or ceil(x): exact for exact values; an approximate one only while its integer part
// is exact in a long double (|x| < 2^63), else no value.
Num round_to_integer(const Num& x, bool down) {
  if (x.kind == Num::kExact) {
    mpz_class r;
    if (down)
      mpz_fdiv_q(r.get_mpz_t(), x.q.v.get_num_mpz_t(), x.q.v.get_den_mpz_t());
    else
      mpz_cdiv_q(r.get_mpz_t(), x.q.v.get_num_mpz_t(), x.q.v.get_den_mpz_t());
    Rat q;
    if (!rat_make(r, mpz_class(1), &q)) return nan_num();
    return exact(std::move(q));
  }
  if (x.kind != Num::kApprox) return nan_num();
  const long double v = to_ld(x);
  if (!std::isfinite(v) || std::fabs(v) >= 9.2e18L) return nan_num();
  return exact_int(static_cast<int64_t>(down ? std::floor(v) : std::ceil(v)));
}

// gcd and lcm of integers (non-negative results), max and min of comparable values.
Num binary_func(const std::string& f, const Num& a, const Num& b) {
  if (f == "max" || f == "min") {
    const Num d = add(a, neg(b));  // finite values only: the sign of a - b orders them
    if (a.kind == Num::kNaN || a.kind == Num::kInf || b.kind == Num::kNaN || b.kind == Num::kInf ||
        d.kind == Num::kNaN)
      return nan_num();
    return (f == "max") == (sign_of(d) >= 0) ? a : b;
  }
  const mpz_class* x = exact_integer(a);
  const mpz_class* y = exact_integer(b);
  if (!x || !y) return nan_num();
  mpz_class r;
  if (f == "gcd")
    mpz_gcd(r.get_mpz_t(), x->get_mpz_t(), y->get_mpz_t());
  else
    mpz_lcm(r.get_mpz_t(), x->get_mpz_t(), y->get_mpz_t());
  Rat q;
  if (!rat_make(r, mpz_class(1), &q)) return nan_num();
  return exact(std::move(q));
}

Num eval(const Tree& tree, int id, const Env& env, int depth = 0) {
  if (id < 0 || depth > kMaxTreeDepth) return nan_num();
  const Node& n = tree.nodes[id];
  auto sub = [&](int k) { return eval(tree, k, env, depth + 1); };
  switch (n.op) {
    case Op::kNum:
      return n.val;
    case Op::kVar: {
      auto it = env.find(n.name);
      return it == env.end() ? nan_num() : it->second;
    }
    case Op::kPi:
      return from_ld(3.14159265358979323846264338327950288L);
    case Op::kE:
      return from_ld(2.71828182845904523536028747135266250L);
    case Op::kInf: {
      Num r;
      r.kind = Num::kInf;
      r.inf_sign = 1;
      return r;
    }
    case Op::kAdd:
      return add(sub(n.a), sub(n.b));
    case Op::kSub:
      return add(sub(n.a), neg(sub(n.b)));
    case Op::kMul:
      return mul(sub(n.a), sub(n.b));
    case Op::kDiv:
      return divide(sub(n.a), sub(n.b));
    case Op::kPow:
      return power(sub(n.a), sub(n.b));
    case Op::kNeg:
      return neg(sub(n.a));
    case Op::kFact:
      return factorial(sub(n.a));
    case Op::kBinom:
      return binomial(sub(n.a), sub(n.b));
    case Op::kFloor:
    case Op::kCeil:
      return round_to_integer(sub(n.a), n.op == Op::kFloor);
    case Op::kFunc2:
      return binary_func(n.name, sub(n.a), sub(n.b));
    case Op::kAbs: {
      Num v = sub(n.a);
      return sign_of(v) < 0 ? neg(v) : v;
    }
    case Op::kFunc: {
      Num x = sub(n.a);
      if (n.b >= 0) {
        Num b = sub(n.b);
        return apply_func(n.name, x, &b);
      }
      return apply_func(n.name, x, nullptr);
    }
  }
  return nan_num();
}

void collect_vars(const Tree& tree, int id, std::vector<std::string>* vars) {
  // Iterative walk (trees can be deep).
  std::vector<int> stack;
  if (id >= 0) stack.push_back(id);
  while (!stack.empty()) {
    int k = stack.back();
    stack.pop_back();
    const Node& n = tree.nodes[k];
    if (n.op == Op::kVar && std::find(vars->begin(), vars->end(), n.name) == vars->end())
      vars->push_back(n.name);
    if (n.a >= 0) stack.push_back(n.a);
    if (n.b >= 0) stack.push_back(n.b);
  }
}

// ---------------------------------------------------------------------------------------------
// Answers: structure over expressions.

struct Answer {
  enum Kind { kExpr, kTuple, kSet, kRelation, kText, kChoice, kEmptySet } kind = kExpr;
  int expr = -1;              // kExpr
  char open = 0, close = 0;   // kTuple: bracket characters
  std::vector<Answer> parts;  // kTuple, kSet (a union of intervals is a kSet of kTuples)
  int lhs = -1, rhs = -1;     // kRelation: lhs op rhs, with op one of = < L N
  char rel = 0;
  std::string text;  // kText, kChoice
};

struct Parsed {
  Tree tree;
  Answer answer;
  std::string normalized;  // the answer's text after normalize()
};

bool op_at(const std::vector<Tok>& t, size_t i, char op) {
  return t[i].t == T::kOp && t[i].op == op;
}

int bracket_delta(const Tok& t) {
  if (t.t != T::kOp) return 0;
  if (t.op == '(' || t.op == '[' || t.op == '{' || t.op == 'S' || t.op == 'B' || t.op == 'F' || t.op == 'C')
    return 1;
  if (t.op == ')' || t.op == ']' || t.op == '}' || t.op == 's' || t.op == 'E' || t.op == 'f' || t.op == 'c')
    return -1;
  return 0;
}

// Top-level positions (depth 0 within [b, e)) of tokens with the given op.
std::vector<size_t> split_points(const std::vector<Tok>& t, size_t b, size_t e, char op) {
  std::vector<size_t> out;
  int depth = 0;
  bool in_abs = false;
  for (size_t i = b; i < e; ++i) {
    depth += bracket_delta(t[i]);
    if (op_at(t, i, '|') && depth == 0) in_abs = !in_abs;
    if (depth == 0 && !in_abs && op_at(t, i, op)) out.push_back(i);
  }
  return out;
}

// Whether the bracket at b closes exactly at e - 1 (any bracket kinds, for intervals).
bool wraps(const std::vector<Tok>& t, size_t b, size_t e) {
  if (e - b < 2 || bracket_delta(t[b]) != 1 || bracket_delta(t[e - 1]) != -1) return false;
  int depth = 0;
  for (size_t i = b; i < e; ++i) {
    depth += bracket_delta(t[i]);
    if (depth == 0 && i != e - 1) return false;
  }
  return depth == 0;
}

bool parse_item(std::vector<Tok>& toks, size_t b, size_t e, Tree* tree, Answer* out, int depth);

// The pieces of [b, e) between the split points `cuts`, each parsed as one answer into parts.
bool parse_pieces(std::vector<Tok>& toks, size_t b, size_t e, std::vector<size_t> cuts, Tree* tree,
                  std::vector<Answer>* parts, int depth) {
  cuts.push_back(e);
  size_t s = b;
  for (size_t c : cuts) {
    Answer part;
    if (!parse_item(toks, s, c, tree, &part, depth + 1)) return false;
    parts->push_back(std::move(part));
    s = c + 1;
  }
  return true;
}

bool parse_expr_range(std::vector<Tok>& toks, size_t b, size_t e, Tree* tree, int* out) {
  if (b >= e) return false;
  Parser p(toks, b, e, tree);
  *out = p.parse_all();
  return *out >= 0;
}

bool has_vars(const Tree& tree, int id) {
  std::vector<std::string> v;
  collect_vars(tree, id, &v);
  return !v.empty();
}

// One answer over tokens [b, e): relation, union, set, tuple, list, \pm expansion or expression.
bool parse_item(std::vector<Tok>& toks, size_t b, size_t e, Tree* tree, Answer* out, int depth) {
  if (depth > 20 || b >= e) return false;
  // Unions of intervals/sets.
  auto cups = split_points(toks, b, e, 'U');
  if (!cups.empty()) {
    out->kind = Answer::kSet;
    return parse_pieces(toks, b, e, std::move(cups), tree, &out->parts, depth);
  }
  // An inequality chain around one variable, "3 < y \le 8" or "8 \ge y > 3": the interval (3, 8].
  std::vector<size_t> ineq;
  for (char rel : std::string_view("<>LG"))
    for (size_t q : split_points(toks, b, e, rel)) ineq.push_back(q);
  if (ineq.size() == 2) {
    std::sort(ineq.begin(), ineq.end());
    const char r1 = toks[ineq[0]].op, r2 = toks[ineq[1]].op;
    const bool up = (r1 == '<' || r1 == 'L') && (r2 == '<' || r2 == 'L');
    const bool down = (r1 == '>' || r1 == 'G') && (r2 == '>' || r2 == 'G');
    if ((!up && !down) || ineq[1] != ineq[0] + 2 || toks[ineq[0] + 1].t != T::kVar) return false;
    int lo, hi;
    if (!parse_expr_range(toks, b, ineq[0], tree, &lo) ||
        !parse_expr_range(toks, ineq[1] + 1, e, tree, &hi) || has_vars(*tree, lo) || has_vars(*tree, hi))
      return false;
    char lo_rel = r1, hi_rel = r2;
    if (down) std::swap(lo, hi), std::swap(lo_rel, hi_rel);
    out->kind = Answer::kTuple;
    out->open = lo_rel == '<' || lo_rel == '>' ? '(' : '[';
    out->close = hi_rel == '<' || hi_rel == '>' ? ')' : ']';
    out->parts.resize(2);
    out->parts[0].expr = lo, out->parts[1].expr = hi;
    return true;
  }
  // Relations.
  for (char rel : std::string_view("=<>LGN")) {
    auto pts = split_points(toks, b, e, rel);
    if (pts.empty()) continue;
    if (pts.size() > 1) return false;
    size_t p = pts[0];
    int lhs, rhs;
    // "x = 5": a lone variable on the left and a constant answer on the right.
    if (rel == '=' && p == b + 1 && toks[b].t == T::kVar) {
      Tree probe;
      Answer right;
      if (parse_item(toks, p + 1, e, &probe, &right, depth + 1)) {
        bool constant = right.kind != Answer::kExpr || !has_vars(probe, right.expr);
        if (constant) return parse_item(toks, p + 1, e, tree, out, depth + 1);
      }
    }
    if (!parse_expr_range(toks, b, p, tree, &lhs) || !parse_expr_range(toks, p + 1, e, tree, &rhs))
      return false;
    out->kind = Answer::kRelation;
    if (rel == '>' || rel == 'G') std::swap(lhs, rhs);
    out->rel = rel == '>' ? '<' : (rel == 'G' ? 'L' : rel);
    out->lhs = lhs;
    out->rhs = rhs;
    return true;
  }
  // Matrices: rows split at \\ (';'), entries at '&'; the bracket style does not matter.
  if (op_at(toks, b, 'B') && op_at(toks, e - 1, 'E') && wraps(toks, b, e)) {
    out->kind = Answer::kTuple;
    out->open = 'B';
    out->close = 'E';
    auto rows = split_points(toks, b + 1, e - 1, ';');
    rows.push_back(e - 1);
    size_t s = b + 1;
    for (size_t r : rows) {
      if (r > s) {
        Answer row;
        row.kind = Answer::kTuple;
        row.open = row.close = '&';
        if (!parse_pieces(toks, s, r, split_points(toks, s, r, '&'), tree, &row.parts, depth)) return false;
        out->parts.push_back(std::move(row));
      }
      s = r + 1;
    }
    return !out->parts.empty();
  }
  // Sets \{ ... \}.
  if (op_at(toks, b, 'S') && op_at(toks, e - 1, 's') && wraps(toks, b, e)) {
    out->kind = Answer::kSet;
    if (e - b == 2) {
      out->kind = Answer::kEmptySet;
      return true;
    }
    return parse_pieces(toks, b + 1, e - 1, split_points(toks, b + 1, e - 1, ','), tree, &out->parts, depth);
  }
  // Tuples and intervals: brackets around a top-level comma.
  if (wraps(toks, b, e) && !op_at(toks, b, '{')) {
    auto commas = split_points(toks, b + 1, e - 1, ',');
    if (!commas.empty()) {
      out->kind = Answer::kTuple;
      out->open = toks[b].op;
      out->close = toks[e - 1].op;
      return parse_pieces(toks, b + 1, e - 1, std::move(commas), tree, &out->parts, depth);
    }
  }
  // A bare list "1, 2, 3": unordered.
  auto commas = split_points(toks, b, e, ',');
  if (!commas.empty()) {
    out->kind = Answer::kSet;
    return parse_pieces(toks, b, e, std::move(commas), tree, &out->parts, depth);
  }
  // \pm and \mp: the set of both signs (at most 3 of them: 8 combinations).
  std::vector<size_t> pms;
  for (size_t i = b; i < e; ++i) {
    if (op_at(toks, i, 'P') || op_at(toks, i, 'M')) pms.push_back(i);
  }
  if (!pms.empty()) {
    if (pms.size() > 3) return false;
    out->kind = Answer::kSet;
    for (size_t mask = 0; mask < (size_t{1} << pms.size()); ++mask) {
      std::vector<Tok> copy(toks.begin() + static_cast<std::ptrdiff_t>(b),
                            toks.begin() + static_cast<std::ptrdiff_t>(e));
      for (size_t k = 0; k < pms.size(); ++k) copy[pms[k] - b].op = (mask >> k) & 1 ? '-' : '+';
      Answer part;
      int id;
      if (!parse_expr_range(copy, 0, copy.size(), tree, &id)) return false;
      part.expr = id;
      out->parts.push_back(std::move(part));
    }
    return true;
  }
  out->kind = Answer::kExpr;
  return parse_expr_range(toks, b, e, tree, &out->expr);
}

std::string lower_compact(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (is_space(c) || c == '{' || c == '}' || c == '\\') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Text answers: a word of three or more letters that is not a function name, letters and spaces
// only; or a clock time h:mm.
bool text_answer(const std::string& s, std::string* text) {
  // Clock times.
  size_t colon = s.find(':');
  if (colon != std::string::npos && colon > 0) {
    bool ok = true;
    for (size_t k = 0; k < colon; ++k) ok = ok && (is_digit(s[k]) || is_space(s[k]));
    size_t k = colon + 1;
    int digits = 0;
    while (k < s.size() && is_digit(s[k])) {
      ++k;
      ++digits;
    }
    if (ok && digits == 2) {
      std::string rest = lower_compact(s.substr(k));
      if (rest.empty() || rest == "am" || rest == "pm" || rest == "a.m." || rest == "p.m.") {
        *text = lower_compact(s);
        return true;
      }
    }
  }
  bool word = false;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (is_alpha(c)) {
      size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string w = s.substr(i, j - i);
      bool known = w == "pi" || w == "sqrt" || w == "infty" ||
                   std::find(func_names().begin(), func_names().end(), w) != func_names().end() ||
                   std::find(greek_names().begin(), greek_names().end(), w) != greek_names().end();
      bool after_backslash = i > 0 && s[i - 1] == '\\';
      if (w.size() >= 3 && !known && !after_backslash) word = true;
      i = j;
      continue;
    }
    if (!is_space(c) && c != '-' && c != '\'' && c != ',' && c != '.' && c != '(' && c != ')') return false;
    ++i;
  }
  if (!word) return false;
  *text = lower_compact(s);
  return true;
}

// A multiple-choice letter: "B", "(B)", "B)", "(B".
bool choice_answer(const std::string& s, std::string* letter) {
  std::string t;
  for (char c : s) {
    if (!is_space(c)) t += c;
  }
  if (!t.empty() && t.front() == '(') t.erase(0, 1);
  if (!t.empty() && t.back() == ')') t.pop_back();
  if (t.size() == 1 && t[0] >= 'A' && t[0] <= 'Z') {
    *letter = t;
    return true;
  }
  return false;
}

bool parse_answer(std::string_view raw, Parsed* out, bool comma_space = false) {
  auto norm = normalize(raw);
  if (!norm) return false;
  out->normalized = *norm;
  const std::string& s = *norm;
  if (choice_answer(s, &out->answer.text)) {
    out->answer.kind = Answer::kChoice;
    return true;
  }
  if (s == "\\emptyset" || s == "\\varnothing" || s == "\\{\\}") {
    out->answer.kind = Answer::kEmptySet;
    return true;
  }
  if (text_answer(s, &out->answer.text)) {
    out->answer.kind = Answer::kText;
    return true;
  }
  std::vector<Tok> toks;
  if (!tokenize(s, &toks, comma_space) || toks.empty()) return false;
  if (!parse_item(toks, 0, toks.size(), &out->tree, &out->answer, 0)) return false;
  // Evaluation recurses over the tree: refuse trees deeper than kMaxTreeDepth (children are
  // always created before their parents, so one pass in index order finds every depth).
  std::vector<int> depth(out->tree.nodes.size(), 1);
  for (size_t k = 0; k < depth.size(); ++k) {
    const Node& n = out->tree.nodes[k];
    if (n.a >= 0) depth[k] = std::max(depth[k], depth[static_cast<size_t>(n.a)] + 1);
    if (n.b >= 0) depth[k] = std::max(depth[k], depth[static_cast<size_t>(n.b)] + 1);
    if (depth[k] > kMaxTreeDepth) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Comparison.

struct Ctx {
  const Tree* gt;
  const Tree* pt;
  std::vector<Env> points;  // one environment per evaluation point
};

// Values of an expression at every point.
std::vector<Num> values(const Tree& tree, int id, const std::vector<Env>& points) {
  std::vector<Num> out;
  for (const Env& env : points) out.push_back(eval(tree, id, env));
  return out;
}

enum class Eq { kYes, kNo, kGoldInvalid };

Eq expr_equal(const Ctx& c, int g, int p) {
  auto gv = values(*c.gt, g, c.points);
  auto pv = values(*c.pt, p, c.points);
  int valid = 0;
  for (size_t k = 0; k < gv.size(); ++k) {
    if (gv[k].kind == Num::kNaN) continue;
    ++valid;
    if (compare_num(gv[k], pv[k]) != Cmp::kEqual) return Eq::kNo;
  }
  return valid == 0 ? Eq::kGoldInvalid : Eq::kYes;
}

Eq relation_equal(const Ctx& c, const Answer& g, const Answer& p) {
  if (g.rel != p.rel) return Eq::kNo;
  Num k;  // pred = k * gold
  bool have_k = false;
  int valid = 0;
  for (const Env& env : c.points) {
    Num gd = add(eval(*c.gt, g.lhs, env), neg(eval(*c.gt, g.rhs, env)));
    Num pd = add(eval(*c.pt, p.lhs, env), neg(eval(*c.pt, p.rhs, env)));
    if (gd.kind == Num::kNaN || gd.kind == Num::kInf) continue;
    ++valid;
    if (is_zero(gd)) {
      if (compare_num(pd, exact_int(0)) != Cmp::kEqual) return Eq::kNo;
      continue;
    }
    if (!have_k) {
      k = divide(pd, gd);
      if (k.kind == Num::kNaN || is_zero(k)) return Eq::kNo;
      if (g.rel != '=' && g.rel != 'N' && sign_of(k) <= 0) return Eq::kNo;
      have_k = true;
    } else if (compare_num(mul(k, gd), pd) != Cmp::kEqual) {
      return Eq::kNo;
    }
  }
  if (valid == 0) return Eq::kGoldInvalid;
  // Without a factor, the gold difference was zero at every point and so was the prediction's:
  // the same degenerate relation (x = x against 0 = 0; found by fuzz/fuzz_verify).
  return Eq::kYes;
}

Eq answer_equal(const Ctx& c, const Answer& g, const Answer& p, int depth = 0);

Eq answer_equal(const Ctx& c, const Answer& g, const Answer& p, int depth) {
  if (depth > 30) return Eq::kNo;
  switch (g.kind) {
    case Answer::kExpr:
      if (p.kind != Answer::kExpr) return Eq::kNo;
      return expr_equal(c, g.expr, p.expr);
    case Answer::kText:
    case Answer::kChoice:
      return (p.kind == g.kind && p.text == g.text) ? Eq::kYes : Eq::kNo;
    case Answer::kEmptySet:
      return p.kind == Answer::kEmptySet ? Eq::kYes : Eq::kNo;
    case Answer::kRelation:
      if (p.kind != Answer::kRelation) return Eq::kNo;
      return relation_equal(c, g, p);
    case Answer::kTuple: {
      if (p.kind != Answer::kTuple || p.open != g.open || p.close != g.close ||
          p.parts.size() != g.parts.size()) {
        return Eq::kNo;
      }
      for (size_t k = 0; k < g.parts.size(); ++k) {
        Eq e = answer_equal(c, g.parts[k], p.parts[k], depth + 1);
        if (e != Eq::kYes) return e;
      }
      return Eq::kYes;
    }
    case Answer::kSet: {
      if (p.kind != Answer::kSet || p.parts.size() != g.parts.size()) return Eq::kNo;
      std::vector<bool> used(p.parts.size(), false);
      for (const Answer& gp : g.parts) {
        bool found = false;
        for (size_t k = 0; k < p.parts.size() && !found; ++k) {
          if (used[k]) continue;
          Eq e = answer_equal(c, gp, p.parts[k], depth + 1);
          if (e == Eq::kGoldInvalid) return e;
          if (e == Eq::kYes) {
            used[k] = true;
            found = true;
          }
        }
        if (!found) return Eq::kNo;
      }
      return Eq::kYes;
    }
  }
  return Eq::kNo;
}

void answer_vars(const Tree& tree, const Answer& a, std::vector<std::string>* vars) {
  collect_vars(tree, a.expr, vars);
  collect_vars(tree, a.lhs, vars);
  collect_vars(tree, a.rhs, vars);
  for (const Answer& p : a.parts) answer_vars(tree, p, vars);
}

// Evaluation points: small random rationals, the same for every call (deterministic verdicts).
std::vector<Env> make_points(const std::vector<std::string>& vars) {
  if (vars.empty()) return {Env{}};
  std::vector<Env> pts;
  for (int k = 0; k < kPoints; ++k) {
    Env env;
    for (size_t v = 0; v < vars.size(); ++v) {
      uint64_t h = hash_u64(0x5eed, static_cast<uint64_t>(k), v);
      int64_t num = static_cast<int64_t>(h % 199) - 99;
      if (num == 0) num = 37;
      int64_t den = static_cast<int64_t>((h >> 20) % 17) + 1;
      Rat q;
      rat_make(num, den, &q);
      env[vars[v]] = exact(std::move(q));
    }
    pts.push_back(std::move(env));
  }
  return pts;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kCorrect:
      return "correct";
    case Verdict::kWrong:
      return "wrong";
    case Verdict::kUnverifiable:
      return "unverifiable";
  }
  return "?";
}

// Free variables an answer may have (each evaluation point assigns them all).
constexpr size_t kMaxVars = 16;

bool math_parses(std::string_view text) {
  Parsed p;
  if (!parse_answer(text, &p)) return false;
  std::vector<std::string> vars;
  answer_vars(p.tree, p.answer, &vars);
  return vars.size() <= kMaxVars;
}

// A plain decimal literal with a fractional part ("0.6666666667", "-1.25"): its value times
// 10^digits in *scaled, the digits after the point and the significant digits.
bool decimal_literal(const std::string& s, mpz_class* scaled, size_t* frac_digits, size_t* sig_digits) {
  size_t i = s.empty() || s[0] != '-' ? 0 : 1;
  const size_t dot = s.find('.');
  if (dot == std::string::npos || dot + 1 >= s.size() || s.size() > 200) return false;
  std::string digits;
  for (size_t k = i; k < s.size(); k++) {
    if (k == dot) continue;
    if (!is_digit(s[k])) return false;
    digits += s[k];
  }
  if (digits.empty()) return false;
  *frac_digits = s.size() - dot - 1;
  const size_t nz = digits.find_first_not_of('0');
  *sig_digits = nz == std::string::npos ? 0 : digits.size() - nz;
  scaled->set_str(digits, 10);
  if (i == 1) *scaled = -*scaled;
  return true;
}

// Whether a decimal literal with at least kMinApproxDigits significant digits is the exact
// rational value of the other answer (a constant whose decimal expansion does not terminate),
// rounded or truncated to the digits written: 0.6666666667 and 0.6666666666 for 2/3.
bool decimal_approximates(const Parsed& dec, const Parsed& other) {
  mpz_class scaled;
  size_t frac = 0, sig = 0;
  if (other.answer.kind != Answer::kExpr || !decimal_literal(dec.normalized, &scaled, &frac, &sig) ||
      sig < kMinApproxDigits)
    return false;
  std::vector<std::string> vars;
  collect_vars(other.tree, other.answer.expr, &vars);
  if (!vars.empty()) return false;
  const Num v = eval(other.tree, other.answer.expr, Env{});
  if (v.kind != Num::kExact) return false;
  mpz_class den = v.q.v.get_den();
  for (unsigned long f : {2ul, 5ul})
    while (mpz_divisible_ui_p(den.get_mpz_t(), f)) mpz_divexact_ui(den.get_mpz_t(), den.get_mpz_t(), f);
  if (den == 1) return false;  // a terminating decimal: only the exact digits are right
  mpz_class pow10;
  mpz_ui_pow_ui(pow10.get_mpz_t(), 10, frac);
  const mpz_class num = abs(mpz_class(v.q.v.get_num() * pow10)), d = v.q.v.get_den();
  mpz_class trunc, round;
  mpz_tdiv_q(trunc.get_mpz_t(), num.get_mpz_t(), d.get_mpz_t());
  mpz_class twice = 2 * num + d;  // round half away from zero: floor((2 |x| + 1) / 2)
  mpz_class dd = 2 * d;
  mpz_fdiv_q(round.get_mpz_t(), twice.get_mpz_t(), dd.get_mpz_t());
  const int sign = sgn(v.q.v);
  return scaled == sign * trunc || scaled == sign * round;
}

// A bare list whose text has a comma and a space between digit groups ("1, 000"), re-read with
// those as thousands separators.
bool reread_comma_space(const std::string& raw, const Parsed& first, Parsed* out) {
  if (first.answer.kind != Answer::kSet || first.normalized.find(", ") == std::string::npos) return false;
  return parse_answer(raw, out, true) && out->answer.kind == Answer::kExpr;
}

Verdict verify_math(std::string_view gold, std::string_view pred, std::string* reason) {
  auto say = [&](const char* r) {
    if (reason) *reason = r;
  };
  Parsed g, p;
  if (!parse_answer(gold, &g)) {
    say("gold does not parse");
    return Verdict::kUnverifiable;
  }
  if (!parse_answer(pred, &p)) {
    say("prediction does not parse");
    return Verdict::kWrong;
  }
  std::vector<std::string> vars;
  answer_vars(g.tree, g.answer, &vars);
  if (vars.size() > kMaxVars) {  // found by fuzz/fuzz_verify: this used to be "wrong" against itself
    say("gold has too many variables");
    return Verdict::kUnverifiable;
  }
  answer_vars(p.tree, p.answer, &vars);
  if (vars.size() > kMaxVars) {
    say("too many variables");
    return Verdict::kWrong;
  }
  Ctx c{&g.tree, &p.tree, make_points(vars)};
  Eq eq = answer_equal(c, g.answer, p.answer);
  if (eq == Eq::kNo && g.answer.kind == Answer::kExpr) {
    // The gold is one number: a prediction "1, 000" is a number with thousands separators (the
    // values have no variables, so the evaluation points do not matter).
    Parsed p2;
    if (reread_comma_space(std::string(pred), p, &p2)) {
      Ctx c2{&g.tree, &p2.tree, c.points};
      if (answer_equal(c2, g.answer, p2.answer) == Eq::kYes) eq = Eq::kYes;
    }
  } else if (eq == Eq::kNo && p.answer.kind == Answer::kExpr) {
    Parsed g2;
    if (reread_comma_space(std::string(gold), g, &g2)) {
      Ctx c2{&g2.tree, &p.tree, c.points};
      if (answer_equal(c2, g2.answer, p.answer) == Eq::kYes) eq = Eq::kYes;
    }
  }
  if (eq == Eq::kNo && (decimal_approximates(p, g) || decimal_approximates(g, p))) {
    say("equal to the digits written");
    return Verdict::kCorrect;
  }
  switch (eq) {
    case Eq::kYes:
      say("equal");
      return Verdict::kCorrect;
    case Eq::kNo:
      say("different");
      return Verdict::kWrong;
    case Eq::kGoldInvalid:
      say("gold has no value");
      return Verdict::kUnverifiable;
  }
  return Verdict::kWrong;
}

Verdict verify_math(std::string_view gold, std::string_view pred) {
  return verify_math(gold, pred, nullptr);
}

}  // namespace r1::verify
