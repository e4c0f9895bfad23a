#include "cli/gen_common.h"

#include <algorithm>

#include "cli/options.h"
#include "core/error.h"

namespace r1::cli {

void add_sampling_options(CLI::App* cmd, GenerationConfig& g, bool& greedy, double& kv_budget_mb) {
  cmd->add_option("--temperature", g.sampling.temperature, "sampling temperature; 0 = greedy (1)")
      ->check(in_range(0, 100));
  cmd->add_option("--top-p", g.sampling.top_p, "nucleus sampling mass (1 = off)")
      ->check(in_range(0, 1, true));
  cmd->add_option("--top-k", g.sampling.top_k, "keep the k most likely tokens (0 = off)")->check(at_least(0));
  cmd->add_option("--min-p", g.sampling.min_p, "keep tokens with p >= min_p * p_max (0 = off)")
      ->check(in_range(0, 1, false, true));
  cmd->add_flag("--greedy", greedy, "argmax decoding");
  cmd->add_option("--max-new-tokens", g.max_new_tokens, "tokens to generate per sample at most (256)")
      ->check(in_range(0, 1 << 20));
  cmd->add_option("--seed", g.seed, "sampling seed (0)")->check(at_least(0));
  cmd->add_option("--kv-budget-mb", kv_budget_mb, "KV-cache memory in MiB")->check(in_range(0.001, 1e7));
  cmd->add_option_function<std::string>(
         "--dtype", [&g](const std::string& d) { g.compute = d == "bf16" ? DType::BF16 : DType::F32; },
         "matrix products in f32 or bf16 (f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

}  // namespace r1::cli
