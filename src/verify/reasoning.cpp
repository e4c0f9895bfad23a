#include "verify/reasoning.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

namespace r1::verify {

namespace {

bool is_word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lowercase(std::string_view text) {
  std::string low(text);
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return low;
}

// Where the first whole-word reflection phrase at or after `from` starts in `low` (the text in
// lower case; npos: none).
size_t next_reflection(std::string_view low, size_t from = 0) {
  size_t first = std::string::npos;
  for (const std::string_view w : kReflectionWords)
    for (size_t at = low.find(w, from); at != std::string::npos && at < first; at = low.find(w, at + 1))
      if ((at == 0 || !is_word(low[at - 1])) &&
          (at + w.size() == low.size() || !is_word(low[at + w.size()]))) {
        first = at;  // a whole-word match: "wait" but not "await" or "waiting"
        break;
      }
  return first;
}

// An unsigned integer at text[i] (at most 18 digits); advances i.
std::optional<int64_t> integer(std::string_view text, size_t& i) {
  const size_t start = i;
  int64_t v = 0;
  while (i < text.size() && is_digit(text[i]) && i - start < 18) v = v * 10 + (text[i++] - '0');
  if (i == start || (i < text.size() && is_digit(text[i]))) return std::nullopt;
  return v;
}

// The equations in text ("a+b=c", "3*4-2=10": integers joined by + - *, '=', an integer; no
// spaces inside), each with whether it holds; calls f(position, left-hand side, holds).
template <class F>
void for_each_equation(std::string_view text, F&& f) {
  for (size_t i = 0; i < text.size();) {
    if (!is_digit(text[i]) || (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.'))) {
      i++;
      continue;
    }
    const size_t start = i;
    // sum of products, left to right
    int64_t sum = 0, prod = 0;
    int sign = 1, ops = 0;
    bool ok = true;
    std::optional<int64_t> v = integer(text, i);
    if (!v) {
      i = start + 1;
      continue;
    }
    prod = *v;
    while (i < text.size() && (text[i] == '+' || text[i] == '-' || text[i] == '*')) {
      const char op = text[i++];
      const std::optional<int64_t> w = integer(text, i);
      if (!w) {
        ok = false;
        break;
      }
      ops++;
      if (op == '*') {
        prod *= *w;
      } else {
        sum += sign * prod;
        sign = op == '+' ? 1 : -1;
        prod = *w;
      }
    }
    if (ok && ops > 0 && i < text.size() && text[i] == '=') {
      const std::string_view lhs = text.substr(start, i - start);
      i++;
      if (const std::optional<int64_t> rhs = integer(text, i)) {
        f(start, lhs, sum + sign * prod == *rhs);
        continue;
      }
    }
    if (i == start) i++;
  }
}

}  // namespace

bool has_reflection(std::string_view text) {
  return next_reflection(lowercase(text)) != std::string::npos;
}

ReasoningTraits reasoning_traits(std::string_view text) {
  ReasoningTraits t;
  const std::string low = lowercase(text);
  const size_t first = next_reflection(low);
  if (first == std::string::npos) return t;
  t.reflection = true;
  struct Equation {
    size_t pos;
    std::string_view lhs;
    bool holds;
  };
  std::vector<Equation> eqs;
  for_each_equation(text, [&](size_t pos, std::string_view lhs, bool ok) { eqs.push_back({pos, lhs, ok}); });
  const auto true_after = [&](size_t at) {
    return at != std::string::npos &&
           std::any_of(eqs.begin(), eqs.end(), [&](const Equation& e) { return e.holds && e.pos > at; });
  };
  t.check = true_after(first);
  // A slip is corrected when, after the next reflection phrase, the same left-hand side is
  // computed again and comes out right the first time it does (a check that repeats the slip
  // corrects nothing), or, when it is not computed again, some true equation follows (the work
  // checked another way). A slip repeated later is the same slip.
  for (size_t i = 0; i < eqs.size() && !t.revisits_slip; i++) {
    const Equation& e = eqs[i];
    if (e.holds || std::any_of(eqs.begin(), eqs.begin() + static_cast<std::ptrdiff_t>(i),
                               [&](const Equation& d) { return !d.holds && d.lhs == e.lhs; }))
      continue;
    const size_t phrase = next_reflection(low, e.pos);
    if (phrase == std::string::npos) break;  // no phrase after this slip, nor after any later one
    const auto again = std::find_if(eqs.begin(), eqs.end(),
                                    [&](const Equation& d) { return d.pos > phrase && d.lhs == e.lhs; });
    t.revisits_slip = again != eqs.end() ? again->holds : true_after(phrase);
  }
  return t;
}

ReasoningTraits ReasoningStats::add(std::string_view text, int64_t tokens, bool correct) {
  const ReasoningTraits t = reasoning_traits(text);
  Part& p = part_[correct ? 1 : 0];
  p.n += 1;
  p.tokens += static_cast<double>(tokens);
  p.reflect += t.reflection;
  p.check += t.check;
  return t;
}

void ReasoningStats::write(nlohmann::json& row, std::string_view prefix) const {
  const std::string pre(prefix);
  const double n = part_[0].n + part_[1].n;
  if (n == 0) return;
  row[pre + "reflection_rate"] = (part_[0].reflect + part_[1].reflect) / n;
  row[pre + "check_rate"] = (part_[0].check + part_[1].check) / n;
  for (int c = 0; c < 2; c++) {
    const Part& p = part_[c];
    if (p.n == 0) continue;
    const std::string suffix = c ? "_correct" : "_wrong";
    row[pre + "response_length" + suffix] = p.tokens / p.n;
    row[pre + "reflection_rate" + suffix] = p.reflect / p.n;
    row[pre + "check_rate" + suffix] = p.check / p.n;
  }
}

}  // namespace r1::verify
