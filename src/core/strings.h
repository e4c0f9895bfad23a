// Small string helpers: quoting text that came from a file (names, parser excerpts) in a
// one-line error message; ASCII whitespace trimming.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

// Control bytes (and, with ascii_only, every byte >= 0x7f, so invalid UTF-8 cannot reach the
// terminal) become \xNN; longer text than `limit` bytes is cut and ends in "...".
std::string printable(std::string_view s, size_t limit = 200, bool ascii_only = false);

// printable(), but text longer than `limit` keeps its start and its end around "...": for a
// command line or a path, whose last part (the script, the file) is the one that tells.
std::string printable_middle(std::string_view s, size_t limit = 160);

// ' ', \t, \n, \r, \f, \v (not locale-dependent, unlike std::isspace).
inline bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// s without leading and trailing ASCII whitespace (a view into s).
inline std::string_view trim_ascii(std::string_view s) {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace r1
