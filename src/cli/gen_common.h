// What r1 generate and r1 chat share: the prompt template option, prompt encoding, the stop ids,
// and the sampling options.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

using r1::encode_prompt;
using r1::encode_with_bos;
using r1::load_prompt_template;
using r1::stop_ids_of;

// --temperature, --top-p, --top-k, --min-p, --greedy, --max-new-tokens, --seed, --kv-budget-mb
// into g (the budget in MiB into kv_budget_mb, converted by the caller).
void add_sampling_options(CLI::App* cmd, GenerationConfig& g, bool& greedy, double& kv_budget_mb);

}  // namespace r1::cli
