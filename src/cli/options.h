// Numeric option checks shared by every command: NaN and infinities are refused, and the range is
// stated as the recipe rules state it (core/recipe.h KeyRule::range_text), so
// `--top-p 2` reads "r1 generate: --top-p: must be in (0, 1], got 2".
#pragma once

#include <CLI/CLI.hpp>

namespace r1::cli {

CLI::Validator in_range(double lo, double hi, bool lo_open = false, bool hi_open = false);
CLI::Validator at_least(double lo);
CLI::Validator positive();  // > 0

}  // namespace r1::cli
