// The recipe of a training command (pretrain, sft, grpo): a file, or the one saved in the run
// directory being resumed, or a built-in default, or nothing but --set keys; then the --set
// overrides; a resumed run writes into its own directory.
#pragma once

#include <string>
#include <vector>

#include "core/recipe.h"

namespace r1::cli {

// builtin may be null (the command has no default recipe); cmd names the command in errors.
Recipe recipe_for_run(const std::string& cmd, const std::string& recipe_path,
                      const std::vector<std::string>& sets, const std::string& resume_dir,
                      const char* builtin);

}  // namespace r1::cli
