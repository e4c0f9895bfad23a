// Quoting text that came from a file (names, parser excerpts) in a one-line error message.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

// Control bytes (and, with ascii_only, every byte >= 0x7f, so invalid UTF-8 cannot reach the
// terminal) become \xNN; longer text than `limit` bytes is cut and ends in "...".
std::string printable(std::string_view s, size_t limit = 200, bool ascii_only = false);

}  // namespace r1
