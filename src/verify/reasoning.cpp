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
// spaces inside), each with whether it holds; calls f(position, holds).
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
      i++;
      if (const std::optional<int64_t> rhs = integer(text, i)) {
        f(start, sum + sign * prod == *rhs);
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
  size_t slip = std::string::npos;  // the first equation that does not hold
  std::vector<size_t> holds;        // where the true equations start
  for_each_equation(text, [&](size_t pos, bool ok) {
    if (ok)
      holds.push_back(pos);
    else if (slip == std::string::npos)
      slip = pos;
  });
  const auto true_after = [&](size_t at) {
    return at != std::string::npos &&
           std::any_of(holds.begin(), holds.end(), [&](size_t p) { return p > at; });
  };
  t.check = true_after(first);
  if (slip != std::string::npos) t.revisits_slip = true_after(next_reflection(low, slip));
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
