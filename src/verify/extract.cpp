#include "verify/extract.h"

#include <cctype>
#include <vector>

#include "core/strings.h"

namespace r1::verify {

namespace {

std::optional<std::string> non_empty(std::string_view s) {
  s = trim_ascii(s);
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

// Last occurrence of a macro name that is not followed by another letter (\boxed, not \boxedx).
// Returns the position just after the name, or npos.
size_t macro_end_before(std::string_view text, std::string_view name, size_t limit) {
  size_t pos = limit;
  while (true) {
    if (pos == 0) return std::string_view::npos;
    size_t p = text.rfind(name, pos - 1);
    if (p == std::string_view::npos) return p;
    size_t end = p + name.size();
    if (end >= text.size() || !std::isalpha(static_cast<unsigned char>(text[end]))) return end;
    pos = p;
  }
}

}  // namespace

std::optional<std::string> extract_boxed(std::string_view text) {
  // One pass matches every brace (escaped \{ \} are literal and skipped).
  std::vector<size_t> match;  // match[i] = position of the '}' closing the '{' at i, or npos
  std::vector<size_t> stack;
  match.assign(text.size(), std::string_view::npos);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size() &&
        (text[i + 1] == '{' || text[i + 1] == '}' || text[i + 1] == '\\')) {
      ++i;
    } else if (c == '{') {
      stack.push_back(i);
    } else if (c == '}' && !stack.empty()) {
      match[stack.back()] = i;
      stack.pop_back();
    }
  }
  // Walk the macros from the last one back; the first complete one wins. Each search resumes
  // before the previous hit, so the walk is linear.
  size_t b = macro_end_before(text, "\\boxed", text.size());
  size_t f = macro_end_before(text, "\\fbox", text.size());
  while (true) {
    size_t end;
    if (b == std::string_view::npos && f == std::string_view::npos) return std::nullopt;
    if (f == std::string_view::npos || (b != std::string_view::npos && b > f)) {
      end = b;
      b = macro_end_before(text, "\\boxed", b - 6);
    } else {
      end = f;
      f = macro_end_before(text, "\\fbox", f - 5);
    }
    size_t i = end;
    while (i < text.size() && is_ascii_space(text[i])) ++i;
    if (i < text.size() && text[i] == '{') {
      if (match[i] == std::string_view::npos) continue;
      auto r = non_empty(text.substr(i + 1, match[i] - i - 1));
      if (r) return r;
      continue;
    }
    if (i == end) continue;  // "\boxed5" is not a macro call we recognise without a space
    size_t j = i;
    while (j < text.size() && !is_ascii_space(text[j]) && text[j] != '$') ++j;
    auto r = non_empty(text.substr(i, j - i));
    if (r) return r;
  }
}

std::optional<std::string> extract_answer_tag(std::string_view text) {
  size_t close = text.rfind("</answer>");
  if (close == std::string_view::npos) return std::nullopt;
  size_t open = close == 0 ? std::string_view::npos : text.rfind("<answer>", close);
  if (open == std::string_view::npos) return std::nullopt;
  return non_empty(text.substr(open + 8, close - open - 8));
}

std::optional<std::string> extract_gsm8k(std::string_view text) {
  size_t p = text.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(p + 4);
  size_t nl = rest.find('\n');
  if (nl != std::string_view::npos) rest = rest.substr(0, nl);
  rest = trim_ascii(rest);
  while (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  return non_empty(rest);
}

std::optional<std::string> extract_answer_is(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t p1 = lower.rfind("answer is");
  size_t p2 = lower.rfind("answer:");
  size_t start;
  if (p1 == std::string::npos && p2 == std::string::npos) return std::nullopt;
  if (p2 == std::string::npos || (p1 != std::string::npos && p1 > p2)) {
    start = p1 + 9;
  } else {
    start = p2 + 7;
  }
  std::string_view rest = text.substr(start);
  // The end of the sentence: a newline, or '.' not followed by a digit.
  size_t end = rest.size();
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '\n') {
      end = i;
      break;
    }
    if (rest[i] == '.' && (i + 1 >= rest.size() || !std::isdigit(static_cast<unsigned char>(rest[i + 1])))) {
      end = i;
      break;
    }
  }
  rest = trim_ascii(rest.substr(0, end));
  if (!rest.empty() && rest.front() == ':') rest = trim_ascii(rest.substr(1));
  if (auto boxed = extract_boxed(rest)) return boxed;
  // Strip one surrounding pair of $ or ** (markdown bold).
  if (rest.size() >= 2 && rest.front() == '$' && rest.back() == '$')
    rest = trim_ascii(rest.substr(1, rest.size() - 2));
  if (rest.size() >= 4 && rest.substr(0, 2) == "**" && rest.substr(rest.size() - 2) == "**") {
    rest = trim_ascii(rest.substr(2, rest.size() - 4));
  }
  return non_empty(rest);
}

std::optional<std::string> extract_last_number(std::string_view text) {
  auto digit = [&](size_t i) { return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); };
  size_t best_begin = std::string_view::npos, best_end = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!digit(i)) {
      ++i;
      continue;
    }
    size_t begin = i;
    if (begin > 0 && text[begin - 1] == '-') --begin;
    while (digit(i) || (i < text.size() && text[i] == ',' && digit(i + 1) && digit(i + 2) && digit(i + 3) &&
                        !digit(i + 4))) {
      i += text[i] == ',' ? 4 : 1;
    }
    if (i < text.size() && text[i] == '.' && digit(i + 1)) {
      ++i;
      while (digit(i)) ++i;
    }
    if (i < text.size() && text[i] == '/' && digit(i + 1)) {
      ++i;
      while (digit(i)) ++i;
    }
    best_begin = begin;
    best_end = i;
  }
  if (best_begin == std::string_view::npos) return std::nullopt;
  std::string out;
  for (size_t k = best_begin; k < best_end; ++k) {
    if (text[k] != ',') out += text[k];
  }
  return out;
}

std::optional<std::string> extract_answer(std::string_view text, const ExtractOptions& opts) {
  if (opts.answer_tag) {
    if (auto inside = extract_answer_tag(text)) {
      if (auto boxed = extract_boxed(*inside)) return boxed;
      return inside;
    }
  }
  if (opts.boxed) {
    if (auto r = extract_boxed(text)) return r;
  }
  if (opts.gsm8k) {
    if (auto r = extract_gsm8k(text)) return r;
  }
  if (opts.answer_is) {
    if (auto r = extract_answer_is(text)) return r;
  }
  if (opts.last_number) return extract_last_number(text);
  return std::nullopt;
}

}  // namespace r1::verify
