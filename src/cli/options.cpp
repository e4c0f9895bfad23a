#include "cli/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/recipe.h"

namespace r1::cli {

CLI::Validator in_range(double lo, double hi, bool lo_open, bool hi_open) {
  const KeyRule rule = KeyRule::real("", lo, hi, lo_open, hi_open);
  return CLI::Validator(
      [rule](std::string& text) -> std::string {
        const char* s = text.c_str();
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(s, &end);
        if (end == s || *end != '\0') return "must be a number, got '" + text + "'";
        if (!std::isfinite(v)) return "must be a finite number, got " + text;
        const bool ok =
            (rule.lo_open ? v > rule.lo : v >= rule.lo) && (rule.hi_open ? v < rule.hi : v <= rule.hi);
        if (!ok) return "must be " + rule.range_text() + ", got " + text;
        return {};
      },
      rule.range_text());
}

CLI::Validator at_least(double lo) {
  return in_range(lo, std::numeric_limits<double>::infinity());
}

CLI::Validator positive() {
  return in_range(0, std::numeric_limits<double>::infinity(), true);
}

}  // namespace r1::cli
