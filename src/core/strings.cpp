#include "core/strings.h"

#include <fmt/format.h>

namespace r1 {

std::string printable(std::string_view s, size_t limit, bool ascii_only) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || (ascii_only && c > 0x7f))
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > limit) out += "...";
  return out;
}

std::string printable_middle(std::string_view s, size_t limit) {
  if (s.size() <= limit) return printable(s, limit);
  const size_t head = limit / 2, tail = limit - head;
  return printable(s.substr(0, head), head) + "..." + printable(s.substr(s.size() - tail), tail);
}

}  // namespace r1
